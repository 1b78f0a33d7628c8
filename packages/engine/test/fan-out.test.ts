import { type AcquiredTask, BatonError, type InstanceView, LIMITS } from "@baton/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drive, expectHistoryConsistent } from "../../../test-support/drive.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";

// Fan-out over a list (`forEach`) through the engine's public API: elements as tasks of their own
// (`<step>#<index>`), bounded parallelism, the step's output in element order, failures that
// compensate (or continue), lists that cannot be used, and the history folding to the stored state.

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

/** quote -> reserve (one per `order.items`, undoable) -> charge (undoable). */
async function splitWorkflow(reserve: Record<string, unknown> = {}) {
  const name = unique("split");
  const queue = (s: string) => `${name}.${s}`;
  await engine.workflows.registerWorkflow({
    name,
    defaults: { retry: { maxAttempts: 2, backoffMs: 0 } },
    steps: [
      { name: "quote", queue: queue("quote") },
      { name: "reserve", queue: queue("reserve"), undo: true, forEach: "order.items", ...reserve },
      { name: "charge", queue: queue("charge"), undo: true },
    ],
  });
  return { name, queue };
}

const items = (n: number) => Array.from({ length: n }, (_, i) => ({ sku: `sku-${i}`, qty: i + 1 }));
const byElement = (tasks: AcquiredTask[]) => [...tasks].sort((a, b) => a.taskId.localeCompare(b.taskId, "en", { numeric: true }));
const lease = (t: AcquiredTask) => ({ executionId: t.executionId, workerId: "w", fenceToken: t.fenceToken });

describe("fan-out over a list (forEach)", () => {
  it("runs each element as its own task, at most maxConcurrency at once, and outputs their results in element order", async () => {
    const { name, queue } = await splitWorkflow({ maxConcurrency: 3 });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { order: { id: "o-1", items: items(7) } } });
    const [quote] = await engine.tasks.acquire({ queues: [queue("quote")], workerId: "w", max: 1 });
    await engine.tasks.complete({ ...lease(quote as AcquiredTask), output: { price: 70 } });

    const leasedNow = async () => (await settled(instanceId)).tasks.filter((t) => t.state === "LEASED").length;
    // Attempts scheduled together are handed out in no particular order; sort them by element.
    let held = byElement(await engine.tasks.acquire({ queues: [queue("reserve")], workerId: "w", max: 10 }));
    expect(held.map((t) => t.taskId)).toEqual(["reserve#0", "reserve#1", "reserve#2"]);
    expect(await leasedNow()).toBe(3);
    // An element's input: the step's input without the list, plus the element and its index.
    expect(held[1]?.input).toEqual({ order: { id: "o-1" }, quote: { price: 70 }, element: { sku: "sku-1", qty: 2 }, elementIndex: 1 });

    // Elements finish out of order; each completion lets one more start, never more than three held.
    const seen: string[] = [];
    while (held.length > 0) {
      const done = held.pop() as AcquiredTask;
      seen.push(done.taskId);
      await engine.tasks.complete({ ...lease(done), output: { reserved: (done.input as { element: { sku: string } }).element.sku } });
      held = [...held, ...(await engine.tasks.acquire({ queues: [queue("reserve")], workerId: "w", max: 10 }))];
      expect(held.length).toBeLessThanOrEqual(3);
      expect(await leasedNow()).toBe(held.length);
    }
    expect(seen).toHaveLength(7);
    expect(seen).not.toEqual([...seen].sort());

    const [charge] = await engine.tasks.acquire({ queues: [queue("charge")], workerId: "w", max: 1 });
    expect((charge?.input as { reserve?: unknown } | undefined)?.reserve).toEqual(items(7).map((i) => ({ reserved: i.sku })));
    await engine.tasks.complete({ ...lease(charge as AcquiredTask), output: { charged: 70 } });
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect((view.output as { reserve: unknown[] }).reserve).toEqual(items(7).map((i) => ({ reserved: i.sku })));
  });

  it("fails the step when an element's retries are exhausted, and undoes each element that completed with its own input and output", async () => {
    const { name, queue } = await splitWorkflow({ maxConcurrency: 4 });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { order: { id: "o-2", items: items(4) } } });
    const undoInputs: unknown[] = [];
    const handled = await drive(engine, instanceId, {
      [queue("quote")]: () => ({ price: 40 }),
      [queue("reserve")]: (t) => {
        const { element } = t.input as { element: { sku: string } };
        if (element.sku === "sku-2") throw new Error("sku-2 is out of stock");
        return { reserved: element.sku };
      },
      [queue("reserve.undo")]: (t) => {
        undoInputs.push(t.input);
        return { released: true };
      },
      [queue("charge")]: () => ({ charged: 40 }),
    });
    expect(handled.filter((t) => t.taskId === "reserve#2").map((t) => t.attempt)).toEqual([1, 2]);
    expect(handled.some((t) => t.queue === queue("charge"))).toBe(false);
    const undone = handled.filter((t) => t.kind === "UNDO").map((t) => t.taskId);
    expect(undone.sort()).toEqual(["reserve#0", "reserve#1", "reserve#3"]);
    expect(undoInputs).toContainEqual({
      order: { id: "o-2" },
      quote: { price: 40 },
      element: { sku: "sku-3", qty: 4 },
      elementIndex: 3,
      reserve: { reserved: "sku-3" },
    });
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATED");
    expect(view.error).toMatchObject({
      reason: "STEP_FAILED",
      step: "reserve",
      elementIndex: 2,
      cause: { message: "sku-2 is out of stock" },
    });
  });

  it("completes the step at once with [] over an empty list", async () => {
    const { name, queue } = await splitWorkflow();
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { order: { id: "o-3", items: [] } } });
    const handled = await drive(engine, instanceId, {
      [queue("quote")]: () => ({ price: 0 }),
      [queue("reserve")]: () => ({ never: true }),
      [queue("charge")]: () => ({ charged: 0 }),
    });
    expect(handled.map((t) => t.taskId)).toEqual(["quote", "charge"]);
    expect(handled[1]?.input).toMatchObject({ reserve: [] });
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(view.output).toEqual({ quote: { price: 0 }, reserve: [], charge: { charged: 0 } });
    expect(view.tasks.find((t) => t.taskId === "reserve")).toMatchObject({ state: "COMPLETED", output: [], fenceToken: null });
    expect(view.events.find((e) => e.eventType === "TASK_COMPLETED" && e.payload.taskId === "reserve")?.payload).toMatchObject({
      output: [],
      reason: "its forEach list is empty",
    });
  });

  it("fails the step at once, naming the path, when the list is missing, not a list, or too long", async () => {
    const cases: [unknown, string][] = [
      [{ id: "no-items" }, "forEach: 'order.items' has no value in the step's input"],
      [{ items: { sku: "a" } }, "forEach: 'order.items' is an object, not a list"],
      [{ items: "abc" }, "forEach: 'order.items' is a string, not a list"],
      [{ items: items(LIMITS.maxForEachElements + 1) }, `has ${LIMITS.maxForEachElements + 1} elements, over the limit`],
    ];
    const { name, queue } = await splitWorkflow();
    for (const [order, message] of cases) {
      const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { order } });
      const handled = await drive(engine, instanceId, { [queue("quote")]: () => ({ price: 1 }), [queue("reserve")]: () => ({}) });
      expect(handled.map((t) => t.taskId)).toEqual(["quote"]);
      const view = await settled(instanceId);
      // Nothing completed has an undo, so the run fails rather than compensates.
      expect(view.state).toBe("FAILED");
      expect(view.error).toMatchObject({ reason: "STEP_FAILED", step: "reserve", cause: { forEach: "order.items" } });
      expect((view.error as { cause: { message: string } }).cause.message).toContain(message);
      expect(view.tasks.find((t) => t.taskId === "reserve")).toMatchObject({ state: "FAILED", attempt: 1, maxAttempts: 1 });
    }
  });

  it("with onFailure: continue, lets the elements still running finish, starts no new one, and goes on with { error, elementIndex }", async () => {
    const { name, queue } = await splitWorkflow({ maxConcurrency: 2, onFailure: "continue", retry: { maxAttempts: 1 } });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { order: { id: "o-4", items: items(5) } } });
    const [quote] = await engine.tasks.acquire({ queues: [queue("quote")], workerId: "w", max: 1 });
    await engine.tasks.complete({ ...lease(quote as AcquiredTask), output: { price: 5 } });
    const [first, second] = byElement(await engine.tasks.acquire({ queues: [queue("reserve")], workerId: "w", max: 10 }));
    await engine.tasks.fail({ ...lease(first as AcquiredTask), error: { message: "sku-0 is out of stock" } });
    expect(await engine.tasks.acquire({ queues: [queue("reserve"), queue("charge")], workerId: "w", max: 10 })).toEqual([]);
    await engine.tasks.complete({ ...lease(second as AcquiredTask), output: { reserved: "sku-1" } });
    const [charge, ...more] = await engine.tasks.acquire({ queues: [queue("reserve"), queue("charge")], workerId: "w", max: 10 });
    expect(more).toEqual([]);
    expect(charge?.taskId).toBe("charge");
    expect((charge?.input as { reserve?: unknown } | undefined)?.reserve).toEqual({
      error: { message: "sku-0 is out of stock" },
      elementIndex: 0,
    });
    await engine.tasks.complete({ ...lease(charge as AcquiredTask), output: { charged: 5 } });
    expect((await settled(instanceId)).state).toBe("COMPLETED");

    // Undoing the finished run undoes the element that completed, not the one that failed.
    await engine.workflows.triggerCompensation(instanceId);
    const undone = await drive(engine, instanceId, { [queue("charge.undo")]: () => ({}), [queue("reserve.undo")]: () => ({}) });
    expect(undone.map((t) => `${t.kind} ${t.taskId}`)).toEqual(["UNDO charge", "UNDO reserve#1"]);
    expect((await settled(instanceId)).state).toBe("COMPENSATED");
  });

  it("undoes a finished run's elements at most maxConcurrency at a time, after the steps that build on them", async () => {
    const { name, queue } = await splitWorkflow({ maxConcurrency: 2 });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { order: { id: "o-5", items: items(5) } } });
    await drive(engine, instanceId, {
      [queue("quote")]: () => ({ price: 5 }),
      [queue("reserve")]: (t) => ({ reserved: (t.input as { elementIndex: number }).elementIndex }),
      [queue("charge")]: () => ({ charged: 5 }),
    });
    await engine.workflows.triggerCompensation(instanceId);
    const acquireUndos = () => engine.tasks.acquire({ queues: [queue("reserve.undo")], workerId: "w", max: 10 });
    expect(await acquireUndos()).toEqual([]);
    const [charge] = await engine.tasks.acquire({ queues: [queue("charge.undo")], workerId: "w", max: 1 });
    await engine.tasks.complete({ ...lease(charge as AcquiredTask), output: {} });
    const rounds: string[][] = [];
    for (let undos = await acquireUndos(); undos.length > 0; undos = await acquireUndos()) {
      rounds.push(byElement(undos).map((t) => t.taskId));
      for (const t of undos) await engine.tasks.complete({ ...lease(t), output: {} });
    }
    expect(rounds).toEqual([["reserve#0", "reserve#1"], ["reserve#2", "reserve#3"], ["reserve#4"]]);
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATED");
    expect(view.tasks.find((t) => t.taskId === "reserve#4" && t.kind === "UNDO")?.input).toMatchObject({
      elementIndex: 4,
      reserve: { reserved: 4 },
    });
    expect(
      view.tasks
        .filter((t) => t.kind === "UNDO" && t.state === "COMPLETED")
        .map((t) => t.taskId)
        .sort(),
    ).toEqual(["charge", "reserve#0", "reserve#1", "reserve#2", "reserve#3", "reserve#4"]);
  });

  it("retries the failed element by hand: by its task id, or by the step's name", async () => {
    const name = unique("splitRetry");
    await engine.workflows.registerWorkflow({
      name,
      steps: [{ name: "reserve", queue: `${name}.reserve`, forEach: "items", retry: { maxAttempts: 1 } }],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { items: ["a", "b"] } });
    await drive(engine, instanceId, {
      [`${name}.reserve`]: (t) => {
        if (t.taskId === "reserve#1") throw new Error("b is missing");
        return { ok: (t.input as { element: string }).element };
      },
    });
    expect((await settled(instanceId)).state).toBe("FAILED");
    const retried = await engine.tasks.retryTask(instanceId, "reserve");
    expect(retried).toMatchObject({ taskId: "reserve#1", kind: "DO", attempt: 2 });
    await drive(engine, instanceId, { [`${name}.reserve`]: (t) => ({ ok: (t.input as { element: string }).element }) });
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(view.output).toEqual({ reserve: [{ ok: "a" }, { ok: "b" }] });
  });

  it("refuses forEach and maxConcurrency it cannot use, naming the field", async () => {
    const refusal = async (step: Record<string, unknown>) => {
      const error = await engine.workflows.registerWorkflow({ name: unique("badSplit"), steps: [{ name: "a", ...step }] }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(BatonError);
      return ((error as BatonError).details.fields as { field: string; message: string }[])[0];
    };
    expect(await refusal({ forEach: "items..sku" })).toMatchObject({ field: "steps.0.forEach" });
    expect(await refusal({ forEach: 3 })).toMatchObject({ field: "steps.0.forEach" });
    expect(await refusal({ forEach: "items", maxConcurrency: 0 })).toMatchObject({ field: "steps.0.maxConcurrency" });
    expect(await refusal({ forEach: "items", maxConcurrency: LIMITS.maxForEachConcurrency + 1 })).toMatchObject({
      field: "steps.0.maxConcurrency",
    });
    expect(await refusal({ maxConcurrency: 2 })).toMatchObject({
      field: "steps.0.maxConcurrency",
      message: "maxConcurrency is only allowed with forEach",
    });
    expect(await refusal({ concurrency: 2 })).toMatchObject({ field: "steps.0.concurrency" });
  });
});
