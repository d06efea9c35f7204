/**
 * The token endpoint: a few named checks, then the grant handler chosen by `grant_type`.
 * Each grant is a small module of one shape; adding a grant is one line in GRANTS.
 */
import type { TokenRequest, TokenResponse } from '../../generated/models';
import { authenticateClient } from '../auth/client-authentication';
import { UnauthorizedClient, UnsupportedGrantType } from '../http/errors';
import type { OperationHandler } from '../http/openapi-router';
import type { ServerContext } from '../server-context';
import type { Emit } from '../events';
import type { ClientRecord } from '../storage/store';
import { DEVICE_CODE_GRANT, deviceCodeGrant } from './grants/device-code';
import { REFRESH_TOKEN_GRANT } from './grants/issue';
import { refreshTokenGrant } from './grants/refresh-token';

/** `emit` reports what the grant did (events), after each write committed. */
type Grant = (server: ServerContext, form: TokenRequest, client: ClientRecord, emit: Emit) => Promise<TokenResponse>;

export const GRANTS: Record<string, Grant> = {
  [DEVICE_CODE_GRANT]: deviceCodeGrant,
  [REFRESH_TOKEN_GRANT]: refreshTokenGrant,
};

export function token(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const form = c.request.requestBody as TokenRequest;
    const grant = Object.hasOwn(GRANTS, form.grant_type) ? GRANTS[form.grant_type] : undefined;
    if (!grant) throw new UnsupportedGrantType(`grant_type ${form.grant_type} is not supported`);
    const { client } = await authenticateClient(ctx, form, server.store, server.realm);
    if (!client.grantTypes.includes(form.grant_type)) {
      throw new UnauthorizedClient(`this client may not use grant_type ${form.grant_type}`);
    }
    const body = await grant(server, form, client, server.emitter(ctx));
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    ctx.body = body;
  };
}
