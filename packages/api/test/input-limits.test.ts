import { isBatonError, LIMITS } from "@baton/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireOne, type Harness, startHarness, startOneRun, uniqueWorkflow } from "./http-harness.ts";

// Every bound of LIMITS, met by a hostile client: each answer is a 400 that names the bound.

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

/** `{"a":{"a":...}}` nested `depth` deep, as JSON text (built without recursion). */
const nestedJson = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

function expect400(res: { status: number; body: { error?: { message: string } } }, naming: RegExp) {
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(400);
  expect(res.body.error?.message).toMatch(naming);
}

describe("definition limits", () => {
  it("refuses an undo lease over a day (3e9 ms would overflow the int4 column)", async () => {
    const { name } = uniqueWorkflow();
    const res = await h.call("POST", "/v1/workflows", { name, steps: [{ name: "a", undo: { leaseMs: 3e9 } }] });
    expect400(res, /steps\.0\.undo\.leaseMs: .*86400000/);
  });

  it(`refuses more than ${LIMITS.maxDependsOn} dependsOn entries and more than ${LIMITS.maxSteps} steps`, async () => {
    const { name } = uniqueWorkflow();
    const roots = Array.from({ length: LIMITS.maxDependsOn + 1 }, (_, i) => ({ name: `r${i}` }));
    const deps = await h.call("POST", "/v1/workflows", {
      name,
      type: "dag",
      steps: [...roots, { name: "join", dependsOn: roots.map((r) => r.name) }],
    });
    expect400(deps, new RegExp(`dependsOn: .*${LIMITS.maxDependsOn}`));
    const steps = Array.from({ length: LIMITS.maxSteps + 1 }, (_, i) => ({ name: `s${i}` }));
    expect400(await h.call("POST", "/v1/workflows", { name, type: "parallel", steps }), new RegExp(`steps: .*${LIMITS.maxSteps}`));
  });

  it("refuses an `as: worker` registration with too many steps or an overlong X-Service-Name", async () => {
    const { name } = uniqueWorkflow();
    const steps = Array.from({ length: 8200 }, (_, i) => ({ name: `s${i}` }));
    expect400(
      await h.call("POST", "/v1/workflows", { orchName: name, as: "worker", service: "svc", steps }),
      new RegExp(`steps: .*${LIMITS.maxSteps}`),
    );
    const long = await h.call(
      "POST",
      "/v1/workflows",
      { orchName: name, as: "worker", steps: [{ name: "a" }] },
      {
        "x-service-name": "s".repeat(LIMITS.maxIdLength + 1),
      },
    );
    expect400(long, /X-Service-Name/);
  });
});

describe("JSON values", () => {
  it("answers 10,000-deep input, output, error and retry input with a 400 naming the depth limit, not a 500", async () => {
    const deep = nestedJson(10_000);
    const { queue: own } = uniqueWorkflow();
    const { name, instanceId } = await startOneRun(h, { steps: [{ name: "work", queue: own, retry: { maxAttempts: 1 } }] });
    const naming = /maxJsonDepth/;
    expect400(await h.call("POST", `/v1/workflows/${name}/runs`, `{"input":${deep}}`), naming);
    expect400(await h.call("POST", `/v1/workflows/${name}/runs/batch`, `{"runs":[{"input":${deep}}]}`), naming);
    const t = await acquireOne(h, own);
    const lease = `"workerId":"w1","fenceToken":${t.fenceToken}`;
    expect400(await h.call("POST", `/v1/tasks/${t.executionId}/complete`, `{${lease},"output":${deep}}`), naming);
    expect400(await h.call("POST", `/v1/tasks/${t.executionId}/fail`, `{${lease},"error":${deep}}`), naming);
    // The instance fails for real, so that a retry (with deep input) is allowed.
    expect((await h.call("POST", `/v1/tasks/${t.executionId}/fail`, { workerId: "w1", fenceToken: t.fenceToken })).status).toBe(200);
    expect400(await h.call("POST", `/v1/instances/${instanceId}/tasks/work/retry`, `{"input":${deep}}`), naming);
  });

  it("refuses an output over the size limit, over HTTP and through the engine (Kafka, in-process)", async () => {
    const { queue } = await startOneRun(h);
    const t = await acquireOne(h, queue);
    const big = "x".repeat(LIMITS.maxValueBytes);
    const res = await h.call("POST", `/v1/tasks/${t.executionId}/complete`, { workerId: "w1", fenceToken: t.fenceToken, output: { big } });
    expect400(res, /maxValueBytes/);
    const direct = await h.engine.tasks
      .complete({ executionId: t.executionId, workerId: "w1", fenceToken: t.fenceToken, output: { big } })
      .catch((e: unknown) => e);
    expect(isBatonError(direct, "VALIDATION_ERROR"), String(direct)).toBe(true);
    const [inBatch, fine] = await h.engine.tasks.completeMany([
      { executionId: t.executionId, workerId: "w1", fenceToken: t.fenceToken, output: { big } },
      { executionId: t.executionId, workerId: "w1", fenceToken: t.fenceToken, output: { ok: true } },
    ]);
    expect(isBatonError(inBatch, "VALIDATION_ERROR")).toBe(true);
    expect(fine).toMatchObject({ state: "COMPLETED", duplicate: false });
  });

  it("refuses a start whose input, copied into every step, would exceed the fan-out limit", async () => {
    const { name } = uniqueWorkflow();
    const steps = Array.from({ length: 500 }, (_, i) => ({ name: `s${i}`, queue: `${name}.s${i}` }));
    expect((await h.call("POST", "/v1/workflows", { name, type: "parallel", steps })).status).toBe(201);
    const input = { blob: "x".repeat(100 * 1024) };
    expect400(await h.call("POST", `/v1/workflows/${name}/runs`, { input }), /500 steps .*maxFanOutBytes/);
    const batch = await h.call("POST", `/v1/workflows/${name}/runs/batch`, { runs: [{ input }, { input: { small: 1 } }] });
    expect(batch.status).toBe(200);
    expect(batch.body.results[0].error.code).toBe("VALIDATION_ERROR");
    expect(batch.body.results[1]).toMatchObject({ created: true });
    expect((await h.call("GET", `/v1/instances?workflow=${name}`)).body.items).toHaveLength(1);
  });
});
