/** Errors of the client layer: what the server said, or that it could not be reached. */

/** An OAuth error answer (RFC 6749 §5.2, RFC 8628 §3.5): `error`, its description, the status. */
export class OAuthResponseError extends Error {
  constructor(
    readonly error: string,
    readonly errorDescription: string | undefined,
    readonly status: number,
  ) {
    super(errorDescription ? `${error}: ${errorDescription}` : error);
    this.name = 'OAuthResponseError';
  }

  /** The wire name, for code that reads errors the way RFC 6749 §5.2 spells them. */
  get error_description(): string | undefined {
    return this.errorDescription;
  }
}

/** The person denied the request (RFC 8628 §3.5 access_denied). */
export class AccessDeniedError extends OAuthResponseError {
  constructor(description: string | undefined, status: number) {
    super('access_denied', description, status);
    this.name = 'AccessDeniedError';
  }
}

/** The device code expired before the person decided (RFC 8628 §3.5 expired_token). */
export class ExpiredTokenError extends OAuthResponseError {
  constructor(description: string | undefined, status: number) {
    super('expired_token', description, status);
    this.name = 'ExpiredTokenError';
  }
}

/** The request never got an OAuth answer: a network error, or a 5xx without one. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly reason?: unknown,
    /** Seconds the server asked to wait (Retry-After on a 503), if it said. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

/** The caller's AbortSignal fired. */
export class AbortedError extends Error {
  constructor() {
    super('aborted');
    this.name = 'AbortError';
  }
}
