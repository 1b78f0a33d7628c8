/**
 * Every error Baton reports on purpose. Callers compare `code`; the HTTP layer maps codes to
 * statuses with `httpStatusOf`.
 */
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  INVALID_DEFINITION: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  STALE_FENCE: 409,
  LEASE_EXPIRED: 409,
  NOT_LEASED: 409,
  ALREADY_COMPLETED: 409,
  RUN_ID_CONFLICT: 409,
  INVALID_STATE: 409,
  CONCURRENT_UPDATE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  MIGRATION_CHANGED: 500,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** The lease conflicts a worker can get back from heartbeat, complete or fail. */
export const LEASE_ERROR_CODES = ["STALE_FENCE", "LEASE_EXPIRED", "NOT_LEASED", "ALREADY_COMPLETED", "NOT_FOUND"] as const;

export class BatonError extends Error {
  override readonly name = "BatonError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toJSON(): { error: { code: ErrorCode; message: string; details: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export function isBatonError(error: unknown, code?: ErrorCode): error is BatonError {
  return error instanceof BatonError && (code === undefined || error.code === code);
}

export function httpStatusOf(code: string): number {
  return (ERROR_STATUS as Record<string, number>)[code] ?? 500;
}
