import { BatonError, type InstanceView } from "@baton/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drive, expectHistoryConsistent } from "../../../test-support/drive.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";

// Conditional steps (`when`) and steps that let the run go on when they fail (`onFailure:
// continue`), through the engine's public API: what runs, what the steps see, what the run ends
// with, and that the history still folds to the stored state.

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine.destroy());

const unique = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}`;

async function settled(instanceId: string): Promise<InstanceView> {
  const view = await engine.workflows.getWorkflow(instanceId);
  expectHistoryConsistent(view);
  return view;
}

/** reserve -> coupon (only with a coupon in the input) -> charge; every step with an undo. */
async function orderWorkflow() {
  const name = unique("order");
  const queue = (s: string) => `${name}.${s}`;
  await engine.workflows.registerWorkflow({
    name,
    steps: [
      { name: "reserve", queue: queue("reserve"), undo: true },
      { name: "coupon", queue: queue("coupon"), undo: true, when: { exists: "coupon" } },
      { name: "charge", queue: queue("charge"), undo: true },
    ],
  });
  return { name, queue };
}

describe("conditional steps (when)", () => {
  it("skips a step whose condition does not hold: recorded SKIPPED, never handed out, no output, nothing to undo", async () => {
    const { name, queue } = await orderWorkflow();
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { order: "o-1" } });
    const handled = await drive(engine, instanceId, {
      [queue("reserve")]: () => ({ reserved: true }),
      [queue("coupon")]: () => ({ discount: 10 }),
      [queue("charge")]: () => ({ charged: 100 }),
    });
    expect(handled.map((t) => t.taskId)).toEqual(["reserve", "charge"]);
    // The skipped step leaves no key in its dependant's input, and none in the run's output.
    expect(handled[1]?.input).toEqual({ order: "o-1" });
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(view.output).toEqual({ reserve: { reserved: true }, charge: { charged: 100 } });
    expect(view.tasks.find((t) => t.taskId === "coupon")).toMatchObject({ state: "SKIPPED", fenceToken: null });
    expect(view.events.find((e) => e.eventType === "TASK_SKIPPED")?.payload).toMatchObject({ taskId: "coupon", kind: "DO" });

    // Undoing the finished run undoes what ran, not what was skipped.
    await engine.workflows.triggerCompensation(instanceId);
    const undone = await drive(engine, instanceId, {
      [queue("charge.undo")]: () => ({ refunded: true }),
      [queue("reserve.undo")]: () => ({ released: true }),
      [queue("coupon.undo")]: () => ({ never: true }),
    });
    expect(undone.map((t) => t.taskId)).toEqual(["charge", "reserve"]);
    expect((await settled(instanceId)).state).toBe("COMPENSATED");
  });

  it("runs the step when the condition holds, on the run's input and earlier outputs", async () => {
    const { name, queue } = await orderWorkflow();
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { coupon: "WINTER" } });
    const handled = await drive(engine, instanceId, {
      [queue("reserve")]: () => ({ reserved: true }),
      [queue("coupon")]: () => ({ discount: 10 }),
      [queue("charge")]: () => ({ charged: 90 }),
    });
    expect(handled.map((t) => t.taskId)).toEqual(["reserve", "coupon", "charge"]);
    expect((await settled(instanceId)).state).toBe("COMPLETED");

    // equals / in / not / all / any on a dependency's output.
    const dag = unique("express");
    await engine.workflows.registerWorkflow({
      name: dag,
      type: "dag",
      steps: [
        { name: "quote", queue: `${dag}.quote` },
        {
          name: "express",
          queue: `${dag}.express`,
          dependsOn: ["quote"],
          when: { all: [{ equals: { path: "quote.speed", value: "fast" } }, { not: { in: { path: "country", values: ["AQ"] } } }] },
        },
        { name: "slow", queue: `${dag}.slow`, dependsOn: ["quote"], when: { any: [{ equals: { path: "quote.speed", value: "slow" } }] } },
      ],
    });
    const run = await engine.workflows.startWorkflow({ workflow: dag, input: { country: "DE" } });
    const ran = await drive(engine, run.instanceId, {
      [`${dag}.quote`]: () => ({ speed: "fast" }),
      [`${dag}.express`]: () => ({ shipped: "express" }),
      [`${dag}.slow`]: () => ({ shipped: "slow" }),
    });
    expect(ran.map((t) => t.taskId).sort()).toEqual(["express", "quote"]);
    const view = await settled(run.instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(view.tasks.find((t) => t.taskId === "slow")?.state).toBe("SKIPPED");
  });

  it("settles skipped steps in the change that reached them: a skipped first step at start, a skipped last step completes the run", async () => {
    const name = unique("skips");
    await engine.workflows.registerWorkflow({
      name,
      steps: [
        { name: "gift", queue: `${name}.gift`, when: { equals: { path: "kind", value: "gift" } } },
        { name: "pack", queue: `${name}.pack` },
        { name: "wrap", queue: `${name}.wrap`, when: { equals: { path: "kind", value: "gift" } } },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { kind: "plain" } });
    expect((await settled(instanceId)).tasks.map((t) => `${t.taskId} ${t.state}`).sort()).toEqual(["gift SKIPPED", "pack PENDING"]);
    await drive(engine, instanceId, { [`${name}.pack`]: () => ({ packed: 1 }) });
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(view.output).toEqual({ pack: { packed: 1 } });
  });

  it("refuses a condition it cannot read, naming the field", async () => {
    const fields = async (when: unknown) => {
      try {
        await engine.workflows.registerWorkflow({ name: unique("bad"), steps: [{ name: "a", when }] });
      } catch (error) {
        expect(error).toBeInstanceOf(BatonError);
        // The field named is the condition or a part of it (steps.0.when.exists, ...).
        return ((error as BatonError).details.fields as { field: string }[]).map((f) => f.field.split(".").slice(0, 3).join("."));
      }
      throw new Error("expected INVALID_DEFINITION");
    };
    expect(await fields({ matches: "x" })).toContain("steps.0.when");
    expect(await fields({ exists: "a..b" })).toContain("steps.0.when");
    let deep: unknown = { exists: "x" };
    for (let i = 0; i < 12; i++) deep = { not: deep };
    expect(await fields(deep)).toContain("steps.0.when");
  });
});

describe("continue on failure (onFailure: continue)", () => {
  it("lets the run go on past a step whose attempts are exhausted: its error reaches the dependants and the output", async () => {
    const name = unique("notify");
    const queue = (s: string) => `${name}.${s}`;
    await engine.workflows.registerWorkflow({
      name,
      steps: [
        { name: "charge", queue: queue("charge"), undo: true },
        { name: "notify", queue: queue("notify"), onFailure: "continue", retry: { maxAttempts: 2, backoffMs: 0 } },
        { name: "ship", queue: queue("ship") },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: {} });
    const handled = await drive(engine, instanceId, {
      [queue("charge")]: () => ({ charged: 100 }),
      [queue("notify")]: () => {
        throw new Error("mail server down");
      },
      [queue("ship")]: () => ({ shipped: true }),
    });
    expect(handled.map((t) => `${t.taskId}#${t.attempt}`)).toEqual(["charge#1", "notify#1", "notify#2", "ship#1"]);
    expect(handled.at(-1)?.input).toEqual({ notify: { error: { message: "mail server down" } } });
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(view.output).toEqual({ charge: { charged: 100 }, notify: { error: { message: "mail server down" } }, ship: { shipped: true } });
  });

  it("still compensates when another step fails, and does not undo the step that continued", async () => {
    const name = unique("notifyThenFail");
    const queue = (s: string) => `${name}.${s}`;
    await engine.workflows.registerWorkflow({
      name,
      defaults: { retry: { maxAttempts: 1 } },
      steps: [
        { name: "charge", queue: queue("charge"), undo: true },
        { name: "notify", queue: queue("notify"), undo: true, onFailure: "continue" },
        { name: "ship", queue: queue("ship"), undo: true },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: {} });
    const handled = await drive(engine, instanceId, {
      [queue("charge")]: () => ({ charged: 100 }),
      [queue("notify")]: () => {
        throw new Error("mail server down");
      },
      [queue("ship")]: () => {
        throw new Error("no courier");
      },
      [queue("charge.undo")]: () => ({ refunded: true }),
      [queue("notify.undo")]: () => ({ never: true }),
    });
    expect(handled.map((t) => `${t.kind} ${t.taskId}`)).toEqual(["DO charge", "DO notify", "DO ship", "UNDO charge"]);
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATED");
    expect(view.error).toMatchObject({ reason: "STEP_FAILED", step: "ship" });
  });
});

describe("whole-run deadline (timeoutMs)", () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("fences off the step still running, undoes what completed, and says why", async () => {
    const name = unique("deadline");
    const queue = (s: string) => `${name}.${s}`;
    await engine.workflows.registerWorkflow({
      name,
      timeoutMs: 1000,
      steps: [
        { name: "reserve", queue: queue("reserve"), undo: true },
        { name: "ship", queue: queue("ship"), leaseMs: 60_000 },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: {} });
    const [reserve] = await engine.tasks.acquire({ queues: [queue("reserve")], workerId: "driver", max: 1 });
    await engine.tasks.complete({
      executionId: reserve?.executionId as string,
      workerId: "driver",
      fenceToken: reserve?.fenceToken as number,
    });
    const [slow] = await engine.tasks.acquire({ queues: [queue("ship")], workerId: "slow-worker", max: 1 });
    expect(slow?.taskId).toBe("ship");
    await sleep(1100);
    expect(await engine.workflows.expireDeadlines()).toBeGreaterThanOrEqual(1);

    // The worker that held `ship` past the deadline is refused; its step was cancelled.
    const late = engine.tasks.complete({
      executionId: slow?.executionId as string,
      workerId: "slow-worker",
      fenceToken: slow?.fenceToken as number,
    });
    await expect(late).rejects.toBeInstanceOf(BatonError);
    const undone = await drive(engine, instanceId, { [queue("reserve.undo")]: () => ({ released: true }) });
    expect(undone.map((t) => `${t.kind} ${t.taskId}`)).toEqual(["UNDO reserve"]);
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATED");
    expect(view.tasks.find((t) => t.taskId === "ship")?.state).toBe("CANCELLED");
    expect(view.events.find((e) => e.eventType === "COMPENSATION_STARTED")?.payload).toMatchObject({
      error: { reason: "DEADLINE_EXCEEDED" },
      fromState: "RUNNING",
    });
  });

  it("fails a run past its deadline that has nothing to undo, also when paused; a run that ended in time is left alone", async () => {
    const name = unique("deadlineNoUndo");
    await engine.workflows.registerWorkflow({ name, timeoutMs: 1000, steps: [{ name: "only", queue: `${name}.only` }] });
    const paused = await engine.workflows.startWorkflow({ workflow: name, input: {} });
    await engine.workflows.pause(paused.instanceId);
    const finished = await engine.workflows.startWorkflow({ workflow: name, input: {} });
    const [task] = await engine.tasks.acquire({ queues: [`${name}.only`], workerId: "driver", max: 10 });
    expect(task?.instanceId).toBe(finished.instanceId);
    await engine.tasks.complete({ executionId: task?.executionId as string, workerId: "driver", fenceToken: task?.fenceToken as number });
    await sleep(1100);
    await engine.workflows.expireDeadlines();
    const view = await settled(paused.instanceId);
    expect(view.state).toBe("FAILED");
    expect(view.error).toMatchObject({ reason: "DEADLINE_EXCEEDED" });
    expect(view.tasks.map((t) => t.state)).toEqual(["CANCELLED"]);
    expect((await settled(finished.instanceId)).state).toBe("COMPLETED");
  });

  it("refuses a timeoutMs outside its bounds, naming the field", async () => {
    const refused = engine.workflows.registerWorkflow({ name: unique("tooShort"), timeoutMs: 10, steps: [{ name: "a" }] });
    await expect(refused).rejects.toMatchObject({
      code: "INVALID_DEFINITION",
      details: { fields: [expect.objectContaining({ field: "timeoutMs" })] },
    });
  });
});

describe("a failure that asks for a later retry (retryAfterMs)", () => {
  it("schedules the retry no sooner than asked, even with no backoff", async () => {
    const name = unique("retryAfter");
    await engine.workflows.registerWorkflow({
      name,
      steps: [{ name: "call", queue: `${name}.call`, retry: { maxAttempts: 2, backoffMs: 0 } }],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: {} });
    const [task] = await engine.tasks.acquire({ queues: [`${name}.call`], workerId: "w", max: 1 });
    const failedAt = Date.now();
    await engine.tasks.fail({
      executionId: task?.executionId as string,
      workerId: "w",
      fenceToken: task?.fenceToken as number,
      error: { message: "429 Too Many Requests", retryAfterMs: 3000 },
    });
    const retry = (await settled(instanceId)).tasks.find((t) => t.attempt === 2);
    expect(Date.parse(retry?.availableAt as string)).toBeGreaterThanOrEqual(failedAt + 2900);
    expect(await engine.tasks.acquire({ queues: [`${name}.call`], workerId: "w", max: 1 })).toEqual([]);
  });
});
