import { BatonError, isBatonError, isLeaseConflict, isTransientError, NonRetryableError } from "./errors.ts";
import type { HandlerContext, QueueRoute } from "./handler.ts";
import { type RetryPolicy, withRetry } from "./retry-policy.ts";
import type { LeaseDeps, TaskLease } from "./task-lease.ts";

/** Why a handler's signal was aborted because the worker stopped past its deadline. */
export class WorkerStoppedError extends Error {
  override readonly name = "WorkerStoppedError";
}

export interface TaskRunDeps extends LeaseDeps {
  retryPolicy: RetryPolicy;
  /** Aborts when the worker gives up on its in-flight tasks (stop deadline passed). */
  hardStop: AbortSignal;
}

/** What a handler did: returned an output (JSON) or threw. */
export type Outcome = { ok: true; output: unknown } | { ok: false; error: unknown };

/**
 * Runs the handler of one attempt under its lease (heartbeats run from the acquire on). Resolves
 * with the outcome to report, or with nothing when the result can no longer count: the lease was
 * lost, or the worker abandoned the attempt when it stopped. Then the engine times the attempt
 * out and hands the step out again.
 */
export async function runHandler(lease: TaskLease, route: QueueRoute, deps: TaskRunDeps): Promise<Outcome | undefined> {
  const { logger, emit } = deps;
  const { task, fields } = lease;
  let abandoned = false;
  const onHardStop = () => {
    abandoned = true;
    lease.abandon(new WorkerStoppedError("the worker stopped past its deadline; this attempt is left to its lease"));
    logger.warn(fields, "worker stopped before the handler finished; the attempt is left to its lease");
    emit({ type: "task-abandoned", task });
  };

  const context: HandlerContext<unknown> = {
    input: task.input,
    attempt: task.attempt,
    executionId: task.executionId,
    instanceId: task.instanceId,
    workflowName: task.workflowName,
    taskId: task.taskId,
    step: task.step,
    elementIndex: task.elementIndex,
    kind: task.kind,
    queue: task.queue,
    fenceToken: task.fenceToken,
    signal: lease.signal,
    heartbeat: () => lease.beatNow(),
  };

  emit({ type: "task-started", task });
  logger.debug(fields, "task started");
  deps.hardStop.addEventListener("abort", onHardStop, { once: true });
  if (deps.hardStop.aborted) onHardStop();
  let outcome: Outcome;
  try {
    outcome = { ok: true, output: toJson(await route.run(context)) };
  } catch (error) {
    outcome = { ok: false, error };
  } finally {
    lease.stopHeartbeats();
    deps.hardStop.removeEventListener("abort", onHardStop);
  }
  // Both were logged and emitted when they happened; a late result has no one to go to.
  return abandoned || lease.lost ? undefined : outcome;
}

/**
 * Reports a handler's outcome with the lease's fence, retrying transient failures, and emits what
 * became of it. An output the engine refuses (not a lease conflict) fails the attempt instead: an
 * output over the server's body limit for good (a retry would return it again), any other refusal
 * as a retryable failure. An error description over the limit is cut down to fit.
 */
export async function reportOutcome(lease: TaskLease, outcome: Outcome, deps: TaskRunDeps): Promise<void> {
  const { reports, logger, emit } = deps;
  const { task, fields, ref } = lease;
  /** Reports with retries on transient failures; a refusal of what the report carried is answered, not thrown. */
  const report = async (write: () => Promise<unknown>, phase: "complete" | "fail"): Promise<"ok" | "dropped" | BatonError> => {
    try {
      await withRetry(write, deps.retryPolicy, {
        signal: deps.hardStop,
        onRetry: (error, failures, delayMs) =>
          logger.warn({ ...fields, phase, failures, delayMs, error: String(error) }, "could not report the outcome; retrying"),
      });
      return "ok";
    } catch (error) {
      if (isLeaseConflict(error)) {
        lease.lose(error, phase);
        return "dropped";
      }
      if (isBatonError(error) && !isTransientError(error)) return error;
      logger.error({ ...fields, phase, error: String(error) }, "gave up reporting the outcome; the attempt is left to its lease");
      emit({ type: "report-failed", task, error });
      return "dropped";
    }
  };

  if (outcome.ok) {
    const { output } = outcome;
    const reported = await report(() => reports.complete.submit({ ...ref, output }), "complete");
    if (reported === "ok") {
      logger.debug(fields, "task completed");
      emit({ type: "task-completed", task, output });
    }
    if (!(reported instanceof BatonError)) return;
    logger.error({ ...fields, code: reported.code, error: reported.message }, "the engine refused the output; failing the attempt instead");
    outcome = { ok: false, error: refusedOutput(reported) };
  }
  const retryable = !(outcome.error instanceof NonRetryableError);
  let error = serializeError(outcome.error);
  let reported = await report(() => reports.fail.submit({ ...ref, error, retryable }), "fail");
  if (isBatonError(reported, "PAYLOAD_TOO_LARGE")) {
    error = cutDown(error, reported);
    reported = await report(() => reports.fail.submit({ ...ref, error, retryable }), "fail");
  }
  if (reported === "ok") {
    logger.info({ ...fields, retryable, error: error.message }, "task failed");
    emit({ type: "task-failed", task, error, retryable });
  } else if (reported instanceof BatonError) {
    logger.error(
      { ...fields, code: reported.code, error: reported.message },
      "the engine refused the failure; the attempt is left to its lease",
    );
    emit({ type: "report-failed", task, error: reported });
  }
}

/** Why an attempt whose output the engine refused failed. Too large is final: the handler would return it again. */
function refusedOutput(refusal: BatonError): Error {
  if (refusal.code === "PAYLOAD_TOO_LARGE") {
    const { sizeBytes, limitBytes } = refusal.details as { sizeBytes?: number; limitBytes?: number };
    const size = sizeBytes === undefined ? "" : ` (${sizeBytes} bytes as JSON)`;
    const limit = limitBytes === undefined ? "its body limit" : `its body limit of ${limitBytes} bytes`;
    return new NonRetryableError(`the output of this attempt${size} is larger than the server takes: ${limit}`, {
      ...refusal.details,
      code: refusal.code,
    });
  }
  return new Error(`the engine refused this attempt's output: ${refusal.code} ${refusal.message}`);
}

/** An error description over the body limit, cut to its name and the start of its message. */
function cutDown(error: SerializedError, refusal: BatonError): SerializedError {
  const { sizeBytes, limitBytes } = refusal.details as { sizeBytes?: number; limitBytes?: number };
  const size = sizeBytes === undefined ? "" : ` (${sizeBytes} bytes as JSON)`;
  const limit = limitBytes === undefined ? "" : ` of ${limitBytes} bytes`;
  const message = error.message.length > MESSAGE_KEPT ? `${error.message.slice(0, MESSAGE_KEPT)}…` : error.message;
  return {
    message: `${message} [the error as thrown${size} is larger than the server's body limit${limit}; its stack and details were left out]`,
    ...(error.name === undefined ? {} : { name: error.name }),
  };
}

/** How much of a message survives when an error description is cut down to fit the body limit. */
const MESSAGE_KEPT = 500;

type SerializedError = ReturnType<typeof serializeError>;

/**
 * The stored form of a handler's error: JSON, with the message first. An error with a numeric
 * `retryAfterMs` keeps it: Baton then waits at least that long before the retry.
 */
export function serializeError(error: unknown): {
  message: string;
  name?: string;
  stack?: string;
  details?: unknown;
  retryAfterMs?: number;
} {
  if (error instanceof Error) {
    const details = (error as { details?: unknown }).details;
    const retryAfterMs = (error as { retryAfterMs?: unknown }).retryAfterMs;
    return {
      message: error.message,
      name: error.name,
      ...(error.stack ? { stack: error.stack.slice(0, 4000) } : {}),
      ...(details !== undefined ? { details: toJsonOrString(details) } : {}),
      ...(typeof retryAfterMs === "number" && Number.isFinite(retryAfterMs) ? { retryAfterMs } : {}),
    };
  }
  return { message: typeof error === "string" ? error : String(toJsonOrString(error)) };
}

/** The value as it will travel (JSON): `undefined` becomes null, Dates become strings, and so on. */
function toJson(value: unknown): unknown {
  if (value === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch (error) {
    throw new Error(`the handler returned a value that is not JSON: ${(error as Error).message}`);
  }
}

function toJsonOrString(value: unknown): unknown {
  try {
    return toJson(value);
  } catch {
    return String(value);
  }
}
