/**
 * The arithmetic of attempt limits, shared by every Store: how long a key waits after its n-th
 * failure, and how many guesses a policy allows against one user code in its lifetime.
 */
import type { AttemptPolicy } from './store';

/** Failures that cost nothing: a person may mistype twice without being slowed down. */
export const FREE_FAILURES = 2;

/** Up to FREE_FAILURES: no wait; then base, 2 base, 4 base ...; at maxFailures: the lockout. */
export function attemptDelaySeconds(failures: number, policy: AttemptPolicy): number {
  if (failures >= policy.maxFailures) return policy.lockoutSeconds;
  if (failures <= FREE_FAILURES) return 0;
  return Math.min(policy.backoffBaseSeconds * 2 ** (failures - FREE_FAILURES - 1), policy.lockoutSeconds);
}

/**
 * The most wrong guesses one key (one IP address, or one account) can make while one code
 * lives: maxFailures per lockout period, and a code's lifetime can touch
 * floor(lifetime / lockout) + 1 such periods.
 */
export function guessesPerCodeLifetime(policy: AttemptPolicy, codeLifetimeSeconds: number): number {
  return policy.maxFailures * (Math.floor(codeLifetimeSeconds / policy.lockoutSeconds) + 1);
}
