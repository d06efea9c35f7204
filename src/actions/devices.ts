/**
 * "Your devices": the approvals a person has given, and cutting one off. Revoking an approval
 * revokes every access and refresh token it produced, at once: the next call to a protected
 * resource, introspection or refresh sees it. The API needs a token with scope `devices`; the
 * page needs a signed-in session.
 */
import type { Context } from 'koa';
import type { ApprovedDevice, DeviceList } from '../../generated/models';
import type { OAuthContext } from '../auth/bearer';
import { checkCsrf, csrfToken } from '../auth/session';
import { NotFound, PageError } from '../http/errors';
import type { OperationHandler } from '../http/openapi-router';
import type { ServerContext } from '../server-context';
import type { ApprovedDeviceRecord, UserRecord } from '../storage/store';
import { formatTime } from '../views/i18n';
import { currentUser, redirectToSignIn } from './activation/pages';

function toApiDevice(d: ApprovedDeviceRecord): ApprovedDevice {
  return {
    grant_id: d.grantId,
    client_id: d.clientId,
    client_name: d.clientName,
    scope: d.scopes.join(' '),
    approved_at: Math.floor(d.approvedAt / 1000),
    last_used_at: Math.floor(d.lastUsedAt / 1000),
  };
}

/** Revokes the approval if it is one of this person's; false when it is not theirs or gone. */
async function revokeOwn(server: ServerContext, ctx: Context, user: UserRecord, grantId: string): Promise<boolean> {
  const now = server.clock();
  const devices = await server.store.listApprovedDevices(user.id, now);
  const device = devices.find((d) => d.grantId === grantId);
  if (!device) return false;
  await server.store.revokeGrant(grantId, now);
  server.emitter(ctx)({ type: 'token.revoked', what: 'grant', reason: 'user_request', grantId, clientId: device.clientId, userId: user.id, tokenId: null });
  return true;
}

/** GET /api/me/devices */
export function listMyDevices(server: ServerContext): OperationHandler {
  return async (_c, ctx) => {
    const { user } = ctx.state.oauth as OAuthContext;
    const devices = await server.store.listApprovedDevices(user.id, server.clock());
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { devices: devices.map(toApiDevice) } satisfies DeviceList;
  };
}

/** DELETE /api/me/devices/{grant_id} */
export function revokeMyDevice(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const { user } = ctx.state.oauth as OAuthContext;
    const grantId = String((c.request.params as Record<string, string>).grant_id);
    if (!(await revokeOwn(server, ctx, user, grantId))) throw new NotFound('no such device among yours');
    ctx.status = 204;
  };
}

/** GET /account/devices */
export function showMyDevices(server: ServerContext): OperationHandler {
  return async (_c, ctx) => {
    const user = await currentUser(server, ctx);
    if (!user) return redirectToSignIn(ctx, '/account/devices');
    const devices = await server.store.listApprovedDevices(user.id, server.clock());
    const t = server.pages.translate(ctx);
    const lang = ctx.get('accept-language') || undefined;
    server.pages.render(ctx, 'devices', {
      title: t('devices.title'),
      user,
      csrf: csrfToken(ctx, server.session),
      devices: devices.map((d) => Object.assign({}, d, { approved: formatTime(lang, d.approvedAt, true), lastUsed: formatTime(lang, d.lastUsedAt, true), scope: d.scopes.join(' ') })),
    });
  };
}

/** POST /account/devices: the Revoke button. */
export function revokeDeviceFromPage(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const form = c.request.requestBody as Record<string, string>;
    checkCsrf(ctx, server.session, form.csrf_token);
    const user = await currentUser(server, ctx);
    if (!user) throw new PageError(403, 'signInAgain');
    if (!(await revokeOwn(server, ctx, user, String(form.grant_id)))) throw new PageError(404, 'deviceNotFound');
    ctx.status = 303;
    ctx.redirect('/account/devices');
  };
}
