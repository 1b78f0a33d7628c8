import { isTransientError } from "./errors.ts";

/** How transient failures (network, 5xx, 429) are retried: exponential backoff with full jitter. */
export interface RetryPolicy {
  /** Tries after the first one (default 8). */
  retries: number;
  /** First delay cap (default 100 ms). */
  minDelayMs: number;
  /** Largest delay cap (default 5000 ms). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 8, minDelayMs: 100, maxDelayMs: 5000 };

/** A random delay in [0, min(maxDelayMs, minDelayMs * 2^n)): spreads out workers retrying together. */
export function backoffDelay(policy: RetryPolicy, failures: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** Math.min(failures, 30));
  return Math.floor(Math.random() * cap);
}

/**
 * Runs `attempt` until it succeeds, fails with a non-transient error, runs out of retries or
 * `signal` aborts (then the last error is thrown). `onRetry` sees each transient failure.
 */
export async function withRetry<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  options: { signal?: AbortSignal; onRetry?: (error: unknown, failures: number, delayMs: number) => void } = {},
): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isTransientError(error) || failures >= policy.retries || options.signal?.aborted) throw error;
      const delayMs = backoffDelay(policy, failures);
      options.onRetry?.(error, failures + 1, delayMs);
      await sleep(delayMs, options.signal);
      if (options.signal?.aborted) throw error;
    }
  }
}

/** Resolves after `ms`, or early when `signal` aborts. Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
