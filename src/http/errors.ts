/**
 * The one error hierarchy of the server. Each class is an error code of RFC 6749 §5.2,
 * RFC 8628 §3.5 or RFC 6750 §3.1 with its HTTP status; `src/http/error-handler.ts` is the one
 * place that turns them into responses (JSON for the API, an HTML page for the activation pages).
 */
import { ErrorCode } from '../../generated/models';

/** RFC 6749 §5.2: error_description is printable ASCII without `"` and `\`. */
export function safeDescription(text: string): string {
  return text.replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '').slice(0, 300);
}

export class OAuthError extends Error {
  /** Extra response headers, e.g. `WWW-Authenticate` or `Retry-After`. */
  readonly headers: Record<string, string> = {};
  /** Extra members of the JSON body, e.g. `interval` on slow_down. */
  readonly extra: Record<string, string | number> = {};

  constructor(
    readonly status: number,
    readonly error: ErrorCode,
    readonly description: string,
  ) {
    // An OAuthError is an answer (every pending poll is one), not a fault: capturing its
    // stack trace would cost more than the rest of the error.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(safeDescription(description));
    Error.stackTraceLimit = stackTraceLimit;
    this.name = new.target.name;
  }
}

export class InvalidRequest extends OAuthError {
  constructor(description: string) {
    super(400, ErrorCode.InvalidRequest, description);
  }
}

/** RFC 6749 §5.2: 401 with a `WWW-Authenticate` challenge for the scheme the client may use. */
export class InvalidClient extends OAuthError {
  constructor(description: string, realm: string) {
    super(401, ErrorCode.InvalidClient, description);
    this.headers['WWW-Authenticate'] = `Basic realm="${realm}", charset="UTF-8"`;
  }
}

export class InvalidGrant extends OAuthError {
  constructor(description: string) {
    super(400, ErrorCode.InvalidGrant, description);
  }
}

export class UnauthorizedClient extends OAuthError {
  constructor(description: string) {
    super(400, ErrorCode.UnauthorizedClient, description);
  }
}

export class UnsupportedGrantType extends OAuthError {
  constructor(description: string) {
    super(400, ErrorCode.UnsupportedGrantType, description);
  }
}

export class InvalidScope extends OAuthError {
  constructor(description: string) {
    super(400, ErrorCode.InvalidScope, description);
  }
}

/** RFC 8628 §3.5: the person has not decided yet; keep polling. */
export class AuthorizationPending extends OAuthError {
  constructor() {
    super(400, ErrorCode.AuthorizationPending, 'the user has not yet approved or denied the request');
  }
}

/** RFC 8628 §3.5: polled too soon; the interval of this code has grown to `interval`. */
export class SlowDown extends OAuthError {
  constructor(interval: number) {
    super(400, ErrorCode.SlowDown, `polling too fast, wait ${interval} seconds between polls`);
    this.extra.interval = interval;
  }
}

export class AccessDenied extends OAuthError {
  constructor() {
    super(400, ErrorCode.AccessDenied, 'the user denied the request');
  }
}

export class ExpiredToken extends OAuthError {
  constructor() {
    super(400, ErrorCode.ExpiredToken, 'the device code has expired, start a new device authorization');
  }
}

/** RFC 6750 §3: the challenge names the realm and, when a token was sent, the error. */
function bearerChallenge(realm: string, params: Record<string, string>): string {
  const parts = [`realm="${realm}"`, ...Object.entries(params).map(([k, v]) => `${k}="${v}"`)];
  return `Bearer ${parts.join(', ')}`;
}

/** RFC 6750 §3.1: no token at all. The challenge carries no error code. */
export class BearerTokenMissing extends OAuthError {
  constructor(realm: string) {
    super(401, ErrorCode.InvalidToken, 'an access token is required');
    this.headers['WWW-Authenticate'] = bearerChallenge(realm, {});
  }
}

export class InvalidToken extends OAuthError {
  constructor(realm: string, description: string) {
    super(401, ErrorCode.InvalidToken, description);
    this.headers['WWW-Authenticate'] = bearerChallenge(realm, {
      error: 'invalid_token',
      error_description: safeDescription(description),
    });
  }
}

export class InsufficientScope extends OAuthError {
  constructor(realm: string, needed: string[]) {
    super(403, ErrorCode.InsufficientScope, `the access token needs scope ${needed.join(' ')}`);
    this.headers['WWW-Authenticate'] = bearerChallenge(realm, {
      error: 'insufficient_scope',
      scope: needed.join(' '),
    });
  }
}

/** RFC 6750 §3.1 invalid_request at a resource, e.g. a token sent twice. */
export class BearerInvalidRequest extends OAuthError {
  constructor(realm: string, description: string) {
    super(400, ErrorCode.InvalidRequest, description);
    this.headers['WWW-Authenticate'] = bearerChallenge(realm, { error: 'invalid_request' });
  }
}

export class UnsupportedMediaType extends OAuthError {
  constructor(description: string) {
    super(415, ErrorCode.InvalidRequest, description);
  }
}

export class PayloadTooLarge extends OAuthError {
  constructor(limit?: number) {
    super(413, ErrorCode.InvalidRequest, limit ? `the request body is larger than ${limit} bytes` : 'the request body is too large');
  }
}

export class NotFound extends OAuthError {
  constructor(description = 'no such endpoint') {
    super(404, ErrorCode.NotFound, description);
  }
}

/** The admin API: a client id or a username that is already taken. */
export class Conflict extends OAuthError {
  constructor(description: string) {
    super(409, ErrorCode.Conflict, description);
  }
}

export class MethodNotAllowed extends OAuthError {
  constructor(allowed: string[]) {
    super(405, ErrorCode.MethodNotAllowed, `use ${allowed.join(' or ')}`);
    this.headers.Allow = allowed.join(', ');
  }
}

/** The database cannot be reached or timed out: the client may retry. */
export class TemporarilyUnavailable extends OAuthError {
  constructor(retryAfterSeconds = 5) {
    super(503, ErrorCode.TemporarilyUnavailable, 'the service is temporarily unavailable, try again later');
    this.headers['Retry-After'] = String(retryAfterSeconds);
  }
}

export class ServerError extends OAuthError {
  constructor() {
    super(500, ErrorCode.ServerError, 'the server could not complete the request');
  }
}

/** The texts of the activation pages' own errors, keys of the message catalogue. */
export type PageMessage =
  | 'codeNotFound'
  | 'codeExpired'
  | 'codeUsed'
  | 'csrf'
  | 'signInAgain'
  | 'accountDisabled'
  | 'tooManyAttempts'
  | 'deviceNotFound';

/**
 * An error shown to a person on the activation pages, as a page with this HTTP status. The
 * text comes from the message catalogue (`message`, in the person's language); without one,
 * a generic text for the status is shown, with `note` (a developer's description) below it.
 */
export class PageError extends Error {
  readonly headers: Record<string, string> = {};

  constructor(
    readonly status: number,
    readonly pageMessage?: PageMessage,
    readonly params: Record<string, string | number> = {},
    readonly note?: string,
  ) {
    super(pageMessage ?? note ?? `page error ${status}`);
    this.name = 'PageError';
  }
}

/** Too many failed attempts from this address or account (user codes, sign-in). */
export class TooManyAttempts extends PageError {
  constructor(retryAfterSeconds: number) {
    super(429, 'tooManyAttempts', { minutes: Math.max(1, Math.ceil(retryAfterSeconds / 60)) });
    this.headers['Retry-After'] = String(Math.max(1, Math.ceil(retryAfterSeconds)));
  }
}
