/**
 * Finds a token string among access and refresh tokens. The hint of RFC 7009 §2.1 / RFC 7662
 * §2.1 only chooses which table to try first; a wrong or unknown hint costs a second lookup.
 */
import type { AccessTokenRecord, RefreshTokenRecord, Store } from '../storage/store';
import { sha256 } from './secrets';

export type FoundToken = { kind: 'access'; record: AccessTokenRecord } | { kind: 'refresh'; record: RefreshTokenRecord };

export async function findAnyToken(store: Store, token: string, hint: string | undefined): Promise<FoundToken | undefined> {
  const hash = sha256(token);
  const lookups = {
    access: async (): Promise<FoundToken | undefined> => {
      const record = await store.findAccessToken(hash);
      return record ? { kind: 'access', record } : undefined;
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

/** Active: not revoked, not expired, and for refresh tokens not yet rotated. */
export function isActive(found: FoundToken, now: number): boolean {
  const { record } = found;
  if (record.revokedAt !== null || record.expiresAt <= now) return false;
  return found.kind === 'access' || found.record.rotatedAt === null;
}
