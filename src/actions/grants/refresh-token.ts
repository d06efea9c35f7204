/**
 * The refresh token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14): every refresh returns
 * a new refresh token and retires the old one. A retired refresh token presented again means
 * two parties hold it, so every token of that approval is revoked. Scope may narrow, never
 * widen. The rotation is one conditional write: two refreshes with one token cannot both win.
 */
import type { TokenRequest, TokenResponse } from '../../../generated/models';
import { parseScope } from '../../helpers/scope';
import { tokenKey } from '../../helpers/secrets';
import { InvalidGrant, InvalidRequest, InvalidScope } from '../../http/errors';
import type { Emit } from '../../events';
import type { ServerContext } from '../../server-context';
import type { ClientRecord } from '../../storage/store';
import { issueTokens } from './issue';

export async function refreshTokenGrant(server: ServerContext, form: TokenRequest, client: ClientRecord, emit: Emit): Promise<TokenResponse> {
  const { store } = server;
  if (form.refresh_token === undefined) throw new InvalidRequest('refresh_token is required');
  const old = await store.findRefreshToken(tokenKey(form.refresh_token));
  if (!old || old.clientId !== client.id) throw new InvalidGrant('refresh_token is unknown or was issued to another client');
  const now = server.clock();
  const reuse = () =>
    emit({ type: 'token.revoked', what: 'grant', reason: 'refresh_token_reuse', grantId: old.deviceAuthorizationId, clientId: client.id, userId: old.userId, tokenId: old.id });
  if (old.rotatedAt !== null && old.revokedAt === null) {
    await store.revokeGrant(old.deviceAuthorizationId, now);
    reuse();
    throw new InvalidGrant('refresh_token was already used; every token of this approval is revoked');
  }
  if (old.revokedAt !== null || old.expiresAt <= now) throw new InvalidGrant('refresh_token is expired or revoked');

  const scopes = form.scope === undefined ? old.scopes : parseScope(form.scope);
  const wider = scopes.filter((scope) => !old.scopes.includes(scope));
  if (wider.length > 0) throw new InvalidScope(`scope may only narrow the grant; not granted: ${wider.join(' ')}`);
  if (scopes.length === 0) throw new InvalidScope('scope must name at least one granted scope');

  const user = await store.findUserById(old.userId);
  if (!user || user.disabled) throw new InvalidGrant('the user of this grant can no longer sign in');

  // The new refresh token keeps the whole grant's scope, so narrowing one access token does
  // not shrink what later refreshes may ask for.
  const issued = issueTokens(server, client, user.id, old.deviceAuthorizationId, scopes, now);
  const refresh = Object.assign({}, issued.refresh!, { scopes: old.scopes });
  if (!(await store.rotateRefreshToken(old.id, now, issued.access, refresh))) {
    // Another request rotated it a moment ago: the same token used twice.
    await store.revokeGrant(old.deviceAuthorizationId, now);
    reuse();
    throw new InvalidGrant('refresh_token was already used; every token of this approval is revoked');
  }
  emit({
    type: 'token.refreshed',
    grantId: old.deviceAuthorizationId,
    clientId: client.id,
    userId: user.id,
    scopes,
    accessTokenId: issued.access.id,
    refreshTokenId: refresh.id,
    previousRefreshTokenId: old.id,
  });
  return issued.response;
}
