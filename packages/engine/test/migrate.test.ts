import { cp, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BatonError, createEngine, type Database, parseDefinition } from "@baton/engine";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { adminQuery, TEST_POSTGRES_URL, withDatabase } from "../../../test-support/postgres.ts";
import { openDatabase } from "../src/db/database.ts";
import { MIGRATIONS_DIR, migrate, migrationsPending } from "../src/db/migrate.ts";
import { foldEvents } from "../src/domain/event-fold.ts";

let dir: string;
let all: string[];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "baton-migrations-"));
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  all = (await readdir(MIGRATIONS_DIR)).filter((n) => n.endsWith(".sql")).sort();
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A database with nothing in it: a new one on the Postgres server, or an in-memory PGlite. */
async function emptyDatabase(): Promise<{ database: Database; url: string | undefined; drop: () => Promise<void> }> {
  if (onPglite) {
    const database = await openDatabase({ kind: "pglite" });
    return { database, url: undefined, drop: () => database.close() };
  }
  const name = `baton_migrate_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = withDatabase(TEST_POSTGRES_URL, name);
  const database = await openDatabase({ kind: "postgres", url, poolSize: 2 });
  return {
    database,
    url,
    drop: async () => {
      await database.close();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

describe("migrations", () => {
  it("applies every file once, and refuses a migration edited after it was applied", async () => {
    const { database, drop } = await emptyDatabase();
    try {
      expect(await migrationsPending(database, dir)).toEqual(all);
      expect(await migrate(database, dir)).toEqual(all);
      expect(await migrate(database, dir)).toEqual([]);
      expect(await migrationsPending(database, dir)).toEqual([]);

      await writeFile(join(dir, "9999_extra.sql"), "CREATE TABLE extra (id int);\nCREATE INDEX extra_idx ON extra (id);\n");
      expect(await migrate(database, dir)).toEqual(["9999_extra.sql"]);
      await writeFile(join(dir, "9999_extra.sql"), "CREATE TABLE extra (id bigint);\n");
      const error = await migrate(database, dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BatonError);
      expect((error as BatonError).code).toBe("MIGRATION_CHANGED");
      expect((error as BatonError).message).toContain("9999_extra.sql");
    } finally {
      await drop();
      await rm(join(dir, "9999_extra.sql"), { force: true });
    }
  });

  it.skipIf(onPglite)("lets several processes migrate one empty database at once (Postgres only: PGlite is one process)", async () => {
    const empty = await emptyDatabase();
    const url = empty.url as string;
    const handles = await Promise.all(Array.from({ length: 5 }, () => openDatabase({ kind: "postgres", url, poolSize: 2 })));
    try {
      const applied = await Promise.all(handles.map((h) => migrate(h)));
      expect(applied.flat().sort()).toEqual(all);
      const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM baton_migrations`.execute(
        (handles[0] as (typeof handles)[0]).db,
      );
      expect(rows.rows[0]?.n).toBe(all.length);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
      await empty.drop();
    }
  });

  it("carries a database filled by the first schema over: open attempts keep their leases, fences and history", async () => {
    const { database, drop } = await emptyDatabase();
    const first = await mkdtemp(join(tmpdir(), "baton-migrations-first-"));
    try {
      await cp(join(MIGRATIONS_DIR, "0001_initial.sql"), join(first, "0001_initial.sql"));
      await migrate(database, first);
      // As the first schema's engine left it: a parallel run with a completed, a leased and a pending step.
      const definition = parseDefinition({
        name: "old",
        type: "parallel",
        steps: ["a", "b", "c"].map((name) => ({ name, queue: `old.${name}` })),
      });
      const instanceId = crypto.randomUUID();
      const [a, b, c] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
      const script = `
        INSERT INTO workflow_definitions (namespace, name, version, definition) VALUES ('default', 'old', 1, '${JSON.stringify(definition)}');
        INSERT INTO workflow_instances (instance_id, namespace, workflow_name, workflow_version, run_id, state, input, sequence_number)
          VALUES ('${instanceId}', 'default', 'old', 1, 'r1', 'RUNNING', '{"n": 1}', 5);
        SELECT setval('fence_token_seq', 10);
        INSERT INTO task_executions (execution_id, workflow_instance_id, task_id, kind, queue, idempotency_key, attempt_number,
            max_attempts, state, input, output, lease_ms, lease_holder, lease_expires_at, fence_token, started_at, finished_at) VALUES
          ('${a}', '${instanceId}', 'a', 'DO', 'old.a', '${instanceId}:a:DO:1', 1, 3, 'COMPLETED', '{"n": 1}', '{"done": "a"}', 30000,
            'w-old', now() + interval '20 seconds', 3, now(), now()),
          ('${b}', '${instanceId}', 'b', 'DO', 'old.b', '${instanceId}:b:DO:1', 1, 3, 'LEASED', '{"n": 1}', NULL, 30000,
            'w-old', now() + interval '30 seconds', 5, now(), NULL),
          ('${c}', '${instanceId}', 'c', 'DO', 'old.c', '${instanceId}:c:DO:1', 1, 3, 'PENDING', '{"n": 1}', NULL, 30000,
            NULL, NULL, NULL, NULL, NULL);
        INSERT INTO events (event_id, workflow_instance_id, sequence_number, event_type, payload, idempotency_key) VALUES
          (gen_random_uuid(), '${instanceId}', 1, 'WORKFLOW_STARTED', '{"input": {"n": 1}, "runId": "r1"}', '${instanceId}:1'),
          (gen_random_uuid(), '${instanceId}', 2, 'TASK_SCHEDULED', '{"executionId": "${a}"}', '${instanceId}:2'),
          (gen_random_uuid(), '${instanceId}', 3, 'TASK_SCHEDULED', '{"executionId": "${b}"}', '${instanceId}:3'),
          (gen_random_uuid(), '${instanceId}', 4, 'TASK_SCHEDULED', '{"executionId": "${c}"}', '${instanceId}:4'),
          (gen_random_uuid(), '${instanceId}', 5, 'TASK_COMPLETED', '{"executionId": "${a}", "output": {"done": "a"}}', 'kafka:replies:0:7');`;
      await database.db.transaction().execute((trx) => database.execScript(trx, script));

      const engine = await createEngine({ database, reapIntervalMs: 0 });
      try {
        const tasks = (await engine.workflows.getWorkflow(instanceId)).tasks.sort((x, y) => x.taskId.localeCompare(y.taskId));
        expect(tasks.map((t) => [t.taskId, t.state, t.fenceToken, t.leaseHolder])).toEqual([
          ["a", "COMPLETED", 3, "w-old"],
          ["b", "LEASED", 5, "w-old"],
          ["c", "PENDING", null, null],
        ]);
        // A report applied before the upgrade is still known by its key.
        const replay = await engine.tasks.complete({
          executionId: b,
          workerId: "w-old",
          fenceToken: 5,
          idempotencyKey: "kafka:replies:0:7",
        });
        expect(replay.duplicate).toBe(true);
        // The lease taken before the upgrade is honoured with its fence, and refused with another.
        const stale = await engine.tasks.complete({ executionId: b, workerId: "w-old", fenceToken: 4 }).catch((e: BatonError) => e.code);
        expect(stale).toBe("STALE_FENCE");
        expect((await engine.tasks.complete({ executionId: b, workerId: "w-old", fenceToken: 5, output: "b" })).duplicate).toBe(false);
        const [next] = await engine.tasks.acquire({ queues: ["old.c"], workerId: "w-new", max: 1 });
        expect(next?.executionId).toBe(c);
        expect(next?.fenceToken).toBeGreaterThan(10);
        await engine.tasks.complete({ executionId: c, workerId: "w-new", fenceToken: next?.fenceToken as number, output: "c" });
        const view = await engine.workflows.getWorkflow(instanceId);
        expect(view.state).toBe("COMPLETED");
        expect(view.output).toEqual({ a: { done: "a" }, b: "b", c: "c" });
        const folded = foldEvents(view.events);
        expect(folded.state).toBe("COMPLETED");
        expect(folded.sequenceNumber).toBe(view.sequenceNumber);
      } finally {
        await engine.close();
      }
    } finally {
      await drop();
      await rm(first, { recursive: true, force: true });
    }
  });
});
