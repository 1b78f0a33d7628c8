import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectHistoryConsistent } from "../../../test-support/drive.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { BatonError, createWorker, type InstanceView, type Transport } from "../src/index.ts";
import { EventLog, gate, TRANSPORT_MODES, uniqueName, workerSuite } from "./support/harness.ts";

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine?.destroy());

/** Polls `check` until it holds (the state it waits on has no event to wait for). */
async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(TRANSPORT_MODES)("slots, background reports and the local queue (%s)", (mode) => {
  const suite = workerSuite(() => engine, mode, { pollWaitMs: 1000 });
  const { startWorker, realTransport } = suite;

  /** A one-step workflow (`work`) with `runs` runs started; answers their instance ids. */
  async function oneStepRuns(runs: number, step: Record<string, unknown> = {}) {
    const workflow = uniqueName("slots");
    await suite.client.register({ name: workflow, steps: [{ name: "work", ...step }] });
    const started = await Promise.all(Array.from({ length: runs }, (_, n) => suite.client.start(workflow, { input: { n } })));
    return { workflow, instanceIds: started.map((s) => s.instanceId) };
  }

  /** The real transport, with every completion report held until `answer` opens; `held()` counts them. */
  function heldCompletions() {
    const base = realTransport();
    const answer = gate();
    let held = 0;
    const transport: Transport = {
      ...base,
      completeMany: async (reports) => {
        held += reports.length;
        await answer.promise;
        return base.completeMany(reports);
      },
    };
    return { transport, answer, held: () => held };
  }

  const attempts = async (instanceId: string) => (await suite.client.get(instanceId)).tasks;

  it("frees a slot when the handler returns: one slot runs every task while no report has been answered", async () => {
    const runs = 3;
    const { workflow, instanceIds } = await oneStepRuns(runs);
    const { transport: slow, answer, held } = heldCompletions();
    const events = new EventLog();
    startWorker({ transport: slow, workflow, concurrency: 1, prefetch: 0, onEvent: events.push, handlers: { work: (ctx) => ctx.input } });
    // With a slot held until its report is answered, the second task could never start.
    await events.count("task-started", runs);
    await until("every report is sent", () => held() === runs);
    expect(events.ofType("task-completed")).toHaveLength(0);
    answer.open();
    await events.count("task-completed", runs);
    for (const instanceId of instanceIds) {
      const done = await suite.client.waitFor(instanceId, "COMPLETED", { timeoutMs: 20_000 });
      expect(done.tasks.map((t) => t.state)).toEqual(["COMPLETED"]);
      expectHistoryConsistent(done);
    }
  });

  it("stops taking tasks while its reports in flight are at their bound, and goes on once they are answered", async () => {
    // concurrency 1, prefetch 0: at most 4 reports in flight.
    const runs = 6;
    const { workflow, instanceIds } = await oneStepRuns(runs);
    const { transport: stuck, answer, held } = heldCompletions();
    const events = new EventLog();
    startWorker({ transport: stuck, workflow, concurrency: 1, prefetch: 0, onEvent: events.push, handlers: { work: () => "ok" } });
    await until("four reports are in flight", () => held() === 4);
    // Nothing is leased past the bound: the other runs' tasks stay with the engine.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(events.ofType("task-started")).toHaveLength(4);
    const leased = (await Promise.all(instanceIds.map(attempts))).filter((tasks) => tasks[0]?.state === "LEASED");
    expect(leased).toHaveLength(4);
    answer.open();
    await events.count("task-completed", runs);
    for (const instanceId of instanceIds) await suite.client.waitFor(instanceId, "COMPLETED", { timeoutMs: 20_000 });
  });

  it("heartbeats prefetched tasks while they wait and hands them back on stop; another worker runs them at once", async () => {
    const runs = 3;
    const { workflow, instanceIds } = await oneStepRuns(runs);
    const events = new EventLog();
    const release = gate();
    const worker = startWorker({
      workflow,
      concurrency: 1,
      prefetch: 2,
      heartbeatIntervalMs: 50,
      onEvent: events.push,
      handlers: {
        work: async () => {
          await release.promise;
          return "first";
        },
      },
    });
    await until("every task is leased to the worker", async () => {
      const tasks = (await Promise.all(instanceIds.map(attempts))).flat();
      return tasks.every((t) => t.state === "LEASED" && t.leaseHolder === worker.id);
    });
    const running = (await events.next("task-started")).task;
    const waiting = instanceIds.filter((id) => id !== running.instanceId);
    const leasedAt = await Promise.all(waiting.map(async (id) => (await attempts(id))[0]?.leaseExpiresAt as string));
    await until("the waiting tasks' leases are extended", async () => {
      const now = await Promise.all(waiting.map(async (id) => (await attempts(id))[0]?.leaseExpiresAt as string));
      return now.every((at, i) => new Date(at) > new Date(leasedAt[i] as string));
    });

    const stopped = worker.stop({ deadlineMs: 10_000 });
    await until("the waiting tasks are handed back", async () => {
      const tasks = await Promise.all(waiting.map(attempts));
      return tasks.every((t) => t[0]?.state === "CANCELLED" && t[1]?.state === "PENDING");
    });
    release.open();
    expect(await stopped).toEqual({ abandoned: 0 });
    expect(events.ofType("task-started").map((e) => e.task.instanceId)).toEqual([running.instanceId]);

    // Handed back, not timed out: a second worker gets them now, and the attempt was not charged.
    const second = new EventLog();
    startWorker({ workflow, onEvent: second.push, handlers: { work: () => "second" } });
    for (const instanceId of waiting) {
      const done = await suite.client.waitFor(instanceId, "COMPLETED", { timeoutMs: 20_000 });
      expect(done.output).toEqual({ work: "second" });
      expect(done.tasks.map((t) => [t.attempt, t.state, t.maxAttempts])).toEqual([
        [1, "CANCELLED", 3],
        [2, "COMPLETED", 4],
      ]);
      expectHistoryConsistent(done);
    }
    const first = await suite.client.get(running.instanceId);
    expect([first.state, first.output]).toEqual(["COMPLETED", { work: "first" }]);
  });

  it("hands back a prefetched task whose lease ran low while it waited, instead of starting it", async () => {
    const { workflow, instanceIds } = await oneStepRuns(2, { leaseMs: 500 });
    const base = realTransport();
    // The heartbeats of whichever task waits fail as if its requests were lost.
    let waitingId: string | undefined;
    const lossy: Transport = {
      ...base,
      heartbeatMany: async (leases) => {
        const answers = await base.heartbeatMany(leases.filter((l) => l.executionId !== waitingId));
        return leases.map((l) =>
          l.executionId === waitingId ? new BatonError("UNAVAILABLE", "connection reset") : (answers.shift() as { leaseExpiresAt: string }),
        );
      },
    };
    const events = new EventLog();
    const release = gate();
    const worker = startWorker({
      transport: lossy,
      workflow,
      concurrency: 1,
      prefetch: 1,
      heartbeatIntervalMs: 50,
      onEvent: events.push,
      handlers: {
        work: async () => {
          await release.promise;
          return "ran";
        },
      },
    });
    const running = (await events.next("task-started")).task;
    const waitingInstance = instanceIds.find((id) => id !== running.instanceId) as string;
    let waiting: InstanceView["tasks"][number] | undefined;
    await until("the other task is leased to the worker", async () => {
      waiting = (await attempts(waitingInstance))[0];
      return waiting?.state === "LEASED" && waiting.leaseHolder === worker.id;
    });
    waitingId = waiting?.executionId;
    await until("its lease has run out", async () => new Date((await attempts(waitingInstance))[0]?.leaseExpiresAt as string) < new Date());
    release.open();
    await until("it is handed back", async () => (await attempts(waitingInstance))[0]?.state === "CANCELLED");
    const done = await suite.client.waitFor(waitingInstance, "COMPLETED", { timeoutMs: 20_000 });
    expect(done.tasks.map((t) => [t.attempt, t.state])).toEqual([
      [1, "CANCELLED"],
      [2, "COMPLETED"],
    ]);
    // The handed-back attempt never ran; the next one did.
    const started = events.ofType("task-started").map((e) => e.task.executionId);
    expect(started).toEqual([running.executionId, done.tasks[1]?.executionId]);
  });

  it("keeps every task's outcome exactly once through a drain with a local queue", async () => {
    const runs = 120;
    const { workflow, instanceIds } = await oneStepRuns(runs);
    const events = new EventLog();
    startWorker({ workflow, concurrency: 4, prefetch: 20, onEvent: events.push, handlers: { work: (ctx) => ctx.input } });
    await events.count("task-completed", runs);
    const completed = events.ofType("task-completed").map((e) => e.task.instanceId);
    expect(new Set(completed).size).toBe(runs);
    for (const instanceId of instanceIds) {
      const done = await suite.client.get(instanceId);
      expect(done.tasks.map((t) => t.state)).toEqual(["COMPLETED"]);
      expect(done.events.filter((e) => e.eventType === "TASK_COMPLETED")).toHaveLength(1);
    }
  });
});

describe("prefetch", () => {
  it("is refused outside 0 to 1000, naming the option", () => {
    for (const prefetch of [-1, 1001, 1.5, Number.NaN]) {
      expect(() => createWorker({ engine, workflow: "wf", handlers: { work: () => 1 }, prefetch })).toThrow(
        /prefetch: expected an integer from 0 to 1000/,
      );
    }
  });
});
