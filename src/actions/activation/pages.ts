/**
 * The person's side of the device flow (RFC 8628 §3.3): enter the code, sign in, see which
 * client asks for what, from where and until when, approve or deny, and be told to return to
 * the device. Every form carries a CSRF token; a link with the code in it only pre-fills the
 * code (§3.3.1), it never approves by itself. Codes are looked up only for a signed-in person,
 * so an anonymous visitor learns nothing about which codes exist, and every failed lookup
 * counts against that person and their IP address (§5.1).
 */
import type { Context } from 'koa';
import { assertNotLocked, recordFailure, signInAttemptKeys, signInUserKey, userCodeAttemptKeys } from '../../auth/attempt-limits';
import { checkCsrf, csrfToken, endSession, sessionUser, startSession } from '../../auth/session';
import { decoyPasswordHash, verifyPassword } from '../../helpers/secrets';
import { formatUserCode, normalizeUserCode, userCodeHashes } from '../../helpers/user-code';
import { PageError } from '../../http/errors';
import type { OperationHandler } from '../../http/openapi-router';
import type { ServerContext } from '../../server-context';
import type { DeviceAuthorizationRecord, UserRecord } from '../../storage/store';
import { defaults } from '../../config/defaults';
import { formatTime, isMessageKey } from '../../views/i18n';
import { noteExpired } from '../grants/device-code';

type Form = Record<string, string | undefined>;

export async function currentUser(server: ServerContext, ctx: Context): Promise<UserRecord | undefined> {
  const user = server.options.getCurrentUser ? await server.options.getCurrentUser(ctx) : await sessionUser(ctx, server.session);
  return user && !user.disabled ? user : undefined;
}

/** Only paths on this server, so sign-in cannot be turned into an open redirect. */
export function safeReturnTo(value: string | undefined): string | undefined {
  if (!value || !value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return undefined;
  return /^[\x21-\x7E]+$/.test(value) ? value : undefined;
}

export function redirectToSignIn(ctx: Context, returnTo: string): void {
  ctx.status = 303;
  ctx.redirect(`/signin?return_to=${encodeURIComponent(returnTo)}`);
}

function activatePath(userCode: string): string {
  return `/activate?user_code=${encodeURIComponent(userCode)}`;
}

interface LiveAuthorization {
  authorization: DeviceAuthorizationRecord;
  userCode: string;
}

/** The pending, unexpired flow for what the person typed, or a PageError saying why not. */
async function lookUpPending(server: ServerContext, ctx: Context, input: string | undefined): Promise<LiveAuthorization> {
  const normalized = input === undefined ? undefined : normalizeUserCode(input, server.options.userCode);
  if (normalized === undefined) throw new PageError(404, 'codeNotFound');
  const authorization = await server.store.findDeviceAuthorizationByUserCode(userCodeHashes(normalized, server.options.secretKeys));
  if (!authorization) throw new PageError(404, 'codeNotFound');
  if (authorization.expiresAt <= server.clock()) {
    await noteExpired(server, authorization, server.clock(), server.emitter(ctx));
    throw new PageError(410, 'codeExpired');
  }
  if (authorization.status !== 'pending') throw new PageError(409, 'codeUsed');
  return { authorization, userCode: formatUserCode(normalized) };
}

/** lookUpPending behind the guessing limits: a locked person or address gets 429. */
async function findPending(server: ServerContext, ctx: Context, user: UserRecord, input: string | undefined): Promise<LiveAuthorization> {
  const keys = userCodeAttemptKeys(ctx, user.id);
  await assertNotLocked(server.store, keys, server.clock());
  try {
    return await lookUpPending(server, ctx, input);
  } catch (err) {
    if (err instanceof PageError) {
      const policy = server.options.limits.userCode;
      const lockedOut = await recordFailure(server.store, keys, server.clock(), policy);
      const emit = server.emitter(ctx);
      for (const key of lockedOut) {
        emit({ type: 'user_code.lockout', subject: key === keys[0] ? 'ip' : 'account', userId: user.id, lockoutSeconds: policy.lockoutSeconds });
      }
    }
    throw err;
  }
}

/** The operator's description of a scope; the catalogue's, in the person's language, for the defaults. */
function scopeDescription(server: ServerContext, ctx: Context, name: string): string {
  const configured = server.options.scopes[name] ?? name;
  const key = `scope.${name}`;
  return configured === defaults.scopes[name] && isMessageKey(key) ? server.pages.translate(ctx)(key) : configured;
}

async function renderConfirm(server: ServerContext, ctx: Context, user: UserRecord, live: LiveAuthorization): Promise<void> {
  const { authorization } = live;
  const client = await server.store.findClient(authorization.clientId);
  server.pages.render(ctx, 'confirm', {
    title: server.pages.translate(ctx)('confirm.title'),
    user,
    csrf: csrfToken(ctx, server.session),
    clientName: client?.name ?? authorization.clientId,
    userCode: live.userCode,
    scopes: authorization.scopes.map((name) => ({ name, description: scopeDescription(server, ctx, name) })),
    requestedAt: formatTime(ctx.get('accept-language') || undefined, authorization.createdAt, true),
    requestIp: authorization.requestIp ?? '?',
    userAgent: authorization.userAgent?.slice(0, 200),
    expiresAt: formatTime(ctx.get('accept-language') || undefined, authorization.expiresAt, false),
    expiresInMinutes: Math.max(1, Math.ceil((authorization.expiresAt - server.clock()) / 60000)),
  });
}

function renderEnterCode(server: ServerContext, ctx: Context, user: UserRecord | undefined, extra: Record<string, unknown> = {}, status = 200): void {
  const t = server.pages.translate(ctx);
  server.pages.render(ctx, 'enter-code', { title: t('enterCode.title'), user, csrf: csrfToken(ctx, server.session), ...extra }, status);
}

/** Shows the confirm page for a code, or the enter-code page again when it is unknown. */
async function confirmOrRetry(server: ServerContext, ctx: Context, user: UserRecord, typed: string | undefined): Promise<void> {
  try {
    await renderConfirm(server, ctx, user, await findPending(server, ctx, user, typed));
  } catch (err) {
    if (!(err instanceof PageError) || err.pageMessage !== 'codeNotFound') throw err;
    renderEnterCode(server, ctx, user, { error: server.pages.translate(ctx)('codeNotFound.detail'), userCode: typed }, 404);
  }
}

/** GET /activate[?user_code=] */
export function showActivation(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const userCode = (c.request.query as Form).user_code;
    const user = await currentUser(server, ctx);
    if (userCode === undefined || userCode === '') return renderEnterCode(server, ctx, user);
    if (!user) return redirectToSignIn(ctx, activatePath(userCode));
    await confirmOrRetry(server, ctx, user, userCode);
  };
}

/** POST /activate: the code the person typed. */
export function submitUserCode(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const form = c.request.requestBody as Form;
    checkCsrf(ctx, server.session, form.csrf_token);
    const user = await currentUser(server, ctx);
    if (!user) return redirectToSignIn(ctx, activatePath(form.user_code ?? ''));
    await confirmOrRetry(server, ctx, user, form.user_code);
  };
}

/** POST /activate/decision: approve or deny. One conditional write decides; a second loses. */
export function decideAuthorization(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const form = c.request.requestBody as Form;
    checkCsrf(ctx, server.session, form.csrf_token);
    const user = await currentUser(server, ctx);
    if (!user) throw new PageError(403, 'signInAgain');
    const { authorization } = await findPending(server, ctx, user, form.user_code);
    const approved = form.decision === 'approve';
    if (!(await server.store.decide(authorization.id, approved ? 'approved' : 'denied', user.id, server.clock()))) {
      // Another tab or person decided first, or it expired a moment ago: say which.
      await lookUpPending(server, ctx, form.user_code);
      throw new PageError(409, 'codeUsed');
    }
    server.emitter(ctx)({
      type: approved ? 'device_authorization.approved' : 'device_authorization.denied',
      authorizationId: authorization.id,
      clientId: authorization.clientId,
      scopes: authorization.scopes,
      userId: user.id,
      requestedAt: authorization.createdAt,
    });
    const client = await server.store.findClient(authorization.clientId);
    const t = server.pages.translate(ctx);
    server.pages.render(ctx, 'result', {
      title: t(approved ? 'result.approved.title' : 'result.denied.title'),
      user,
      csrf: csrfToken(ctx, server.session),
      approved,
      clientName: client?.name ?? authorization.clientId,
    });
  };
}

/** GET /signin */
export function showSignIn(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const returnTo = safeReturnTo((c.request.query as Form).return_to);
    const t = server.pages.translate(ctx);
    server.pages.render(ctx, 'signin', { title: t('signIn.title'), csrf: csrfToken(ctx, server.session), returnTo });
  };
}

/** POST /signin: local accounts; the same answer and the same work for an unknown username. */
export function signIn(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const form = c.request.requestBody as Form;
    checkCsrf(ctx, server.session, form.csrf_token);
    const username = form.username ?? '';
    const keys = signInAttemptKeys(ctx, username);
    await assertNotLocked(server.store, keys, server.clock());
    const returnTo = safeReturnTo(form.return_to);
    const user = await server.store.findUserByUsername(username);
    const passwordOk = await verifyPassword(form.password ?? '', user?.passwordHash ?? (await decoyPasswordHash()));
    if (!user || !passwordOk) {
      await recordFailure(server.store, keys, server.clock(), server.options.limits.signIn);
      const t = server.pages.translate(ctx);
      return server.pages.render(
        ctx,
        'signin',
        { title: t('signIn.title'), csrf: csrfToken(ctx, server.session), returnTo, username: form.username, error: t('signIn.failed') },
        401,
      );
    }
    if (user.disabled) throw new PageError(403, 'accountDisabled');
    await server.store.clearAttempts(signInUserKey(username));
    await startSession(ctx, server.session, user);
    ctx.status = 303;
    ctx.redirect(returnTo ?? '/activate');
  };
}

/** POST /signout */
export function signOut(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    checkCsrf(ctx, server.session, (c.request.requestBody as Form).csrf_token);
    await endSession(ctx, server.session);
    ctx.status = 303;
    ctx.redirect('/activate');
  };
}
