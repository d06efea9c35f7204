/**
 * The device side of RFC 8628, on top of the SDK generated from openapi.yaml. It adds only
 * what the spec cannot say: the polling rules of §3.5, client authentication, refresh with
 * rotation, and a fetch that carries the token. No Node-only imports: it runs wherever `fetch`,
 * `URL`, `btoa` and `TextEncoder` exist (Node 20+, browsers, Deno, Bun, workers).
 */
import { Configuration, DeviceApi, TokensApi, type DeviceAuthorizationResponse, type TokenResponse } from '../../generated';
import { systemClock, type Clock } from './clock';
import { AbortedError, AccessDeniedError, ExpiredTokenError, OAuthResponseError, TransportError } from './errors';

export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';

/** RFC 8628 §3.2: without `interval` the client waits 5 seconds. */
export const DEFAULT_INTERVAL_SECONDS = 5;
/** RFC 8628 §3.5: slow_down adds 5 seconds, for this and every later poll. */
export const SLOW_DOWN_SECONDS = 5;
/** The longest extra wait after network errors and 5xx answers. */
export const MAX_BACKOFF_SECONDS = 60;

export interface DeviceClientOptions {
  /** Where the server is: the base of its endpoints (its issuer). */
  issuer: string;
  clientId: string;
  /** For confidential clients: sent with HTTP Basic (RFC 6749 §2.3.1). */
  clientSecret?: string;
  /** A fetch implementation; the global one by default. */
  fetch?: typeof fetch;
  clock?: Clock;
}

/** What startDeviceAuthorization returns: the server's answer and when it was received. */
export interface DeviceAuthorization extends DeviceAuthorizationResponse {
  /** clock.now() when the answer arrived; expires_in counts from here. */
  receivedAt: number;
}

export interface PollOptions {
  signal?: AbortSignal;
  /** Called after each authorization_pending, with the seconds left before the code expires. */
  onPending?: (secondsLeft: number) => void;
  /** Called after each slow_down with the interval that now applies. */
  onSlowDown?: (intervalSeconds: number) => void;
  /** Called when a poll failed in transport and will be retried after `delaySeconds`. */
  onRetry?: (error: TransportError, delaySeconds: number) => void;
}

export type TokenSet = TokenResponse;

/** base64 of UTF-8, without Buffer. */
function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined and encoded. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const formEncode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${base64(`${formEncode(clientId)}:${formEncode(clientSecret)}`)}`;
}

/** Retry-After as seconds (RFC 9110 §10.2.3: a number of seconds or an HTTP date). */
function retryAfterSeconds(response: Response): number | undefined {
  const value = response.headers.get('retry-after');
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/**
 * The generated runtime throws the Response itself for error statuses; make it a typed error.
 * fetch rejects with a TypeError when the network fails: that is a TransportError too. Any
 * other error is a bug somewhere and is passed on untouched, never retried.
 */
async function toClientError(thrown: unknown): Promise<unknown> {
  if (thrown instanceof Response) {
    let body: { error?: unknown; error_description?: unknown } | undefined;
    try {
      body = await thrown.json();
    } catch {
      body = undefined;
    }
    if (typeof body?.error === 'string') {
      const description = typeof body.error_description === 'string' ? body.error_description : undefined;
      if (body.error === 'access_denied') return new AccessDeniedError(description, thrown.status);
      if (body.error === 'expired_token') return new ExpiredTokenError(description, thrown.status);
      if (thrown.status >= 500) return new TransportError(`server error ${thrown.status}: ${body.error}`, thrown.status, undefined, retryAfterSeconds(thrown));
      return Object.assign(new OAuthResponseError(body.error, description, thrown.status), { interval: (body as { interval?: unknown }).interval });
    }
    return new TransportError(`unexpected answer ${thrown.status}`, thrown.status, undefined, retryAfterSeconds(thrown));
  }
  if (thrown instanceof Error && thrown.name === 'AbortError') return new AbortedError();
  if (thrown instanceof TypeError) return new TransportError(thrown.message, undefined, thrown);
  return thrown;
}

export class DeviceClient {
  private readonly clock: Clock;
  private readonly fetchImpl: typeof fetch;
  private readonly config: Configuration;

  constructor(private readonly options: DeviceClientOptions) {
    this.clock = options.clock ?? systemClock;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.config = new Configuration({
      basePath: options.issuer.replace(/\/+$/, ''),
      fetchApi: this.fetchImpl,
      headers: options.clientSecret ? { Authorization: basicAuthorization(options.clientId, options.clientSecret) } : {},
    });
  }

  /** The client_id form field: public clients name themselves; Basic already names the others. */
  private get clientIdField(): string | undefined {
    return this.options.clientSecret ? undefined : this.options.clientId;
  }

  private async call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (thrown) {
      throw await toClientError(thrown);
    }
  }

  /** RFC 8628 §3.1: asks for a device code and a user code. */
  async startDeviceAuthorization(params: { scope?: string } = {}): Promise<DeviceAuthorization> {
    const answer = await this.call(() => new DeviceApi(this.config).deviceAuthorization({ clientId: this.clientIdField, scope: params.scope }));
    return Object.assign({}, answer, { receivedAt: this.clock.now() });
  }

  /**
   * RFC 8628 §3.4-§3.5: polls until the person decides. Waits `interval` (5 s when absent)
   * before every poll; on slow_down adds 5 s for good; keeps polling on authorization_pending;
   * throws AccessDeniedError, ExpiredTokenError or OAuthResponseError for any other error;
   * gives up with ExpiredTokenError once `expires_in` has passed; backs off exponentially
   * after network errors and 5xx answers (waiting at least what a Retry-After asks); throws
   * AbortedError when `signal` fires.
   */
  async pollForToken(authorization: DeviceAuthorization, options: PollOptions = {}): Promise<TokenSet> {
    const deadline = authorization.receivedAt + authorization.expires_in * 1000;
    let interval = authorization.interval ?? DEFAULT_INTERVAL_SECONDS;
    let transportFailures = 0;
    let serverAskedSeconds = 0;
    /** Seconds before the next poll: the interval, plus back-off after transport failures, at least what a 503 asked. */
    const nextWaitSeconds = () => {
      const backoff = transportFailures === 0 ? 0 : Math.min(2 ** (transportFailures - 1) * interval, MAX_BACKOFF_SECONDS);
      return Math.max(interval + backoff, serverAskedSeconds);
    };
    const api = new DeviceApi(new Configuration(Object.assign(this.configParams(), { fetchApi: this.signalled(options.signal) })));
    for (;;) {
      const wait = nextWaitSeconds() * 1000;
      if (this.clock.now() + wait >= deadline) {
        throw new ExpiredTokenError('the device code expired before the user decided', 0);
      }
      await this.clock.sleep(wait, options.signal);
      try {
        return await this.call(() =>
          api.token({ grantType: DEVICE_CODE_GRANT_TYPE, deviceCode: authorization.device_code, clientId: this.clientIdField }),
        );
      } catch (err) {
        if (err instanceof TransportError) {
          transportFailures++;
          serverAskedSeconds = err.retryAfterSeconds ?? 0;
          options.onRetry?.(err, nextWaitSeconds());
          continue;
        }
        transportFailures = 0;
        serverAskedSeconds = 0;
        if (!(err instanceof OAuthResponseError) || err instanceof AccessDeniedError || err instanceof ExpiredTokenError) throw err;
        if (err.error === 'authorization_pending') {
          options.onPending?.(Math.max(0, Math.round((deadline - this.clock.now()) / 1000)));
          continue;
        }
        if (err.error === 'slow_down') {
          const told = (err as { interval?: unknown }).interval;
          interval = Math.max(interval + SLOW_DOWN_SECONDS, typeof told === 'number' ? told : 0);
          options.onSlowDown?.(interval);
          continue;
        }
        throw err;
      }
    }
  }

  /** RFC 6749 §6: a new access token and, with rotation, a new refresh token. Store both. */
  refresh(refreshToken: string, params: { scope?: string } = {}): Promise<TokenSet> {
    return this.call(() =>
      new DeviceApi(this.config).token({ grantType: 'refresh_token', refreshToken, scope: params.scope, clientId: this.clientIdField }),
    );
  }

  /** RFC 7009: revokes a token of this client (a refresh token revokes its whole approval). */
  async revoke(token: string, tokenTypeHint?: 'access_token' | 'refresh_token'): Promise<void> {
    await this.call(() => new TokensApi(this.config).revokeToken({ token, tokenTypeHint, clientId: this.clientIdField }));
  }

  /**
   * A fetch for protected resources: adds `Authorization: Bearer`, and on a 401 refreshes once
   * (saving the rotated tokens through `tokens.save`) and tries again.
   */
  authorizedFetch(tokens: TokenStorage): typeof fetch {
    return async (input, init) => {
      const send = async (accessToken: string) => {
        const headers = new Headers(init?.headers);
        headers.set('Authorization', `Bearer ${accessToken}`);
        return this.fetchImpl(input, Object.assign({}, init, { headers }));
      };
      const current = await tokens.load();
      if (!current) throw new Error('no tokens stored: run the device flow first');
      const first = await send(current.access_token);
      if (first.status !== 401 || !current.refresh_token) return first;
      const renewed = await this.refresh(current.refresh_token);
      await tokens.save(renewed);
      return send(renewed.access_token);
    };
  }

  private configParams() {
    return {
      basePath: this.config.basePath,
      headers: this.config.headers,
    };
  }

  /** The client's fetch with the caller's AbortSignal attached to every request. */
  private signalled(signal: AbortSignal | undefined): typeof fetch {
    if (!signal) return this.fetchImpl;
    return (input, init) => this.fetchImpl(input, Object.assign({}, init, { signal }));
  }
}

/** Where authorizedFetch keeps the tokens: memory, a file, a keychain. */
export interface TokenStorage {
  load(): Promise<TokenSet | undefined>;
  save(tokens: TokenSet): Promise<void>;
}

/** Tokens kept in memory only. */
export function memoryTokenStorage(initial?: TokenSet): TokenStorage {
  let tokens = initial;
  return {
    load: async () => tokens,
    save: async (next) => {
      tokens = next;
    },
  };
}
