import { type AcquiredTask, BatonError } from "@baton/engine";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";

let engine: TestEngine;

let queue = "";
let workflow = "";

beforeAll(async () => {
  // 20 concurrent acquirers below: give each its own connection on Postgres.
  engine = await createTestEngine({ poolSize: 25 });
});
afterAll(() => engine.destroy());
// Each test gets its own one-step workflow and queue, so tests never see each other's tasks.
beforeEach(async () => {
  workflow = `single-${crypto.randomUUID().slice(0, 8)}`;
  queue = `q.${workflow}`;
  await engine.workflows.registerWorkflow({ name: workflow, steps: [{ name: "work", queue, retry: { maxAttempts: 3, backoffMs: 0 } }] });
});

async function startOne(runId: string = crypto.randomUUID()) {
  return engine.workflows.startWorkflow({ workflow, runId, input: { n: runId } });
}

async function acquireOne(workerId = "w1"): Promise<AcquiredTask> {
  const [task] = await engine.tasks.acquire({ queues: [queue], workerId, max: 1 });
  if (!task) throw new Error("expected a task to be available");
  return task;
}

async function taskRow(executionId: string) {
  const view = await engine.workflows.getWorkflow(
    (
      await engine.database.db
        .selectFrom("task_executions")
        .select("workflow_instance_id")
        .where("execution_id", "=", executionId)
        .executeTakeFirstOrThrow()
    ).workflow_instance_id,
  );
  return view.tasks.find((t) => t.executionId === executionId);
}

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(BatonError);
    return (error as BatonError).code;
  }
  throw new Error("expected the call to be rejected");
}

describe("TaskCoordinator", () => {
  it("hands out a started step with a lease, and completing it completes the workflow", async () => {
    const { instanceId } = await startOne();
    const task = await acquireOne();
    expect(task).toMatchObject({ instanceId, workflowName: workflow, taskId: "work", kind: "DO", attempt: 1 });
    expect(typeof task.fenceToken).toBe("number");
    expect(new Date(task.leaseExpiresAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const outcome = await engine.tasks.complete({ ...task, workerId: "w1", output: { ok: true } });
    expect(outcome).toEqual({ executionId: task.executionId, state: "COMPLETED", duplicate: false });
    const view = await engine.workflows.getWorkflow(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(view.output).toEqual({ work: { ok: true } });
  });

  it("gives each attempt and retry a strictly higher fence token", async () => {
    await startOne();
    const fences: number[] = [];
    let task = await acquireOne();
    fences.push(task.fenceToken);
    await engine.tasks.fail({ ...task, workerId: "w1", error: { message: "boom" } });
    task = await acquireOne();
    fences.push(task.fenceToken);
    await engine.expireLease(task.executionId);
    expect(await engine.tasks.reapExpiredLeases()).toBe(1);
    task = await acquireOne();
    fences.push(task.fenceToken);
    expect(task.attempt).toBe(3);
    await engine.tasks.complete({ ...task, workerId: "w1" });
    expect(fences[1]).toBeGreaterThan(fences[0] as number);
    expect(fences[2]).toBeGreaterThan(fences[1] as number);
  });

  it("rejects a stale fence, a wrong worker and an expired lease, and none of them changes anything", async () => {
    await startOne();
    const task = await acquireOne();
    const before = await taskRow(task.executionId);
    expect(await rejection(engine.tasks.complete({ ...task, workerId: "w1", fenceToken: task.fenceToken - 1 }))).toBe("STALE_FENCE");
    expect(await rejection(engine.tasks.complete({ ...task, workerId: "intruder" }))).toBe("NOT_LEASED");
    expect(await rejection(engine.tasks.heartbeat({ ...task, workerId: "intruder" }))).toBe("NOT_LEASED");
    expect(await rejection(engine.tasks.fail({ ...task, workerId: "w1", fenceToken: task.fenceToken + 1 }))).toBe("STALE_FENCE");
    expect(await taskRow(task.executionId)).toEqual(before);

    await engine.expireLease(task.executionId);
    const expired = await taskRow(task.executionId);
    expect(await rejection(engine.tasks.complete({ ...task, workerId: "w1" }))).toBe("LEASE_EXPIRED");
    expect(await rejection(engine.tasks.heartbeat({ ...task, workerId: "w1" }))).toBe("LEASE_EXPIRED");
    expect(await rejection(engine.tasks.fail({ ...task, workerId: "w1" }))).toBe("LEASE_EXPIRED");
    expect(await taskRow(task.executionId)).toEqual(expired);
    await engine.tasks.reapExpiredLeases();
    expect(await rejection(engine.tasks.complete({ ...task, workerId: "w1" }))).toBe("LEASE_EXPIRED");
    expect((await taskRow(task.executionId))?.state).toBe("TIMED_OUT");
  });

  it("extends a live lease on heartbeat", async () => {
    await startOne();
    const task = await acquireOne();
    const { leaseExpiresAt } = await engine.tasks.heartbeat({ ...task, workerId: "w1" });
    expect(new Date(leaseExpiresAt).getTime()).toBeGreaterThanOrEqual(new Date(task.leaseExpiresAt).getTime());
    await engine.tasks.complete({ ...task, workerId: "w1" });
  });

  it("answers a repeated complete with the same fence and output as a no-op success", async () => {
    const { instanceId } = await startOne();
    const task = await acquireOne();
    await engine.tasks.complete({ ...task, workerId: "w1", output: { a: 1, b: [2] } });
    const after = await engine.workflows.getWorkflow(instanceId);
    const again = await engine.tasks.complete({ ...task, workerId: "w1", output: { b: [2], a: 1 } });
    expect(again).toEqual({ executionId: task.executionId, state: "COMPLETED", duplicate: true });
    expect(await engine.workflows.getWorkflow(instanceId)).toEqual(after);
    expect(await rejection(engine.tasks.complete({ ...task, workerId: "w1", output: { other: true } }))).toBe("ALREADY_COMPLETED");
    expect(await rejection(engine.tasks.fail({ ...task, workerId: "w1" }))).toBe("ALREADY_COMPLETED");
  });

  it("applies a report with an idempotency key once, even when it would now match a newer attempt", async () => {
    const { instanceId } = await startOne();
    const first = await acquireOne();
    const report = { workerId: "w1", idempotencyKey: `kafka:replies:0:${crypto.randomUUID()}`, error: "declined" };
    expect(await engine.tasks.fail({ ...report, executionId: first.executionId, fenceToken: first.fenceToken })).toMatchObject({
      duplicate: false,
    });
    const second = await acquireOne();
    // The same message delivered again, matched by step to attempt 2: nothing happens.
    expect(await engine.tasks.fail({ ...report, executionId: second.executionId, fenceToken: second.fenceToken })).toMatchObject({
      duplicate: true,
    });
    expect(await engine.tasks.complete({ ...report, executionId: second.executionId, fenceToken: second.fenceToken })).toMatchObject({
      duplicate: true,
    });
    const view = await engine.workflows.getWorkflow(instanceId);
    expect(view.tasks.map((t) => t.state)).toEqual(["FAILED", "LEASED"]);
    await engine.tasks.complete({ executionId: second.executionId, workerId: "w1", fenceToken: second.fenceToken });
  });

  it("releases a lease unstarted: the step is handed out again at once without spending an attempt", async () => {
    const { instanceId } = await startOne();
    const first = await acquireOne("gone");
    expect(await engine.tasks.release([{ executionId: first.executionId, workerId: "gone", fenceToken: first.fenceToken }])).toBe(1);
    expect(await rejection(engine.tasks.complete({ ...first, workerId: "gone" }))).toBe("NOT_LEASED");
    const again = await acquireOne("next");
    expect(again.attempt).toBe(2);
    expect(again.fenceToken).toBeGreaterThan(first.fenceToken);
    const view = await engine.workflows.getWorkflow(instanceId);
    // Three attempts in the step's budget remain counted from the released one: it was free.
    expect(view.tasks.map((t) => [t.state, t.maxAttempts])).toEqual([
      ["CANCELLED", 3],
      ["LEASED", 4],
    ]);
    await engine.tasks.complete({ ...again, workerId: "next" });
  });

  it("reports NOT_FOUND for an unknown execution", async () => {
    const lease = { executionId: crypto.randomUUID(), workerId: "w1", fenceToken: 1 };
    expect(await rejection(engine.tasks.complete(lease))).toBe("NOT_FOUND");
    expect(await rejection(engine.tasks.heartbeat(lease))).toBe("NOT_FOUND");
  });

  it("reclaims an expired lease; the next attempt carries a higher fence", async () => {
    const { instanceId } = await startOne();
    const first = await acquireOne("stalled");
    await engine.expireLease(first.executionId);
    expect(await engine.tasks.reapExpiredLeases()).toBe(1);
    const second = await acquireOne("healthy");
    expect(second.attempt).toBe(2);
    expect(second.fenceToken).toBeGreaterThan(first.fenceToken);
    expect(await rejection(engine.tasks.complete({ ...first, workerId: "stalled" }))).toBe("LEASE_EXPIRED");
    await engine.tasks.complete({ ...second, workerId: "healthy", output: "done" });
    const view = await engine.workflows.getWorkflow(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(view.tasks.map((t) => t.state)).toEqual(["TIMED_OUT", "COMPLETED"]);
  });

  it("never lets the reaper overwrite a completion that was accepted first", async () => {
    const { instanceId } = await startOne();
    const task = await acquireOne();
    const [completion, reaping] = await Promise.allSettled([
      engine.tasks.complete({ ...task, workerId: "w1", output: 1 }),
      (async () => {
        await engine.expireLease(task.executionId);
        return engine.tasks.reapExpiredLeases();
      })(),
    ]);
    if (reaping.status === "rejected") throw reaping.reason;
    // The reaper skips an instance a completion holds locked; once that completion was refused,
    // the next pass reclaims the lease.
    const reaped = reaping.value + (completion.status === "rejected" ? await engine.tasks.reapExpiredLeases() : 0);
    const view = await engine.workflows.getWorkflow(instanceId);
    const states = view.tasks.map((t) => t.state);
    if (completion.status === "fulfilled") {
      // The completion won: the reaper found nothing to reclaim.
      expect(reaped).toBe(0);
      expect(states).toEqual(["COMPLETED"]);
      expect(view.state).toBe("COMPLETED");
    } else {
      // The expiry won: the completion was rejected and the attempt timed out.
      expect(completion.reason).toMatchObject({ code: "LEASE_EXPIRED" });
      expect(reaped).toBe(1);
      expect(states[0]).toBe("TIMED_OUT");
    }
  });

  it("acquireById leases one named pending execution", async () => {
    const { instanceId } = await startOne();
    const view = await engine.workflows.getWorkflow(instanceId);
    const pending = view.tasks[0];
    if (!pending) throw new Error("expected a scheduled task");
    const task = await engine.tasks.acquireById(pending.executionId, "by-id");
    expect(task?.executionId).toBe(pending.executionId);
    expect(await engine.tasks.acquireById(pending.executionId, "by-id")).toBeNull();
    await engine.tasks.complete({ ...(task as AcquiredTask), workerId: "by-id" });
  });

  it("never hands the same task to two of 20 concurrent acquirers over 1,000 tasks", async () => {
    // On PGlite the acquirers interleave on one connection; on Postgres they truly race.
    const instances = Array.from({ length: 1000 }, (_, i) => `bulk-${i}`);
    for (let i = 0; i < instances.length; i += 50) await Promise.all(instances.slice(i, i + 50).map((id) => startOne(id)));
    const received = await Promise.all(
      Array.from({ length: 20 }, async (_, w) => {
        const mine: string[] = [];
        for (;;) {
          const tasks = await engine.tasks.acquire({ queues: [queue], workerId: `racer-${w}`, max: 7 });
          if (tasks.length === 0) return mine;
          mine.push(...tasks.map((t) => t.executionId));
          await Promise.all(tasks.map((t) => engine.tasks.complete({ ...t, workerId: `racer-${w}` })));
        }
      }),
    );
    const all = received.flat();
    expect(all).toHaveLength(1000);
    expect(new Set(all).size).toBe(1000);
    expect(received.filter((r) => r.length > 0).length).toBeGreaterThan(1);
  }, 180_000);
});

describe("input the database cannot store", () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await createTestEngine();
    await engine.workflows.registerWorkflow({ name: "nul", steps: [{ name: "a", queue: "nul.a" }] });
  });
  afterAll(() => engine.destroy());

  it("answers VALIDATION_ERROR for a NUL character, and changes nothing", async () => {
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: "nul" });
    const [task] = await engine.tasks.acquire({ queues: ["nul.a"], workerId: "w", max: 1 });
    if (!task) throw new Error("expected a task");
    const before = await engine.workflows.getWorkflow(instanceId);
    const error = await engine.tasks.complete({ ...task, workerId: "w", output: { text: "a\u0000b" } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatonError);
    expect((error as BatonError).code).toBe("VALIDATION_ERROR");
    expect(await engine.workflows.getWorkflow(instanceId)).toEqual(before);
    const start = await engine.workflows.startWorkflow({ workflow: "nul", runId: "bad\u0000id" }).catch((e: unknown) => e);
    expect((start as BatonError).code).toBe("VALIDATION_ERROR");
  });

  it("applies an execution named twice in one batch once, answering the copy as a duplicate", async () => {
    await engine.workflows.startWorkflow({ workflow: "nul" });
    const [task] = await engine.tasks.acquire({ queues: ["nul.a"], workerId: "w", max: 1 });
    if (!task) throw new Error("expected a task");
    const lease = { executionId: task.executionId, workerId: "w", fenceToken: task.fenceToken };
    const answers = await engine.tasks.completeMany([
      { ...lease, output: 1 },
      { ...lease, output: 1 },
      { ...lease, output: 2 },
    ]);
    expect(answers[0]).toEqual({ executionId: task.executionId, state: "COMPLETED", duplicate: false });
    expect(answers[1]).toEqual({ executionId: task.executionId, state: "COMPLETED", duplicate: true });
    expect((answers[2] as BatonError).code).toBe("ALREADY_COMPLETED");
  });
});
