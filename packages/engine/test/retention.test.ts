import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { drive } from "../../../test-support/drive.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { eventListForRelay } from "../src/store/events-relay.ts";

// Retention (issue #10): finished instances older than retentionMs go, with every row they own.

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine({ retentionMs: 60_000, housekeepingIntervalMs: 100 });
});
afterAll(() => engine.destroy());

const name = `kept-${crypto.randomUUID().slice(0, 8)}`;
const queue = `${name}.a`;

/** Rows each table holds for the instance. */
async function rowsOf(instanceId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ["workflow_instances", "task_executions", "task_leases", "events", "report_keys"] as const) {
    const column = table === "workflow_instances" ? "instance_id" : "workflow_instance_id";
    const { rows } = await sql<{
      n: string;
    }>`SELECT count(*) AS n FROM ${sql.table(table)} WHERE ${sql.ref(column)} = ${instanceId}`.execute(engine.database.db);
    counts[table] = Number(rows[0]?.n);
  }
  return counts;
}

/** Makes the instance look created and last changed two minutes ago, past the one-minute retention. */
async function age(instanceId: string): Promise<void> {
  await sql`UPDATE workflow_instances SET created_at = now() - interval '3 minutes', updated_at = now() - interval '2 minutes'
            WHERE instance_id = ${instanceId}`.execute(engine.database.db);
}

async function maxPosition(instanceId: string): Promise<string> {
  const { rows } = await sql<{ p: string }>`SELECT max(position)::text AS p FROM events WHERE workflow_instance_id = ${instanceId}`.execute(
    engine.database.db,
  );
  return rows[0]?.p as string;
}

describe("retention", () => {
  it("deletes old finished instances with their tasks, leases, events and report keys; keeps running and recent ones", async () => {
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "a", queue }] });
    const start = async () => (await engine.workflows.startWorkflow({ workflow: name, input: { n: 1 } })).instanceId;

    // Old and completed, by a report that names itself (a report key row).
    const oldCompleted = await start();
    const [task] = await engine.tasks.acquire({ queues: [queue], workerId: "w", max: 1 });
    if (!task) throw new Error("no task");
    await engine.tasks.complete({
      executionId: task.executionId,
      workerId: "w",
      fenceToken: task.fenceToken,
      output: "done",
      idempotencyKey: `${name}:report-1`,
    });
    // Finished just now (driven before the others start: the driver takes whatever the queue holds).
    const recentCompleted = await start();
    await drive(engine, recentCompleted, { [queue]: () => "done" });
    // Old and cancelled while its task was still pending (it had a lease row).
    const oldCancelled = await start();
    await engine.workflows.cancel(oldCancelled);
    // Old but still running: its task is pending.
    const oldRunning = await start();

    expect(await rowsOf(oldCompleted)).toMatchObject({ workflow_instances: 1, events: expect.any(Number), report_keys: 1 });
    expect((await rowsOf(oldRunning)).task_leases).toBe(1);
    const deletedPosition = await maxPosition(oldCancelled);
    for (const id of [oldCompleted, oldCancelled, oldRunning]) await age(id);

    const gone = { workflow_instances: 0, task_executions: 0, task_leases: 0, events: 0, report_keys: 0 };
    await vi.waitFor(async () => expect(await rowsOf(oldCompleted)).toEqual(gone), { timeout: 10_000, interval: 100 });
    await vi.waitFor(async () => expect(await rowsOf(oldCancelled)).toEqual(gone), { timeout: 10_000, interval: 100 });
    expect(await rowsOf(oldRunning)).toMatchObject({ workflow_instances: 1, task_executions: 1, task_leases: 1 });
    expect(await rowsOf(recentCompleted)).toMatchObject({ workflow_instances: 1, task_executions: 1 });
    expect((await engine.workflows.getWorkflow(oldRunning)).state).toBe("RUNNING");
    expect((await engine.workflows.getWorkflow(recentCompleted)).state).toBe("COMPLETED");
    await expect(engine.workflows.getWorkflow(oldCompleted)).rejects.toMatchObject({ code: "NOT_FOUND" });

    // The events relay reads by position: from before the deleted history, or naming a deleted
    // position as a gap, it gets the surviving events, each with its instance.
    for (const from of [
      { after: "0", gaps: [] },
      { after: "0", gaps: [deletedPosition] },
      { after: deletedPosition, gaps: [] },
    ]) {
      const { events } = await eventListForRelay(engine.database.db, { ...from, limit: 1000 });
      const instances = new Set(events.map((e) => e.instanceId));
      expect(instances.has(oldRunning)).toBe(true);
      expect(instances.has(recentCompleted)).toBe(from.after === "0");
      expect(instances.has(oldCompleted) || instances.has(oldCancelled)).toBe(false);
      for (const e of events) expect(e.runId).toEqual(expect.any(String));
    }
  });
});
