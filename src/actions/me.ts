/** The seed's `/api/me` example: who the token speaks for. The bearer check ran before this. */
import type { Me } from '../../generated/models';
import type { OAuthContext } from '../auth/bearer';
import type { OperationHandler } from '../http/openapi-router';

export function getMe(): OperationHandler {
  return (_c, ctx) => {
    const { user, client, scopes } = ctx.state.oauth as OAuthContext;
    const body: Me = {
      sub: user.id,
      username: user.username,
      name: user.name,
      ...(scopes.includes('email') && user.email ? { email: user.email } : {}),
      client_id: client.id,
      scope: scopes.join(' '),
    };
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body;
  };
}
