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

/** The codes answered with status `S`. */
type CodesOfStatus<S extends number> = { [C in ErrorCode]: (typeof ERROR_STATUS)[C] extends S ? C : never }[ErrorCode];

/*
 * An error answer without a Baton error body (hono's own refusal of a malformed body, a proxy's
 * page) stands for the code of its status, or where several codes share one (400, 409) the most
 * likely. 500 names none: the API reports what failed as INTERNAL without its internals, and the
 * SDK takes any 5xx it does not know for INTERNAL.
 */
const CODE_OF_STATUS: { readonly [S in 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 503]: CodesOfStatus<S> } = {
  400: "VALIDATION_ERROR",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  409: "INVALID_STATE",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  429: "RATE_LIMITED",
  503: "UNAVAILABLE",
};

/** The code an error answer of `status` stands for when it carries no `{error: {code}}` body; undefined when none is known. */
export function codeOfStatus(status: number): ErrorCode | undefined {
  return (CODE_OF_STATUS as Readonly<Record<number, ErrorCode>>)[status];
}
