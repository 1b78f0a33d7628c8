import { hostname } from "node:os";
import { directDb } from "@baton/engine/internal";
import { sql } from "kysely";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { acquireOne, type Harness, startHarness, uniqueWorkflow } from "./http-harness.ts";

// A poisoned instance is marked (issue 10): the reaper skips it and reaps every other, and an
// operator sees it in /metrics and at GET /v1/reaper/poisoned until a pass can reap it, both
// naming the process whose reaper marked it.
//
// The poison is injected in the database: a trigger refuses every update of the instances listed
// in `poisoned_instances`, which is how a row the reaper cannot write looks to the engine (on
// Postgres and PGlite alike).

let h: Harness;
beforeAll(async () => {
  // The reaper logs an error line per pass while the poison lasts: kept out of the test output.
  h = await startHarness({ reapIntervalMs: 25, logger: pino({ level: "silent" }) });
  const db = directDb(h.engine.database);
  await sql`CREATE TABLE poisoned_instances (instance_id uuid PRIMARY KEY)`.execute(db);
  await sql
    .raw(`CREATE FUNCTION refuse_poisoned() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF EXISTS (SELECT 1 FROM poisoned_instances WHERE instance_id = OLD.instance_id) THEN
         RAISE EXCEPTION 'instance % is poisoned', OLD.instance_id;
       END IF;
       RETURN NEW;
     END $$`)
    .execute(db);
  await sql`CREATE TRIGGER refuse_poisoned BEFORE UPDATE ON workflow_instances FOR EACH ROW EXECUTE FUNCTION refuse_poisoned()`.execute(db);
});
afterAll(() => h?.close());

const { name, queue } = uniqueWorkflow("poison");

/** Starts a run and leases its one task with a lease that has already expired. */
async function runWithExpiredLease(): Promise<string> {
  const started = await h.call("POST", `/v1/workflows/${name}/runs`, { input: {} });
  expect(started.status).toBe(201);
  const task = await acquireOne(h, queue);
  expect(task.instanceId).toBe(started.body.instanceId);
  await h.engine.expireLease(task.executionId);
  return task.instanceId;
}

const attemptState = async (instanceId: string) => (await h.call("GET", `/v1/instances/${instanceId}/tasks`)).body.items[0]?.state;

// The marks are this process's (kept in memory): the gauge and the list name it, as host:pid.
const replica = `${hostname()}:${process.pid}`;

async function poisonedGauge(): Promise<number> {
  const metrics = await h.call("GET", "/metrics");
  const line = /^baton_poisoned_instances\{replica="([^"]*)"\} (\d+)$/m.exec(metrics.body as string);
  if (!line) throw new Error("no baton_poisoned_instances{replica} in /metrics");
  expect(line[1]).toBe(replica);
  return Number(line[2]);
}

describe("a poisoned instance", () => {
  it("is marked in /metrics and at GET /v1/reaper/poisoned while the other expired leases are still reaped", async () => {
    expect((await h.call("POST", "/v1/workflows", { name, steps: [{ name: "a", queue, retry: { maxAttempts: 1 } }] })).status).toBe(201);
    expect(await poisonedGauge()).toBe(0);

    const poisoned = await runWithExpiredLease();
    await sql`INSERT INTO poisoned_instances VALUES (${poisoned})`.execute(directDb(h.engine.database));
    const healthy = await runWithExpiredLease();

    await vi.waitFor(async () => expect(await attemptState(healthy)).toBe("TIMED_OUT"), { timeout: 20_000 });
    await vi.waitFor(async () => expect(await poisonedGauge()).toBe(1), { timeout: 20_000 });
    const listed = await h.call("GET", "/v1/reaper/poisoned");
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({
      items: [
        {
          instanceId: poisoned,
          namespace: "default",
          workflowName: name,
          state: "RUNNING",
          reason: expect.stringContaining(`instance ${poisoned} is poisoned`),
          firstFailedAt: expect.any(String),
          lastFailedAt: expect.any(String),
          failedPasses: expect.any(Number),
        },
      ],
      nextCursor: null,
      replica,
    });
    expect(await attemptState(poisoned)).toBe("LEASED");

    // Later expired leases are reaped too, pass after pass, while the poisoned one stays marked.
    const later = await runWithExpiredLease();
    await vi.waitFor(async () => expect(await attemptState(later)).toBe("TIMED_OUT"), { timeout: 20_000 });
    const again = await h.call("GET", "/v1/reaper/poisoned");
    expect(again.body.items.map((i: { instanceId: string }) => i.instanceId)).toEqual([poisoned]);
    expect(again.body.items[0].failedPasses).toBeGreaterThan(listed.body.items[0].failedPasses);
    expect(again.body.items[0].firstFailedAt).toBe(listed.body.items[0].firstFailedAt);

    // Listed per namespace: another namespace has none; a malformed cursor is a 400 naming it.
    expect((await h.call("GET", "/v1/reaper/poisoned?namespace=elsewhere")).body).toEqual({ items: [], nextCursor: null, replica });
    const bad = await h.call("GET", "/v1/reaper/poisoned?cursor=nonsense");
    expect([bad.status, bad.body.error.details.fields[0].field]).toEqual([400, "cursor"]);

    // Once the row can be written, the next pass reaps it and the mark goes.
    await sql`DELETE FROM poisoned_instances`.execute(directDb(h.engine.database));
    await vi.waitFor(async () => expect(await attemptState(poisoned)).toBe("TIMED_OUT"), { timeout: 20_000 });
    await vi.waitFor(async () => expect(await poisonedGauge()).toBe(0), { timeout: 20_000 });
    expect((await h.call("GET", "/v1/reaper/poisoned")).body).toEqual({ items: [], nextCursor: null, replica });
  });
});
