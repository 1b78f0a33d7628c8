import { ACQUIRE_LIMITS, MAX_ACQUIRE } from "@baton/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireOne, type Harness, startHarness, startOneRun } from "./http-harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const lease = (task: { fenceToken: number }, workerId = "w1") => ({ workerId, fenceToken: task.fenceToken });

describe("POST /v1/tasks/acquire", () => {
  it("hands out a started step with a numeric fence token and the wire shape of DESIGN §7", async () => {
    const { name, queue, instanceId } = await startOneRun(h, { input: { tenant: "acme" } });
    const res = await h.call("POST", "/v1/tasks/acquire", { workerId: "w1", queues: [queue], max: 5 });
    expect(res.status).toBe(200);
    expect(res.body.tasks).toEqual([
      {
        executionId: expect.any(String),
        instanceId,
        workflowName: name,
        namespace: "default",
        taskId: "work",
        step: "work",
        elementIndex: null,
        kind: "DO",
        queue,
        attempt: 1,
        fenceToken: expect.any(Number),
        leaseExpiresAt: expect.any(String),
        input: { tenant: "acme" },
      },
    ]);
    const none = await h.call("POST", "/v1/tasks/acquire", { workerId: "w1", queues: [queue] });
    expect(none.body).toEqual({ tasks: [] });
  });

  it("hands out as many tasks in one answer as the engine does (MAX_ACQUIRE)", async () => {
    expect(ACQUIRE_LIMITS.maxTasks).toBe(MAX_ACQUIRE);
    const { name, queue } = await startOneRun(h);
    await h.call("POST", `/v1/workflows/${name}/runs/batch`, { runs: Array.from({ length: 149 }, (_, n) => ({ input: { n } })) });
    const res = await h.call("POST", "/v1/tasks/acquire", { workerId: "w1", queues: [queue], max: MAX_ACQUIRE });
    expect(res.status).toBe(200);
    expect(res.body.tasks).toHaveLength(150);
  });

  it("validates the request, naming the field", async () => {
    const cases: [unknown, string][] = [
      [{ queues: ["q"] }, "workerId"],
      [{ workerId: "w", queues: [] }, "queues"],
      [{ workerId: "w", queues: ["q"], max: MAX_ACQUIRE + 1 }, "max"],
      [{ workerId: "w", queues: ["q"], max: 0 }, "max"],
      [{ workerId: "w", queues: ["q"], waitMs: 30_001 }, "waitMs"],
      [{ workerId: "w", queues: [""] }, "queues.0"],
    ];
    for (const [body, field] of cases) {
      const res = await h.call("POST", "/v1/tasks/acquire", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_ERROR");
      expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
    }
  });
});

describe("fenced writes", () => {
  it("heartbeat extends the lease; complete finishes the workflow; a repeat is a no-op success", async () => {
    const { queue, instanceId } = await startOneRun(h);
    const task = await acquireOne(h, queue);
    const beat = await h.call("POST", `/v1/tasks/${task.executionId}/heartbeat`, lease(task));
    expect(beat.status).toBe(200);
    expect(new Date(beat.body.leaseExpiresAt).getTime()).toBeGreaterThanOrEqual(new Date(task.leaseExpiresAt).getTime());

    const done = await h.call("POST", `/v1/tasks/${task.executionId}/complete`, { ...lease(task), output: { ok: true } });
    expect(done.status).toBe(200);
    expect(done.body).toEqual({ executionId: task.executionId, state: "COMPLETED", duplicate: false });
    const repeat = await h.call("POST", `/v1/tasks/${task.executionId}/complete`, { ...lease(task), output: { ok: true } });
    expect(repeat.body).toEqual({ executionId: task.executionId, state: "COMPLETED", duplicate: true });

    const instance = await h.call("GET", `/v1/instances/${instanceId}`);
    expect(instance.body).toMatchObject({ state: "COMPLETED", output: { work: { ok: true } } });
  });

  it("fail schedules a retry; retryable: false fails the workflow", async () => {
    const { queue, instanceId } = await startOneRun(h);
    const first = await acquireOne(h, queue);
    const failed = await h.call("POST", `/v1/tasks/${first.executionId}/fail`, { ...lease(first), error: { message: "flaky" } });
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({ state: "FAILED", duplicate: false });
    const second = await acquireOne(h, queue);
    expect(second.attempt).toBe(2);
    expect(second.fenceToken).toBeGreaterThan(first.fenceToken);
    await h.call("POST", `/v1/tasks/${second.executionId}/fail`, { ...lease(second), error: { message: "bad input" }, retryable: false });
    const instance = await h.call("GET", `/v1/instances/${instanceId}`);
    expect(instance.body.state).toBe("FAILED");
  });

  it("answers lease conflicts with 409 and their codes, and changes nothing", async () => {
    const { queue, instanceId } = await startOneRun(h);
    const task = await acquireOne(h, queue);
    const url = `/v1/tasks/${task.executionId}`;
    const stale = await h.call("POST", `${url}/complete`, { workerId: "w1", fenceToken: task.fenceToken - 1 });
    expect([stale.status, stale.body.error.code]).toEqual([409, "STALE_FENCE"]);
    expect(stale.body.error.details).toMatchObject({ executionId: task.executionId, currentFenceToken: task.fenceToken });
    const intruder = await h.call("POST", `${url}/heartbeat`, lease(task, "intruder"));
    expect([intruder.status, intruder.body.error.code]).toEqual([409, "NOT_LEASED"]);
    const before = (await h.call("GET", `/v1/instances/${instanceId}`)).body;

    await h.engine.expireLease(task.executionId);
    for (const action of ["heartbeat", "complete", "fail"]) {
      const expired = await h.call("POST", `${url}/${action}`, lease(task));
      expect([expired.status, expired.body.error.code]).toEqual([409, "LEASE_EXPIRED"]);
    }
    const after = (await h.call("GET", `/v1/instances/${instanceId}`)).body;
    expect(after.tasks.map((t: { state: string }) => t.state)).toEqual(before.tasks.map((t: { state: string }) => t.state));
    expect(after.sequenceNumber).toBe(before.sequenceNumber);
  });

  it("answers ALREADY_COMPLETED for a different output after completion, NOT_FOUND for an unknown execution", async () => {
    const { queue } = await startOneRun(h);
    const task = await acquireOne(h, queue);
    await h.call("POST", `/v1/tasks/${task.executionId}/complete`, { ...lease(task), output: 1 });
    const other = await h.call("POST", `/v1/tasks/${task.executionId}/complete`, { ...lease(task), output: 2 });
    expect([other.status, other.body.error.code]).toEqual([409, "ALREADY_COMPLETED"]);
    const unknown = await h.call("POST", `/v1/tasks/${crypto.randomUUID()}/complete`, { workerId: "w1", fenceToken: 1 });
    expect([unknown.status, unknown.body.error.code]).toEqual([404, "NOT_FOUND"]);
  });

  it("validates fenced writes, naming the field: fence tokens are JSON numbers, execution ids UUIDs", async () => {
    const id = crypto.randomUUID();
    const asString = await h.call("POST", `/v1/tasks/${id}/complete`, { workerId: "w1", fenceToken: "7" });
    expect(asString.status).toBe(400);
    expect(asString.body.error.details.fields[0].field).toBe("fenceToken");
    const noWorker = await h.call("POST", `/v1/tasks/${id}/fail`, { fenceToken: 7 });
    expect(noWorker.body.error.details.fields[0].field).toBe("workerId");
    const badId = await h.call("POST", "/v1/tasks/not-a-uuid/heartbeat", { workerId: "w1", fenceToken: 7 });
    expect(badId.status).toBe(400);
    expect(badId.body.error.details).toMatchObject({ in: "param", fields: [{ field: "executionId" }] });
  });
});
