/**
 * The token endpoint: a few named checks, then the grant handler chosen by `grant_type`.
 * Each grant is a small module of one shape; adding a grant is one line in GRANTS.
 */
import type { TokenRequest, TokenResponse } from '../../generated/models';
import { authenticateClient, publicClientIdOf } from '../auth/client-authentication';
import { UnauthorizedClient, UnsupportedGrantType } from '../http/errors';
import type { OperationHandler } from '../http/openapi-router';
import type { ServerContext } from '../server-context';
import type { Emit } from '../events';
import { deviceCodeKey } from '../helpers/secrets';
import { clientWithDeviceCode, type ClientWithDeviceCode } from '../storage/combined-reads';
import type { ClientRecord } from '../storage/store';
import { answerPendingPoll, DEVICE_CODE_GRANT, deviceCodeGrant } from './grants/device-code';
import { REFRESH_TOKEN_GRANT } from './grants/issue';
import { refreshTokenGrant } from './grants/refresh-token';

/**
 * `emit` reports what the grant did (events), after each write committed. `read` is what the
 * client authentication read besides the client (a polled device code), when it did.
 */
type Grant = (server: ServerContext, form: TokenRequest, client: ClientRecord, emit: Emit, read?: ClientWithDeviceCode) => Promise<TokenResponse>;

export const GRANTS: Record<string, Grant> = {
  [DEVICE_CODE_GRANT]: deviceCodeGrant,
  [REFRESH_TOKEN_GRANT]: refreshTokenGrant,
};

export function token(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const form = c.request.requestBody as TokenRequest;
    const grant = Object.hasOwn(GRANTS, form.grant_type) ? GRANTS[form.grant_type] : undefined;
    if (!grant) throw new UnsupportedGrantType(`grant_type ${form.grant_type} is not supported`);
    const emit = server.emitter(ctx);
    let read: ClientWithDeviceCode | undefined;
    if (form.grant_type === DEVICE_CODE_GRANT && form.device_code !== undefined) {
      const deviceCodeHash = deviceCodeKey(form.device_code);
      // A public client's poll of a pending code: one conditional write, when the store has it
      // (else no await here: SQLite's polls answer without one).
      const publicClientId = server.store.recordPendingPoll && publicClientIdOf(ctx, form);
      if (publicClientId !== undefined) await answerPendingPoll(server, publicClientId, deviceCodeHash, emit);
      // Any other poll reads its client and its device code in one query.
      read = clientWithDeviceCode(server.store, deviceCodeHash);
    }
    const { client } = await authenticateClient(ctx, form, read ?? server.store, server.realm);
    if (!client.grantTypes.includes(form.grant_type)) {
      throw new UnauthorizedClient(`this client may not use grant_type ${form.grant_type}`);
    }
    const body = await grant(server, form, client, emit, read);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    ctx.body = body;
  };
}
