import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import type { HandlerContext } from "../src/index.ts";
import { gate, TRANSPORT_MODES, uniqueName, workerSuite } from "./support/harness.ts";

// A worker handles the elements of a fan-out step (`forEach`) with the step's handler: each call
// names the step and the element, and gets the element's own input.

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine?.destroy());

type Item = { sku: string };
type ElementInput = { orderId: string; element: Item; elementIndex: number };

describe.each(TRANSPORT_MODES)("fan-out elements (%s)", (mode) => {
  const suite = workerSuite(() => engine, mode, { pollWaitMs: 5000 });

  it("runs at most maxConcurrency elements at once, with the step's handler, and the step's output in element order", async () => {
    const workflow = uniqueName("split");
    await suite.client.register({
      name: workflow,
      steps: [{ name: "reserve", forEach: "items", maxConcurrency: 3 }, { name: "ship" }],
    });
    const held: { ctx: HandlerContext<ElementInput>; release: () => void }[] = [];
    const threeRunning = gate();
    suite.startWorker({
      workflow,
      concurrency: 10,
      handlers: {
        reserve: async (ctx: HandlerContext<ElementInput>) => {
          const done = gate();
          held.push({ ctx, release: () => done.open() });
          if (held.length === 3) threeRunning.open();
          await done.promise;
          return { reserved: ctx.input.element.sku };
        },
        ship: (ctx: HandlerContext<{ reserve: unknown[] }>) => ({ parcels: ctx.input.reserve.length }),
      },
    });
    const items = ["a", "b", "c", "d", "e"].map((sku) => ({ sku }));
    const { instanceId } = await suite.client.start(workflow, { input: { orderId: "o-1", items } });
    await threeRunning.promise;
    // The worker has seven free slots, yet only three elements are leased.
    await new Promise((r) => setTimeout(r, 300));
    expect(held).toHaveLength(3);
    const view = await suite.client.get(instanceId);
    expect(view.tasks.filter((t) => t.state === "LEASED").map((t) => t.step)).toEqual(["reserve", "reserve", "reserve"]);

    const first = held[0]?.ctx as HandlerContext<ElementInput>;
    expect(first.step).toBe("reserve");
    expect(first.taskId).toBe(`reserve#${first.elementIndex}`);
    expect(first.input).toEqual({ orderId: "o-1", element: items[first.elementIndex as number], elementIndex: first.elementIndex });

    // Release the latest first: results still come out in element order. Never more than three run.
    const released = new Set<number>();
    while (released.size < items.length) {
      expect(held.length - released.size).toBeLessThanOrEqual(3);
      const next = [...held].reverse().find((h) => !released.has(h.ctx.elementIndex as number));
      if (next) {
        released.add(next.ctx.elementIndex as number);
        next.release();
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const done = await suite.client.waitFor(instanceId, "COMPLETED", { timeoutMs: 20_000 });
    expect(done.output).toEqual({ reserve: items.map((i) => ({ reserved: i.sku })), ship: { parcels: 5 } });
    expect(new Set(held.map((h) => h.ctx.elementIndex))).toEqual(new Set([0, 1, 2, 3, 4]));
  });

  it("undoes the elements that completed when one element fails for good, each with its own input and output", async () => {
    const workflow = uniqueName("splitFail");
    await suite.client.register({
      name: workflow,
      steps: [{ name: "reserve", forEach: "items", undo: true, retry: { maxAttempts: 2, backoffMs: 0 } }],
    });
    const undone: Record<string, unknown>[] = [];
    suite.startWorker({
      workflow,
      handlers: {
        reserve: {
          do: (ctx: HandlerContext<ElementInput>) => {
            if (ctx.input.element.sku === "bad") throw new Error(`${ctx.input.element.sku}: no stock`);
            return { reserved: ctx.input.element.sku };
          },
          undo: (ctx: HandlerContext<Record<string, unknown>>) => {
            undone.push({ step: ctx.step, elementIndex: ctx.elementIndex, input: ctx.input });
            return { released: true };
          },
        },
      },
    });
    const { instanceId } = await suite.client.start(workflow, {
      input: { orderId: "o-2", items: [{ sku: "a" }, { sku: "bad" }, { sku: "c" }] },
    });
    const view = await suite.client.waitFor(instanceId, "COMPENSATED", { timeoutMs: 20_000 });
    expect(view.error).toMatchObject({ reason: "STEP_FAILED", step: "reserve", elementIndex: 1 });
    expect(view.tasks.filter((t) => t.elementIndex === 1).map((t) => `${t.kind} ${t.attempt} ${t.state}`)).toEqual([
      "DO 1 FAILED",
      "DO 2 FAILED",
    ]);
    expect(undone.sort((a, b) => (a.elementIndex as number) - (b.elementIndex as number))).toEqual([
      { step: "reserve", elementIndex: 0, input: { orderId: "o-2", element: { sku: "a" }, elementIndex: 0, reserve: { reserved: "a" } } },
      { step: "reserve", elementIndex: 2, input: { orderId: "o-2", element: { sku: "c" }, elementIndex: 2, reserve: { reserved: "c" } } },
    ]);
  });
});
