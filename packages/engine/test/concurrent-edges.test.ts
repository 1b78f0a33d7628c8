import type { BatonError } from "@baton/engine";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { expectHistoryConsistent } from "../../../test-support/drive.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";

// These tests hold a row lock on a second connection to force an interleaving, so they need a
// server (PGlite has a single connection).
describe.skipIf(onPglite)("interleavings forced with a second connection (Postgres only: PGlite has one connection)", () => {
  let engine: TestEngine;
  let other: pg.Client;
  beforeAll(async () => {
    engine = await createTestEngine();
    other = new pg.Client({ connectionString: engine.testDb.url });
    await other.connect();
  });
  afterAll(async () => {
    await other.end();
    await engine.destroy();
  });

  /** Resolves once `count` backends of the test database wait on a lock (one held by `other`). */
  async function someoneBlocked(count = 1): Promise<void> {
    for (let i = 0; i < 400; i++) {
      const rows = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(engine.database.db);
      if ((rows.rows[0]?.n ?? 0) >= count) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`fewer than ${count} backend(s) blocked on the held lock`);
  }

  it("does not cancel a DO that an acquire leased while compensation was being planned; it waits and undoes it", async () => {
    const name = `race-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({
      name,
      type: "parallel",
      steps: [
        { name: "a", queue: `${name}.a`, undo: true, retry: { maxAttempts: 1 } },
        { name: "b", queue: `${name}.b`, undo: true },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    const [a] = await engine.tasks.acquire({ queues: [`${name}.a`], workerId: "w1", max: 1 });
    const pendingB = (await engine.workflows.getWorkflow(instanceId)).tasks.find((t) => t.taskId === "b");
    if (!a || !pendingB) throw new Error("expected a leased and b pending");

    // An acquire of b is in flight on another connection: b is locked, leased, not yet committed.
    await other.query("BEGIN");
    const leased = await other.query(
      `UPDATE task_leases SET state = 'LEASED', lease_holder = 'w2', fence_token = nextval('fence_token_seq'),
         lease_expires_at = now() + interval '30 seconds', started_at = now()
       WHERE execution_id = $1 RETURNING fence_token`,
      [pendingB.executionId],
    );
    const failing = engine.tasks.fail({ executionId: a.executionId, workerId: "w1", fenceToken: a.fenceToken, error: "a broke" });
    await someoneBlocked(); // the compensation's cancel of b waits on the acquire's row lock
    await other.query("COMMIT");
    await failing;

    let view = await engine.workflows.getWorkflow(instanceId);
    expect(view.state).toBe("COMPENSATING");
    expect(view.tasks.find((t) => t.executionId === pendingB.executionId)?.state).toBe("LEASED");
    const fenceToken = Number(leased.rows[0].fence_token);
    await engine.tasks.complete({ executionId: pendingB.executionId, workerId: "w2", fenceToken, output: "b done" });
    const [undoB] = await engine.tasks.acquire({ queues: [`${name}.b.undo`], workerId: "w2", max: 1 });
    if (!undoB) throw new Error("b's work must be undone");
    await engine.tasks.complete({ executionId: undoB.executionId, workerId: "w2", fenceToken: undoB.fenceToken });
    view = await engine.workflows.getWorkflow(instanceId);
    expect(view.state).toBe("COMPENSATED");
    expectHistoryConsistent(view);
  });

  it("refuses a completion whose lease ran out while it waited for the instance lock", async () => {
    const name = `expiry-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "a", queue: name, leaseMs: 300 }] });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    const [task] = await engine.tasks.acquire({ queues: [name], workerId: "w", max: 1 });
    if (!task) throw new Error("expected a task");
    await other.query("BEGIN");
    await other.query("SELECT 1 FROM workflow_instances WHERE instance_id = $1 FOR UPDATE", [instanceId]);
    const completing = engine.tasks.complete({ executionId: task.executionId, workerId: "w", fenceToken: task.fenceToken }).then(
      () => "accepted",
      (e: unknown) => (e as BatonError).code,
    );
    await someoneBlocked();
    // Hold the lock until the lease is over (by the database clock).
    await other.query(
      "SELECT pg_sleep(GREATEST(0, EXTRACT(EPOCH FROM (lease_expires_at - clock_timestamp()))) + 0.05) FROM task_leases WHERE execution_id = $1",
      [task.executionId],
    );
    await other.query("COMMIT");
    expect(await completing).toBe("LEASE_EXPIRED");
  });

  it("counts both of two parallel steps completed at the same moment, though both were planned on the same state", async () => {
    const name = `both-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({
      name,
      type: "parallel",
      steps: [
        { name: "a", queue: name },
        { name: "b", queue: name },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    const tasks = await engine.tasks.acquire({ queues: [name], workerId: "w", max: 2 });
    expect(tasks).toHaveLength(2);
    // Both completions read the instance at the same sequence number, then wait on its lock; the
    // first to get it moves the instance, so the second must not write what it planned on the old state.
    await other.query("BEGIN");
    await other.query("SELECT 1 FROM workflow_instances WHERE instance_id = $1 FOR UPDATE", [instanceId]);
    const completing = tasks.map((t) =>
      engine.tasks.complete({ executionId: t.executionId, workerId: "w", fenceToken: t.fenceToken, output: t.taskId }),
    );
    await someoneBlocked(2);
    await other.query("COMMIT");
    const outcomes = await Promise.all(completing);
    expect(outcomes.map((o) => [o.state, o.duplicate])).toEqual([
      ["COMPLETED", false],
      ["COMPLETED", false],
    ]);
    const view = await engine.workflows.getWorkflow(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(view.tasks.map((t) => t.output).sort()).toEqual(["a", "b"]);
    expectHistoryConsistent(view);
  });
});
