/**
 * Finds a token, by its hash, among access and refresh tokens. The hint of RFC 7009 §2.1 / RFC 7662
 * §2.1 only chooses which table to try first; a wrong or unknown hint costs a second lookup.
 */
import { findAccessTokenWithOwners, type ClientWithIntrospectedToken } from '../storage/combined-reads';
import type { AccessTokenRecord, RefreshTokenRecord, Store, UserRecord } from '../storage/store';

/** An access token comes with its user, read in the same statement (combined-reads.ts). */
export type FoundToken = { kind: 'access'; record: AccessTokenRecord; user: UserRecord | undefined } | { kind: 'refresh'; record: RefreshTokenRecord };

/**
 * `hash`: the token's SHA-256 (secrets.ts), as stored. `read`: the access token as read with
 * the authenticated client (ClientWithIntrospectedToken), which then needs no lookup of its own.
 */
export async function findAnyToken(store: Store, hash: string, hint: string | undefined, read?: ClientWithIntrospectedToken): Promise<FoundToken | undefined> {
  const lookups = {
    access: async (): Promise<FoundToken | undefined> => {
      const together = read?.result;
      const found = together ? together.accessToken : await findAccessTokenWithOwners(store, hash);
      return found ? { kind: 'access', record: found.token, user: found.user } : undefined;
    },
    refresh: async (): Promise<FoundToken | undefined> => {
      const record = await store.findRefreshToken(hash);
      return record ? { kind: 'refresh', record } : undefined;
    },
  };
  const order = hint === 'refresh_token' ? [lookups.refresh, lookups.access] : [lookups.access, lookups.refresh];
  for (const lookup of order) {
    const found = await lookup();
    if (found) return found;
  }
  return undefined;
}

/** The person the token speaks for: read with an access token, looked up for a refresh token. */
export async function userOf(store: Store, found: FoundToken): Promise<UserRecord | undefined> {
  return found.kind === 'access' ? found.user : store.findUserById(found.record.userId);
}

/** Active: not revoked, not expired, and for refresh tokens not yet rotated. */
export function isActive(found: FoundToken, now: number): boolean {
  const { record } = found;
  if (record.revokedAt !== null || record.expiresAt <= now) return false;
  return found.kind === 'access' || found.record.rotatedAt === null;
}
