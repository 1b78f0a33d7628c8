import { type BatonError, createEngine, httpStatusOf } from "@baton/engine";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { expectHistoryConsistent } from "../../../test-support/drive.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { lockedChange } from "../src/coordinators/instance-change.ts";
import { capturedLog, ERROR_LEVEL } from "./captured-log.ts";

// Faults are injected in the database itself: a trigger refuses the writes of chosen rows. That is
// how a poisoned row, or a cancellation that never lands, looks to the engine, and it works on
// both Postgres and PGlite.
const log = capturedLog();
let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine({ reapIntervalMs: 20, logger: log.logger });
  await sql`CREATE TABLE poisoned_instances (instance_id uuid PRIMARY KEY)`.execute(engine.database.db);
  await sql`CREATE TABLE kept_leases (execution_id uuid PRIMARY KEY)`.execute(engine.database.db);
  const statements = [
    `CREATE FUNCTION refuse_poisoned() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF EXISTS (SELECT 1 FROM poisoned_instances WHERE instance_id = OLD.instance_id) THEN
         RAISE EXCEPTION 'instance % is poisoned', OLD.instance_id;
       END IF;
       RETURN NEW;
     END $$`,
    "CREATE TRIGGER refuse_poisoned BEFORE UPDATE ON workflow_instances FOR EACH ROW EXECUTE FUNCTION refuse_poisoned()",
    `CREATE FUNCTION keep_lease() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF EXISTS (SELECT 1 FROM kept_leases WHERE execution_id = OLD.execution_id) THEN RETURN NULL; END IF;
       RETURN OLD;
     END $$`,
    "CREATE TRIGGER keep_lease BEFORE DELETE ON task_leases FOR EACH ROW EXECUTE FUNCTION keep_lease()",
  ];
  for (const statement of statements) await sql.raw(statement).execute(engine.database.db);
});
afterAll(() => engine?.destroy());

const uniqueName = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

describe("the background lease reaper", () => {
  it("reaps the other instances while one fails, logs the one it skipped, and reaps it once it can", async () => {
    const name = uniqueName("poison");
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "a", queue: name }] });
    const poisoned = await engine.workflows.startWorkflow({ workflow: name });
    const healthy = await engine.workflows.startWorkflow({ workflow: name });
    await sql`INSERT INTO poisoned_instances VALUES (${poisoned.instanceId})`.execute(engine.database.db);
    const leased = await engine.tasks.acquire({ queues: [name], workerId: "w", max: 2 });
    expect(leased).toHaveLength(2);
    // The poisoned lease expires first, so the pass meets it before the healthy one.
    for (const id of [poisoned.instanceId, healthy.instanceId]) {
      await engine.expireLease(leased.find((t) => t.instanceId === id)?.executionId ?? "");
    }
    const attemptOf = async (instanceId: string) => (await engine.workflows.getWorkflow(instanceId)).tasks[0]?.state;

    await vi.waitFor(async () => expect(await attemptOf(healthy.instanceId)).toBe("TIMED_OUT"), { timeout: 10_000 });
    await vi.waitFor(() =>
      expect(log.lines).toContainEqual(
        expect.objectContaining({
          level: ERROR_LEVEL,
          instanceIds: [poisoned.instanceId],
          err: expect.objectContaining({ message: expect.stringContaining("poisoned") }),
        }),
      ),
    );
    expect(await attemptOf(poisoned.instanceId)).toBe("LEASED");

    await sql`DELETE FROM poisoned_instances`.execute(engine.database.db);
    await vi.waitFor(async () => expect(await attemptOf(poisoned.instanceId)).toBe("TIMED_OUT"), { timeout: 10_000 });
    expectHistoryConsistent(await engine.workflows.getWorkflow(poisoned.instanceId));
  });
});

describe("planning a change", () => {
  it("fails with a retryable CONCURRENT_UPDATE, changing nothing, when a cancellation misses in every re-plan", async () => {
    const name = uniqueName("replan");
    await engine.workflows.registerWorkflow({
      name,
      type: "parallel",
      steps: [
        { name: "a", queue: `${name}.a`, retry: { maxAttempts: 1 } },
        { name: "b", queue: `${name}.b` },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    const [a] = await engine.tasks.acquire({ queues: [`${name}.a`], workerId: "w", max: 1 });
    const pendingB = (await engine.workflows.getWorkflow(instanceId)).tasks.find((t) => t.taskId === "b");
    if (!a || !pendingB) throw new Error("expected a leased and b pending");
    // b stays PENDING whatever the planner does: every round plans its cancellation and misses.
    await sql`INSERT INTO kept_leases VALUES (${pendingB.executionId})`.execute(engine.database.db);
    const before = await engine.workflows.getWorkflow(instanceId);

    const failA = () => engine.tasks.fail({ executionId: a.executionId, workerId: "w", fenceToken: a.fenceToken, error: "a broke" });
    const error = (await failA().catch((e: unknown) => e)) as BatonError;
    expect(error).toMatchObject({ code: "CONCURRENT_UPDATE", details: { instanceId } });
    expect(httpStatusOf(error.code)).toBe(409);
    expect(await engine.workflows.getWorkflow(instanceId)).toEqual(before);

    // Once the cancellation can land, the same report goes through.
    await sql`DELETE FROM kept_leases`.execute(engine.database.db);
    await failA();
    const after = await engine.workflows.getWorkflow(instanceId);
    expect(after.state).not.toBe("RUNNING");
    expect(after.tasks.find((t) => t.executionId === pendingB.executionId)?.state).toBe("CANCELLED");
    expectHistoryConsistent(after);
  });

  it("refuses to record an outcome for an instance the batch did not lock", () => {
    expect(() => lockedChange(new Map(), "0190a9c0-0000-7000-8000-000000000001")).toThrow(
      expect.objectContaining({ code: "INTERNAL", message: expect.stringContaining("0190a9c0-0000-7000-8000-000000000001") }),
    );
  });
});

describe("createEngine's options", () => {
  it.each([
    [{ pollIntervalMs: 0 }, "pollIntervalMs"],
    [{ pollIntervalMs: Number.NaN }, "pollIntervalMs"],
    [{ reapIntervalMs: -1 }, "reapIntervalMs"],
    [{ reapIntervalMs: Number.POSITIVE_INFINITY }, "reapIntervalMs"],
    [{ pollRecordIntervalMs: 2 ** 31 }, "pollRecordIntervalMs"],
    [{ pollIntervalMs: "1000" }, "pollIntervalMs"],
    [{ migrate: "yes" }, "migrate"],
    [{ logger: console.log }, "logger"],
  ])("refuses %o, naming %s", async (bad, field) => {
    const error = await createEngine({ database: { kind: "pglite" }, ...(bad as object) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "VALIDATION_ERROR", details: { field } });
    expect((error as Error).message).toMatch(new RegExp(`^createEngine: ${field} `));
  });

  it("refuses a database that is neither open nor a known config", async () => {
    const error = await createEngine({ database: { kind: "mysql", url: "x" } as never }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "VALIDATION_ERROR", details: { field: "database" } });
  });
});
