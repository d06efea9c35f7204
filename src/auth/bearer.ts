/**
 * Protecting resources with access tokens (RFC 6750). The token comes in the Authorization
 * header (§2.1), or, only when the server allows it, in a form-encoded POST body (§2.2); the
 * query method (§2.3) is never accepted, and a token sent in more than one place is
 * invalid_request (§2). Errors follow §3.1 exactly.
 */
import type { Context, Middleware, Next } from 'koa';
import { tokenKey } from '../helpers/secrets';
import { renderJsonError, toOAuthError } from '../http/error-handler';
import { BearerInvalidRequest, BearerTokenMissing, InsufficientScope, InvalidToken } from '../http/errors';
import { findAccessTokenWithOwners } from '../storage/combined-reads';
import type { ClientRecord, Store, UserRecord } from '../storage/store';

export interface OAuthContext {
  user: UserRecord;
  client: ClientRecord;
  scopes: string[];
  tokenId: string;
  expiresAt: number;
}

export interface BearerDeps {
  store: Store;
  realm: string;
  clock: () => number;
  errorUri?: string;
  logError: (err: unknown, ctx: Context) => void;
  /** RFC 6750 §2.2: accept `access_token` in a form-encoded body of a non-GET request. */
  allowFormBody: boolean;
}

/** RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The form body, parsed by this server's router or by the integrator's body parser. */
function formBodyToken(ctx: Context): unknown {
  const body = ctx.state.form ?? (ctx.request as { body?: unknown }).body;
  return body && typeof body === 'object' ? (body as Record<string, unknown>).access_token : undefined;
}

function extractToken(ctx: Context, deps: BearerDeps): string {
  const { realm } = deps;
  const header = ctx.get('authorization');
  const inQuery = ctx.query.access_token !== undefined;
  const bodyToken = formBodyToken(ctx);
  const inBody = bodyToken !== undefined;
  if ([Boolean(header), inQuery, inBody].filter(Boolean).length > 1) throw new BearerInvalidRequest(realm, 'the access token was sent more than once');
  if (inQuery) throw new BearerInvalidRequest(realm, 'send the access token in the Authorization header');
  if (inBody) {
    const formPost = ctx.method !== 'GET' && ctx.is('application/x-www-form-urlencoded') === 'application/x-www-form-urlencoded';
    if (!deps.allowFormBody || !formPost || typeof bodyToken !== 'string') {
      throw new BearerInvalidRequest(realm, 'send the access token in the Authorization header');
    }
    if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(bodyToken)) throw new InvalidToken(realm, 'the access token is malformed');
    return bodyToken;
  }
  if (!header || !/^Bearer(\s|$)/i.test(header)) throw new BearerTokenMissing(realm);
  const match = BEARER.exec(header);
  if (!match) throw new InvalidToken(realm, 'the access token is malformed');
  return match[1]!;
}

/** Checks the request's token and returns who it speaks for; throws an RFC 6750 error otherwise. */
export async function verifyBearer(ctx: Context, deps: BearerDeps, required: string[]): Promise<OAuthContext> {
  const token = extractToken(ctx, deps);
  // The token, its user and its client in one query.
  const found = await findAccessTokenWithOwners(deps.store, tokenKey(token));
  const now = deps.clock();
  if (!found || found.token.revokedAt !== null || found.token.expiresAt <= now) {
    throw new InvalidToken(deps.realm, 'the access token is unknown, expired or revoked');
  }
  const { token: record, user, client } = found;
  if (!user || user.disabled || !client) throw new InvalidToken(deps.realm, 'the access token is no longer valid');
  const missing = required.filter((scope) => !record.scopes.includes(scope));
  if (missing.length > 0) throw new InsufficientScope(deps.realm, required);
  return { user, client, scopes: record.scopes, tokenId: record.id, expiresAt: record.expiresAt };
}

/**
 * The seed's `require_oauth`: Koa middleware that admits a request only with a valid access
 * token carrying every one of `scopes`, and puts who it speaks for on `ctx.state.oauth`. It
 * answers refusals itself, so it works in any Koa app, not only this server's.
 */
export function requireOAuthFactory(deps: BearerDeps) {
  return function requireOAuth(...scopes: string[]): Middleware {
    return async (ctx: Context, next: Next) => {
      try {
        ctx.state.oauth = await verifyBearer(ctx, deps, scopes);
      } catch (err) {
        return renderJsonError(ctx, toOAuthError(err, (e) => deps.logError(e, ctx)), deps.errorUri);
      }
      await next();
    };
  };
}
