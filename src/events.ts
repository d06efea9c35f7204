/**
 * Events for integrators (audit trails, webhooks, metrics): what happened to a device flow or a
 * token, emitted once the database write that made it happen has committed. Payloads carry
 * ids, scopes, the time, the request id and the client's IP address, never a secret value (no
 * device code, user code, token, secret or password). A listener that throws or rejects is
 * logged and changes nothing: the response and the write stand.
 */
import type { Logger } from 'pino';

/** What every event carries. `time` is milliseconds since the epoch, on the server's clock. */
export interface EventMeta {
  time: number;
  /** The X-Request-Id of the request that caused it (see the README, Logs). */
  requestId: string;
  /** The client's IP address as the server sees it. */
  ip: string;
}

interface FlowFields {
  authorizationId: string;
  clientId: string;
  scopes: string[];
}

export type ServerEventBody =
  /** RFC 8628 §3.1: a device asked for a code. */
  | ({ type: 'device_authorization.created'; expiresAt: number } & FlowFields)
  /** The person approved; `requestedAt` is when the device asked. */
  | ({ type: 'device_authorization.approved'; userId: string; requestedAt: number } & FlowFields)
  | ({ type: 'device_authorization.denied'; userId: string; requestedAt: number } & FlowFields)
  /**
   * A flow that nobody exchanged was found expired by a poll or on the pages; noted once per
   * flow across all processes (a flow nobody touches after it expires is never noted).
   */
  | ({ type: 'device_authorization.expired'; status: 'pending' | 'approved' } & FlowFields)
  /** The approved code was exchanged for tokens (exactly once per flow). */
  | ({ type: 'device_authorization.consumed'; userId: string } & FlowFields)
  /** RFC 8628 §3.5: a poll came too soon; `interval` is the new interval in seconds. */
  | { type: 'device_authorization.slow_down'; authorizationId: string; clientId: string; interval: number }
  /**
   * Tokens issued by the device code grant. `grantId` is the authorization id; token ids are
   * the stored rows' ids (for JWT access tokens, the `jti`).
   */
  | { type: 'token.issued'; grantId: string; clientId: string; userId: string; scopes: string[]; accessTokenId: string; refreshTokenId: string | null }
  /** A refresh token was rotated into new tokens. */
  | {
      type: 'token.refreshed';
      grantId: string;
      clientId: string;
      userId: string;
      scopes: string[];
      accessTokenId: string;
      refreshTokenId: string;
      previousRefreshTokenId: string;
    }
  /**
   * A token or a whole grant was revoked: by its client (RFC 7009), by the person (their
   * devices), or by the server on a replayed device code or a reused refresh token.
   */
  | {
      type: 'token.revoked';
      what: 'access_token' | 'grant';
      reason: 'client_request' | 'user_request' | 'device_code_replay' | 'refresh_token_reuse';
      grantId: string | null;
      clientId: string;
      userId: string | null;
      tokenId: string | null;
    }
  /** Too many wrong user codes (RFC 8628 §5.1): an IP address or an account is locked out. */
  | { type: 'user_code.lockout'; subject: 'ip' | 'account'; userId: string; lockoutSeconds: number };

type WithMeta<E> = E extends unknown ? E & EventMeta : never;

/** One event, as listeners receive it. */
export type ServerEvent = WithMeta<ServerEventBody>;
export type ServerEventType = ServerEvent['type'];
export type EventOfType<T extends ServerEventType> = Extract<ServerEvent, { type: T }>;
export type EventListener<E = ServerEvent> = (event: E) => void | Promise<void>;

/** Listeners by type, and `onEvent`, which hears every event. */
export class ServerEvents {
  private readonly byType = new Map<ServerEventType, Array<EventListener<never>>>();
  private readonly everything: EventListener[] = [];

  constructor(private readonly logger: Logger) {}

  /** Calls `listener` with every event of `type`. Returns a function that removes it. */
  on<T extends ServerEventType>(type: T, listener: EventListener<EventOfType<T>>): () => void {
    const list = this.byType.get(type) ?? [];
    list.push(listener as EventListener<never>);
    this.byType.set(type, list);
    return () => {
      const at = list.indexOf(listener as EventListener<never>);
      if (at >= 0) list.splice(at, 1);
    };
  }

  /** Calls `listener` with every event. */
  onAny(listener: EventListener): () => void {
    this.everything.push(listener);
    return () => {
      const at = this.everything.indexOf(listener);
      if (at >= 0) this.everything.splice(at, 1);
    };
  }

  /** Delivers an event; listeners are not awaited, and their failures are only logged. */
  emit(event: ServerEvent): void {
    for (const listener of this.byType.get(event.type) ?? []) this.call(listener as EventListener, event);
    for (const listener of this.everything) this.call(listener, event);
  }

  private call(listener: EventListener, event: ServerEvent): void {
    try {
      const result = listener(event);
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, (err: unknown) => this.failed(err, event));
      }
    } catch (err) {
      this.failed(err, event);
    }
  }

  private failed(err: unknown, event: ServerEvent): void {
    this.logger.error({ err, event: event.type, reqId: event.requestId }, 'event listener failed');
  }
}

/** What actions call: the event's own fields; time, request id and IP are filled in. */
export type Emit = (event: ServerEventBody) => void;
