/**
 * Making the tokens of a grant: an access token, and a refresh token when the client may use
 * the refresh_token grant. Shared by the device code grant and the refresh grant.
 */
import type { TokenResponse } from '../../../generated/models';
import { TokenResponseTokenTypeEnum } from '../../../generated/models';
import { PREFIX, randomId, randomSecret, sha256 } from '../../helpers/secrets';
import type { ServerContext } from '../../server-context';
import type { ClientRecord, NewAccessToken, NewRefreshToken } from '../../storage/store';

export const REFRESH_TOKEN_GRANT = 'refresh_token';

export interface IssuedTokens {
  access: NewAccessToken;
  refresh: NewRefreshToken | undefined;
  response: TokenResponse;
}

export function issueTokens(server: ServerContext, client: ClientRecord, userId: string, grantId: string, scopes: string[], now: number): IssuedTokens {
  const accessToken = randomSecret(PREFIX.accessToken);
  const lifetime = server.options.accessTokenLifetime;
  const access: NewAccessToken = {
    id: randomId(),
    tokenHash: sha256(accessToken),
    clientId: client.id,
    userId,
    scopes,
    deviceAuthorizationId: grantId,
    createdAt: now,
    expiresAt: now + lifetime * 1000,
  };
  const refreshToken = client.grantTypes.includes(REFRESH_TOKEN_GRANT) ? randomSecret(PREFIX.refreshToken) : undefined;
  const refresh: NewRefreshToken | undefined = refreshToken
    ? { ...access, id: randomId(), tokenHash: sha256(refreshToken), expiresAt: now + server.options.refreshTokenLifetime * 1000 }
    : undefined;
  return {
    access,
    refresh,
    response: {
      access_token: accessToken,
      token_type: TokenResponseTokenTypeEnum.Bearer,
      expires_in: lifetime,
      ...(refreshToken ? { refresh_token: refreshToken } : {}),
      scope: scopes.join(' '),
    },
  };
}
