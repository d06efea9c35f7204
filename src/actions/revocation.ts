/**
 * Token revocation (RFC 7009). The client authenticates as at the token endpoint and may
 * revoke only tokens issued to it. Revoking a refresh token revokes the whole approval, access
 * tokens included (§2.1); revoking an access token revokes that token. Unknown tokens get 200
 * too (§2.2): the client's goal, that the token is not usable, holds either way.
 */
import type { RevocationRequest } from '../../generated/models';
import { authenticateClient } from '../auth/client-authentication';
import { tokenKey } from '../helpers/secrets';
import { findAnyToken } from '../helpers/token-lookup';
import { InvalidRequest } from '../http/errors';
import type { OperationHandler } from '../http/openapi-router';
import type { ServerContext } from '../server-context';

export function revokeToken(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const form = c.request.requestBody as RevocationRequest;
    const { client } = await authenticateClient(ctx, form, server.store, server.realm);
    const found = await findAnyToken(server.store, tokenKey(form.token), form.token_type_hint);
    if (found && found.record.clientId !== client.id) {
      throw new InvalidRequest('the token was not issued to this client');
    }
    const now = server.clock();
    if (found) {
      const { record } = found;
      if (found.kind === 'refresh') await server.store.revokeGrant(found.record.deviceAuthorizationId, now);
      else await server.store.revokeAccessToken(record.id, now);
      server.emitter(ctx)({
        type: 'token.revoked',
        what: found.kind === 'refresh' ? 'grant' : 'access_token',
        reason: 'client_request',
        grantId: record.deviceAuthorizationId,
        clientId: client.id,
        userId: record.userId,
        tokenId: record.id,
      });
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 200;
    ctx.body = '';
  };
}
