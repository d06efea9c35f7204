/**
 * The person's side of the device flow (RFC 8628 §3.3): enter the code, sign in, see which
 * client asks for what, approve or deny, and be told to return to the device. Every form
 * carries a CSRF token; a link with the code in it only pre-fills the code (§3.3.1), it never
 * approves by itself. Codes are looked up only for a signed-in person, so an anonymous visitor
 * learns nothing about which codes exist.
 */
import type { Context } from 'koa';
import { checkCsrf, csrfToken, endSession, sessionUser, startSession } from '../../auth/session';
import { decoyPasswordHash, verifyPassword } from '../../helpers/secrets';
import { formatUserCode, normalizeUserCode, userCodeHashes } from '../../helpers/user-code';
import { PageError } from '../../http/errors';
import type { OperationHandler } from '../../http/openapi-router';
import type { ServerContext } from '../../server-context';
import type { DeviceAuthorizationRecord, UserRecord } from '../../storage/store';

type Form = Record<string, string | undefined>;

async function currentUser(server: ServerContext, ctx: Context): Promise<UserRecord | undefined> {
  const user = server.options.getCurrentUser ? await server.options.getCurrentUser(ctx) : await sessionUser(ctx, server.session);
  return user && !user.disabled ? user : undefined;
}

/** Only paths on this server, so sign-in cannot be turned into an open redirect. */
export function safeReturnTo(value: string | undefined): string | undefined {
  if (!value || !value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return undefined;
  return /^[\x21-\x7E]+$/.test(value) ? value : undefined;
}

function redirectToSignIn(ctx: Context, returnTo: string): void {
  ctx.status = 303;
  ctx.redirect(`/signin?return_to=${encodeURIComponent(returnTo)}`);
}

function activatePath(userCode: string): string {
  return `/activate?user_code=${encodeURIComponent(userCode)}`;
}

const CODE_UNKNOWN = 'That code is not valid or has expired. Check the code on your device, or start again there.';

interface LiveAuthorization {
  authorization: DeviceAuthorizationRecord;
  userCode: string;
}

/** The pending, unexpired flow for what the person typed, or a PageError saying why not. */
async function findPending(server: ServerContext, input: string | undefined): Promise<LiveAuthorization> {
  const normalized = input === undefined ? undefined : normalizeUserCode(input, server.options.userCode);
  if (normalized === undefined) throw new PageError(404, 'Code not found', CODE_UNKNOWN);
  const authorization = await server.store.findDeviceAuthorizationByUserCode(userCodeHashes(normalized, server.options.secretKeys));
  if (!authorization) throw new PageError(404, 'Code not found', CODE_UNKNOWN);
  if (authorization.expiresAt <= server.clock()) {
    throw new PageError(410, 'Code expired', 'This code has expired. Start again on your device to get a new one.');
  }
  if (authorization.status !== 'pending') {
    throw new PageError(409, 'Code already used', 'This code has already been used. Start again on your device if it is not connected.');
  }
  return { authorization, userCode: formatUserCode(normalized) };
}

async function renderConfirm(server: ServerContext, ctx: Context, user: UserRecord, live: LiveAuthorization): Promise<void> {
  const { authorization } = live;
  const client = await server.store.findClient(authorization.clientId);
  server.pages.render(ctx, 'confirm', {
    title: 'Connect a device',
    user,
    csrf: csrfToken(ctx, server.session),
    clientName: client?.name ?? authorization.clientId,
    userCode: live.userCode,
    scopes: authorization.scopes.map((name) => ({ name, description: server.options.scopes[name] ?? name })),
    requestedAt: new Date(authorization.createdAt).toUTCString(),
    requestIp: authorization.requestIp,
    expiresInMinutes: Math.max(1, Math.ceil((authorization.expiresAt - server.clock()) / 60000)),
  });
}

function renderEnterCode(server: ServerContext, ctx: Context, user: UserRecord | undefined, extra: Record<string, unknown> = {}, status = 200): void {
  server.pages.render(ctx, 'enter-code', { title: 'Connect a device', user, csrf: csrfToken(ctx, server.session), ...extra }, status);
}

/** GET /activate[?user_code=] */
export function showActivation(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const userCode = (c.request.query as Form).user_code;
    const user = await currentUser(server, ctx);
    if (userCode === undefined || userCode === '') return renderEnterCode(server, ctx, user);
    if (!user) return redirectToSignIn(ctx, activatePath(userCode));
    try {
      await renderConfirm(server, ctx, user, await findPending(server, userCode));
    } catch (err) {
      if (!(err instanceof PageError) || err.status !== 404) throw err;
      renderEnterCode(server, ctx, user, { error: err.detail, userCode }, 404);
    }
  };
}

/** POST /activate: the code the person typed. */
export function submitUserCode(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const form = c.request.requestBody as Form;
    checkCsrf(ctx, server.session, form.csrf_token);
    const user = await currentUser(server, ctx);
    if (!user) return redirectToSignIn(ctx, activatePath(form.user_code ?? ''));
    try {
      await renderConfirm(server, ctx, user, await findPending(server, form.user_code));
    } catch (err) {
      if (!(err instanceof PageError) || err.status !== 404) throw err;
      renderEnterCode(server, ctx, user, { error: err.detail, userCode: form.user_code }, 404);
    }
  };
}

/** POST /activate/decision: approve or deny. One conditional write decides; a second loses. */
export function decideAuthorization(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const form = c.request.requestBody as Form;
    checkCsrf(ctx, server.session, form.csrf_token);
    const user = await currentUser(server, ctx);
    if (!user) throw new PageError(403, 'Please sign in again', 'Your session ended before you decided. Sign in and enter the code again.');
    const { authorization } = await findPending(server, form.user_code);
    const approved = form.decision === 'approve';
    const decided = await server.store.decide(authorization.id, approved ? 'approved' : 'denied', user.id, server.clock());
    if (!decided) await findPending(server, form.user_code); // says expired or used
    if (!decided) throw new PageError(409, 'Code already used', 'This code has already been used.');
    const client = await server.store.findClient(authorization.clientId);
    server.pages.render(ctx, 'result', {
      title: approved ? 'Device connected' : 'Request denied',
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
    server.pages.render(ctx, 'signin', { title: 'Sign in', csrf: csrfToken(ctx, server.session), returnTo });
  };
}

/** POST /signin: local accounts; the same answer and the same work for an unknown username. */
export function signIn(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const form = c.request.requestBody as Form;
    checkCsrf(ctx, server.session, form.csrf_token);
    const returnTo = safeReturnTo(form.return_to);
    const user = await server.store.findUserByUsername(form.username ?? '');
    const passwordOk = await verifyPassword(form.password ?? '', user?.passwordHash ?? (await decoyPasswordHash()));
    if (!user || !passwordOk) {
      return server.pages.render(
        ctx,
        'signin',
        { title: 'Sign in', csrf: csrfToken(ctx, server.session), returnTo, username: form.username, error: 'Wrong username or password.' },
        401,
      );
    }
    if (user.disabled) throw new PageError(403, 'Account disabled', 'This account is disabled and cannot connect devices.');
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
