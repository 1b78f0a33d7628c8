import type { AcquiredTask } from "@baton/contract";

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

  /** Tasks handed to parked polls so far (each one an acquire statement saved). */
  get handedOff(): number {
    return this.handed;
  }

  /**
   * Reserves parked polls for `tasks` (new, PENDING, available now), oldest parked first, up to
   * each poll's `max`. The write inserts the reserved tasks LEASED to `holders.get(executionId)`;
   * then `settle` must be called once, whether the write committed or not.
   */
  reserve(tasks: { executionId: string; queue: string }[]): Handoff {
    const handoff = new Handoff(this);
    if (this.parked.size === 0) return handoff;
    for (const task of tasks) {
      let poll = handoff.pollWithRoom(task.queue);
      if (!poll) {
        poll = [...this.parked].find((p) => p.queues.has(task.queue));
        if (!poll) continue;
        this.parked.delete(poll);
        handoff.open(poll);
      }
      handoff.assign(poll, task.executionId);
    }
    return handoff;
  }

  /** Counts what a settled hand-off delivered. */
  delivered(count: number): void {
    this.handed += count;
  }
}

/** The polls one write reserved, and the tasks it will lease to each. */
export class Handoff {
  /** Worker id per reserved execution id: the lease holder the write inserts. */
  readonly holders = new Map<string, string>();
  private readonly polls = new Map<ParkedPoll, { deliver: (tasks: AcquiredTask[]) => void; executionIds: string[] }>();

  constructor(private readonly owner: LocalHandoffs) {}

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

  /** Answers every reserved poll with the tasks the write leased to it (`leased`; empty when it failed). */
  settle(leased: ReadonlyMap<string, AcquiredTask>): void {
    let count = 0;
    for (const { deliver, executionIds } of this.polls.values()) {
      const tasks = executionIds.flatMap((id) => leased.get(id) ?? []);
      count += tasks.length;
      deliver(tasks);
    }
    this.polls.clear();
    this.owner.delivered(count);
  }
}
