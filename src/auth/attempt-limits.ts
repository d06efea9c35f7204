/**
 * Limits on guessing (RFC 8628 §5.1): wrong user codes are counted per IP address and per
 * signed-in account, failed sign-ins per IP address and per username. Each failure makes the
 * next attempt wait longer, and too many lock the key out (429 with Retry-After). The counts
 * live in the database, so every server process shares them.
 */
import type { Context } from 'koa';
import { clientIp } from '../http/client-ip';
import { TooManyAttempts } from '../http/errors';
import type { AttemptPolicy, Store } from '../storage/store';

export function userCodeAttemptKeys(ctx: Context, userId: string): string[] {
  return [`code:ip:${clientIp(ctx)}`, `code:user:${userId}`];
}

export function signInAttemptKeys(ctx: Context, username: string): string[] {
  return [`signin:ip:${clientIp(ctx)}`, signInUserKey(username)];
}

export function signInUserKey(username: string): string {
  return `signin:user:${username.toLowerCase().slice(0, 128)}`;
}

/** Refuses the attempt while any of the keys is waiting out a back-off or a lockout. */
export async function assertNotLocked(store: Store, keys: string[], now: number): Promise<void> {
  const until = await store.attemptsLockedUntil(keys, now);
  if (until > now) throw new TooManyAttempts((until - now) / 1000);
}

/** Counts a failure against every key; returns the keys this failure locked out. */
export async function recordFailure(store: Store, keys: string[], now: number, policy: AttemptPolicy): Promise<string[]> {
  const lockedOut: string[] = [];
  for (const key of keys) {
    // Exactly one failure, in any process, brings a key's count to maxFailures.
    if ((await store.recordFailedAttempt(key, now, policy)) === policy.maxFailures) lockedOut.push(key);
  }
  return lockedOut;
}
