import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "../http-harness.ts";
import { workOver } from "./http-worker.ts";

/*
 * The FastAPI orchestrator's routes, driven with the request of reference/fastapi-orchestrator.md
 * over a real port, and answered in its shapes (TaskResponse, OrchestratorResponse).
 */

// "1. /api/orchestrate (POST)", the example request as written there.
const REQUEST = `{
  "task_name": "Compute Financial Metrics",
  "task_description": "Compute revenue, rebates, and specialty metrics for the given scenarios",
  "payload": [
    {
      "revenue": {
        "scenario_id": "123e4567-e89b-12d3-a456-426614174000",
        "business_type_id": "123e4567-e89b-12d3-a456-426614174001"
      },
      "rebates": {
        "scenario_id": "123e4567-e89b-12d3-a456-426614174000",
        "business_type_id": "123e4567-e89b-12d3-a456-426614174001"
      },
      "specialty": {
        "scenario_id": "123e4567-e89b-12d3-a456-426614174000",
        "business_type_id": "123e4567-e89b-12d3-a456-426614174001"
      }
    }
  ]
}`;
const SERVICES = ["revenue", "rebates", "specialty"];
const QUEUES = SERVICES.map((s) => `orchestrate.${s}`);
const SCENARIO = "123e4567-e89b-12d3-a456-426614174000";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  // The services become the steps of the workflow the FastAPI routes run; they ran side by side.
  const steps = SERVICES.map((name) => ({ name, retry: { maxAttempts: 1 } }));
  const registered = await h.call("POST", "/v1/workflows", { name: "orchestrate", type: "parallel", steps });
  expect(registered.status).toBe(201);
});
afterAll(() => h.close());

/** A service answers one result per payload item, computed from its part of the item. */
const metrics = (t: { taskId: string; input: unknown }) =>
  (t.input as { payload: Record<string, { scenario_id: string }>[] }).payload.map((item) => ({
    service: t.taskId,
    scenario: item[t.taskId]?.scenario_id,
    value: 42,
  }));

describe("FastAPI orchestrator routes", () => {
  it("accepts a request, and shows it as a task with one service request per service until it completes", async () => {
    const accepted = await h.call("POST", "/api/orchestrate", REQUEST);
    expect(accepted.status).toBe(200);
    expect(accepted.body).toEqual({
      task_id: expect.any(String),
      status: "accepted",
      message: "Request accepted and sent to processing queue",
    });
    const taskId = accepted.body.task_id as string;

    const pending = await h.call("GET", `/api/tasks/${taskId}`);
    expect(pending.status).toBe(200);
    expect(pending.body).toMatchObject({
      id: taskId,
      task_id: taskId,
      task_name: "Compute Financial Metrics",
      task_description: "Compute revenue, rebates, and specialty metrics for the given scenarios",
      status: "IN_PROGRESS",
      payload: JSON.parse(REQUEST).payload,
      error_message: null,
    });
    expect(pending.body.service_requests.map((r: { service_name: string; status: string }) => `${r.service_name}:${r.status}`)).toEqual([
      "revenue:PENDING",
      "rebates:PENDING",
      "specialty:PENDING",
    ]);
    expect(pending.body.service_requests[0]).toMatchObject({
      task_id: taskId,
      scenario_id: SCENARIO,
      business_type_id: "123e4567-e89b-12d3-a456-426614174001",
      request_payload: JSON.parse(REQUEST).payload[0].revenue,
      response_payload: null,
    });

    expect((await workOver(h, QUEUES, metrics)).sort()).toEqual(["DO rebates", "DO revenue", "DO specialty"]);
    const done = await h.call("GET", `/api/tasks/${taskId}`);
    expect(done.body.status).toBe("COMPLETED");
    expect(done.body.service_requests.map((r: { status: string }) => r.status)).toEqual(["COMPLETED", "COMPLETED", "COMPLETED"]);
    expect(done.body.service_requests[1].response_payload).toEqual({ service: "rebates", scenario: SCENARIO, value: 42 });

    const list = await h.call("GET", "/api/tasks");
    expect(list.status).toBe(200);
    expect(list.body.map((t: { task_id: string }) => t.task_id)).toContain(taskId);
  });

  it("runs a direct request to its end and answers each service's result", async () => {
    let answered = false;
    const worker = workOver(h, QUEUES, metrics, { until: () => answered, waitMs: 200 });
    const direct = await h.call("POST", "/api/orchestrate/direct", REQUEST);
    answered = true;
    await worker;
    expect(direct.status).toBe(200);
    expect(direct.body).toEqual({
      task_id: expect.any(String),
      status: "COMPLETED",
      results: Object.fromEntries(SERVICES.map((s) => [s, [{ service: s, scenario: SCENARIO, value: 42 }]])),
      errors: [],
    });
  });

  it("answers a direct request whose service fails as FAILED, naming the service", async () => {
    let answered = false;
    const failRebates = (t: { taskId: string; input: unknown }) => {
      if (t.taskId === "rebates") throw new Error("rebates service answered 503");
      return metrics(t);
    };
    const worker = workOver(h, QUEUES, failRebates, { until: () => answered, waitMs: 200 });
    const direct = await h.call("POST", "/api/orchestrate/direct", REQUEST);
    answered = true;
    await worker;
    expect(direct.status).toBe(200);
    expect(direct.body.status).toBe("FAILED");
    expect(direct.body.errors).toEqual([{ service_name: "rebates", error_message: "rebates service answered 503" }]);
    const task = await h.call("GET", `/api/tasks/${direct.body.task_id}`);
    expect(task.body.status).toBe("FAILED");
    expect(task.body.error_message).toBe("STEP_FAILED (rebates): rebates service answered 503");
    const rebates = task.body.service_requests.find((r: { service_name: string }) => r.service_name === "rebates");
    expect(rebates).toMatchObject({ status: "FAILED", error_message: "rebates service answered 503", response_payload: null });
  });

  it("documents every compatibility route in the OpenAPI document under its own tag", async () => {
    const doc = (await h.call("GET", "/openapi.json")).body as { paths: Record<string, Record<string, { tags?: string[] }>> };
    const tagged = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => op.tags?.includes("compatibility"))
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(tagged.sort()).toEqual([
      "GET /api/orchestration/health",
      "GET /api/tasks",
      "GET /api/tasks/{task_id}",
      "GET /health",
      "POST /api/orchestrate",
      "POST /api/orchestrate/direct",
      "POST /api/orchestration/execute/{orchName}",
      "POST /api/orchestration/register",
      "POST /api/orchestration/undo/{flowId}",
      "POST /api/orchestrations/execute",
    ]);
  });

  it("answers health with the processing mode", async () => {
    const health = await h.call("GET", "/health");
    expect(health).toMatchObject({
      status: 200,
      body: { status: "healthy", mode: "http", database: expect.stringMatching(/^(postgres|pglite)$/), version: expect.any(String) },
    });
  });

  it("pages the task list, newest first, with X-Next-Cursor", async () => {
    const first = await h.call("GET", "/api/tasks?limit=1");
    expect(first.body).toHaveLength(1);
    const cursor = first.headers.get("x-next-cursor");
    expect(cursor).toEqual(expect.any(String));
    const second = await h.call("GET", `/api/tasks?limit=1&cursor=${cursor}`);
    expect(second.body).toHaveLength(1);
    expect(second.body[0].task_id).not.toBe(first.body[0].task_id);
    expect(Date.parse(second.body[0].created_at)).toBeLessThanOrEqual(Date.parse(first.body[0].created_at));
  });

  it("refuses bad requests with a 4xx and a detail that names the fault", async () => {
    const unknownField = await h.call("POST", "/api/orchestrate", { ...JSON.parse(REQUEST), priority: "high" });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body).toMatchObject({ detail: expect.stringContaining("priority"), error: { code: "VALIDATION_ERROR" } });
    const noPayload = await h.call("POST", "/api/orchestrate", { task_name: "x" });
    expect(noPayload).toMatchObject({ status: 400, body: { error: { details: { fields: [{ field: "payload" }] } } } });
    const missing = await h.call("GET", `/api/tasks/${crypto.randomUUID()}`);
    expect(missing).toMatchObject({ status: 404, body: { detail: expect.stringContaining("not found"), error: { code: "NOT_FOUND" } } });
    const badId = await h.call("GET", "/api/tasks/42");
    expect(badId).toMatchObject({ status: 400, body: { error: { details: { fields: [{ field: "task_id" }] } } } });
    const badLimit = await h.call("GET", "/api/tasks?limit=100000");
    expect(badLimit).toMatchObject({ status: 400, body: { error: { details: { fields: [{ field: "limit" }] } } } });
  });
});
