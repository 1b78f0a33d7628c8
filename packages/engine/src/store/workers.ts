import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";

/**
 * Records that a worker polled these queues now. The queues go as one array parameter, however
 * many there are: a row of parameters per queue would pass the drivers' bind-parameter limits
 * (PGlite's session breaks past 32,767) for a long enough list.
 */
export async function workerRecordPoll(db: DbOrTrx, workerId: string, queues: string[]): Promise<void> {
  if (queues.length === 0) return;
  await sql`
    INSERT INTO worker_heartbeats (worker_id, queue, last_seen_at)
    SELECT ${workerId}, q, now() FROM unnest(${[...new Set(queues)]}::text[]) AS q
    ON CONFLICT (worker_id, queue) DO UPDATE SET last_seen_at = now()`.execute(db);
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
