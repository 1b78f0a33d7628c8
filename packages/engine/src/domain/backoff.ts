import type { RetryPolicy } from "@baton/contract";

/**
 * Delay before the attempt after `failedAttempt` (1-based): exponential, capped by maxBackoffMs.
 * Always a whole number of ms from 0 to maxBackoffMs: a growth that overflows to Infinity (a large
 * multiplier after many attempts) is the cap, and `0 * Infinity` (no base delay) is 0, not NaN.
 */
export function backoffDelayMs(policy: RetryPolicy, failedAttempt: number): number {
  const cap = Math.max(0, policy.maxBackoffMs);
  if (!(policy.backoffMs > 0) || cap === 0) return 0;
  const growth = policy.backoffMultiplier ** Math.max(0, failedAttempt - 1);
  const delay = policy.backoffMs * growth;
  return Number.isFinite(delay) ? Math.min(cap, Math.round(delay)) : cap;
}
