import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";

/** Records that a worker polled these queues now. */
export async function workerRecordPoll(db: DbOrTrx, workerId: string, queues: string[]): Promise<void> {
  if (queues.length === 0) return;
  await db
    .insertInto("worker_heartbeats")
    .values(queues.map((queue) => ({ worker_id: workerId, queue, last_seen_at: sql<Date>`now()` })))
    .onConflict((oc) => oc.columns(["worker_id", "queue"]).doUpdateSet({ last_seen_at: sql<Date>`now()` }))
    .execute();
}

export interface WorkerPollRow {
  workerId: string;
  queue: string;
  lastSeenAt: Date;
  /** Whether the poll happened within the readiness window (database clock). */
  recent: boolean;
}

export async function workerList(db: DbOrTrx, recentMs: number): Promise<WorkerPollRow[]> {
  const rows = await db
    .selectFrom("worker_heartbeats")
    .select([
      "worker_id",
      "queue",
      "last_seen_at",
      sql<boolean>`last_seen_at > now() - ${recentMs} * interval '1 millisecond'`.as("recent"),
    ])
    .orderBy("worker_id")
    .orderBy("queue")
    .execute();
  return rows.map((r) => ({ workerId: r.worker_id, queue: r.queue, lastSeenAt: r.last_seen_at, recent: r.recent }));
}
