import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { createWorker, type HandlerContext, silentLogger, type WorkerOptions } from "../src/index.ts";
import { EventLog, gate, TRANSPORT_MODES, uniqueName, workerSuite } from "./support/harness.ts";

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine?.destroy());

/** POST requests the server answered on `route` (its pattern), as its /metrics counts them. */
async function requestsTo(url: string, route: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("baton_http_request_duration_seconds_count{") && line.includes(`route="${route}"`))
    .filter((line) => line.includes('method="POST"'))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}

describe.each(TRANSPORT_MODES)("report batching (%s)", (mode) => {
  const suite = workerSuite(() => engine, mode, { pollWaitMs: 1000 });

  /**
   * A one-step workflow with `runs` runs started, and a worker that holds every handler at a gate
   * (no automatic heartbeats) until the test opens it; then each handler heartbeats (`beat`) and returns.
   */
  async function heldTasks(runs: number, { beat = true, ...options }: Partial<WorkerOptions> & { beat?: boolean } = {}) {
    const workflow = uniqueName("batched");
    await suite.client.register({ name: workflow, steps: [{ name: "work" }] });
    const started = await Promise.all(Array.from({ length: runs }, (_, n) => suite.client.start(workflow, { input: { n } })));
    const events = new EventLog();
    const release = gate();
    const worker = createWorker({
      ...suite.connection.options,
      workflow,
      concurrency: runs,
      pollWaitMs: 1000,
      heartbeatIntervalMs: 3_600_000,
      logger: silentLogger,
      onEvent: events.push,
      handlers: {
        work: async (ctx: HandlerContext<{ n: number }>) => {
          await release.promise;
          if (beat) await ctx.heartbeat();
          return { n: ctx.input.n };
        },
      },
      ...options,
    } as WorkerOptions);
    suite.track(worker);
    await events.count("task-started", runs);
    return { worker, events, instanceIds: started.map((s) => s.instanceId), release: release.open };
  }

  it.runIf(mode === "http")("reports many concurrent tasks in fewer requests than tasks, through the batch routes", async () => {
    const url = suite.connection.options.url as string;
    const runs = 30;
    const { events, instanceIds, release } = await heldTasks(runs);
    release();
    await events.count("task-completed", runs);
    const [heartbeats, completions, singles] = await Promise.all([
      requestsTo(url, "/v1/tasks/heartbeat"),
      requestsTo(url, "/v1/tasks/complete"),
      requestsTo(url, "/v1/tasks/:executionId/complete"),
    ]);
    expect(heartbeats).toBeGreaterThan(0);
    expect(heartbeats).toBeLessThan(runs);
    expect(completions).toBeGreaterThan(0);
    expect(completions).toBeLessThan(runs);
    expect(singles).toBe(0);
    for (const instanceId of instanceIds) expect((await suite.client.get(instanceId)).state).toBe("COMPLETED");
  });

  it("surfaces a refused item to its own task only; the others in its batch complete", async () => {
    const runs = 5;
    const { events, instanceIds, release } = await heldTasks(runs);
    const expired = events.ofType("task-started").find((e) => (e.task.input as { n: number }).n === 0)?.task;
    if (!expired) throw new Error("run 0 did not start");
    await engine.expireLease(expired.executionId);
    release();
    const lost = await events.next("lease-lost");
    await events.count("task-completed", runs - 1);
    expect(lost).toMatchObject({ task: { executionId: expired.executionId }, error: { code: "LEASE_EXPIRED" } });
    expect(events.ofType("lease-lost")).toHaveLength(1);
    const completed = events.ofType("task-completed").map((e) => e.task.executionId);
    expect(completed).toHaveLength(runs - 1);
    expect(completed).not.toContain(expired.executionId);
    const states = await Promise.all(instanceIds.map(async (id) => (await suite.client.get(id)).state));
    expect(states.filter((s) => s === "COMPLETED")).toHaveLength(runs - 1);
  });

  it("sends gathered reports before stop resolves, even past its deadline", async () => {
    const { worker, events, instanceIds, release } = await heldTasks(1, { beat: false, reportBatchMs: 100 });
    release();
    // The handler returns on this turn; its completion then waits out the 100 ms batch delay.
    await new Promise(setImmediate);
    await worker.stop({ deadlineMs: 0 });
    expect((await suite.client.get(instanceIds[0] as string)).state).toBe("COMPLETED");
    expect(events.all.map((e) => e.type)).toEqual(["task-started", "task-completed", "stopped"]);
  });
});

describe("reportBatchMs", () => {
  it("is refused outside 0 to 100 ms, naming the option", () => {
    for (const reportBatchMs of [-1, 101, Number.NaN]) {
      expect(() => createWorker({ engine, workflow: "wf", handlers: { work: () => 1 }, reportBatchMs })).toThrow(
        /reportBatchMs: expected 0 to 100 ms/,
      );
    }
  });
});
