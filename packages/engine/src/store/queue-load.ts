import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";

/** The open attempts of one queue, as an operator looks at them: waiting, held, and the next expiry. */
export interface QueueLoadRow {
  queue: string;
  /** PENDING attempts a worker may take now. */
  ready: number;
  /** PENDING attempts waiting out a retry backoff (or parked by a pause). */
  waiting: number;
  leased: number;
  /** The earliest lease expiry among the leased attempts (null when none is leased). */
  nextLeaseExpiry: Date | null;
}

/** How many attempts one lease holder (a worker, with its key) holds on one queue. */
export interface LeaseHolderRow {
  holder: string;
  queue: string;
  leased: number;
  nextLeaseExpiry: Date;
}

/** Most queues and holders one read returns: enough for a console, bounded for a large deployment. */
export const QUEUE_LOAD_LIMIT = 500;

/**
 * Open attempts by queue, from `task_leases` (only PENDING and LEASED rows live there), confined to
 * instances of `namespaces` when given. Ordered by queue; at most QUEUE_LOAD_LIMIT queues.
 */
export async function queueLoadList(db: DbOrTrx, params: { namespaces?: readonly string[] } = {}): Promise<QueueLoadRow[]> {
  const result = await sql<{ queue: string; ready: string; waiting: string; leased: string; next_lease_expiry: Date | null }>`
    SELECT l.queue,
           count(*) FILTER (WHERE l.state = 'PENDING' AND l.available_at <= now()) AS ready,
           count(*) FILTER (WHERE l.state = 'PENDING' AND l.available_at > now()) AS waiting,
           count(*) FILTER (WHERE l.state = 'LEASED') AS leased,
           min(l.lease_expires_at) FILTER (WHERE l.state = 'LEASED') AS next_lease_expiry
    FROM task_leases l ${inNamespaces(params.namespaces)}
    GROUP BY l.queue
    ORDER BY l.queue
    LIMIT ${QUEUE_LOAD_LIMIT}`.execute(db);
  return result.rows.map((r) => ({
    queue: r.queue,
    ready: Number(r.ready),
    waiting: Number(r.waiting),
    leased: Number(r.leased),
    nextLeaseExpiry: r.next_lease_expiry,
  }));
}

/** Leased attempts by holder and queue, confined like queueLoadList; at most QUEUE_LOAD_LIMIT rows. */
export async function leaseHolderList(db: DbOrTrx, params: { namespaces?: readonly string[] } = {}): Promise<LeaseHolderRow[]> {
  const result = await sql<{ holder: string; queue: string; leased: string; next_lease_expiry: Date }>`
    SELECT l.lease_holder AS holder, l.queue, count(*) AS leased, min(l.lease_expires_at) AS next_lease_expiry
    FROM task_leases l ${inNamespaces(params.namespaces)}
    ${params.namespaces ? sql`AND` : sql`WHERE`} l.state = 'LEASED'
    GROUP BY l.lease_holder, l.queue
    ORDER BY l.lease_holder, l.queue
    LIMIT ${QUEUE_LOAD_LIMIT}`.execute(db);
  return result.rows.map((r) => ({ holder: r.holder, queue: r.queue, leased: Number(r.leased), nextLeaseExpiry: r.next_lease_expiry }));
}

function inNamespaces(namespaces: readonly string[] | undefined) {
  if (!namespaces) return sql``;
  return sql`JOIN workflow_instances i ON i.instance_id = l.workflow_instance_id WHERE i.namespace = ANY(${[...namespaces]}::text[])`;
}
