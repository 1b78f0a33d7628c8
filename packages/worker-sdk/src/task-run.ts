import type { AcquiredTask } from "@baton/engine/contract";
import { type BatonError, isBatonError, isLeaseConflict, isTransientError, NonRetryableError } from "./errors.ts";
import type { HandlerContext, QueueRoute } from "./handler.ts";
import type { Logger } from "./logger.ts";
import type { Reports } from "./report-batcher.ts";
import { type RetryPolicy, withRetry } from "./retry-policy.ts";
import type { LeaseRef } from "./transport/transport.ts";
import type { WorkerEvent } from "./worker-events.ts";

/** Why a handler's signal was aborted because the worker stopped past its deadline. */
export class WorkerStoppedError extends Error {
  override readonly name = "WorkerStoppedError";
}

export interface TaskRunDeps {
  /** Where heartbeats and outcomes go: batched with the other tasks' reports of the same kind. */
  reports: Reports;
  workerId: string;
  logger: Logger;
  retryPolicy: RetryPolicy;
  heartbeatIntervalMs: number | undefined;
  emit: (event: WorkerEvent) => void;
  /** Aborts when the worker gives up on its in-flight tasks (stop deadline passed). */
  hardStop: AbortSignal;
}

/** Used when the lease already looks expired on arrival (clock skew): heartbeat at least this often. */
const FALLBACK_LEASE_MS = 3000;
const MIN_HEARTBEAT_MS = 20;

/**
 * One attempt of one task on this worker: runs the handler under its lease, heartbeats, and
 * reports the outcome with the fence. A result whose lease was lost, or that the worker abandoned
 * when it stopped, is dropped: the engine will time the attempt out and hand the step out again.
 */
export async function runTask(task: AcquiredTask, route: QueueRoute, deps: TaskRunDeps): Promise<void> {
  const { reports, logger, emit } = deps;
  const lease: LeaseRef = { executionId: task.executionId, workerId: deps.workerId, fenceToken: task.fenceToken };
  const fields = {
    workerId: deps.workerId,
    executionId: task.executionId,
    instanceId: task.instanceId,
    taskId: task.taskId,
    kind: task.kind,
    attempt: task.attempt,
  };
  const controller = new AbortController();
  let lost: BatonError | undefined;
  let abandoned = false;
  let finished = false;

  const onHardStop = () => {
    abandoned = true;
    heartbeats.stop();
    controller.abort(new WorkerStoppedError("the worker stopped past its deadline; this attempt is left to its lease"));
    logger.warn(fields, "worker stopped before the handler finished; the attempt is left to its lease");
    emit({ type: "task-abandoned", task });
  };
  const loseLease = (error: BatonError, phase: "heartbeat" | "complete" | "fail") => {
    lost ??= error;
    heartbeats.stop();
    if (!controller.signal.aborted) controller.abort(error);
    logger.warn({ ...fields, code: error.code, phase }, "lease lost: the result of this attempt will not be recorded");
    emit({ type: "lease-lost", task, error, phase });
  };

  // Lease length as this worker's clock sees it; only the spacing of heartbeats depends on it.
  const leaseMs = new Date(task.leaseExpiresAt).getTime() - Date.now();
  const interval = Math.max(MIN_HEARTBEAT_MS, deps.heartbeatIntervalMs ?? (leaseMs > 0 ? leaseMs : FALLBACK_LEASE_MS) / 3);
  const heartbeats = new HeartbeatLoop(interval, async () => {
    try {
      await reports.heartbeat.submit(lease);
    } catch (error) {
      if (finished || abandoned) return;
      if (isLeaseConflict(error)) loseLease(error, "heartbeat");
      else logger.debug({ ...fields, error: String(error) }, "heartbeat failed; trying again");
      throw error;
    }
  });

  const context: HandlerContext<unknown> = {
    input: task.input,
    attempt: task.attempt,
    executionId: task.executionId,
    instanceId: task.instanceId,
    workflowName: task.workflowName,
    taskId: task.taskId,
    kind: task.kind,
    queue: task.queue,
    fenceToken: task.fenceToken,
    signal: controller.signal,
    heartbeat: () => heartbeats.beatNow(),
  };

  emit({ type: "task-started", task });
  logger.debug(fields, "task started");
  heartbeats.start();
  deps.hardStop.addEventListener("abort", onHardStop, { once: true });
  if (deps.hardStop.aborted) onHardStop();
  let outcome: { ok: true; output: unknown } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, output: toJson(await route.run(context)) };
  } catch (error) {
    outcome = { ok: false, error };
  } finally {
    finished = true;
    heartbeats.stop();
    deps.hardStop.removeEventListener("abort", onHardStop);
  }

  // Both were logged and emitted when they happened; a late result has no one to go to.
  if (abandoned || lost) return;

  let refusal: BatonError | undefined;
  /** Reports with retries on transient failures. "refused": the engine rejected what it carried. */
  const report = async (write: () => Promise<unknown>, phase: "complete" | "fail"): Promise<"ok" | "dropped" | "refused"> => {
    try {
      await withRetry(write, deps.retryPolicy, {
        signal: deps.hardStop,
        onRetry: (error, failures, delayMs) =>
          logger.warn({ ...fields, phase, failures, delayMs, error: String(error) }, "could not report the outcome; retrying"),
      });
      return "ok";
    } catch (error) {
      if (isLeaseConflict(error)) {
        loseLease(error, phase);
        return "dropped";
      }
      if (isTransientError(error) || !isBatonError(error) || phase === "fail") {
        logger.error({ ...fields, phase, error: String(error) }, "gave up reporting the outcome; the attempt is left to its lease");
        emit({ type: "report-failed", task, error });
        return "dropped";
      }
      logger.error({ ...fields, code: error.code, error: error.message }, "the engine refused the output; failing the attempt instead");
      refusal = error;
      return "refused";
    }
  };

  if (outcome.ok) {
    const { output } = outcome;
    const reported = await report(() => reports.complete.submit({ ...lease, output }), "complete");
    if (reported === "ok") {
      logger.debug(fields, "task completed");
      emit({ type: "task-completed", task, output });
    }
    if (reported !== "refused") return;
    outcome = { ok: false, error: new Error(`the engine refused this attempt's output: ${refusal?.code} ${refusal?.message}`) };
  }
  const retryable = !(outcome.error instanceof NonRetryableError);
  const error = serializeError(outcome.error);
  if ((await report(() => reports.fail.submit({ ...lease, error, retryable }), "fail")) === "ok") {
    logger.info({ ...fields, retryable, error: error.message }, "task failed");
    emit({ type: "task-failed", task, error, retryable });
  }
}

/** The stored form of a handler's error: JSON, with the message first. */
export function serializeError(error: unknown): { message: string; name?: string; stack?: string; details?: unknown } {
  if (error instanceof Error) {
    const details = (error as { details?: unknown }).details;
    return {
      message: error.message,
      name: error.name,
      ...(error.stack ? { stack: error.stack.slice(0, 4000) } : {}),
      ...(details !== undefined ? { details: toJsonOrString(details) } : {}),
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

/**
 * Heartbeats every `intervalMs` until stopped. Beats never overlap: a beat asked for while one is
 * in flight shares its answer. After a failed beat the next one comes sooner.
 */
class HeartbeatLoop {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly beat: () => Promise<void>,
  ) {}

  start(): void {
    this.schedule(this.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  beatNow(): Promise<void> {
    this.inFlight ??= this.beat().finally(() => {
      this.inFlight = undefined;
    });
    const beat = this.inFlight;
    // Whoever asked, the loop goes on from this beat.
    beat.then(
      () => this.schedule(this.intervalMs),
      () => this.schedule(this.intervalMs / 2),
    );
    return beat;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.beatNow().catch(() => {}), Math.max(MIN_HEARTBEAT_MS, ms));
  }
}
