import pg from "pg";
import { Countdown, Tally, untilCounted } from "../bookkeeping.ts";
import { LostWorkError } from "../figure.ts";
import { perSecond } from "../measure.ts";

/**
 * The storage floor of a fenced queue with a history: no engine, no workflow, raw SQL on the
 * smallest tables that still keep Baton's promises for one-step work — a lease row with a fence
 * token (taken with SKIP LOCKED, refused once stale) and one history row per finished attempt
 * written in the same statement that closes the lease. What this reaches on a machine bounds what
 * any design with fencing and history can reach there; set beside graphile-worker (no fence, no
 * history) it says how much of a gap storage alone explains.
 */
export const FLOOR_LABEL = "storage floor: fenced lease row + history row, raw SQL, no engine";

/**
 * The same lease rows with the history written per batch: the statement that closes a batch's
 * leases appends ONE log row holding every closed attempt's outcome, found by attempt through a GIN
 * index on the row's attempt ids. It measures what a history that is not a row per task would buy.
 */
export const BATCH_LOG_FLOOR_LABEL = "storage floor, history as one log row per closing batch (GIN by attempt)";

/** Where the floor writes its history: a row per finished attempt, or a row per closing batch. */
export type FloorHistory = "per attempt" | "per batch";

const SCHEMA = `
  CREATE TABLE floor_leases (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text NOT NULL,
    payload jsonb NOT NULL,
    available_at timestamptz NOT NULL DEFAULT now(),
    fence integer NOT NULL DEFAULT 0,
    holder text,
    expires_at timestamptz
  ) WITH (fillfactor = 80);
  CREATE INDEX floor_pending ON floor_leases (queue, available_at, id) WHERE holder IS NULL;
  CREATE TABLE floor_history (
    lease_id bigint NOT NULL,
    fence integer NOT NULL,
    holder text NOT NULL,
    outcome jsonb NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lease_id, fence)
  );
  CREATE TABLE floor_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_ids bigint[] NOT NULL,
    entries jsonb NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX floor_log_lease ON floor_log USING gin (lease_ids);`;

const ENQUEUE = `INSERT INTO floor_leases (queue, payload) SELECT 'bench', p FROM unnest($1::jsonb[]) AS p`;

const ACQUIRE = `
  UPDATE floor_leases l SET fence = l.fence + 1, holder = $1, expires_at = now() + interval '30 seconds'
  FROM (SELECT id FROM floor_leases WHERE queue = 'bench' AND holder IS NULL AND available_at <= now()
        ORDER BY available_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) due
  WHERE l.id = due.id
  RETURNING l.id, l.fence, l.payload`;

// Fenced close and its history row in one statement: a stale or expired fence matches nothing.
const COMPLETE = `
  WITH closed AS (
    DELETE FROM floor_leases l USING unnest($1::bigint[], $2::integer[]) AS r(id, fence)
    WHERE l.id = r.id AND l.fence = r.fence AND l.holder = $3 AND l.expires_at > clock_timestamp()
    RETURNING l.id, l.fence, l.holder)
  INSERT INTO floor_history (lease_id, fence, holder, outcome)
  SELECT id, fence, holder, '{"ok":true}'::jsonb FROM closed`;

// The same fenced close with the batch's outcomes appended as one log row.
const COMPLETE_LOGGED = `
  WITH closed AS (
    DELETE FROM floor_leases l USING unnest($1::bigint[], $2::integer[]) AS r(id, fence)
    WHERE l.id = r.id AND l.fence = r.fence AND l.holder = $3 AND l.expires_at > clock_timestamp()
    RETURNING l.id, l.fence, l.holder)
  INSERT INTO floor_log (lease_ids, entries)
  SELECT array_agg(id), jsonb_agg(jsonb_build_object('lease', id, 'fence', fence, 'holder', holder, 'outcome', '{"ok":true}'::jsonb))
  FROM closed
  RETURNING jsonb_array_length(entries) AS closed`;

/** Creates the floor's tables in a fresh database and loads `n` tasks, `chunk` per statement. */
export async function floorLoad(pool: pg.Pool, n: number, chunk: number): Promise<void> {
  await pool.query(SCHEMA);
  for (let from = 0; from < n; from += chunk) {
    const payloads = Array.from({ length: Math.min(chunk, n - from) }, (_, k) => JSON.stringify({ i: from + k }));
    await pool.query(ENQUEUE, [payloads]);
  }
  await pool.query("ANALYZE");
}

/** Drains the backlog with `loops` loops of acquire(batch) + one fenced close per batch, history as `history` says; tasks/s. */
export async function floorDrain(pool: pg.Pool, n: number, loops: number, batch: number, history: FloorHistory): Promise<number> {
  const tally = new Tally(n);
  const closed = new Countdown(n);
  const stop = new AbortController();
  const running = Promise.all(
    Array.from({ length: loops }, async (_, k) => {
      const holder = `floor-${k}`;
      while (!stop.signal.aborted) {
        const { rows } = await pool.query<{ id: string; fence: number; payload: { i: number } }>(ACQUIRE, [holder, batch]);
        if (rows.length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 2));
          continue;
        }
        for (const row of rows) tally.mark(row.payload.i);
        const closedCount = await close(pool, history, [rows.map((r) => r.id), rows.map((r) => r.fence), holder]);
        if (closedCount !== rows.length) throw new LostWorkError(`the floor refused ${rows.length - closedCount} fresh fences`);
        closed.add(rows.length);
      }
    }),
  );
  try {
    const end = await Promise.race([untilCounted("floor drain", closed), running.then(() => Number.NaN)]);
    tally.verify("floor drain");
    return perSecond(n, tally.firstAt, end);
  } finally {
    stop.abort();
    await running.catch(() => {});
  }
}

/** Closes a batch of leases with their fences; how many it closed. */
async function close(pool: pg.Pool, history: FloorHistory, params: unknown[]): Promise<number> {
  if (history === "per attempt") return (await pool.query(COMPLETE, params)).rowCount ?? 0;
  const { rows } = await pool.query<{ closed: number | null }>(COMPLETE_LOGGED, params);
  return rows[0]?.closed ?? 0;
}

/** A pool on `url` for the floor, closed by the caller. */
export function floorPool(url: string, size: number): pg.Pool {
  return new pg.Pool({ connectionString: url, max: size });
}
