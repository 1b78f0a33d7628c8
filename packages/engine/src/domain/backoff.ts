import type { RetryPolicy } from "./definition.ts";

/** Delay before the attempt after `failedAttempt` (1-based): exponential, capped by maxBackoffMs. */
export function backoffDelayMs(policy: RetryPolicy, failedAttempt: number): number {
  const delay = policy.backoffMs * policy.backoffMultiplier ** Math.max(0, failedAttempt - 1);
  return Math.min(policy.maxBackoffMs, Math.round(delay));
}
