import { createEngine, MAX_RUN_WAIT_MS } from "@baton/engine";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { databaseDigest, settledDigest } from "./fuzz/database-digest.ts";
import { acquireOne, type Harness, startHarness, uniqueWorkflow } from "./http-harness.ts";

/*
 * Synchronous start: POST /v1/workflows/{name}/runs with `waitMs` answers when the run has ended
 * (200, with its output or error) or, when the wait runs out, 202 with its state then. No database
 * connection is held while waiting.
 */

// Far longer than any wait here: a waiting start that answers 200 before its deadline was woken
// by the commit of its run's end, not by the periodic look.
const NO_PERIODIC_LOOK_MS = MAX_RUN_WAIT_MS;

let h: Harness;
beforeAll(async () => {
  // One pooled connection: a wait that held it would leave every other request waiting.
  h = await startHarness({ pollIntervalMs: NO_PERIODIC_LOOK_MS, poolSize: 1 });
});
afterAll(() => h?.close());

async function register(h: Harness, undo = false) {
  const { name, queue } = uniqueWorkflow("sync");
  await h.call("POST", "/v1/workflows", { name, steps: [{ name: "work", queue, undo, retry: { maxAttempts: 1 } }] });
  return { name, queue };
}

const parked = (harness: Harness, n: number) =>
  vi.waitFor(() => expect(harness.engine.instanceEnds.waiting).toBe(n), { timeout: 10_000, interval: 10 });

describe("POST /v1/workflows/{name}/runs with waitMs", () => {
  it("answers 200 with the output once a worker completes the run, woken by the completion", async () => {
    const { name, queue } = await register(h);
    const answer = h.call("POST", `/v1/workflows/${name}/runs`, { runId: "r1", input: { tenant: "acme" }, waitMs: 30_000 });
    await parked(h, 1);
    // The wait holds no connection: the pool's only one serves other requests (and the worker's) meanwhile.
    expect((await h.call("GET", "/v1/instances?limit=1")).status).toBe(200);
    const task = await acquireOne(h, queue);
    await h.call("POST", `/v1/tasks/${task.executionId}/complete`, {
      workerId: "w1",
      fenceToken: task.fenceToken,
      output: { realm: "r-1" },
    });
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      instanceId: task.instanceId,
      runId: "r1",
      state: "COMPLETED",
      created: true,
      output: { work: { realm: "r-1" } },
      error: null,
    });
    expect(h.engine.instanceEnds.waiting).toBe(0);
  });

  it("answers 200 with the error when the run fails", async () => {
    const { name, queue } = await register(h);
    const answer = h.call("POST", `/v1/workflows/${name}/runs`, { input: {}, waitMs: 30_000 });
    await parked(h, 1);
    const task = await acquireOne(h, queue);
    await h.call("POST", `/v1/tasks/${task.executionId}/fail`, {
      workerId: "w1",
      fenceToken: task.fenceToken,
      error: { message: "no realm" },
    });
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: "FAILED", output: null, error: expect.objectContaining({ step: "work" }) });
  });

  it("answers 202 with the run's state when no worker ends it within waitMs", async () => {
    const { name } = await register(h);
    const started = Date.now();
    const res = await h.call("POST", `/v1/workflows/${name}/runs`, { runId: "idle", input: {}, waitMs: 300 });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ instanceId: expect.any(String), runId: "idle", state: "RUNNING", created: true, output: null, error: null });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    // The run goes on: it is there, still RUNNING, for a later look.
    expect((await h.call("GET", `/v1/instances/${res.body.instanceId}`)).body.state).toBe("RUNNING");
  });

  it("answers a repeated start of an ended run at once, with created false", async () => {
    const { name, queue } = await register(h);
    const first = await h.call("POST", `/v1/workflows/${name}/runs`, { runId: "again", input: { n: 1 } });
    const task = await acquireOne(h, queue);
    await h.call("POST", `/v1/tasks/${task.executionId}/complete`, { workerId: "w1", fenceToken: task.fenceToken, output: 7 });
    const res = await h.call("POST", `/v1/workflows/${name}/runs`, { runId: "again", input: { n: 1 }, waitMs: 30_000 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...first.body, state: "COMPLETED", created: false, output: { work: 7 }, error: null });
  });

  it("waitMs 0 answers at once with the state now", async () => {
    const { name } = await register(h);
    const res = await h.call("POST", `/v1/workflows/${name}/runs`, { input: {}, waitMs: 0 });
    expect(res.status).toBe(202);
    expect(res.body.state).toBe("RUNNING");
  });

  it("refuses a waitMs over the bound (saying the bound), or not a whole number, and starts nothing", async () => {
    const { name } = await register(h);
    for (const waitMs of [MAX_RUN_WAIT_MS + 1, -1, 1.5, "1000"]) {
      const before = await settledDigest(h.engine.database);
      const res = await h.call("POST", `/v1/workflows/${name}/runs`, { input: {}, waitMs });
      expect(res.status).toBe(400);
      expect(res.body.error.details.fields).toEqual([{ field: "waitMs", message: expect.any(String) }]);
      if (waitMs === MAX_RUN_WAIT_MS + 1) expect(res.body.error.message).toContain(`at most ${MAX_RUN_WAIT_MS} ms`);
      expect(await databaseDigest(h.engine.database)).toBe(before);
    }
  });

  it("ends the wait when the client disconnects; the run goes on", async () => {
    const { name, queue } = await register(h);
    const client = new AbortController();
    const gone = fetch(`${h.url}/v1/workflows/${name}/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ runId: "leaver", input: {}, waitMs: 30_000 }),
      signal: client.signal,
    });
    await parked(h, 1);
    client.abort();
    await expect(gone).rejects.toThrow();
    await parked(h, 0);
    const task = await acquireOne(h, queue);
    expect(task.taskId).toBe("work");
  });
});

describe("POST /v1/workflows/{name}/runs/batch with waitMs", () => {
  it("answers each run with its state, output and error when it ended or at the one deadline; a refused run keeps its slot", async () => {
    const { name, queue } = await register(h);
    await h.call("POST", `/v1/workflows/${name}/runs`, { runId: "taken", input: { n: 0 } });
    const waitMs = 1500;
    const started = Date.now();
    const answer = h.call("POST", `/v1/workflows/${name}/runs/batch`, {
      runs: [
        { runId: "ok", input: { n: 1 } },
        { runId: "bad", input: { n: 2 } },
        { runId: "idle", input: { n: 3 } },
        { runId: "taken", input: { n: 99 } },
      ],
      waitMs,
    });
    await parked(h, 3);
    // The waits hold no connection: the pool's only one serves the workers meanwhile.
    const tasks = (await h.call("POST", "/v1/tasks/acquire", { workerId: "w1", queues: [queue], max: 10 })).body.tasks as {
      executionId: string;
      fenceToken: number;
      input: { n: number };
    }[];
    const byN = (n: number) => tasks.find((t) => t.input.n === n) as (typeof tasks)[number];
    await h.call("POST", `/v1/tasks/${byN(1).executionId}/complete`, { workerId: "w1", fenceToken: byN(1).fenceToken, output: "done" });
    await h.call("POST", `/v1/tasks/${byN(2).executionId}/fail`, {
      workerId: "w1",
      fenceToken: byN(2).fenceToken,
      error: { message: "no" },
    });
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      { instanceId: expect.any(String), runId: "ok", state: "COMPLETED", created: true, output: { work: "done" }, error: null },
      expect.objectContaining({
        runId: "bad",
        state: "FAILED",
        created: true,
        output: null,
        error: expect.objectContaining({ step: "work" }),
      }),
      { instanceId: expect.any(String), runId: "idle", state: "RUNNING", created: true, output: null, error: null },
      { runId: "taken", error: expect.objectContaining({ code: "RUN_ID_CONFLICT" }) },
    ]);
    // The run nobody ended held the answer until the deadline.
    expect(Date.now() - started).toBeGreaterThanOrEqual(waitMs);
    expect(h.engine.instanceEnds.waiting).toBe(0);
  });

  it("answers as soon as the last run has ended, woken by the completions", async () => {
    const { name, queue } = await register(h);
    const answer = h.call("POST", `/v1/workflows/${name}/runs/batch`, { runs: [{ input: { n: 1 } }, { input: { n: 2 } }], waitMs: 30_000 });
    await parked(h, 2);
    const { tasks } = (await h.call("POST", "/v1/tasks/acquire", { workerId: "w1", queues: [queue], max: 2 })).body;
    for (const task of tasks as { executionId: string; fenceToken: number }[]) {
      await h.call("POST", `/v1/tasks/${task.executionId}/complete`, { workerId: "w1", fenceToken: task.fenceToken, output: 1 });
    }
    const res = await answer;
    expect(res.body.results.map((r: { state: string }) => r.state)).toEqual(["COMPLETED", "COMPLETED"]);
  });

  it("refuses a waitMs out of bounds (starting nothing) and one sent inside a run, saying where it goes", async () => {
    const { name } = await register(h);
    const before = await settledDigest(h.engine.database);
    const tooLong = await h.call("POST", `/v1/workflows/${name}/runs/batch`, { runs: [{ input: {} }], waitMs: MAX_RUN_WAIT_MS + 1 });
    expect([tooLong.status, tooLong.body.error.details.fields]).toEqual([400, [{ field: "waitMs", message: expect.any(String) }]]);
    const inside = await h.call("POST", `/v1/workflows/${name}/runs/batch`, { runs: [{ input: {}, waitMs: 1000 }] });
    expect(inside.status).toBe(400);
    expect(inside.body.error.details.fields).toEqual([{ field: "runs.0.waitMs", message: expect.stringContaining("beside `runs`") }]);
    expect(await databaseDigest(h.engine.database)).toBe(before);
  });

  it("ends the waits when the client disconnects; the runs go on", async () => {
    const { name } = await register(h);
    const client = new AbortController();
    const gone = fetch(`${h.url}/v1/workflows/${name}/runs/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ runs: [{ input: {} }, { input: {} }], waitMs: 30_000 }),
      signal: client.signal,
    });
    await parked(h, 2);
    client.abort();
    await expect(gone).rejects.toThrow();
    await parked(h, 0);
    expect((await h.call("GET", `/v1/instances?workflow=${name}`)).body.items.map((i: { state: string }) => i.state)).toEqual([
      "RUNNING",
      "RUNNING",
    ]);
  });
});

describe("waits see changes this process did not commit", () => {
  let quick: Harness;
  beforeAll(async () => {
    quick = await startHarness({ pollIntervalMs: 100 });
  });
  afterAll(() => quick?.close());

  it("a run cancelled while its start waits answers 200 CANCELLED", async () => {
    const { name } = await register(quick);
    const answer = quick.call("POST", `/v1/workflows/${name}/runs`, { runId: "to-cancel", input: {}, waitMs: 30_000 });
    await parked(quick, 1);
    const { body: listed } = await quick.call("GET", `/v1/instances?workflow=${name}`);
    await quick.call("POST", `/v1/instances/${listed.items[0].instanceId}/cancel`);
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ runId: "to-cancel", state: "CANCELLED" });
  });

  if (onPglite) console.log("sync-start: the other-replica case is skipped on PGlite, whose database one process owns");
  it.skipIf(onPglite)("a run completed through another replica (engine) on the same database answers 200", async () => {
    const { name, queue } = await register(quick);
    const other = await createEngine({
      database: { kind: "postgres", url: quick.engine.testDb.url as string },
      migrate: false,
      reapIntervalMs: 0,
    });
    try {
      const answer = quick.call("POST", `/v1/workflows/${name}/runs`, { runId: "elsewhere", input: {}, waitMs: 30_000 });
      await parked(quick, 1);
      const [task] = await other.tasks.acquire({ queues: [queue], workerId: "w-other", max: 1 });
      await other.tasks.complete({
        executionId: task?.executionId as string,
        workerId: "w-other",
        fenceToken: task?.fenceToken as number,
        output: 1,
      });
      const res = await answer;
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ runId: "elsewhere", state: "COMPLETED", output: { work: 1 } });
    } finally {
      await other.close();
    }
  });
});
