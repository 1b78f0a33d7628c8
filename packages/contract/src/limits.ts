import { BatonError } from "./errors.ts";

/**
 * The bounds on everything a caller sends. Each is named in the 400 that refuses a value over it
 * and in the OpenAPI document (docs/design-notes.md lists them with their reasons).
 */
export const LIMITS = {
  /** Steps of one workflow definition. */
  maxSteps: 500,
  /** Entries of one step's `dependsOn`. */
  maxDependsOn: 64,
  /** Workflow, step, queue and namespace names. */
  maxNameLength: 128,
  /** Worker ids, run ids, service names and the header values that carry them. */
  maxIdLength: 200,
  /** A step's lease, and each backoff value: one day. Also keeps `lease_ms` inside int4. */
  maxLeaseMs: 86_400_000,
  maxBackoffMs: 86_400_000,
  maxBackoffMultiplier: 100,
  /** A workflow's `timeoutMs`, the deadline of a whole run: thirty days. */
  maxRunTimeoutMs: 30 * 86_400_000,
  /** Nesting of any JSON value a caller sends (input, output, error). */
  maxJsonDepth: 64,
  /** A run's input, a step's output, an attempt's error, each as JSON text. */
  maxValueBytes: 512 * 1024,
  /**
   * A run's input is copied into the input of each of its steps (DESIGN §5): input bytes times
   * steps may reach at most this.
   */
  maxFanOutBytes: 16 * 1024 * 1024,
  /**
   * Elements of one `forEach` list. Each element is an attempt chain of its own, and its input (the
   * step's input without the list, plus the element) is bounded with the others by `maxFanOutBytes`.
   */
  maxForEachElements: 1000,
  /** A fan-out step's `maxConcurrency`: its elements running (or waiting out a retry) at once. */
  maxForEachConcurrency: 100,
  /** An HTTP step's URL template, as written. */
  maxUrlLength: 2048,
  /** Headers of one HTTP call of a step (DO or UNDO). */
  maxHttpHeaders: 32,
  /** One header value of an HTTP step, as written (secret references unresolved). */
  maxHttpHeaderValueLength: 4096,
  /** How long one HTTP call of a step may take, connect to last byte: 15 minutes (the lease is heartbeated meanwhile). */
  maxHttpTimeoutMs: 900_000,
  /** Calls of one HTTP step in flight at once, per Baton process (the worker SDK's concurrency bound). */
  maxHttpInFlight: 1000,
} as const;

/**
 * Why a JSON value is over the depth or size limit, or null when it is within both. The depth is
 * measured without recursion, so a value nested 100,000 deep is refused, not a stack overflow.
 */
export function jsonValueIssue(value: unknown, maxBytes: number = LIMITS.maxValueBytes): string | null {
  if (jsonDepth(value, LIMITS.maxJsonDepth) > LIMITS.maxJsonDepth) {
    return `nested deeper than ${LIMITS.maxJsonDepth} levels (maxJsonDepth)`;
  }
  const bytes = jsonBytes(value);
  return bytes > maxBytes ? `${bytes} bytes of JSON, over the limit of ${maxBytes} (maxValueBytes)` : null;
}

/** The VALIDATION_ERROR naming `field` when `value` is over the depth or size limit, else null. */
export function jsonValueError(field: string, value: unknown): BatonError | null {
  const issue = jsonValueIssue(value);
  return issue ? fieldError(field, issue) : null;
}

/** Throws VALIDATION_ERROR naming `field` when `value` is over the depth or size limit. */
export function checkJsonValue(field: string, value: unknown): void {
  const error = jsonValueError(field, value);
  if (error) throw error;
}

/**
 * Why a run's input cannot start a workflow of `steps` steps, or null: it is over the value limits,
 * or its copies (one per step) would together be over `maxFanOutBytes`.
 */
export function runInputError(input: unknown, steps: number): BatonError | null {
  const invalid = jsonValueError("input", input);
  if (invalid) return invalid;
  const bytes = jsonBytes(input);
  if (bytes * steps <= LIMITS.maxFanOutBytes) return null;
  return fieldError(
    "input",
    `${bytes} bytes copied into each of ${steps} steps makes ${bytes * steps} bytes, over the limit of ` +
      `${LIMITS.maxFanOutBytes} (maxFanOutBytes); pass large data by reference`,
  );
}

function fieldError(field: string, message: string): BatonError {
  return new BatonError("VALIDATION_ERROR", `${field}: ${message}`, { fields: [{ field, message }] });
}

/** Size of a value as stored (JSON text, UTF-8). Call only on a value whose depth was checked. */
export function jsonBytes(value: unknown): number {
  return value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value) ?? "", "utf8");
}

/** Nesting depth of objects and arrays, counting stops once past `stopAfter`. */
function jsonDepth(value: unknown, stopAfter: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== "object" || v === null) continue;
    if (depth > deepest) deepest = depth;
    if (deepest > stopAfter) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}
