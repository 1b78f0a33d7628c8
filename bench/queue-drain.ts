/**
 * pnpm bench:queue — enqueue N one-step instances, drain them with W in-process workers through the
 * TaskCoordinator (batched acquire), print tasks/s. Runs on real Postgres: DATABASE_URL, else the
 * local server; it creates and drops its own database.
 *
 *   BENCH_TASKS (20000)  BENCH_WORKERS (10)  BENCH_BATCH (50)  DATABASE_URL
 */
import { createEngine, openDatabase } from "@baton/engine";
import { sql } from "kysely";
import pg from "pg";

const TASKS = Number(process.env.BENCH_TASKS ?? 20_000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 10);
const BATCH = Number(process.env.BENCH_BATCH ?? 50);
const serverUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const benchDb = `baton_bench_${process.pid}`;

async function admin(sql: string) {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  await client.query(sql).finally(() => client.end());
}

await admin(`CREATE DATABASE ${benchDb}`);
const url = new URL(serverUrl);
url.pathname = `/${benchDb}`;
const database = await openDatabase({ kind: "postgres", url: url.toString(), poolSize: WORKERS + 2 });
const engine = await createEngine({ database, reapIntervalMs: 0 });
try {
  await engine.workflows.registerWorkflow({ name: "bench", steps: [{ name: "work", queue: "bench" }] });

  let t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < TASKS) {
        const i = next++;
        await engine.workflows.startWorkflow({ workflow: "bench", runId: `r${i}`, input: { i } });
      }
    }),
  );
  const enqueueS = (performance.now() - t0) / 1000;
  console.log(`enqueued ${TASKS} instances in ${enqueueS.toFixed(1)} s (${Math.round(TASKS / enqueueS)}/s, 20 concurrent starts)`);
  await sql`ANALYZE`.execute(database.db);

  t0 = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      const workerId = `bench-${w}`;
      for (;;) {
        const tasks = await engine.tasks.acquire({ queues: ["bench"], workerId, max: BATCH });
        if (tasks.length === 0) return;
        await engine.tasks.completeMany(
          tasks.map((t) => ({ executionId: t.executionId, workerId, fenceToken: t.fenceToken, output: { ok: true } })),
        );
        done += tasks.length;
      }
    }),
  );
  const drainS = (performance.now() - t0) / 1000;
  console.log(
    `drained ${done} tasks with ${WORKERS} workers (acquire batch ${BATCH}) in ${drainS.toFixed(2)} s: ${Math.round(done / drainS)} tasks/s`,
  );
  const left = await database.db
    .selectFrom("workflow_instances")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("state", "!=", "COMPLETED")
    .executeTakeFirst();
  if (Number(left?.n) !== 0) throw new Error(`${left?.n} instances did not complete`);
} finally {
  await engine.close();
  await admin(`DROP DATABASE IF EXISTS ${benchDb} WITH (FORCE)`);
}
