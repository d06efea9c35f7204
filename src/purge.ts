/**
 * Removing what has expired: device authorizations nobody used, tokens past their lifetime,
 * old sessions and attempt counters. In batches of short statements, so MySQL never holds long
 * locks, and with a grace period, so a person who comes back to an expired code a little late
 * is still told "expired" rather than "not found".
 */
import type { PurgeCounts, Store } from './storage/store';

export const PURGE_BATCH_SIZE = 500;
/** Rows are kept this long past their expiry. */
export const PURGE_GRACE_SECONDS = 3600;
/** One run stops after this many batches of each kind; the next run goes on. */
const MAX_BATCHES_PER_RUN = 200;

const ZERO: PurgeCounts = { deviceAuthorizations: 0, accessTokens: 0, refreshTokens: 0, sessions: 0, attemptCounters: 0 };

/** Purges in batches until nothing expired is left (or the run's batch limit is reached). */
export async function purgeExpired(store: Store, now: number, batchSize = PURGE_BATCH_SIZE): Promise<PurgeCounts> {
  const total = { ...ZERO };
  for (let batch = 0; batch < MAX_BATCHES_PER_RUN; batch++) {
    const counts = await store.purgeExpired(now - PURGE_GRACE_SECONDS * 1000, batchSize);
    let removed = 0;
    for (const key of Object.keys(total) as Array<keyof PurgeCounts>) {
      total[key] += counts[key];
      removed += counts[key];
    }
    // A batch that came back short of its size means that kind is done.
    if (removed === 0 || Object.values(counts).every((n) => n < batchSize)) break;
  }
  return total;
}

export interface PurgeJob {
  stop(): void;
}

/** Runs purgeExpired every `intervalSeconds` in this process; 0 starts nothing. */
export function startPurgeJob(store: Store, intervalSeconds: number, clock: () => number, onError: (err: unknown) => void): PurgeJob {
  if (intervalSeconds <= 0) return { stop() {} };
  let running = false;
  const timer = setInterval(() => {
    if (running) return; // a slow run is not overlapped by the next
    running = true;
    purgeExpired(store, clock())
      .catch(onError)
      .finally(() => {
        running = false;
      });
  }, intervalSeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
