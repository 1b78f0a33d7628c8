import { getEventListeners } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, uniqueWorkflow } from "./http-harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ pollIntervalMs: 10_000 });
});
afterAll(() => h.close());

/**
 * What a signal holds on to for others: its abort listeners, and the signals `AbortSignal.any`
 * made from it (Node keeps those in an internal set, and never shrinks it while the source lives).
 */
function attached(signal: AbortSignal): number {
  const dependants = Object.getOwnPropertySymbols(signal).find((s) => s.description === "kDependantSignals");
  const set = dependants ? (signal as unknown as Record<symbol, Set<unknown> | undefined>)[dependants] : undefined;
  return getEventListeners(signal, "abort").length + (set?.size ?? 0);
}

describe("long-poll acquire and the shutdown signal", () => {
  it("leaves nothing attached to the shutdown signal after many polls, and shutdown still ends a waiting poll at once", async () => {
    const { name, queue } = uniqueWorkflow("signals");
    await h.call("POST", "/v1/workflows", { name, steps: [{ name: "work", queue }] });
    const before = attached(h.shutdown.signal);
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: 40 }, () => h.call("POST", "/v1/tasks/acquire", { workerId: "poller", queues: [queue], waitMs: 0 })),
      );
    }
    expect(attached(h.shutdown.signal)).toBe(before);

    const started = Date.now();
    const waiting = h.call("POST", "/v1/tasks/acquire", { workerId: "poller", queues: [queue], waitMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    h.shutdown.abort();
    expect((await waiting).body).toEqual({ tasks: [] });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
