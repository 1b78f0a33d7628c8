import { LIMITS } from "@baton/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, uniqueWorkflow } from "./http-harness.ts";

// Fan-out steps (`forEach`) over the HTTP API: definitions in JSON and YAML with errors naming the
// field, the OpenAPI document, elements as acquired tasks and attempts, a list the step cannot use,
// and a manual retry of one element.

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const fieldsOf = (body: { error: { details: { fields: { field: string }[] } } }) => body.error.details.fields.map((f) => f.field);

describe("fan-out over HTTP", () => {
  it("registers forEach and maxConcurrency from YAML, and shows them in the stored definition", async () => {
    const { name } = uniqueWorkflow("split");
    const yaml = `name: ${name}\nsteps:\n  - name: reserve\n    forEach: order.items\n    maxConcurrency: 4\n    undo: true\n  - name: ship\n`;
    const res = await h.call("POST", "/v1/workflows", yaml, { "content-type": "application/yaml" });
    expect(res.status).toBe(201);
    const shown = await h.call("GET", `/v1/workflows/${name}`);
    expect(shown.body.steps[0]).toMatchObject({ name: "reserve", forEach: "order.items", maxConcurrency: 4 });
    // The default, when only forEach is given.
    const { name: other } = uniqueWorkflow("split");
    await h.call("POST", "/v1/workflows", { name: other, steps: [{ name: "reserve", forEach: "items" }] });
    expect((await h.call("GET", `/v1/workflows/${other}`)).body.steps[0]).toMatchObject({ forEach: "items", maxConcurrency: 10 });
  });

  it("refuses forEach and maxConcurrency it cannot use with 400 naming the field", async () => {
    const refused = async (body: string, type = "application/yaml") => {
      const res = await h.call("POST", "/v1/workflows", body, { "content-type": type });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("INVALID_DEFINITION");
      return fieldsOf(res.body);
    };
    const { name } = uniqueWorkflow("bad");
    expect(await refused(`name: ${name}\nsteps:\n  - name: a\n    forEach: items\n    maxConcurrency: 0\n`)).toEqual([
      "steps.0.maxConcurrency",
    ]);
    expect(
      await refused(`name: ${name}\nsteps:\n  - name: a\n    forEach: items\n    maxConcurrency: ${LIMITS.maxForEachConcurrency + 1}\n`),
    ).toEqual(["steps.0.maxConcurrency"]);
    expect(await refused(`name: ${name}\nsteps:\n  - name: a\n    maxConcurrency: 3\n`)).toEqual(["steps.0.maxConcurrency"]);
    expect(await refused(JSON.stringify({ name, steps: [{ name: "a", forEach: "items..sku" }] }), "application/json")).toEqual([
      "steps.0.forEach",
    ]);
    expect(await refused(JSON.stringify({ name, steps: [{ name: "a", forEach: ["items"] }] }), "application/json")).toEqual([
      "steps.0.forEach",
    ]);
    const hinted = await h.call("POST", "/v1/workflows", { name, steps: [{ name: "a", forEach: "items", parallelism: 3 }] });
    expect(hinted.body.error.message).toContain("maxConcurrency");
  });

  it("documents forEach and maxConcurrency, and the step and element of tasks, in the OpenAPI document", async () => {
    const schemas = (await h.call("GET", "/openapi.json")).body.components.schemas;
    const step = schemas.WorkflowDefinition.properties.steps.items.properties;
    expect(step.forEach).toMatchObject({ type: "string" });
    expect(step.maxConcurrency).toMatchObject({ minimum: 1, maximum: LIMITS.maxForEachConcurrency });
    for (const view of [schemas.AcquiredTask, schemas.Task]) {
      expect(view.properties.step).toMatchObject({ type: "string" });
      expect(view.required).toEqual(expect.arrayContaining(["step", "elementIndex"]));
    }
  });

  it("hands out elements with their step, index and own input, at most maxConcurrency at a time", async () => {
    const { name, queue } = uniqueWorkflow("split");
    const steps = [{ name: "reserve", queue, forEach: "items", maxConcurrency: 2, retry: { maxAttempts: 1 } }];
    expect((await h.call("POST", "/v1/workflows", { name, steps })).status).toBe(201);
    const started = await h.call("POST", `/v1/workflows/${name}/runs`, { input: { orderId: "o-1", items: ["a", "b", "c"] } });
    const acquire = () => h.call("POST", "/v1/tasks/acquire", { workerId: "w", queues: [queue], max: 10 });
    const first = (await acquire()).body.tasks;
    expect(first).toHaveLength(2);
    const byIndex = [...first].sort((a: { elementIndex: number }, b: { elementIndex: number }) => a.elementIndex - b.elementIndex);
    expect(byIndex.map((t: { taskId: string; step: string; elementIndex: number }) => [t.taskId, t.step, t.elementIndex])).toEqual([
      ["reserve#0", "reserve", 0],
      ["reserve#1", "reserve", 1],
    ]);
    expect(byIndex[1].input).toEqual({ orderId: "o-1", element: "b", elementIndex: 1 });
    const report = (t: { executionId: string; fenceToken: number }, outcome: "complete" | "fail", body: object) =>
      h.call("POST", `/v1/tasks/${t.executionId}/${outcome}`, { workerId: "w", fenceToken: t.fenceToken, ...body });
    expect((await report(byIndex[0], "complete", { output: { ok: "a" } })).status).toBe(200);
    const [third] = (await acquire()).body.tasks;
    expect(third).toMatchObject({ taskId: "reserve#2", step: "reserve", elementIndex: 2 });
    expect((await report(third, "complete", { output: { ok: "c" } })).status).toBe(200);
    expect((await report(byIndex[1], "fail", { error: { message: "b is gone" } })).status).toBe(200);

    const id = started.body.instanceId;
    const failed = (await h.call("GET", `/v1/instances/${id}`)).body;
    expect(failed.state).toBe("FAILED");
    expect(failed.error).toMatchObject({ reason: "STEP_FAILED", step: "reserve", elementIndex: 1 });
    expect(failed.tasks.find((t: { taskId: string }) => t.taskId === "reserve#1")).toMatchObject({ step: "reserve", elementIndex: 1 });

    // A manual retry of the element, by its task id in the path.
    const retried = await h.call("POST", `/v1/instances/${id}/tasks/${encodeURIComponent("reserve#1")}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ taskId: "reserve#1", attempt: 2 });
    const [again] = (await acquire()).body.tasks;
    expect((await report(again, "complete", { output: { ok: "b" } })).status).toBe(200);
    const done = (await h.call("GET", `/v1/instances/${id}`)).body;
    expect(done.state).toBe("COMPLETED");
    expect(done.output).toEqual({ reserve: [{ ok: "a" }, { ok: "b" }, { ok: "c" }] });
    // The console draws the fan-out as one step with its elements counted by state.
    const page = await h.call("GET", `/ui/instances/${id}`, undefined, { accept: "text/html" });
    expect(page.status).toBe(200);
    expect(page.body).toContain("3 started: 3 COMPLETED");
  });

  it("fails the step at once, saying why, when its forEach path holds no list", async () => {
    const { name, queue } = uniqueWorkflow("split");
    await h.call("POST", "/v1/workflows", { name, steps: [{ name: "reserve", queue, forEach: "order.items" }] });
    const started = await h.call("POST", `/v1/workflows/${name}/runs`, { input: { order: { items: 3 } } });
    expect(started.body.state).toBe("FAILED");
    const view = (await h.call("GET", `/v1/instances/${started.body.instanceId}`)).body;
    expect(view.error).toMatchObject({
      reason: "STEP_FAILED",
      step: "reserve",
      cause: { forEach: "order.items", message: "forEach: 'order.items' is a number, not a list" },
    });
    expect(view.tasks).toMatchObject([{ taskId: "reserve", step: "reserve", elementIndex: null, state: "FAILED" }]);
  });
});
