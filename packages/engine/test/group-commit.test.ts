import { type AcquiredTask, BatonError } from "@baton/engine";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { GroupCommit, type GroupCommitOptions } from "../src/coordinators/group-commit.ts";

// Concurrent calls are coalesced into one transaction per batch (GroupCommit); these tests check
// what each caller sees: its own answer, its own refusal, or the error of a flush that failed.
let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine({ poolSize: 12 });
});
afterAll(() => engine.destroy());

async function leasedTasks(count: number): Promise<{ workflow: string; tasks: AcquiredTask[] }> {
  const workflow = `gc-${crypto.randomUUID().slice(0, 8)}`;
  await engine.workflows.registerWorkflow({ name: workflow, steps: [{ name: "a", queue: workflow }] });
  await engine.workflows.startMany({ workflow, runs: Array.from({ length: count }, (_, i) => ({ runId: `r${i}`, input: { i } })) });
  const tasks = await engine.tasks.acquire({ queues: [workflow], workerId: "w", max: count });
  expect(tasks).toHaveLength(count);
  return { workflow, tasks };
}

describe("group commit", () => {
  it("answers each of many concurrent completions on its own, refusing only the stale one", async () => {
    const { tasks } = await leasedTasks(40);
    const calls = tasks.map((t, i) =>
      engine.tasks
        .complete({ executionId: t.executionId, workerId: "w", fenceToken: i === 7 ? t.fenceToken - 1 : t.fenceToken, output: { i } })
        .then(
          (outcome) => outcome.state,
          (error: BatonError) => error.code,
        ),
    );
    const answers = await Promise.all(calls);
    expect(answers[7]).toBe("STALE_FENCE");
    expect(answers.filter((a) => a === "COMPLETED")).toHaveLength(39);
    for (const [i, t] of tasks.entries()) {
      const view = await engine.workflows.getWorkflow(t.instanceId);
      expect(view.state).toBe(i === 7 ? "RUNNING" : "COMPLETED");
    }
  });

  it("coalesces concurrent starts and completions into far fewer transactions than calls", async () => {
    const workflow = `gc-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({ name: workflow, steps: [{ name: "a", queue: workflow }] });
    const started = await Promise.all(Array.from({ length: 100 }, (_, i) => engine.workflows.startWorkflow({ workflow, runId: `s${i}` })));
    expect(started.every((s) => s.created)).toBe(true);
    const tasks = await engine.tasks.acquire({ queues: [workflow], workerId: "w", max: 100 });
    await Promise.all(tasks.map((t) => engine.tasks.complete({ executionId: t.executionId, workerId: "w", fenceToken: t.fenceToken })));
    // now() is the time its transaction began: rows written by one transaction share it. As single
    // calls, 100 starts and 100 completions would be 100 transactions each.
    const { rows } = await sql<{ starts: number; completions: number }>`
      SELECT count(DISTINCT i.created_at)::int AS starts, count(DISTINCT t.finished_at)::int AS completions
      FROM workflow_instances i JOIN task_executions t ON t.workflow_instance_id = i.instance_id
      WHERE i.workflow_name = ${workflow} AND t.state = 'COMPLETED'`.execute(engine.database.db);
    expect(rows[0]?.starts).toBeLessThanOrEqual(5);
    expect(rows[0]?.completions).toBeLessThanOrEqual(5);
  });

  it("refuses only the caller whose output the database cannot store, not the rest of its batch", async () => {
    const { tasks } = await leasedTasks(10);
    const answers = await engine.tasks.completeMany(
      tasks.map((t, i) => ({
        executionId: t.executionId,
        workerId: "w",
        fenceToken: t.fenceToken,
        output: i === 3 ? { bad: "nul\u0000" } : { i },
      })),
    );
    expect(answers[3]).toBeInstanceOf(BatonError);
    expect((answers[3] as BatonError).code).toBe("VALIDATION_ERROR");
    expect(answers.filter((a) => !(a instanceof BatonError) && a.state === "COMPLETED")).toHaveLength(9);
  });

  it("answers each run of a batch start on its own: new, repeated, conflicting, unknown workflow", async () => {
    const workflow = `gc-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({ name: workflow, steps: [{ name: "a", queue: workflow }] });
    await engine.workflows.startWorkflow({ workflow, runId: "old", input: { v: 1 } });
    const answers = await engine.workflows.startMany({
      workflow,
      runs: [
        { runId: "new", input: { v: 1 } },
        { runId: "old", input: { v: 1 } },
        { runId: "old", input: { v: 2 } },
        { runId: "new", input: { v: 1 } },
      ],
    });
    expect(answers.map((a) => (a instanceof BatonError ? a.code : a.created))).toEqual([true, false, "RUN_ID_CONFLICT", false]);
    const unknown = await engine.workflows.startMany({ workflow: "no-such-workflow", runs: [{ runId: "x" }] });
    expect((unknown[0] as BatonError).code).toBe("NOT_FOUND");
  });

  it.skipIf(onPglite)(
    "answers every caller of a flush that failed as a whole with that error (Postgres: a backend is terminated)",
    async () => {
      const { tasks } = await leasedTasks(5);
      const other = new pg.Client({ connectionString: engine.testDb.url });
      await other.connect();
      try {
        // Hold the first instance's lock, so the flush that carries all five waits inside its transaction.
        await other.query("BEGIN");
        const ids = tasks.map((t) => t.instanceId).sort();
        await other.query("SELECT 1 FROM workflow_instances WHERE instance_id = $1 FOR UPDATE", [ids[0]]);
        const calls = engine.tasks.completeMany(
          tasks.map((t) => ({ executionId: t.executionId, workerId: "w", fenceToken: t.fenceToken })),
        );
        let waiting: number | undefined;
        for (let i = 0; i < 400 && waiting === undefined; i++) {
          const r = await other.query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
          );
          waiting = r.rows[0]?.pid;
          if (waiting === undefined) await new Promise((r) => setTimeout(r, 25));
        }
        expect(waiting).toBeDefined();
        await other.query("SELECT pg_terminate_backend($1)", [waiting]);
        const answers = await calls;
        // The whole batch failed, and every caller learns it: the connection was lost (503, retry).
        expect(answers).toHaveLength(5);
        for (const answer of answers) expect(answer).toMatchObject({ code: "UNAVAILABLE", details: { retryable: true } });
        await other.query("ROLLBACK");
        for (const t of tasks) expect((await engine.workflows.getWorkflow(t.instanceId)).state).toBe("RUNNING");
      } finally {
        await other.end();
      }
    },
  );
});

/** A GroupCommit whose flushes answer each item times ten, and wait until `open` is called; `flushes` records what each took. */
function gatedGroup(options: GroupCommitOptions) {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const flushes: number[][] = [];
  const group = new GroupCommit<number, number>(async (items) => {
    flushes.push(items);
    await gate;
    return items.map((i) => i * 10);
  }, options);
  return { group, flushes, open };
}

describe("GroupCommit bounds", () => {
  it("refuses calls past its waiting bound with UNAVAILABLE, and answers the waiting ones once the flush ends", async () => {
    const { group, flushes, open } = gatedGroup({ maxWaiting: 3 });
    const first = group.submit(1); // flushed at once, held at the gate
    const waiting = [group.submit(2), group.submit(3), group.submit(4)];
    const refused = await group.submit(5).catch((error: BatonError) => error.code);
    expect(refused).toBe("UNAVAILABLE");
    const many = await group.submitMany([6, 7]);
    expect(many.map((a) => (a instanceof BatonError ? a.code : a))).toEqual(["UNAVAILABLE", "UNAVAILABLE"]);
    open();
    expect(await first).toBe(10);
    expect(await Promise.all(waiting)).toEqual([20, 30, 40]);
    // The three that waited went in one flush.
    expect(flushes).toEqual([[1], [2, 3, 4]]);
  });

  it("splits a burst larger than a batch into as many flushes at once as it allows, the rest after", async () => {
    const { group, flushes, open } = gatedGroup({ maxBatch: 2, maxFlushes: 2 });
    const answers = group.submitMany([1, 2, 3, 4, 5]);
    await Promise.resolve();
    // Two flushes run before either ends; the fifth call waits for one of them.
    expect(flushes).toEqual([
      [1, 2],
      [3, 4],
    ]);
    open();
    expect(await answers).toEqual([10, 20, 30, 40, 50]);
    expect(flushes).toEqual([[1, 2], [3, 4], [5]]);
  });
});
