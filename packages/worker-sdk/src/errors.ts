import { BatonError, type ErrorCode, isBatonError, LEASE_ERROR_CODES } from "@baton/contract";

export { BatonError, type ErrorCode, isBatonError, LEASE_ERROR_CODES };

/**
 * Thrown by a handler to fail its step at once, with no further attempts. Any other error fails
 * the attempt and leaves the retry decision to the step's retry policy.
 * @example throw new NonRetryableError("tenant name is taken", { tenant });
 */
export class NonRetryableError extends Error {
  override readonly name = "NonRetryableError";
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown by `client.waitFor` when the instance did not reach one of the wanted states in time. */
/**
 * Throw from a handler to fail the attempt and have its retry wait at least `retryAfterMs` (the
 * step's backoff still applies when it is longer; at most a day), as for a service that answered
 * 429 with Retry-After.
 * @example throw new RetryLaterError("rate limited", 30_000);
 */
export class RetryLaterError extends Error {
  override readonly name = "RetryLaterError";
  constructor(
    message: string,
    readonly retryAfterMs: number,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export class WaitTimeoutError extends Error {
  override readonly name = "WaitTimeoutError";
  readonly code = "WAIT_TIMEOUT";
  constructor(
    readonly instanceId: string,
    readonly states: readonly string[],
    /** The last state seen, or null when the instance could not be read at all. */
    readonly lastState: string | null,
    readonly timeoutMs: number,
  ) {
    super(`Instance ${instanceId} did not reach ${states.join(" | ")} within ${timeoutMs} ms (last state: ${lastState ?? "unknown"})`);
  }
}

/**
 * Codes worth trying again: the server (or the network, reported as UNAVAILABLE) failed, or an
 * optimistic-lock race was lost. Lease conflicts are final: the lease belongs to someone else.
 */
const TRANSIENT_CODES: ReadonlySet<string> = new Set(["UNAVAILABLE", "RATE_LIMITED", "INTERNAL", "CONCURRENT_UPDATE"]);

export function isTransientError(error: unknown): boolean {
  return isBatonError(error) && TRANSIENT_CODES.has(error.code);
}

/** True for the answers that mean "this lease is not yours any more" (DESIGN §4.4). */
export function isLeaseConflict(error: unknown): error is BatonError {
  return isBatonError(error) && (LEASE_ERROR_CODES as readonly string[]).includes(error.code);
}

/** Wraps anything that is not already a BatonError, so callers only ever see one error class. */
export function asBatonError(error: unknown, code: ErrorCode = "INTERNAL"): BatonError {
  if (isBatonError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new BatonError(code, message, {}, { cause: error });
}
