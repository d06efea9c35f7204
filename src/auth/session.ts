/**
 * Sign-in sessions and CSRF tokens for the activation pages.
 *
 * - The session cookie holds a random id; the database keeps only its SHA-256, with the user
 *   and an expiry, so every server process sees the same sessions. A fresh id is issued at
 *   sign-in (no session fixation). Cookies are signed with the configured keys (newest signs,
 *   all verify), HttpOnly, SameSite=Lax, and Secure when the issuer is https.
 * - CSRF: a signed random cookie, and in each form an HMAC of it under the newest key. A
 *   cross-site form cannot read the cookie, so it cannot produce the token.
 */
import type { Context } from 'koa';
import { constantTimeEqual, hmacSha256, randomSecret, sha256 } from '../helpers/secrets';
import { PageError } from '../http/errors';
import type { Store, UserRecord } from '../storage/store';

export const SESSION_COOKIE = 'o2d_session';
export const CSRF_COOKIE = 'o2d_csrf';

export interface SessionDeps {
  store: Store;
  secretKeys: string[];
  sessionLifetime: number;
  secureCookies: boolean;
  clock: () => number;
}

function cookieOptions(ctx: Context, deps: SessionDeps, maxAgeSeconds?: number) {
  // Behind a TLS-terminating proxy Koa sees http; an https issuer means the browser uses https.
  if (deps.secureCookies) ctx.cookies.secure = true;
  return {
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: deps.secureCookies,
    signed: true,
    path: '/',
    overwrite: true,
    ...(maxAgeSeconds ? { maxAge: maxAgeSeconds * 1000 } : {}),
  };
}

/** The signed-in user of this request, if the session is valid and the user may act. */
export async function sessionUser(ctx: Context, deps: SessionDeps): Promise<UserRecord | undefined> {
  const id = ctx.cookies.get(SESSION_COOKIE, { signed: true });
  if (!id) return undefined;
  const session = await deps.store.findSession(sha256(id));
  if (!session || session.expiresAt <= deps.clock()) return undefined;
  const user = await deps.store.findUserById(session.userId);
  return user && !user.disabled ? user : undefined;
}

/** Replaces any session of this browser with a new one for `user`. */
export async function startSession(ctx: Context, deps: SessionDeps, user: UserRecord): Promise<void> {
  await endSession(ctx, deps);
  const id = randomSecret();
  const now = deps.clock();
  await deps.store.createSession({ idHash: sha256(id), userId: user.id, createdAt: now, expiresAt: now + deps.sessionLifetime * 1000 });
  ctx.cookies.set(SESSION_COOKIE, id, cookieOptions(ctx, deps, deps.sessionLifetime));
}

export async function endSession(ctx: Context, deps: SessionDeps): Promise<void> {
  const id = ctx.cookies.get(SESSION_COOKIE, { signed: true });
  if (id) await deps.store.deleteSession(sha256(id));
  ctx.cookies.set(SESSION_COOKIE, null, cookieOptions(ctx, deps));
}

/** The token to put in this page's forms; sets the CSRF cookie when the browser has none. */
export function csrfToken(ctx: Context, deps: SessionDeps): string {
  let secret = ctx.cookies.get(CSRF_COOKIE, { signed: true });
  if (!secret) {
    secret = randomSecret();
    ctx.cookies.set(CSRF_COOKIE, secret, cookieOptions(ctx, deps));
  }
  return hmacSha256(deps.secretKeys[0]!, `csrf:${secret}`);
}

/** Refuses a form whose token does not match this browser's CSRF cookie under any key. */
export function checkCsrf(ctx: Context, deps: SessionDeps, token: string | undefined): void {
  const secret = ctx.cookies.get(CSRF_COOKIE, { signed: true });
  const valid =
    secret !== undefined &&
    token !== undefined &&
    deps.secretKeys.some((key) => constantTimeEqual(hmacSha256(key, `csrf:${secret}`), token));
  if (!valid) {
    throw new PageError(403, 'csrf');
  }
}
