import { BatonError, isTerminalInstanceState, MAX_RUN_WAIT_MS } from "@baton/contract";
import type { Logger } from "pino";
import type { Db } from "../db/database.ts";
import { type InstanceStanding, instanceListStanding } from "../store/instances.ts";
import type { TaskCoordinator } from "./task-coordinator.ts";

export interface WaitForEndOptions {
  /** How long to wait for the instance to reach a terminal state, 0 to `MAX_RUN_WAIT_MS`. */
  waitMs: number;
  /** Ends the wait early (a client that went away, a shutdown). */
  signal?: AbortSignal;
}

/** Refuses a wait out of bounds (VALIDATION_ERROR naming `waitMs`). */
export function checkRunWait(waitMs: number): void {
  if (Number.isFinite(waitMs) && waitMs >= 0 && waitMs <= MAX_RUN_WAIT_MS) return;
  throw new BatonError("VALIDATION_ERROR", `waitMs must be from 0 to ${MAX_RUN_WAIT_MS} ms (MAX_RUN_WAIT_MS)`, {
    fields: [{ field: "waitMs", message: `0 to ${MAX_RUN_WAIT_MS}` }],
  });
}

interface Waiter {
  instanceId: string;
  /** Told every standing read for its instance (null: the instance is not there). */
  onRead: (standing: InstanceStanding | null) => void;
  /** Told when a read of its instance failed. */
  onReadFailed: () => void;
}

const INSTANCE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Parked waits one process keeps at most; a wait beyond them answers at once with the standing now. */
export const MAX_END_WAITERS = 10_000;

/**
 * Waits for instances to end (reach a terminal state) without holding a database connection:
 * a wait is parked in memory and its instance is read again when this process commits an outcome
 * of one of its attempts (the engine's `onFinished`), and every `recheckMs` for changes made
 * elsewhere (another replica's workers, a cancel). Reads are batched: one statement reads every
 * instance due for a look, and one such statement runs at a time. The periodic look runs only
 * while someone waits.
 */
export class InstanceEndWaiter {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly due = new Set<string>();
  private reading: Promise<void> | null = null;
  private recheck: NodeJS.Timeout | null = null;
  private count = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly db: Db,
    tasks: TaskCoordinator,
    private readonly recheckMs: number,
    private readonly logger: Pick<Logger, "warn">,
    private readonly maxWaiters = MAX_END_WAITERS,
  ) {
    this.unsubscribe = tasks.onFinished(({ instanceId }) => {
      if (this.waiters.has(instanceId)) this.lookAt([instanceId]);
    });
  }

  /** Number of waits parked now. */
  get waiting(): number {
    return this.count;
  }

  /**
   * The instance's standing once it has ended, or at the deadline whatever it is then; null when
   * the signal aborted the wait or the instance does not exist. When MAX_END_WAITERS waits are
   * parked already, a further one is not parked: it answers the standing read at once.
   */
  wait(instanceId: string, params: WaitForEndOptions): Promise<InstanceStanding | null> {
    const { signal } = params;
    // Not an instance id: nothing to wait for, and in a batched read it would fail everyone's.
    if (signal?.aborted || !INSTANCE_ID.test(instanceId)) return Promise.resolve(null);
    if (this.count >= this.maxWaiters)
      this.logger.warn({ instanceId, parked: this.count }, "instance end waits: too many parked; answering at once");
    return new Promise((resolve) => {
      let finalLook = this.count >= this.maxWaiters || params.waitMs <= 0;
      let last: InstanceStanding | null = null;
      const waiter: Waiter = {
        instanceId,
        onRead: (standing) => {
          if (standing === null) return finish(null);
          last = standing;
          if (finalLook || isTerminalInstanceState(standing.state)) finish(standing);
        },
        // Past the deadline a failed read does not hold the answer back: the last standing seen will do.
        onReadFailed: () => {
          if (finalLook) finish(last);
        },
      };
      const timer = finalLook
        ? undefined
        : setTimeout(() => {
            finalLook = true;
            this.lookAt([instanceId]);
          }, params.waitMs);
      const onAbort = () => finish(null);
      const finish = (answer: InstanceStanding | null) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.remove(waiter);
        resolve(answer);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      // Parked before the first look, so an end committed while that read runs is not missed.
      this.add(waiter);
      this.lookAt([instanceId]);
    });
  }

  /**
   * Waits for each of these instances as `wait` does, all with the same deadline. An instance whose
   * wait was aborted (or not parked) is read at once, with the others like it in one statement, so
   * every instance that exists has an answer; null for one that does not.
   */
  async waitAll(instanceIds: string[], params: WaitForEndOptions): Promise<(InstanceStanding | null)[]> {
    const answers = await Promise.all(instanceIds.map((id) => this.wait(id, params)));
    const unanswered = instanceIds.filter((id, i) => answers[i] === null && INSTANCE_ID.test(id));
    if (unanswered.length === 0) return answers;
    const now = new Map((await instanceListStanding(this.db, unanswered)).map((r) => [r.instanceId, r]));
    return answers.map((answer, i) => answer ?? now.get(instanceIds[i] as string) ?? null);
  }

  /** Ends every wait at once (each answers null) and stops listening. */
  stop(): void {
    this.unsubscribe();
    for (const set of this.waiters.values()) for (const w of set) w.onRead(null);
    this.stopRecheck();
  }

  private add(waiter: Waiter): void {
    let set = this.waiters.get(waiter.instanceId);
    if (!set) {
      set = new Set();
      this.waiters.set(waiter.instanceId, set);
    }
    set.add(waiter);
    this.count++;
    this.recheck ??= setInterval(() => this.lookAt([...this.waiters.keys()]), this.recheckMs);
    this.recheck.unref();
  }

  private remove(waiter: Waiter): void {
    const set = this.waiters.get(waiter.instanceId);
    if (!set?.delete(waiter)) return;
    this.count--;
    if (set.size === 0) this.waiters.delete(waiter.instanceId);
    if (this.count === 0) this.stopRecheck();
  }

  private stopRecheck(): void {
    if (this.recheck) clearInterval(this.recheck);
    this.recheck = null;
  }

  /** Reads these instances soon: with every other instance due, in the next read. */
  private lookAt(instanceIds: string[]): void {
    for (const id of instanceIds) this.due.add(id);
    this.reading ??= this.readDue().finally(() => {
      this.reading = null;
      // Instances that became due while the read ran.
      if (this.due.size > 0) this.lookAt([]);
    });
  }

  private async readDue(): Promise<void> {
    // Let the calls of this turn of the event loop join the read.
    await new Promise((resolve) => setImmediate(resolve));
    const ids = [...this.due].filter((id) => this.waiters.has(id));
    this.due.clear();
    if (ids.length === 0) return;
    let rows: InstanceStanding[];
    try {
      rows = await instanceListStanding(this.db, ids);
    } catch (error) {
      // The database may be back by the next look (a commit or the periodic one); waits go on.
      this.logger.warn({ err: error, instances: ids.length }, "instance end waits: could not read the instances; looking again later");
      for (const id of ids) for (const w of [...(this.waiters.get(id) ?? [])]) w.onReadFailed();
      return;
    }
    const byId = new Map(rows.map((r) => [r.instanceId, r]));
    for (const id of ids) for (const w of [...(this.waiters.get(id) ?? [])]) w.onRead(byId.get(id) ?? null);
  }
}
