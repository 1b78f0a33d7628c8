/**
 * How fast expired leases are reclaimed: N one-step instances each get a lease, every lease is
 * made to expire at once, and the time until all are TIMED_OUT is measured, with one reaper and
 * with two reapers (two engines, as two replicas) on the same database.
 *
 *   REAPER_LEASES (2000)  DATABASE_URL
 */
import { createEngine, type Database, type Engine } from "@baton/engine";
import { openDatabase } from "@baton/engine/internal";
import { sql } from "kysely";
import { PgServer } from "../bench/src/database.ts";

const LEASES = Number(process.env.REAPER_LEASES ?? 2000);
const server = new PgServer(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres");

await server.withFreshDatabase("reaper", async (url) => {
  const replicas: Engine[] = [];
  const databases: Database[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const database = await openDatabase({ kind: "postgres", url, poolSize: 10 });
      databases.push(database);
      replicas.push(await createEngine({ database, reapIntervalMs: 0 }));
    }
    const [first] = replicas;
    const [firstDatabase] = databases;
    if (!first || !firstDatabase) throw new Error("no engine");
    await first.workflows.registerWorkflow({ name: "reaped", steps: [{ name: "a", queue: "reaped", retry: { maxAttempts: 1 } }] });

    for (const count of [1, 2]) {
      for (let started = 0; started < LEASES; started += 100) {
        await Promise.all(
          Array.from({ length: Math.min(100, LEASES - started) }, () => first.workflows.startWorkflow({ workflow: "reaped" })),
        );
      }
      let leased = 0;
      while (leased < LEASES) leased += (await first.tasks.acquire({ queues: ["reaped"], workerId: "w", max: 1000 })).length;
      await sql`UPDATE task_leases SET lease_expires_at = now() - interval '1 second' WHERE state = 'LEASED'`.execute(firstDatabase.db);

      const began = performance.now();
      const reapers = replicas.slice(0, count).map(async (engine) => {
        let reaped = 0;
        for (let n = await engine.tasks.reapExpiredLeases(); n > 0; n = await engine.tasks.reapExpiredLeases()) reaped += n;
        return reaped;
      });
      const reaped = (await Promise.all(reapers)).reduce((a, b) => a + b, 0);
      const ms = performance.now() - began;
      const left = await sql<{ n: number }>`SELECT count(*)::int AS n FROM task_leases WHERE state = 'LEASED'`.execute(firstDatabase.db);
      console.log(
        `${count} reaper(s): ${reaped} expired leases across ${LEASES} instances reclaimed in ${ms.toFixed(0)} ms` +
          ` (${((reaped / ms) * 1000).toFixed(0)}/s), ${left.rows[0]?.n} left`,
      );
    }
  } finally {
    for (const engine of replicas) await engine.close();
  }
});
