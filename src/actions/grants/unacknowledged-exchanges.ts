/**
 * Exchanges whose commit may have happened without this process hearing of it.
 *
 * When the database dies while the exchange transaction commits, the commit may have taken
 * effect although the driver reports a lost connection: the device is told 503 and polls
 * again, finds its code consumed, and the replay rule would revoke the very tokens it was
 * never given. So the process that made the tokens keeps its answer, in memory and briefly;
 * if the next poll of that code finds exactly those tokens stored, the commit did happen and
 * the device gets the answer it missed, once. Anything else is a replay as before. Only the
 * holder of the device code can ask, and only for tokens made for that code; after a restart
 * or on another process the replay rule applies (documented in the README).
 */
import type { Store } from '../../storage/store';
import type { IssuedTokens } from './issue';

/** How long an answer is kept for a device that retries after a 503. */
export const UNACKNOWLEDGED_TTL_MS = 120_000;
/** A bound on memory: answers beyond it are not kept (they fall back to the replay rule). */
const MAX_KEPT = 10_000;

interface Kept {
  issued: IssuedTokens;
  userId: string;
  keptUntil: number;
}

export class UnacknowledgedExchanges {
  private readonly kept = new Map<string, Kept>();

  /** Remembers the answer of an exchange whose outcome is unknown. */
  keep(authorizationId: string, issued: IssuedTokens, userId: string, now: number): void {
    for (const [id, entry] of this.kept) if (entry.keptUntil <= now) this.kept.delete(id);
    if (this.kept.size >= MAX_KEPT) return;
    this.kept.set(authorizationId, { issued, userId, keptUntil: now + UNACKNOWLEDGED_TTL_MS });
  }

  /**
   * The answer the device missed, if this process kept one for this authorization and its
   * access token is the one stored (so the commit happened) and still valid. Given out once.
   */
  async recover(store: Store, authorizationId: string, now: number): Promise<{ issued: IssuedTokens; userId: string } | undefined> {
    const entry = this.kept.get(authorizationId);
    if (!entry) return undefined;
    this.kept.delete(authorizationId);
    if (entry.keptUntil <= now) return undefined;
    const stored = await store.findAccessToken(entry.issued.access.tokenHash);
    if (!stored || stored.deviceAuthorizationId !== authorizationId || stored.revokedAt !== null) return undefined;
    return entry;
  }
}
