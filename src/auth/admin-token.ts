/**
 * The admin API's credentials: bearer tokens from configuration (adminTokens,
 * OAUTH2_ADMIN_TOKENS), never a default. They are kept as SHA-256 hashes and a presented token
 * is compared with every one of them in constant time. Without any configured token the admin
 * API is off: every admin request is refused with a description that says so.
 */
import type { Context } from 'koa';
import { timingSafeEqual } from 'node:crypto';
import { sha256 } from '../helpers/secrets';
import { BearerTokenMissing, InvalidToken } from '../http/errors';

export const ADMIN_API_DISABLED = 'the admin API is not configured: set OAUTH2_ADMIN_TOKENS (adminTokens)';

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export interface AdminTokenCheck {
  /** Throws an RFC 6750 error unless the request carries a configured admin token. */
  verify(ctx: Context): void;
  enabled: boolean;
}

export function adminTokenCheck(tokens: string[], realm: string): AdminTokenCheck {
  const hashes = tokens.map((token) => Buffer.from(sha256(token), 'hex'));
  return {
    enabled: hashes.length > 0,
    verify(ctx) {
      if (hashes.length === 0) throw new InvalidToken(realm, ADMIN_API_DISABLED);
      const header = ctx.get('authorization');
      if (!header || !/^Bearer(\s|$)/i.test(header)) throw new BearerTokenMissing(realm);
      const match = BEARER.exec(header);
      if (!match) throw new InvalidToken(realm, 'the admin token is malformed');
      const presented = Buffer.from(sha256(match[1]!), 'hex');
      // Every configured token is compared, so the time does not say which one (if any) matched.
      let matched = false;
      for (const hash of hashes) matched = timingSafeEqual(hash, presented) || matched;
      if (!matched) throw new InvalidToken(realm, 'the admin token is not valid');
    },
  };
}
