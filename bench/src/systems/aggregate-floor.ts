import type pg from "pg";
import { Countdown, Tally, untilCounted } from "../bookkeeping.ts";
import { LostWorkError } from "../figure.ts";
import { perSecond } from "../measure.ts";

/**
 * The floor of a design where the run is one row: its state, the fenced lease of its runnable step
 * and its history (a JSON array the completion appends to) all in that row. No engine, raw SQL; the
 * same promises as the storage floor (a fence from one sequence, refused once stale or expired, the
 * history written by the statement that closes the lease) plus the run's state and output, as
 * Baton keeps them. Leasing flips the pending index's predicate (not HOT); closing changes no
 * indexed column and can stay on its page (HOT). Per task that is graphile-worker's write set:
 * two row versions, one index entry, where Baton's tables write five rows.
 */
export const AGGREGATE_FLOOR_LABEL = "aggregate floor: one row per run (state, fenced lease, history), raw SQL, no engine";

const SCHEMA = `
  CREATE SEQUENCE agg_fence_seq AS bigint;
  CREATE TABLE agg_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text NOT NULL,
    state text NOT NULL DEFAULT 'RUNNING',
    input jsonb NOT NULL,
    output jsonb,
    available_at timestamptz NOT NULL DEFAULT now(),
    leased_at timestamptz,
    fence bigint,
    holder text,
    expires_at timestamptz,
    sequence_number integer NOT NULL DEFAULT 1,
    history jsonb NOT NULL
  ) WITH (fillfactor = 50);
  CREATE INDEX agg_pending ON agg_runs (queue, available_at, id) WHERE leased_at IS NULL;`;

const ENQUEUE = `
  INSERT INTO agg_runs (queue, input, history)
  SELECT 'bench', p, jsonb_build_array(jsonb_build_object('type', 'WORKFLOW_STARTED', 'payload', jsonb_build_object('input', p)))
  FROM unnest($1::jsonb[]) AS p`;

const ACQUIRE = `
  UPDATE agg_runs r SET leased_at = now(), fence = nextval('agg_fence_seq'), holder = $1,
         expires_at = now() + interval '30 seconds'
  FROM (SELECT id FROM agg_runs WHERE queue = 'bench' AND leased_at IS NULL AND available_at <= now()
        ORDER BY available_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) due
  WHERE r.id = due.id
  RETURNING r.id, r.fence, r.input`;

// The fenced close: the run COMPLETED with its output, its two events appended, in one update; a
// stale or expired fence matches nothing.
const COMPLETE = `
  UPDATE agg_runs r
  SET state = 'COMPLETED', output = '{"work":{"ok":true}}', sequence_number = r.sequence_number + 2,
      history = r.history || jsonb_build_array(
        jsonb_build_object('type', 'TASK_COMPLETED', 'payload', jsonb_build_object('taskId', 'work', 'attempt', 1,
          'fenceToken', r.fence, 'workerId', r.holder, 'startedAt', r.leased_at, 'output', '{"ok":true}'::jsonb)),
        jsonb_build_object('type', 'WORKFLOW_COMPLETED', 'payload', jsonb_build_object('output', '{"work":{"ok":true}}'::jsonb)))
  FROM unnest($1::bigint[], $2::bigint[]) AS c(id, fence)
  WHERE r.id = c.id AND r.fence = c.fence AND r.holder = $3 AND r.state = 'RUNNING' AND r.expires_at > clock_timestamp()`;

/** Creates the aggregate floor's table in a fresh database and loads `n` runs, `chunk` per statement. */
export async function aggregateFloorLoad(pool: pg.Pool, n: number, chunk: number): Promise<void> {
  await pool.query(SCHEMA);
  for (let from = 0; from < n; from += chunk) {
    const inputs = Array.from({ length: Math.min(chunk, n - from) }, (_, k) => JSON.stringify({ i: from + k }));
    await pool.query(ENQUEUE, [inputs]);
  }
  await pool.query("ANALYZE");
}

/** Drains the runs with `loops` loops of acquire(batch) + one fenced close per batch; tasks/s. */
export async function aggregateFloorDrain(pool: pg.Pool, n: number, loops: number, batch: number): Promise<number> {
  const tally = new Tally(n);
  const closed = new Countdown(n);
  const stop = new AbortController();
  const running = Promise.all(
    Array.from({ length: loops }, async (_, k) => {
      const holder = `aggregate-${k}`;
      while (!stop.signal.aborted) {
        const { rows } = await pool.query<{ id: string; fence: string; input: { i: number } }>(ACQUIRE, [holder, batch]);
        if (rows.length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 2));
          continue;
        }
        for (const row of rows) tally.mark(row.input.i);
        const { rowCount } = await pool.query(COMPLETE, [rows.map((r) => r.id), rows.map((r) => r.fence), holder]);
        if (rowCount !== rows.length) throw new LostWorkError(`the aggregate floor refused ${rows.length - (rowCount ?? 0)} fresh fences`);
        closed.add(rows.length);
      }
    }),
  );
  try {
    const end = await Promise.race([untilCounted("aggregate floor drain", closed), running.then(() => Number.NaN)]);
    tally.verify("aggregate floor drain");
    const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM agg_runs WHERE state = 'COMPLETED'");
    if (rows[0]?.n !== n) throw new LostWorkError(`aggregate floor: ${rows[0]?.n} of ${n} runs COMPLETED`);
    return perSecond(n, tally.firstAt, end);
  } finally {
    stop.abort();
    await running.catch(() => {});
  }
}
