import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseDigest, settledDigest } from "./fuzz/database-digest.ts";
import { acquireOne, type Harness, startHarness, uniqueWorkflow } from "./http-harness.ts";

/*
 * No silent loss of input (issue 11): every request body refuses a field it does not take, with a
 * 400 that names the field (message and details.fields) and, for the names the replaced
 * orchestrators' callers send, says what to send instead. A refused request writes nothing.
 */

let h: Harness;
/** A workflow with a leased task and a failed run, so every route has something real to address. */
let world: {
  name: string;
  instanceId: string;
  failedId: string;
  task: { executionId: string; fenceToken: number };
};

beforeAll(async () => {
  h = await startHarness();
  const { name, queue } = uniqueWorkflow("strict");
  await h.call("POST", "/v1/workflows", {
    name,
    steps: [{ name: "work", queue, undo: true, retry: { maxAttempts: 1 } }],
  });
  const failed = await h.call("POST", `/v1/workflows/${name}/runs`, { runId: "to-fail", input: { n: 0 } });
  const failing = await acquireOne(h, queue);
  await h.call("POST", `/v1/tasks/${failing.executionId}/fail`, { workerId: "w1", fenceToken: failing.fenceToken, retryable: false });
  const started = await h.call("POST", `/v1/workflows/${name}/runs`, { runId: "running", input: { n: 1 } });
  const task = await acquireOne(h, queue);
  world = { name, instanceId: started.body.instanceId, failedId: failed.body.instanceId, task };
});
afterAll(() => h?.close());

interface Case {
  /** What the caller did wrong. */
  what: string;
  path: () => string;
  body: () => unknown;
  /** The field the answer must name (a path for nested fields). */
  field: string;
  /** What the message must say to do instead. */
  hint?: string;
  code?: string;
}

const lease = () => ({ workerId: "w1", fenceToken: world.task.fenceToken });
const item = () => ({ executionId: world.task.executionId, ...lease() });

const CASES: Case[] = [
  {
    what: "a start in the DO/UNDO examples' shape",
    path: () => `/v1/workflows/${world.name}/runs`,
    body: () => ({ orchestrationName: world.name, payload: { tenantName: "acme-corp" } }),
    field: "payload",
    hint: "use `input` for the payload (or POST /api/orchestration/execute/{name} / the compatibility routes",
  },
  {
    what: "a start naming its workflow in the body",
    path: () => `/v1/workflows/${world.name}/runs`,
    body: () => ({ orchestrationName: world.name, input: {} }),
    field: "orchestrationName",
    hint: "body unchanged to POST /api/orchestrations/execute",
  },
  {
    what: "a start whose body is the payload itself (the Spring execute body)",
    path: () => `/v1/workflows/${world.name}/runs`,
    body: () => ({ tenantId: "test-tenant", realmName: "test-realm" }),
    field: "realmName",
    hint: "this object takes `runId`, `input`, `namespace`, `waitMs`",
  },
  {
    what: "a start with the FastAPI orchestrator's request",
    path: () => `/v1/workflows/${world.name}/runs`,
    body: () => ({ task_name: "Compute", payload: [] }),
    field: "task_name",
    hint: "POST /api/orchestrate",
  },
  {
    what: "a start with a __proto__ key",
    path: () => `/v1/workflows/${world.name}/runs`,
    body: () => '{"input": {}, "__proto__": {"polluted": true}}',
    field: "__proto__",
  },
  {
    what: "a batch start whose run carries a payload",
    path: () => `/v1/workflows/${world.name}/runs/batch`,
    body: () => ({
      runs: [
        { runId: "b1", input: {} },
        { runId: "b2", payload: { n: 2 } },
      ],
    }),
    field: "runs.1.payload",
    hint: "use `input`",
  },
  {
    what: "a batch start with its runs under items",
    path: () => `/v1/workflows/${world.name}/runs/batch`,
    body: () => ({ runs: [{ runId: "b3" }], items: [{ runId: "b4" }] }),
    field: "items",
    hint: "use `runs`",
  },
  {
    what: "a definition with a misnamed retry",
    path: () => "/v1/workflows",
    body: () => ({ name: `${world.name}-v2`, steps: [{ name: "work", maxRetries: 5 }] }),
    field: "steps.0.maxRetries",
    hint: "use `retry: { maxAttempts }`",
    code: "INVALID_DEFINITION",
  },
  {
    what: "a worker registration with an unknown field",
    path: () => "/v1/workflows",
    body: () => ({ orchName: world.name, as: "worker", service: "svc", steps: [{ name: "work" }], topic: "t" }),
    field: "topic",
    code: "INVALID_DEFINITION",
  },
  {
    what: "an acquire with one queue",
    path: () => "/v1/tasks/acquire",
    body: () => ({ workerId: "w2", queue: "q.none", queues: ["q.none"] }),
    field: "queue",
    hint: "use `queues`",
  },
  {
    what: "a heartbeat choosing its lease",
    path: () => `/v1/tasks/${world.task.executionId}/heartbeat`,
    body: () => ({ ...lease(), leaseMs: 60_000 }),
    field: "leaseMs",
    hint: "extends the lease by the step's `leaseMs`",
  },
  {
    what: "a completion with its output as result",
    path: () => `/v1/tasks/${world.task.executionId}/complete`,
    body: () => ({ ...lease(), result: { realmId: "r1" } }),
    field: "result",
    hint: "use `output`",
  },
  {
    what: "a completion in the Kafka reply's shape",
    path: () => `/v1/tasks/${world.task.executionId}/complete`,
    body: () => ({ ...lease(), headers: { status: true }, payload: {} }),
    field: "headers",
    hint: "Kafka reply's shape",
  },
  {
    what: "a failure with errorMessage",
    path: () => `/v1/tasks/${world.task.executionId}/fail`,
    body: () => ({ ...lease(), errorMessage: "realm exists" }),
    field: "errorMessage",
    hint: "use `error`",
  },
  {
    what: "a batch completion whose item carries a payload",
    path: () => "/v1/tasks/complete",
    body: () => ({ items: [{ ...item(), payload: { ok: true } }] }),
    field: "items.0.payload",
    hint: "use `output`",
  },
  {
    what: "a batch failure under tasks",
    path: () => "/v1/tasks/fail",
    body: () => ({ items: [item()], tasks: [] }),
    field: "tasks",
    hint: "use `items`",
  },
  {
    what: "a batch heartbeat with a misnamed fence",
    path: () => "/v1/tasks/heartbeat",
    body: () => ({ items: [{ ...item(), fence: 3 }] }),
    field: "items.0.fence",
    hint: "use `fenceToken`",
  },
  {
    what: "a release with an unknown field",
    path: () => "/v1/tasks/release",
    body: () => ({ items: [{ ...item(), reason: "stopping" }] }),
    field: "items.0.reason",
  },
  {
    what: "a compensation naming its step as taskId",
    path: () => `/v1/instances/${world.failedId}/compensate`,
    body: () => ({ taskId: "work" }),
    field: "taskId",
    hint: "use `fromTaskId`",
  },
  {
    what: "a retry with its new input as payload",
    path: () => `/v1/instances/${world.failedId}/tasks/work/retry`,
    body: () => ({ payload: { n: 2 } }),
    field: "payload",
    hint: "use `input`",
  },
  {
    what: "a cancel with a reason (cancel takes no body)",
    path: () => `/v1/instances/${world.instanceId}/cancel`,
    body: () => ({ reason: "customer asked" }),
    field: "reason",
    hint: "takes no body",
  },
  {
    what: "a pause with a body that is not an object",
    path: () => `/v1/instances/${world.instanceId}/pause`,
    body: () => "[1]",
    field: "(body)",
    hint: "takes no body; got an array",
  },
  {
    what: "a key with one namespace",
    path: () => "/v1/keys",
    body: () => ({ name: "k", role: "starter", namespace: "default" }),
    field: "namespace",
    hint: "use `namespaces`",
  },
];

describe("every request body refuses an unknown field by name, and writes nothing", () => {
  for (const c of CASES) {
    it(c.what, async () => {
      const before = await settledDigest(h.engine.database);
      const res = await h.call("POST", c.path(), c.body());
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(c.code ?? "VALIDATION_ERROR");
      const name = c.field.split(".").at(-1) as string;
      if (name !== "(body)") expect(res.body.error.message).toContain(`\`${name}\``);
      const named = (res.body.error.details.fields as { field: string; message: string }[]).find((f) => f.field === c.field);
      expect(named, JSON.stringify(res.body)).toBeDefined();
      if (c.hint) {
        expect(res.body.error.message).toContain(c.hint);
        expect(named?.message).toContain(c.hint);
      }
      expect(await databaseDigest(h.engine.database)).toBe(before);
    });
  }
});

describe("bodies that are not JSON objects", () => {
  for (const body of ["[1, 2]", '"payload"', "42", "null", "true"]) {
    it(`a start whose body is ${body} says it needs an object with its fields`, async () => {
      const before = await settledDigest(h.engine.database);
      const res = await h.call("POST", `/v1/workflows/${world.name}/runs`, body);
      expect(res.status).toBe(400);
      expect(res.body.error.details.fields).toEqual([
        {
          field: "(body)",
          message: expect.stringMatching(/^expected a JSON object \(with `runId`, `input`, `namespace`, `waitMs`\), got /),
        },
      ]);
      expect(await databaseDigest(h.engine.database)).toBe(before);
    });
  }

  it("several unknown fields are each named, with their own hint", async () => {
    const res = await h.call("POST", `/v1/workflows/${world.name}/runs`, { orchName: world.name, payload: {}, colour: "red" });
    expect(res.status).toBe(400);
    expect(res.body.error.details.fields).toEqual([
      { field: "orchName", message: expect.stringContaining("unknown field `orchName`: the workflow is named in the path") },
      { field: "payload", message: expect.stringContaining("unknown field `payload`: use `input` for the payload") },
      { field: "colour", message: expect.stringContaining("unknown field `colour` (this object takes") },
    ]);
  });

  it("the bodies that are right are still accepted: an empty cancel body, {}, and a start with every field", async () => {
    const started = await h.call("POST", `/v1/workflows/${world.name}/runs`, {
      runId: "all-fields",
      input: { n: 3 },
      namespace: "default",
    });
    expect(started.status).toBe(201);
    expect((await h.call("POST", `/v1/instances/${started.body.instanceId}/pause`, {})).status).toBe(200);
    expect((await h.call("POST", `/v1/instances/${started.body.instanceId}/resume`)).status).toBe(200);
    expect((await h.call("POST", `/v1/instances/${started.body.instanceId}/cancel`, "")).body).toEqual({ state: "CANCELLED" });
  });
});
