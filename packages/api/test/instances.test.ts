import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireOne, type Harness, startHarness, startOneRun, uniqueWorkflow } from "./http-harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

describe("GET /v1/instances", () => {
  it("lists instances newest first, filtered by workflow and state, one page at a time", async () => {
    const { name, queue } = uniqueWorkflow();
    await h.call("POST", "/v1/workflows", { name, namespace: "paging", steps: [{ name: "a", queue }] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await h.call("POST", `/v1/workflows/${name}/runs`, { runId: `r${i}`, namespace: "paging" });
      ids.push(res.body.instanceId);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/v1/instances?workflow=${name}&namespace=paging&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await h.call("GET", query);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((i: { instanceId: string }) => i.instanceId));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    const paused = ids[0] as string;
    await h.call("POST", `/v1/instances/${paused}/pause`);
    const onlyPaused = await h.call("GET", `/v1/instances?workflow=${name}&state=PAUSED`);
    expect(onlyPaused.body.items.map((i: { instanceId: string }) => i.instanceId)).toEqual([paused]);
  });

  it("validates the query, naming the field", async () => {
    const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    for (const [query, field] of [
      ["state=SLEEPING", "state"],
      ["limit=0", "limit"],
      ["limit=many", "limit"],
      ["cursor=garbage", "cursor"],
      [`cursor=${forged(["yesterday", "not-an-id"])}`, "cursor"],
      [`cursor=${forged({ createdAt: "2025-01-01T00:00:00.000001Z" })}`, "cursor"],
    ]) {
      const res = await h.call("GET", `/v1/instances?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error).toMatchObject({ code: "VALIDATION_ERROR", details: { in: "query", fields: [{ field }] } });
    }
  });
});

describe("GET /v1/instances/:id", () => {
  it("shows the instance with its tasks and its numbered events", async () => {
    const { name, instanceId } = await startOneRun(h, { input: { tenant: "acme" } });
    const res = await h.call("GET", `/v1/instances/${instanceId}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ instanceId, workflowName: name, workflowVersion: 1, state: "RUNNING", input: { tenant: "acme" } });
    expect(res.body.tasks).toEqual([
      expect.objectContaining({ taskId: "work", kind: "DO", attempt: 1, state: "PENDING", fenceToken: null }),
    ]);
    expect(res.body.events[0]).toMatchObject({ sequenceNumber: 1, eventType: "WORKFLOW_STARTED" });
    expect(res.body.events.map((e: { sequenceNumber: number }) => e.sequenceNumber)).toEqual(
      res.body.events.map((_: unknown, i: number) => i + 1),
    );
  });

  it("answers 404 for an unknown id and 400 for an id that is not a UUID", async () => {
    const unknown = await h.call("GET", `/v1/instances/${crypto.randomUUID()}`);
    expect([unknown.status, unknown.body.error.code]).toEqual([404, "NOT_FOUND"]);
    const bad = await h.call("GET", "/v1/instances/42");
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toMatchObject({ in: "param", fields: [{ field: "id" }] });
  });
});

describe("operator actions", () => {
  it("pauses (nothing is handed out), resumes, and cancels; a wrong state is 409 INVALID_STATE", async () => {
    const { queue, instanceId } = await startOneRun(h);
    const paused = await h.call("POST", `/v1/instances/${instanceId}/pause`);
    expect(paused.body).toEqual({ state: "PAUSED" });
    const none = await h.call("POST", "/v1/tasks/acquire", { workerId: "w1", queues: [queue] });
    expect(none.body.tasks).toEqual([]);
    const twice = await h.call("POST", `/v1/instances/${instanceId}/pause`);
    expect([twice.status, twice.body.error.code]).toEqual([409, "INVALID_STATE"]);

    expect((await h.call("POST", `/v1/instances/${instanceId}/resume`)).body).toEqual({ state: "RUNNING" });
    const task = await acquireOne(h, queue);
    expect((await h.call("POST", `/v1/instances/${instanceId}/cancel`)).body).toEqual({ state: "CANCELLED" });
    const late = await h.call("POST", `/v1/tasks/${task.executionId}/complete`, { workerId: "w1", fenceToken: task.fenceToken });
    expect(late.status).toBe(409);
    const resumeCancelled = await h.call("POST", `/v1/instances/${instanceId}/resume`);
    expect([resumeCancelled.status, resumeCancelled.body.error.code]).toEqual([409, "INVALID_STATE"]);
    const unknown = await h.call("POST", `/v1/instances/${crypto.randomUUID()}/cancel`);
    expect(unknown.status).toBe(404);
  });

  it("compensates by hand: UNDO tasks for completed steps, optionally from one step", async () => {
    const { name } = uniqueWorkflow();
    const steps = [
      { name: "a", queue: `${name}.a`, undo: true },
      { name: "b", queue: `${name}.b`, undo: true },
      { name: "c", queue: `${name}.c`, undo: true },
    ];
    const { instanceId } = await startOneRun(h, { steps });
    for (const step of ["a", "b"]) {
      const task = await acquireOne(h, `${name}.${step}`);
      await h.call("POST", `/v1/tasks/${task.executionId}/complete`, { workerId: "w1", fenceToken: task.fenceToken });
    }
    const unknownStep = await h.call("POST", `/v1/instances/${instanceId}/compensate`, { fromTaskId: "zzz" });
    expect(unknownStep.status).toBe(404);
    const res = await h.call("POST", `/v1/instances/${instanceId}/compensate`, { fromTaskId: "a" });
    expect(res.body).toEqual({ state: "COMPENSATING" });
    const view = await h.call("GET", `/v1/instances/${instanceId}`);
    const undos = view.body.tasks.filter((t: { kind: string }) => t.kind === "UNDO").map((t: { taskId: string }) => t.taskId);
    expect(undos).toEqual(["a"]);
    const again = await h.call("POST", `/v1/instances/${instanceId}/compensate`);
    expect([again.status, again.body.error.code]).toEqual([409, "INVALID_STATE"]);
    // An empty body with a JSON content type reads as {} (what curl -H 'content-type: ...' sends).
    const emptyJson = await h.call("POST", `/v1/instances/${instanceId}/compensate`, undefined, { "content-type": "application/json" });
    expect(emptyJson.body.error.code).toBe("INVALID_STATE");
  });

  it("retries a failed step with new input; a step that did not fail is 409", async () => {
    const { queue, instanceId } = await startOneRun(h, { input: { amount: -1 } });
    const task = await acquireOne(h, queue);
    const notFailedYet = await h.call("POST", `/v1/instances/${instanceId}/tasks/work/retry`, {});
    expect([notFailedYet.status, notFailedYet.body.error.code]).toEqual([409, "INVALID_STATE"]);
    await h.call("POST", `/v1/tasks/${task.executionId}/fail`, { workerId: "w1", fenceToken: task.fenceToken, retryable: false });
    expect((await h.call("GET", `/v1/instances/${instanceId}`)).body.state).toBe("FAILED");

    const unknownStep = await h.call("POST", `/v1/instances/${instanceId}/tasks/nope/retry`);
    expect(unknownStep.status).toBe(404);
    const retried = await h.call("POST", `/v1/instances/${instanceId}/tasks/work/retry`, { input: { amount: 5 } });
    expect(retried.status).toBe(200);
    expect(retried.body).toEqual({ executionId: expect.any(String), taskId: "work", kind: "DO", attempt: 2 });
    const again = await acquireOne(h, queue);
    expect(again).toMatchObject({ executionId: retried.body.executionId, attempt: 2, input: { amount: 5 } });
    await h.call("POST", `/v1/tasks/${again.executionId}/complete`, { workerId: "w1", fenceToken: again.fenceToken });
    expect((await h.call("GET", `/v1/instances/${instanceId}`)).body.state).toBe("COMPLETED");
  });
});
