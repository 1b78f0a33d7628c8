import { MAX_ACQUIRE, MAX_BATCH_ITEMS } from "@baton/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, uniqueWorkflow } from "./http-harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

interface Leased {
  executionId: string;
  instanceId: string;
  queue: string;
  fenceToken: number;
}

/** Registers a one-step workflow, starts `runs` runs of it in one batch and leases all their tasks to w1. */
async function leasedTasks(runs: number, maxAttempts = 2): Promise<{ name: string; tasks: Leased[] }> {
  const { name, queue } = uniqueWorkflow("batch");
  await h.call("POST", "/v1/workflows", { name, steps: [{ name: "work", queue, retry: { maxAttempts, backoffMs: 0 } }] });
  const started = await h.call("POST", `/v1/workflows/${name}/runs/batch`, {
    runs: Array.from({ length: runs }, (_, n) => ({ input: { n } })),
  });
  expect(started.status).toBe(200);
  const acquired = await h.call("POST", "/v1/tasks/acquire", { workerId: "w1", queues: [queue], max: runs });
  expect(acquired.body.tasks).toHaveLength(runs);
  return { name, tasks: acquired.body.tasks };
}

const item = (task: Leased, extra: Record<string, unknown> = {}) => ({
  executionId: task.executionId,
  workerId: "w1",
  fenceToken: task.fenceToken,
  ...extra,
});

const fieldsOf = (body: { error: { details: { fields: { field: string }[] } } }) => body.error.details.fields.map((f) => f.field);

describe("POST /v1/tasks/complete (batch)", () => {
  it("answers each item in request order: a stale fence is refused in its slot, the others complete", async () => {
    const { tasks } = await leasedTasks(4);
    const [a, b, c, d] = tasks as [Leased, Leased, Leased, Leased];
    const res = await h.call("POST", "/v1/tasks/complete", {
      items: [item(a, { output: { n: "a" } }), item(b, { fenceToken: b.fenceToken - 1 }), item(c), item(d, { output: 4 })],
    });
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      { executionId: a.executionId, state: "COMPLETED", duplicate: false },
      {
        executionId: b.executionId,
        error: { code: "STALE_FENCE", message: expect.any(String), details: expect.objectContaining({ currentFenceToken: b.fenceToken }) },
      },
      { executionId: c.executionId, state: "COMPLETED", duplicate: false },
      { executionId: d.executionId, state: "COMPLETED", duplicate: false },
    ]);
    const refused = await h.call("GET", `/v1/instances/${b.instanceId}`);
    expect(refused.body.tasks.map((t: { state: string }) => t.state)).toEqual(["LEASED"]);
    const done = await h.call("GET", `/v1/instances/${a.instanceId}`);
    expect(done.body).toMatchObject({ state: "COMPLETED", output: { work: { n: "a" } } });
  });

  it("answers a repeated completion as a duplicate and a changed output as ALREADY_COMPLETED", async () => {
    const { tasks } = await leasedTasks(2);
    const [a, b] = tasks as [Leased, Leased];
    await h.call("POST", "/v1/tasks/complete", { items: [item(a, { output: 1 }), item(b, { output: 1 })] });
    const again = await h.call("POST", "/v1/tasks/complete", { items: [item(a, { output: 1 }), item(b, { output: 2 })] });
    expect(again.status).toBe(200);
    expect(again.body.results).toEqual([
      { executionId: a.executionId, state: "COMPLETED", duplicate: true },
      { executionId: b.executionId, error: expect.objectContaining({ code: "ALREADY_COMPLETED" }) },
    ]);
  });

  it("answers concurrent batches individually: an item sent in two of them is applied once", async () => {
    const { tasks } = await leasedTasks(6);
    const shared = tasks[0] as Leased;
    const halves = [tasks.slice(0, 3), [shared, ...tasks.slice(3)]];
    const answers = await Promise.all(
      halves.map((half) => h.call("POST", "/v1/tasks/complete", { items: half.map((t) => item(t, { output: { ok: true } })) })),
    );
    for (const [i, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      expect(answer.body.results.map((r: { executionId: string; state: string }) => [r.executionId, r.state])).toEqual(
        (halves[i] as Leased[]).map((t) => [t.executionId, "COMPLETED"]),
      );
    }
    const sharedAnswers = answers.map((a) => a.body.results[0].duplicate);
    expect(sharedAnswers.sort()).toEqual([false, true]);
    const instance = await h.call("GET", `/v1/instances/${shared.instanceId}`);
    expect(instance.body.events.filter((e: { eventType: string }) => e.eventType === "TASK_COMPLETED")).toHaveLength(1);
  });

  it("answers an idempotency key already applied as a duplicate", async () => {
    const { tasks } = await leasedTasks(1);
    const task = tasks[0] as Leased;
    const report = item(task, { output: 1, idempotencyKey: `report-${task.executionId}` });
    const first = await h.call("POST", "/v1/tasks/complete", { items: [report] });
    const second = await h.call("POST", "/v1/tasks/complete", { items: [report] });
    expect([first.body.results[0].duplicate, second.body.results[0].duplicate]).toEqual([false, true]);
  });

  it("validates the batch and each item like the single route, naming the field and the item's index", async () => {
    const id = crypto.randomUUID();
    const good = { executionId: id, workerId: "w1", fenceToken: 1 };
    const cases: [unknown, string][] = [
      [{ items: [] }, "items"],
      [{ items: Array.from({ length: MAX_BATCH_ITEMS + 1 }, () => good) }, "items"],
      [{ workerId: "w1", fenceToken: 1 }, "items"],
      [{ items: [good, { ...good, fenceToken: "7" }] }, "items.1.fenceToken"],
      [{ items: [good, good, { ...good, executionId: "not-a-uuid" }] }, "items.2.executionId"],
      [{ items: [{ ...good, workerId: "" }] }, "items.0.workerId"],
      [{ items: [{ ...good, idempotencyKey: "" }] }, "items.0.idempotencyKey"],
    ];
    for (const [body, field] of cases) {
      const res = await h.call("POST", "/v1/tasks/complete", body);
      expect(res.status, field).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_ERROR");
      expect(fieldsOf(res.body)).toContain(field);
    }
    const full = await h.call("POST", "/v1/tasks/complete", { items: Array.from({ length: MAX_BATCH_ITEMS }, () => good) });
    expect(full.status).toBe(200);
    expect(full.body.results).toHaveLength(MAX_BATCH_ITEMS);
    expect(full.body.results[0]).toMatchObject({ executionId: id, error: { code: "NOT_FOUND" } });
  });

  it("leaves the single-item routes where they were", async () => {
    const { tasks } = await leasedTasks(1);
    const task = tasks[0] as Leased;
    const single = await h.call("POST", `/v1/tasks/${task.executionId}/complete`, { workerId: "w1", fenceToken: task.fenceToken });
    expect(single.body).toEqual({ executionId: task.executionId, state: "COMPLETED", duplicate: false });
  });
});

describe("POST /v1/tasks/fail and /v1/tasks/heartbeat (batch)", () => {
  it("fails each item on its own: a retry, a last attempt, an unknown execution", async () => {
    const { tasks } = await leasedTasks(2);
    const [a, b] = tasks as [Leased, Leased];
    const unknown = crypto.randomUUID();
    const res = await h.call("POST", "/v1/tasks/fail", {
      items: [
        item(a, { error: { message: "flaky" } }),
        { executionId: unknown, workerId: "w1", fenceToken: 1 },
        item(b, { error: { message: "bad input" }, retryable: false }),
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      { executionId: a.executionId, state: "FAILED", duplicate: false },
      { executionId: unknown, error: expect.objectContaining({ code: "NOT_FOUND" }) },
      { executionId: b.executionId, state: "FAILED", duplicate: false },
    ]);
    const retried = await h.call("GET", `/v1/instances/${a.instanceId}`);
    const failed = await h.call("GET", `/v1/instances/${b.instanceId}`);
    expect(retried.body.state).toBe("RUNNING");
    expect(retried.body.tasks.map((t: { attempt: number; state: string }) => [t.attempt, t.state])).toEqual([
      [1, "FAILED"],
      [2, "PENDING"],
    ]);
    expect(failed.body.state).toBe("FAILED");
    const bad = await h.call("POST", "/v1/tasks/fail", { items: [item(a, { retryable: "no" })] });
    expect(fieldsOf(bad.body)).toEqual(["items.0.retryable"]);
  });

  it("extends each lease held with its fence; a foreign holder and an expired lease are refused in their slots", async () => {
    const { tasks } = await leasedTasks(3);
    const [a, b, c] = tasks as [Leased, Leased, Leased];
    await h.engine.expireLease(c.executionId);
    const res = await h.call("POST", "/v1/tasks/heartbeat", { items: [item(a), item(b, { workerId: "intruder" }), item(c)] });
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      { executionId: a.executionId, leaseExpiresAt: expect.any(String) },
      { executionId: b.executionId, error: expect.objectContaining({ code: "NOT_LEASED" }) },
      { executionId: c.executionId, error: expect.objectContaining({ code: "LEASE_EXPIRED" }) },
    ]);
    const empty = await h.call("POST", "/v1/tasks/heartbeat", { items: [] });
    expect([empty.status, fieldsOf(empty.body)]).toEqual([400, ["items"]]);
  });
});

describe("POST /v1/tasks/release", () => {
  it("hands back the leases held as named, without spending an attempt; the steps are handed out again at once", async () => {
    const { tasks } = await leasedTasks(3);
    const [a, b, c] = tasks as [Leased, Leased, Leased];
    await h.engine.expireLease(b.executionId); // run out but not reaped: still this worker's to hand back
    const res = await h.call("POST", "/v1/tasks/release", { items: [item(a), item(b), item(c, { workerId: "intruder" })] });
    expect([res.status, res.body]).toEqual([200, { released: 2 }]);
    const again = await h.call("POST", "/v1/tasks/acquire", { workerId: "w2", queues: [a.queue], max: 10 });
    expect(again.body.tasks.map((t: Leased) => t.instanceId).sort()).toEqual([a.instanceId, b.instanceId].sort());
    // The released attempt was free: the step's budget (2 attempts) counts from the next one.
    const view = await h.call("GET", `/v1/instances/${a.instanceId}`);
    expect(view.body.tasks.map((t: { state: string; maxAttempts: number }) => [t.state, t.maxAttempts])).toEqual([
      ["CANCELLED", 2],
      ["LEASED", 3],
    ]);
    // A released fence is dead: completing with it is refused, and releasing it again counts nothing.
    const late = await h.call("POST", "/v1/tasks/complete", { items: [item(a)] });
    expect(late.body.results[0].error.code).toBe("NOT_LEASED");
    expect((await h.call("POST", "/v1/tasks/release", { items: [item(a)] })).body).toEqual({ released: 0 });
    const bad = await h.call("POST", "/v1/tasks/release", { items: [{ executionId: a.executionId, workerId: "w1" }] });
    expect([bad.status, fieldsOf(bad.body)]).toEqual([400, ["items.0.fenceToken"]]);
  });
});

describe("POST /v1/workflows/{name}/runs/batch", () => {
  it("starts each run on its own: new, repeated (created: false), conflicting (RUN_ID_CONFLICT in its slot), generated runId", async () => {
    const { name, queue } = uniqueWorkflow("starts");
    await h.call("POST", "/v1/workflows", { name, steps: [{ name: "work", queue }] });
    const first = await h.call("POST", `/v1/workflows/${name}/runs/batch`, {
      runs: [
        { runId: "r1", input: { n: 1 } },
        { runId: "r2", input: { n: 2 } },
      ],
    });
    expect(first.status).toBe(200);
    expect(first.body.results).toEqual([
      { instanceId: expect.any(String), runId: "r1", state: "RUNNING", created: true },
      { instanceId: expect.any(String), runId: "r2", state: "RUNNING", created: true },
    ]);
    const [r1, r2] = first.body.results;

    const second = await h.call("POST", `/v1/workflows/${name}/runs/batch`, {
      runs: [{ runId: "r1", input: { n: 1 } }, { runId: "r2", input: { n: 99 } }, { runId: "r3" }, { input: { n: 4 } }],
    });
    expect(second.status).toBe(200);
    expect(second.body.results).toEqual([
      { instanceId: r1.instanceId, runId: "r1", state: "RUNNING", created: false },
      {
        runId: "r2",
        error: {
          code: "RUN_ID_CONFLICT",
          message: expect.any(String),
          details: expect.objectContaining({ runId: "r2", instanceId: r2.instanceId }),
        },
      },
      { instanceId: expect.any(String), runId: "r3", state: "RUNNING", created: true },
      { instanceId: expect.any(String), runId: expect.any(String), state: "RUNNING", created: true },
    ]);
    const generated = await h.call("GET", `/v1/instances/${second.body.results[3].instanceId}`);
    expect(generated.body).toMatchObject({ runId: second.body.results[3].runId, input: { n: 4 } });
    const list = await h.call("GET", `/v1/instances?workflow=${name}`);
    expect(list.body.items).toHaveLength(4);
  });

  it("starts a runId named twice in one batch once", async () => {
    const { name, queue } = uniqueWorkflow("twice");
    await h.call("POST", "/v1/workflows", { name, steps: [{ name: "work", queue }] });
    const res = await h.call("POST", `/v1/workflows/${name}/runs/batch`, {
      runs: [
        { runId: "same", input: { n: 1 } },
        { runId: "same", input: { n: 1 } },
      ],
    });
    expect(res.status).toBe(200);
    const [a, b] = res.body.results;
    expect(a.instanceId).toBe(b.instanceId);
    expect([a.created, b.created].sort()).toEqual([false, true]);
  });

  it("answers an unknown workflow with one 404 and validates runs like the single start, naming the index", async () => {
    const missing = await h.call("POST", `/v1/workflows/${uniqueWorkflow().name}/runs/batch`, { runs: [{ runId: "x" }] });
    expect([missing.status, missing.body.error.code]).toEqual([404, "NOT_FOUND"]);
    const { name, queue } = uniqueWorkflow("invalid");
    await h.call("POST", "/v1/workflows", { name, steps: [{ name: "work", queue }] });
    const cases: [unknown, string][] = [
      [{ runs: [] }, "runs"],
      [{ runs: Array.from({ length: MAX_BATCH_ITEMS + 1 }, () => ({})) }, "runs"],
      [{ runs: [{}, { input: [1, 2] }] }, "runs.1.input"],
      [{ runs: [{ runId: "" }] }, "runs.0.runId"],
      [{ namespace: "", runs: [{}] }, "namespace"],
    ];
    for (const [body, field] of cases) {
      const res = await h.call("POST", `/v1/workflows/${name}/runs/batch`, body);
      expect(res.status, field).toBe(400);
      expect(fieldsOf(res.body)).toContain(field);
    }
  });
});

describe("OpenAPI", () => {
  it("documents the batch routes", async () => {
    const doc = await h.call("GET", "/openapi.json");
    const paths = ["/v1/tasks/complete", "/v1/tasks/fail", "/v1/tasks/heartbeat", "/v1/tasks/release", "/v1/workflows/{name}/runs/batch"];
    for (const path of paths) {
      expect(doc.body.paths[path]?.post, path).toBeDefined();
      expect(Object.keys(doc.body.paths[path].post.responses)).toEqual(expect.arrayContaining(["200", "400"]));
    }
    expect(doc.body.paths["/v1/tasks/complete"].post.tags).toEqual(["tasks"]);
    expect(doc.body.paths["/v1/workflows/{name}/runs/batch"].post.tags).toEqual(["workflows"]);
    const schemas = doc.body.components.schemas;
    expect(schemas.CompleteBatchRequest.properties.items).toMatchObject({ minItems: 1, maxItems: MAX_BATCH_ITEMS });
    expect(schemas.TaskRefusal.properties.error).toBeDefined();
    expect(schemas.ReleaseBatchRequest.properties.items).toMatchObject({ minItems: 1, maxItems: MAX_BATCH_ITEMS });
    expect(schemas.AcquireRequest.properties.max.maximum).toBe(MAX_ACQUIRE);
  });
});
