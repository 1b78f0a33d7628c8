/**
 * What the hot path writes: heap tuples (inserted, updated, HOT-updated, deleted) and index entries
 * per table, and WAL bytes, per one-step workflow (start to COMPLETED) and per step of a 3-step
 * saga, read back from the WAL (pg_walinspect) on a fresh database. Needs a superuser.
 *
 *   WRITE_SET_RUNS (5000)  DATABASE_URL
 */
import { createEngine, type Database, type Engine } from "@baton/engine";
import { directDb, openDatabase } from "@baton/engine/internal";
import { sql } from "kysely";
import { PgServer } from "../bench/src/database.ts";

const RUNS = Number(process.env.WRITE_SET_RUNS ?? 5000);
const server = new PgServer(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres");

/** The WAL position now: what the hot path writes is read back from the WAL between two of these. */
async function walPosition(database: Database): Promise<string> {
  const r = await sql<{ lsn: string }>`SELECT pg_current_wal_lsn()::text AS lsn`.execute(directDb(database));
  return (r.rows[0] as { lsn: string }).lsn;
}

interface TableWrites {
  inserted: number;
  updated: number;
  hot: number;
  deleted: number;
  indexEntries: number;
}

/**
 * Counts, per table of this database, the heap tuples and index entries written between two WAL
 * positions (pg_walinspect): exact, unlike the statistics views, which backends report lazily.
 */
async function writesBetween(
  database: Database,
  from: string,
  to: string,
): Promise<{ tables: Map<string, TableWrites>; walBytes: number }> {
  const rows = await sql<{ table_name: string; rm: string; type: string; n: string; bytes: string }>`
    WITH rels AS (
      SELECT pg_relation_filenode(c.oid) AS node, coalesce(t.relname, c.relname) AS table_name
      FROM pg_class c LEFT JOIN pg_index x ON x.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = x.indrelid
      WHERE c.relkind IN ('r', 'i') AND c.relnamespace = 'public'::regnamespace
    ), recs AS (
      SELECT resource_manager AS rm, record_type AS type, description, record_length,
             substring(block_ref from 'rel \\d+/\\d+/(\\d+)')::oid AS node
      FROM pg_get_wal_records_info(${from}::pg_lsn, ${to}::pg_lsn)
      WHERE substring(block_ref from 'rel \\d+/(\\d+)/')::oid = (SELECT oid FROM pg_database WHERE datname = current_database())
    )
    SELECT rels.table_name, recs.rm, recs.type,
           sum(CASE WHEN recs.type = 'MULTI_INSERT' THEN substring(recs.description from '^(\\d+) tuples')::int ELSE 1 END)::text AS n,
           sum(recs.record_length)::text AS bytes
    FROM recs JOIN rels ON rels.node = recs.node
    GROUP BY 1, 2, 3`.execute(directDb(database));
  const tables = new Map<string, TableWrites>();
  for (const r of rows.rows) {
    const t = tables.get(r.table_name) ?? { inserted: 0, updated: 0, hot: 0, deleted: 0, indexEntries: 0 };
    const n = Number(r.n);
    const kind = `${r.rm}/${r.type.replace(/\+INIT$/, "").trim()}`;
    if (kind === "Heap/INSERT" || kind === "Heap2/MULTI_INSERT") t.inserted += n;
    else if (kind === "Heap/UPDATE") t.updated += n;
    else if (kind === "Heap/HOT_UPDATE") t.hot += n;
    else if (kind === "Heap/DELETE") t.deleted += n;
    else if (kind === "Btree/INSERT_LEAF" || kind === "Btree/INSERT_POST") t.indexEntries += n;
    tables.set(r.table_name, t);
  }
  const wal = await sql<{ bytes: string }>`SELECT (${to}::pg_lsn - ${from}::pg_lsn)::text AS bytes`.execute(directDb(database));
  return { tables, walBytes: Number(wal.rows[0]?.bytes) };
}

async function report(database: Database, label: string, from: string, to: string, per: number) {
  const { tables, walBytes } = await writesBetween(database, from, to);
  console.log(`\n${label}: per unit, over ${per} units`);
  console.log("table                 inserted  updated      HOT  deleted  index entries");
  const f = (n: number) => (n / per).toFixed(2).padStart(8);
  const total = { inserted: 0, updated: 0, hot: 0, deleted: 0, indexEntries: 0 };
  for (const [name, t] of [...tables].sort()) {
    console.log(`${name.padEnd(20)} ${f(t.inserted)} ${f(t.updated)} ${f(t.hot)} ${f(t.deleted)} ${f(t.indexEntries)}`);
    for (const k of Object.keys(total) as (keyof TableWrites)[]) total[k] += t[k];
  }
  console.log(`${"all".padEnd(20)} ${f(total.inserted)} ${f(total.updated)} ${f(total.hot)} ${f(total.deleted)} ${f(total.indexEntries)}`);
  console.log(`WAL bytes per unit (whole server): ${Math.round(walBytes / per)}`);
}

/** Completes everything on `queues`, 100 tasks per acquire and completion. */
async function drain(engine: Engine, queues: string[]) {
  for (;;) {
    const tasks = await engine.tasks.acquire({ queues, workerId: "w", max: 100 });
    if (tasks.length === 0) return;
    await engine.tasks.completeMany(
      tasks.map((t) => ({ executionId: t.executionId, workerId: "w", fenceToken: t.fenceToken, output: { ok: 1 } })),
    );
  }
}

await server.withFreshDatabase("write_set", async (url) => {
  const database = await openDatabase({ kind: "postgres", url, poolSize: 12 });
  const engine = await createEngine({ database, reapIntervalMs: 0 });
  try {
    await sql`CREATE EXTENSION IF NOT EXISTS pg_walinspect`.execute(directDb(database));
    await engine.workflows.registerWorkflow({ name: "one", steps: [{ name: "a", queue: "one" }] });
    await engine.workflows.registerWorkflow({
      name: "saga",
      steps: ["a", "b", "c"].map((name) => ({ name, queue: "saga", undo: true })),
    });
    const start = async (workflow: string) =>
      engine.workflows.startMany({ workflow, runs: Array.from({ length: RUNS }, (_, i) => ({ runId: `r${i}`, input: { i } })) });

    let w0 = await walPosition(database);
    await start("one");
    const w1 = await walPosition(database);
    await drain(engine, ["one"]);
    let w2 = await walPosition(database);
    await report(database, "one-step workflow, start", w0, w1, RUNS);
    await report(database, "one-step workflow, acquire + complete", w1, w2, RUNS);
    await report(database, "one-step workflow, start to COMPLETED", w0, w2, RUNS);

    w0 = await walPosition(database);
    await start("saga");
    await drain(engine, ["saga", "saga.undo"]);
    w2 = await walPosition(database);
    await report(database, "3-step saga, start to COMPLETED, per step", w0, w2, RUNS * 3);
  } finally {
    await engine.close();
  }
});
