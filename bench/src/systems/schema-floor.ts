import pg from "pg";
import { Countdown, Tally, untilCounted } from "../bookkeeping.ts";
import { LostWorkError } from "../figure.ts";
import { perSecond } from "../measure.ts";

/**
 * Baton's own tables drained by hand: the backlog Baton's startMany loaded, then raw SQL that
 * writes exactly what the engine writes for a one-step run — the fenced lease taken and closed,
 * the attempt record finished, the instance COMPLETED with its output, one history row holding
 * TASK_COMPLETED and WORKFLOW_COMPLETED — in two statements per batch (acquire; one CTE that
 * closes, records, completes and appends), with no engine, no transaction and no planner. Set
 * between the storage floor and Baton's engine loops it splits the gap in two: what Baton's
 * schema costs, and what its engine adds on top.
 */
export const SCHEMA_FLOOR_LABEL = "Baton's tables, raw SQL: the engine's write set in 2 statements per batch";

/**
 * The same backlog and statements on the storage the redesign proposes: the open attempt carried
 * whole in its lease row (step, kind, attempt, input) and no attempt record beside it, so a finished
 * attempt lives only in its history row. What this reaches bounds what an engine on that storage
 * could drain, before anyone builds it.
 */
export const REDESIGN_FLOOR_LABEL = "Baton's tables reshaped (open attempt only in task_leases), raw SQL, 2 statements per batch";

/** Which storage the drain writes: Baton's tables as they are, or as the redesign would have them. */
export type FloorLayout = "today" | "redesign";

// The backlog moved into the redesign's shape: each open attempt's record folded into its lease row.
const RESHAPE = [
  `ALTER TABLE task_leases ADD COLUMN task_id text, ADD COLUMN kind text, ADD COLUMN attempt_number integer,
     ADD COLUMN input jsonb`,
  `UPDATE task_leases l SET task_id = t.task_id, kind = t.kind, attempt_number = t.attempt_number, input = t.input
   FROM task_executions t WHERE t.execution_id = l.execution_id`,
  "TRUNCATE task_executions",
  "VACUUM FULL task_leases",
  "ANALYZE",
];

/** The fenced lease of a batch, returning each attempt's input as `input` (where it is kept differs by layout). */
const acquire = (input: string) => `
  WITH picked AS (
    SELECT execution_id FROM task_leases
    WHERE state = 'PENDING' AND queue = $1 AND available_at <= now()
    ORDER BY available_at, execution_id LIMIT $2 FOR UPDATE SKIP LOCKED)
  UPDATE task_leases l
  SET state = 'LEASED', lease_holder = $3, fence_token = nextval('fence_token_seq'),
      lease_expires_at = now() + l.lease_ms * interval '1 millisecond', started_at = now()
  FROM picked p WHERE l.execution_id = p.execution_id
  RETURNING l.execution_id, l.fence_token, ${input} AS input`;

// The fenced close, the record, the instance and its history row in one statement: a stale or
// expired fence closes nothing, so nothing else is written for it.
const COMPLETE = `
  WITH v AS (SELECT * FROM unnest($1::uuid[], $2::bigint[]) AS v(execution_id, fence_token)),
  closed AS (
    DELETE FROM task_leases l USING v
    WHERE l.execution_id = v.execution_id AND l.fence_token = v.fence_token AND l.state = 'LEASED'
      AND l.lease_holder = $3 AND l.lease_expires_at > clock_timestamp()
    RETURNING l.*),
  recorded AS (
    UPDATE task_executions t
    SET state = 'COMPLETED', output = '{"ok":true}', finished_at = now(), lease_holder = c.lease_holder,
        lease_expires_at = c.lease_expires_at, fence_token = c.fence_token, started_at = c.started_at
    FROM closed c WHERE t.execution_id = c.execution_id
    RETURNING t.workflow_instance_id, t.execution_id, t.task_id, t.attempt_number, c.fence_token, c.lease_holder, c.started_at),
  completed AS (
    UPDATE workflow_instances i
    SET state = 'COMPLETED', output = jsonb_build_object(r.task_id, '{"ok":true}'::jsonb),
        sequence_number = i.sequence_number + 2, updated_at = now()
    FROM recorded r WHERE i.instance_id = r.workflow_instance_id
    RETURNING i.instance_id, i.sequence_number - 1 AS first_event)
  INSERT INTO events (workflow_instance_id, sequence_number, entries)
  SELECT c.instance_id, c.first_event, jsonb_build_array(
    jsonb_build_object('type', 'TASK_COMPLETED', 'payload', jsonb_build_object(
      'executionId', r.execution_id, 'taskId', r.task_id, 'kind', 'DO', 'attempt', r.attempt_number,
      'fenceToken', r.fence_token, 'workerId', r.lease_holder, 'startedAt', r.started_at, 'output', '{"ok":true}'::jsonb)),
    jsonb_build_object('type', 'WORKFLOW_COMPLETED', 'payload',
      jsonb_build_object('output', jsonb_build_object(r.task_id, '{"ok":true}'::jsonb))))
  FROM completed c JOIN recorded r ON r.workflow_instance_id = c.instance_id`;

// The redesign's close: the lease row deleted with its fence, the instance and its history row; the
// history row is the attempt's only record.
const COMPLETE_REDESIGN = `
  WITH v AS (SELECT * FROM unnest($1::uuid[], $2::bigint[]) AS v(execution_id, fence_token)),
  closed AS (
    DELETE FROM task_leases l USING v
    WHERE l.execution_id = v.execution_id AND l.fence_token = v.fence_token AND l.state = 'LEASED'
      AND l.lease_holder = $3 AND l.lease_expires_at > clock_timestamp()
    RETURNING l.*),
  completed AS (
    UPDATE workflow_instances i
    SET state = 'COMPLETED', output = jsonb_build_object(c.task_id, '{"ok":true}'::jsonb),
        sequence_number = i.sequence_number + 2, updated_at = now()
    FROM closed c WHERE i.instance_id = c.workflow_instance_id
    RETURNING i.instance_id, i.sequence_number - 1 AS first_event)
  INSERT INTO events (workflow_instance_id, sequence_number, entries)
  SELECT i.instance_id, i.first_event, jsonb_build_array(
    jsonb_build_object('type', 'TASK_COMPLETED', 'payload', jsonb_build_object(
      'executionId', c.execution_id, 'taskId', c.task_id, 'kind', c.kind, 'attempt', c.attempt_number,
      'fenceToken', c.fence_token, 'workerId', c.lease_holder, 'startedAt', c.started_at, 'output', '{"ok":true}'::jsonb)),
    jsonb_build_object('type', 'WORKFLOW_COMPLETED', 'payload',
      jsonb_build_object('output', jsonb_build_object(c.task_id, '{"ok":true}'::jsonb))))
  FROM completed i JOIN closed c ON c.workflow_instance_id = i.instance_id`;

const STATEMENTS: Record<FloorLayout, { acquire: string; complete: string }> = {
  today: { acquire: acquire("(SELECT t.input FROM task_executions t WHERE t.execution_id = l.execution_id)"), complete: COMPLETE },
  redesign: { acquire: acquire("l.input"), complete: COMPLETE_REDESIGN },
};

/** Drains a backlog Baton loaded (one queue, one-step runs whose input is `{ i }`) with `loops` loops of `batch`; tasks/s. */
export async function schemaFloorDrain(url: string, n: number, loops: number, batch: number, layout: FloorLayout): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: loops });
  try {
    if (layout === "redesign") for (const statement of RESHAPE) await pool.query(statement);
    const queues = await pool.query<{ queue: string }>("SELECT DISTINCT queue FROM task_leases");
    const queue = queues.rows[0]?.queue;
    if (queues.rows.length !== 1 || queue === undefined) throw new Error(`expected one queue, found ${queues.rows.length}`);
    return await drain(pool, STATEMENTS[layout], queue, n, loops, batch);
  } finally {
    await pool.end();
  }
}

async function drain(
  pool: pg.Pool,
  { acquire, complete }: { acquire: string; complete: string },
  queue: string,
  n: number,
  loops: number,
  batch: number,
): Promise<number> {
  const tally = new Tally(n);
  const closed = new Countdown(n);
  const stop = new AbortController();
  const running = Promise.all(
    Array.from({ length: loops }, async (_, k) => {
      const holder = `schema-floor-${k}`;
      while (!stop.signal.aborted) {
        const { rows } = await pool.query<{ execution_id: string; fence_token: string; input: { i: number } }>(acquire, [
          queue,
          batch,
          holder,
        ]);
        if (rows.length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 2));
          continue;
        }
        for (const row of rows) tally.mark(row.input.i);
        const ids = rows.map((r) => r.execution_id);
        const { rowCount } = await pool.query(complete, [ids, rows.map((r) => r.fence_token), holder]);
        if (rowCount !== rows.length) throw new LostWorkError(`the fenced close wrote ${rowCount} of ${rows.length} history rows`);
        closed.add(rows.length);
      }
    }),
  );
  try {
    const end = await Promise.race([untilCounted("schema floor drain", closed), running.then(() => Number.NaN)]);
    tally.verify("schema floor drain");
    return perSecond(n, tally.firstAt, end);
  } finally {
    stop.abort();
    await running.catch(() => {});
  }
}
