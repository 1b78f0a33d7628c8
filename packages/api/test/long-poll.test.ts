import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type Harness, startHarness, uniqueWorkflow } from "./http-harness.ts";

// The safety-net poll is far longer than any wait here, so a task that reaches a waiting worker
// before its waitMs ran out can only have come through the NOTIFY wake-up.
const POLL_INTERVAL_MS = 10_000;
const WAIT_MS = 8000;
// Long enough for all 200 to be parked at once even on PGlite, which runs one query at a time.
const CROWD_WAIT_MS = 5000;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ poolSize: 10, pollIntervalMs: POLL_INTERVAL_MS });
});
afterAll(() => h.close());

async function register() {
  const { name, queue } = uniqueWorkflow("poll");
  await h.call("POST", "/v1/workflows", { name, steps: [{ name: "work", queue }] });
  return { name, queue };
}

const parked = (n: number) => vi.waitFor(() => expect(h.engine.dispatcher.waiting).toBe(n), { timeout: 5000, interval: 10 });

describe("long-poll acquire", () => {
  it("hands a task started while a worker waits to that worker before its wait runs out", async () => {
    const { name, queue } = await register();
    const started = Date.now();
    const waiting = h.call("POST", "/v1/tasks/acquire", { workerId: "waiter", queues: [queue], waitMs: WAIT_MS });
    await parked(1);
    const run = await h.call("POST", `/v1/workflows/${name}/runs`, { input: { n: 1 } });
    const res = await waiting;
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.body.tasks).toEqual([expect.objectContaining({ instanceId: run.body.instanceId, queue })]);
    // Generous bound: only that the wake-up came well before waitMs (and the 10 s poll) ran out.
    expect(elapsed).toBeLessThan(WAIT_MS - 2000);
  });

  it("hands nothing to a client that disconnects while waiting; the next worker gets the task", async () => {
    const { name, queue } = await register();
    const client = new AbortController();
    const gone = fetch(`${h.url}/v1/tasks/acquire`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ workerId: "leaver", queues: [queue], waitMs: WAIT_MS }),
      signal: client.signal,
    });
    await parked(1);
    client.abort();
    await expect(gone).rejects.toThrow();
    // The server noticed the disconnect: the waiter left the dispatcher long before its wait ran out.
    await parked(0);

    const run = await h.call("POST", `/v1/workflows/${name}/runs`, { input: { n: 2 } });
    const pending = await h.call("GET", `/v1/instances/${run.body.instanceId}`);
    expect(pending.body.tasks).toEqual([expect.objectContaining({ state: "PENDING", attempt: 1, leaseHolder: null })]);

    const next = await h.call("POST", "/v1/tasks/acquire", { workerId: "stayer", queues: [queue], waitMs: 1000 });
    expect(next.body.tasks).toEqual([expect.objectContaining({ instanceId: run.body.instanceId, attempt: 1 })]);
    const leased = await h.call("GET", `/v1/instances/${run.body.instanceId}`);
    expect(leased.body.tasks).toEqual([expect.objectContaining({ state: "LEASED", leaseHolder: "stayer" })]);
  });

  it("parks 200 concurrent long-polls without exhausting the pool, and other requests answer meanwhile", async () => {
    const { name, queue } = await register();
    const polls = Array.from({ length: 200 }, (_, i) =>
      h.call("POST", "/v1/tasks/acquire", { workerId: `crowd-${i}`, queues: [`${queue}.empty-${i % 7}`], waitMs: CROWD_WAIT_MS }),
    );
    await vi.waitFor(() => expect(h.engine.dispatcher.waiting).toBeGreaterThanOrEqual(150), { timeout: 10_000, interval: 10 });

    const listed = await h.call("GET", "/v1/instances?limit=1");
    const started = await h.call("POST", `/v1/workflows/${name}/runs`, { input: { n: 3 } });
    expect(listed.status).toBe(200);
    expect(started.status).toBe(201);
    // Both answered while the crowd was still parked.
    expect(h.engine.dispatcher.waiting).toBeGreaterThan(0);

    const answers = await Promise.all(polls);
    expect(answers.map((a) => a.status)).toEqual(Array(200).fill(200));
    expect(answers.every((a) => a.body.tasks.length === 0)).toBe(true);
    const after = await h.call("POST", "/v1/tasks/acquire", { workerId: "after", queues: [queue] });
    expect(after.body.tasks).toHaveLength(1);
  });
});
