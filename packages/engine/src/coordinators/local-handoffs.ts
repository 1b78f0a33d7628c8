import type { AcquiredTask } from "@baton/contract";
import type { HandedLease } from "../store/change-writes.ts";
import type { NewTaskRow, QueueWake } from "../store/tasks.ts";
import { acquiredView } from "./views.ts";

/** The instance a handed task belongs to, as its poll is told. */
export interface HandOffInstance {
  workflowName: string;
  namespace: string;
}

/**
 * A long poll parked in this process: its last look found its queues empty, and it waits for a
 * wake. A write that schedules new work may hand it tasks directly instead.
 */
export interface ParkedPoll {
  readonly queues: ReadonlySet<string>;
  readonly workerId: string;
  readonly max: number;
  /**
   * Called once, when a write reserves this poll: from then on the poll waits for the returned
   * `deliver`, which the write calls exactly once (with no tasks when it did not commit them).
   */
  claim(): (tasks: AcquiredTask[]) => void;
}

/**
 * Direct hand-off of new tasks to this process's parked polls (a "sync match"). A start that
 * schedules a task on a queue some poll here is parked on inserts the task already LEASED to that
 * poll's worker, with its fence, in the start's own statement, and the poll answers with it once the
 * statement commits. The task skips the wake, the acquire statement and its commit, and the lease
 * row skips its update (it never enters the pending index). Only parked polls are handed work: each
 * found its queues empty, so no older available task is passed over in this process's view.
 */
export class LocalHandoffs {
  private readonly parked = new Set<ParkedPoll>();
  private handed = 0;

  /** Registers a parked poll; returns its removal. */
  park(poll: ParkedPoll): () => void {
    this.parked.add(poll);
    return () => this.parked.delete(poll);
  }

  /** Polls parked now. */
  get parkedCount(): number {
    return this.parked.size;
  }

  /** Tasks handed to parked polls so far (each one an acquire statement saved). */
  get handedOff(): number {
    return this.handed;
  }

  /**
   * Reserves parked polls for `tasks` (new, PENDING, available now), oldest parked first, up to
   * each poll's `max`. The write inserts the reserved tasks LEASED to `holders.get(executionId)`;
   * then `settle` must be called once, whether the write committed or not.
   */
  private reserve(tasks: { executionId: string; queue: string }[]): Handoff {
    const handoff = new Handoff();
    const unpolled = new Set<string>();
    for (const task of tasks) {
      if (unpolled.has(task.queue)) continue;
      let poll = handoff.pollWithRoom(task.queue);
      if (!poll) {
        poll = [...this.parked].find((p) => p.queues.has(task.queue));
        if (!poll) {
          unpolled.add(task.queue);
          continue;
        }
        this.parked.delete(poll);
        handoff.open(poll);
      }
      handoff.assign(poll, task.executionId);
    }
    return handoff;
  }

  /**
   * Writes new work, handing what it can to parked polls: reserves polls for the tasks that are
   * PENDING and available now and whose instance `instanceOf` names (runs forward or compensates
   * after this write), drops the wakes of queues whose every new task is handed off, lets `write`
   * insert the reserved tasks leased (`holders`), then answers the polls with the leases it made
   * (none when it wrote nothing or failed). `write` answers its own result and the leases.
   */
  async writeHandingOff<R>(
    tasks: NewTaskRow[],
    wakes: QueueWake[],
    instanceOf: (instanceId: string) => HandOffInstance | undefined,
    write: (
      holders: ReadonlyMap<string, string> | undefined,
      wakes: QueueWake[],
    ) => Promise<{ result: R; leased: ReadonlyMap<string, HandedLease> }>,
  ): Promise<R> {
    const handoff =
      this.parked.size === 0 ? null : this.reserve(tasks.filter((t) => !t.settled && t.delayMs === 0 && instanceOf(t.instanceId)));
    if (!handoff || handoff.holders.size === 0) return (await write(undefined, wakes)).result;
    const delivered = new Map<string, AcquiredTask>();
    try {
      // Queues whose every new task was handed off need no wake.
      const waiting = new Set(tasks.filter((t) => !t.settled && !handoff.holders.has(t.executionId)).map((t) => t.queue));
      const { result, leased } = await write(
        handoff.holders,
        wakes.filter((w) => waiting.has(w.queue)),
      );
      for (const task of tasks) {
        const lease = leased.get(task.executionId);
        const instance = instanceOf(task.instanceId);
        if (!lease || !instance) continue;
        // The input as the database gives it back to an acquire: a copy, never the planner's object.
        const input = JSON.parse(JSON.stringify(task.input ?? null));
        delivered.set(
          task.executionId,
          acquiredView({ ...task, ...lease, workflowName: instance.workflowName, namespace: instance.namespace, input }),
        );
      }
      return result;
    } finally {
      this.handed += handoff.settle(delivered);
    }
  }
}

/** The polls one write reserved, and the tasks it will lease to each. */
class Handoff {
  /** Worker id per reserved execution id: the lease holder the write inserts. */
  readonly holders = new Map<string, string>();
  private readonly polls = new Map<ParkedPoll, { deliver: (tasks: AcquiredTask[]) => void; executionIds: string[] }>();

  pollWithRoom(queue: string): ParkedPoll | undefined {
    for (const [poll, reserved] of this.polls) if (poll.queues.has(queue) && reserved.executionIds.length < poll.max) return poll;
    return undefined;
  }

  open(poll: ParkedPoll): void {
    this.polls.set(poll, { deliver: poll.claim(), executionIds: [] });
  }

  assign(poll: ParkedPoll, executionId: string): void {
    this.polls.get(poll)?.executionIds.push(executionId);
    this.holders.set(executionId, poll.workerId);
  }

  /** Answers every reserved poll with the tasks the write leased to it (`leased`; empty when it failed); returns how many. */
  settle(leased: ReadonlyMap<string, AcquiredTask>): number {
    let count = 0;
    for (const { deliver, executionIds } of this.polls.values()) {
      const tasks = executionIds.flatMap((id) => leased.get(id) ?? []);
      count += tasks.length;
      deliver(tasks);
    }
    this.polls.clear();
    return count;
  }
}
