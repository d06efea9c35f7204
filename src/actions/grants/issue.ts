/**
 * Making the tokens of a grant: an access token, and a refresh token when the client may use
 * the refresh_token grant. Shared by the device code grant and the refresh grant.
 */
import type { TokenResponse } from '../../../generated/models';
import { TokenResponseTokenTypeEnum } from '../../../generated/models';
import { signAccessToken } from '../../helpers/jwt';
import { newTimedToken, PREFIX, randomId, randomSecret, tokenKey } from '../../helpers/secrets';
import type { ServerContext } from '../../server-context';
import type { ClientRecord, NewAccessToken, NewRefreshToken } from '../../storage/store';

export const REFRESH_TOKEN_GRANT = 'refresh_token';

export interface IssuedTokens {
  access: NewAccessToken;
  refresh: NewRefreshToken | undefined;
  response: TokenResponse;
}

/** Seconds an access token of this client lives: its own setting, or the server's. */
function accessTokenLifetime(server: ServerContext, client: ClientRecord): number {
  return client.accessTokenLifetime ?? server.options.accessTokenLifetime;
}

function refreshTokenLifetime(server: ServerContext, client: ClientRecord): number {
  return client.refreshTokenLifetime ?? server.options.refreshTokenLifetime;
}

/** A random token, timed unless a rolling upgrade asks otherwise (timedTokens in defaults.ts). */
function opaqueToken(server: ServerContext, prefix: typeof PREFIX.accessToken | typeof PREFIX.refreshToken, now: number): string {
  return server.options.timedTokens ? newTimedToken(prefix, now) : randomSecret(prefix);
}

/** An opaque random token, or a signed JWT (RFC 9068) when the server is configured for it. */
function accessTokenString(server: ServerContext, client: ClientRecord, userId: string, scopes: string[], id: string, now: number): string {
  const jwt = server.options.jwt;
  if (!jwt) return opaqueToken(server, PREFIX.accessToken, now);
  const iat = Math.floor(now / 1000);
  return signAccessToken(jwt.keys[0]!, {
    iss: server.options.issuer,
    aud: jwt.audience,
    sub: userId,
    client_id: client.id,
    scope: scopes.join(' '),
    iat,
    exp: iat + accessTokenLifetime(server, client),
    jti: id,
  });
}

export function issueTokens(server: ServerContext, client: ClientRecord, userId: string, grantId: string, scopes: string[], now: number): IssuedTokens {
  const id = randomId();
  const accessToken = accessTokenString(server, client, userId, scopes, id, now);
  const lifetime = accessTokenLifetime(server, client);
  const access: NewAccessToken = {
    id,
    tokenHash: tokenKey(accessToken),
    clientId: client.id,
    userId,
    scopes,
    deviceAuthorizationId: grantId,
    createdAt: now,
    expiresAt: now + lifetime * 1000,
  };
  const refreshToken = client.grantTypes.includes(REFRESH_TOKEN_GRANT) ? opaqueToken(server, PREFIX.refreshToken, now) : undefined;
  const refresh: NewRefreshToken | undefined = refreshToken
    ? Object.assign({}, access, { id: randomId(), tokenHash: tokenKey(refreshToken), expiresAt: now + refreshTokenLifetime(server, client) * 1000 })
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
