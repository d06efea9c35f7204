/**
 * Token introspection (RFC 7662) for resource servers: clients that authenticate and are
 * allowed to introspect. Anything unknown, expired, revoked or rotated is `{"active": false}`
 * and nothing more (§2.2), so the answer never says why.
 */
import type { IntrospectionRequest, IntrospectionResponse } from '../../generated/models';
import { IntrospectionResponseTokenTypeEnum } from '../../generated/models';
import { authenticateClient } from '../auth/client-authentication';
import { tokenKey } from '../helpers/secrets';
import { findAnyToken, isActive, userOf } from '../helpers/token-lookup';
import { InvalidClient } from '../http/errors';
import type { OperationHandler } from '../http/openapi-router';
import type { ServerContext } from '../server-context';
import { clientWithIntrospectedToken } from '../storage/combined-reads';

export function introspectToken(server: ServerContext): OperationHandler {
  return async (c, ctx) => {
    const form = c.request.requestBody as IntrospectionRequest;
    const hash = tokenKey(form.token);
    // The client and the access token in one read, unless the hint says a refresh token.
    const read = form.token_type_hint === 'refresh_token' ? undefined : clientWithIntrospectedToken(server.store, hash);
    const { client, method } = await authenticateClient(ctx, form, read ?? server.store, server.realm);
    if (method === 'none' || !client.canIntrospect) {
      throw new InvalidClient('this client is not allowed to introspect tokens', server.realm);
    }
    ctx.set('Cache-Control', 'no-store');
    const found = await findAnyToken(server.store, hash, form.token_type_hint, read);
    const now = server.clock();
    const user = found && isActive(found, now) ? await userOf(server.store, found) : undefined;
    if (!found || !user || user.disabled) {
      ctx.body = { active: false } satisfies IntrospectionResponse;
      return;
    }
    const { record } = found;
    const body: IntrospectionResponse = {
      active: true,
      scope: record.scopes.join(' '),
      client_id: record.clientId,
      username: user.username,
      sub: user.id,
      token_type: found.kind === 'access' ? IntrospectionResponseTokenTypeEnum.Bearer : IntrospectionResponseTokenTypeEnum.RefreshToken,
      exp: Math.floor(record.expiresAt / 1000),
      iat: Math.floor(record.createdAt / 1000),
      iss: server.options.issuer,
      jti: record.id,
    };
    ctx.body = body;
  };
}
