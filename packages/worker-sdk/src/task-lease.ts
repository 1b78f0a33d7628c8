import type { AcquiredTask } from "@baton/contract";
import { type BatonError, isLeaseConflict } from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Reports } from "./report-batcher.ts";
import type { LeaseRef } from "./transport/transport.ts";
import type { WorkerEvent } from "./worker-events.ts";

/** Used when the lease already looks expired on arrival (clock skew): heartbeat at least this often. */
const FALLBACK_LEASE_MS = 3000;
const MIN_HEARTBEAT_MS = 20;

export interface LeaseDeps {
  /** Where heartbeats go: batched with the other tasks' heartbeats. */
  reports: Reports;
  workerId: string;
  logger: Logger;
  heartbeatIntervalMs: number | undefined;
  emit: (event: WorkerEvent) => void;
}

/**
 * A task this worker holds, from the acquire that leased it until the handler is done with it:
 * heartbeats the lease (whether the task runs or waits for a slot), keeps track of how much of
 * the lease is left as this worker's clock sees it, and aborts `signal` when the lease is lost.
 */
export class TaskLease {
  readonly ref: LeaseRef;
  /** Log fields naming this attempt. */
  readonly fields: Record<string, unknown>;
  /** Set when a heartbeat or report was refused: the lease belongs to someone else now. */
  lost: BatonError | undefined;
  /** Called once when the lease is lost. */
  onLost: (() => void) | undefined;
  private readonly controller = new AbortController();
  /** The lease length as this worker's clock sees it; only timing depends on it, never safety. */
  private readonly leaseMs: number;
  /** Until when the lease is known to hold: send time of the last accepted heartbeat + leaseMs. */
  private heldUntil: number;
  private readonly heartbeats: HeartbeatLoop;
  private beating = false;

  constructor(
    readonly task: AcquiredTask,
    private readonly deps: LeaseDeps,
  ) {
    this.ref = { executionId: task.executionId, workerId: deps.workerId, fenceToken: task.fenceToken };
    this.fields = {
      workerId: deps.workerId,
      executionId: task.executionId,
      instanceId: task.instanceId,
      taskId: task.taskId,
      kind: task.kind,
      attempt: task.attempt,
    };
    const now = Date.now();
    const left = new Date(task.leaseExpiresAt).getTime() - now;
    this.leaseMs = left > 0 ? left : FALLBACK_LEASE_MS;
    this.heldUntil = now + this.leaseMs;
    this.heartbeats = new HeartbeatLoop(Math.max(MIN_HEARTBEAT_MS, deps.heartbeatIntervalMs ?? this.leaseMs / 3), () => this.beat());
  }

  /** Aborted when the attempt's result can no longer count: the lease was lost or the attempt abandoned. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * Whether the handler may start: at least a third of the lease is left. With heartbeats every
   * third of the lease that is always so unless beats failed while the task waited for a slot.
   */
  get startable(): boolean {
    return !this.lost && this.heldUntil - Date.now() >= this.leaseMs / 3;
  }

  startHeartbeats(): void {
    this.beating = true;
    this.heartbeats.start();
  }

  stopHeartbeats(): void {
    this.beating = false;
    this.heartbeats.stop();
  }

  /** Extends the lease now; rejects with the BatonError when it is lost. */
  beatNow(): Promise<void> {
    return this.heartbeats.beatNow();
  }

  /** Gives up on the attempt (the worker stopped past its deadline): heartbeats stop, the signal aborts. */
  abandon(reason: Error): void {
    this.stopHeartbeats();
    this.controller.abort(reason);
  }

  /** Records that Baton refused this lease: heartbeats stop, the signal aborts, `lease-lost` is emitted. */
  lose(error: BatonError, phase: "heartbeat" | "complete" | "fail"): void {
    if (this.lost) return;
    this.lost = error;
    this.stopHeartbeats();
    this.controller.abort(error);
    this.deps.logger.warn({ ...this.fields, code: error.code, phase }, "lease lost: the result of this attempt will not be recorded");
    this.deps.emit({ type: "lease-lost", task: this.task, error, phase });
    this.onLost?.();
  }

  private async beat(): Promise<void> {
    const sentAt = Date.now();
    try {
      await this.deps.reports.heartbeat.submit(this.ref);
      this.heldUntil = Math.max(this.heldUntil, sentAt + this.leaseMs);
    } catch (error) {
      if (!this.beating) return;
      if (isLeaseConflict(error)) this.lose(error, "heartbeat");
      else this.deps.logger.debug({ ...this.fields, error: String(error) }, "heartbeat failed; trying again");
      throw error;
    }
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
