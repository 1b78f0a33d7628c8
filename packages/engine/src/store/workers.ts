import { holderWorkerOf } from "@baton/contract";
import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";

/**
 * Records that a worker polled these queues now, and that a registered service of that name (the
 * worker id without the `<keyId>/` an API key adds) serving one of them was heard from. The queues
 * go as one array parameter, however many there are: a row of parameters per queue would pass the
 * drivers' bind-parameter limits (PGlite's session breaks past 32,767) for a long enough list.
 */
export async function workerRecordPoll(db: DbOrTrx, workerId: string, queues: string[]): Promise<void> {
  if (queues.length === 0) return;
  const polled = [...new Set(queues)];
  const service = holderWorkerOf(workerId);
  await sql`
    WITH contact AS (
      UPDATE service_registrations SET last_contact_at = now() WHERE service = ${service} AND queues && ${polled}::text[])
    INSERT INTO worker_heartbeats (worker_id, queue, last_seen_at)
    SELECT ${workerId}, q, now() FROM unnest(${polled}::text[]) AS q
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

/** The workers that polled these queues within `recentMs`, by queue then worker. */
export async function workerListRecentByQueues(
  db: DbOrTrx,
  params: { queues: string[]; recentMs: number },
): Promise<{ workerId: string; queue: string }[]> {
  if (params.queues.length === 0) return [];
  const result = await sql<{ worker_id: string; queue: string }>`
    SELECT worker_id, queue FROM worker_heartbeats
    WHERE queue = ANY(${[...new Set(params.queues)]}::text[])
      AND last_seen_at > now() - ${params.recentMs} * interval '1 millisecond'
    ORDER BY queue, worker_id`.execute(db);
  return result.rows.map((r) => ({ workerId: r.worker_id, queue: r.queue }));
}

/**
 * One page of workers, by id: the poll rows of at most `limit` workers whose id comes after
 * `after`, ordered by worker and queue.
 */
export async function workerPage(db: DbOrTrx, params: { recentMs: number; after?: string; limit: number }): Promise<WorkerPollRow[]> {
  const after = params.after === undefined ? sql`true` : sql`worker_id > ${params.after}`;
  const result = await sql<{ worker_id: string; queue: string; last_seen_at: Date; recent: boolean }>`
    SELECT worker_id, queue, last_seen_at, last_seen_at > now() - ${params.recentMs} * interval '1 millisecond' AS recent
    FROM worker_heartbeats
    WHERE worker_id = ANY(ARRAY(
      SELECT DISTINCT worker_id FROM worker_heartbeats WHERE ${after} ORDER BY worker_id LIMIT ${params.limit}))
    ORDER BY worker_id, queue`.execute(db);
  return result.rows.map((r) => ({ workerId: r.worker_id, queue: r.queue, lastSeenAt: r.last_seen_at, recent: r.recent }));
}

/**
 * Deletes up to `batch` poll records not renewed for `olderThanMs` (workers long gone); returns how
 * many it deleted. Small batches keep each delete short beside the live poll writes.
 */
export async function workerPruneStale(db: DbOrTrx, params: { olderThanMs: number; batch: number }): Promise<number> {
  const result = await sql`
    DELETE FROM worker_heartbeats w
    USING (SELECT worker_id, queue FROM worker_heartbeats
           WHERE last_seen_at < now() - ${params.olderThanMs} * interval '1 millisecond' LIMIT ${params.batch}) stale
    WHERE w.worker_id = stale.worker_id AND w.queue = stale.queue`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
