import { InstanceEndWaiter, MAX_END_WAITERS } from "@baton/engine";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";

// Waits for runs to end, parked in memory: woken by this process's commits, bounded in count.

// No periodic look within these tests: every wake-up below comes from a commit.
let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine({ pollIntervalMs: 60_000 });
});
afterAll(() => engine?.destroy());

async function startRuns(n: number) {
  const name = `ends-${crypto.randomUUID().slice(0, 8)}`;
  await engine.workflows.registerWorkflow({ name, steps: [{ name: "work", queue: `${name}.work` }] });
  const started = await engine.workflows.startMany({ workflow: name, runs: Array.from({ length: n }, (_, i) => ({ input: { i } })) });
  return { queue: `${name}.work`, ids: started.map((s) => (s as { instanceId: string }).instanceId) };
}

describe("InstanceEndWaiter", () => {
  it("ends 50 waits as their runs complete, with each run's output", async () => {
    const { queue, ids } = await startRuns(50);
    const waits = ids.map((id) => engine.instanceEnds.wait(id, { waitMs: 30_000 }));
    await vi.waitFor(() => expect(engine.instanceEnds.waiting).toBe(50));
    const tasks = await engine.tasks.acquire({ queues: [queue], workerId: "w", max: 50 });
    await engine.tasks.completeMany(tasks.map((t) => ({ ...t, workerId: "w", output: t.input })));
    const ends = await Promise.all(waits);
    expect(ends.map((e) => e?.state)).toEqual(Array(50).fill("COMPLETED"));
    expect(ends.map((e) => e?.output)).toEqual(ids.map((_, i) => ({ work: { i } })));
    expect(engine.instanceEnds.waiting).toBe(0);
  });

  it("answers at the deadline with the state then, and null for an id that is no instance", async () => {
    const { ids } = await startRuns(1);
    expect(await engine.instanceEnds.wait(ids[0] as string, { waitMs: 50 })).toMatchObject({ state: "RUNNING", output: null });
    expect(await engine.instanceEnds.wait(crypto.randomUUID(), { waitMs: 5000 })).toBeNull();
    expect(await engine.instanceEnds.wait("not-an-id", { waitMs: 5000 })).toBeNull();
  });

  it("parks at most its bound; a wait beyond it answers at once", async () => {
    expect(MAX_END_WAITERS).toBe(10_000);
    const waiter = new InstanceEndWaiter(engine.database.db, engine.tasks, 60_000, pino({ level: "silent" }), 1);
    const { ids } = await startRuns(2);
    const parked = waiter.wait(ids[0] as string, { waitMs: 30_000 });
    await vi.waitFor(() => expect(waiter.waiting).toBe(1));
    expect(await waiter.wait(ids[1] as string, { waitMs: 30_000 })).toMatchObject({ state: "RUNNING" });
    // stop() ends what is parked.
    waiter.stop();
    expect(await parked).toBeNull();
    expect(waiter.waiting).toBe(0);
  });

  it("an aborted wait ends at once", async () => {
    const { ids } = await startRuns(1);
    const abort = new AbortController();
    const waiting = engine.instanceEnds.wait(ids[0] as string, { waitMs: 30_000, signal: abort.signal });
    await vi.waitFor(() => expect(engine.instanceEnds.waiting).toBe(1));
    abort.abort();
    expect(await waiting).toBeNull();
    expect(engine.instanceEnds.waiting).toBe(0);
  });
});
