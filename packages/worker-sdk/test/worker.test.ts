import { directDb } from "@baton/engine/internal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { BatonError, type HandlerContext, NonRetryableError, RetryLaterError, type Transport, WorkerStoppedError } from "../src/index.ts";
import { EventLog, gate, TRANSPORT_MODES, uniqueName, workerSuite } from "./support/harness.ts";

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine?.destroy());

describe.each(TRANSPORT_MODES)("worker (%s)", (mode) => {
  const suite = workerSuite(() => engine, mode, { pollWaitMs: 5000 });
  const { startWorker, realTransport } = suite;

  it("runs a two-step saga to completion, each step seeing the outputs before it", async () => {
    const workflow = uniqueName("saga");
    await suite.client.register({ name: workflow, steps: [{ name: "reserve", undo: true }, { name: "charge" }] });
    const seen: HandlerContext<Record<string, unknown>>[] = [];
    startWorker({
      workflow,
      concurrency: 2,
      handlers: {
        reserve: {
          do: (ctx: HandlerContext<{ amount: number }>) => {
            seen.push(ctx as HandlerContext<Record<string, unknown>>);
            return { reservation: `r-${ctx.input.amount}` };
          },
          undo: () => ({ released: true }),
        },
        charge: (ctx: HandlerContext<{ amount: number; reserve: { reservation: string } }>) => {
          seen.push(ctx as HandlerContext<Record<string, unknown>>);
          return { charged: ctx.input.amount, against: ctx.input.reserve.reservation };
        },
      },
    });
    const { instanceId, created } = await suite.client.start(workflow, { runId: "order-1", input: { amount: 42 } });
    expect(created).toBe(true);
    const done = await suite.client.waitFor(instanceId, "COMPLETED", { timeoutMs: 20_000 });
    expect(done.output).toEqual({ reserve: { reservation: "r-42" }, charge: { charged: 42, against: "r-42" } });
    expect(seen.map((c) => [c.taskId, c.kind, c.attempt, c.instanceId, c.workflowName])).toEqual([
      ["reserve", "DO", 1, instanceId, workflow],
      ["charge", "DO", 1, instanceId, workflow],
    ]);
    expect(seen[1]!.fenceToken).toBeGreaterThan(seen[0]!.fenceToken);
    expect(done.tasks.map((t) => [t.taskId, t.state])).toEqual([
      ["reserve", "COMPLETED"],
      ["charge", "COMPLETED"],
    ]);
  });

  it("fails a step at once, without retries, when the handler throws NonRetryableError", async () => {
    const workflow = uniqueName("nonretry");
    await suite.client.register({ name: workflow, steps: [{ name: "validate", retry: { maxAttempts: 5, backoffMs: 0 } }] });
    const events = new EventLog();
    startWorker({
      workflow,
      onEvent: events.push,
      handlers: {
        validate: () => {
          throw new NonRetryableError("tenant name is taken", { tenant: "acme" });
        },
      },
    });
    const { instanceId } = await suite.client.start(workflow, { input: { tenant: "acme" } });
    const failed = await suite.client.waitFor(instanceId, "FAILED", { timeoutMs: 20_000 });
    expect(failed.tasks).toHaveLength(1);
    expect(failed.tasks[0]).toMatchObject({
      state: "FAILED",
      attempt: 1,
      error: { message: "tenant name is taken", details: { tenant: "acme" } },
    });
    expect((await events.next("task-failed")).retryable).toBe(false);
  });

  it("waits at least as long as a RetryLaterError asks before the retry", async () => {
    const workflow = uniqueName("later");
    await suite.client.register({ name: workflow, steps: [{ name: "call", retry: { maxAttempts: 2, backoffMs: 0 } }] });
    const startedAt: number[] = [];
    startWorker({
      workflow,
      handlers: {
        call: (ctx) => {
          startedAt.push(Date.now());
          if (ctx.attempt === 1) throw new RetryLaterError("rate limited", 1500, { status: 429 });
          return { ok: true };
        },
      },
    });
    const { instanceId } = await suite.client.start(workflow);
    const done = await suite.client.waitFor(instanceId, "COMPLETED", { timeoutMs: 20_000 });
    expect(done.tasks[0]).toMatchObject({
      state: "FAILED",
      error: { message: "rate limited", retryAfterMs: 1500, details: { status: 429 } },
    });
    expect((startedAt[1] as number) - (startedAt[0] as number)).toBeGreaterThanOrEqual(1400);
  });

  it("retries an ordinary error until the step's attempts run out", async () => {
    const workflow = uniqueName("retry");
    await suite.client.register({ name: workflow, steps: [{ name: "flaky", retry: { maxAttempts: 3, backoffMs: 0 } }] });
    startWorker({
      workflow,
      handlers: {
        flaky: (ctx) => {
          if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} failed`);
          return { attempt: ctx.attempt };
        },
      },
    });
    const { instanceId } = await suite.client.start(workflow);
    const done = await suite.client.waitFor(instanceId, "COMPLETED", { timeoutMs: 20_000 });
    expect(done.tasks.map((t) => [t.attempt, t.state])).toEqual([
      [1, "FAILED"],
      [2, "FAILED"],
      [3, "COMPLETED"],
    ]);
    expect(done.output).toEqual({ flaky: { attempt: 3 } });
  });

  it("aborts the signal of a handler whose lease ran out, and the retry on another attempt finishes the step", async () => {
    const workflow = uniqueName("lost");
    await suite.client.register({ name: workflow, steps: [{ name: "slow", retry: { maxAttempts: 2, backoffMs: 0 } }] });
    const events = new EventLog();
    const aborted = gate<unknown>();
    startWorker({
      workflow,
      onEvent: events.push,
      heartbeatIntervalMs: 50,
      handlers: {
        slow: async (ctx) => {
          if (ctx.attempt === 1) {
            // Stalled: it only notices the signal, which the next refused heartbeat aborts.
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
            aborted.open(ctx.signal.reason);
            return { stale: true };
          }
          return { fresh: true };
        },
      },
    });
    const { instanceId } = await suite.client.start(workflow);
    const started = await events.next("task-started");
    await engine.expireLease(started.task.executionId);
    const reason = await aborted.promise;
    expect(reason).toBeInstanceOf(BatonError);
    expect((reason as BatonError).code).toBe("LEASE_EXPIRED");
    expect((await events.next("lease-lost")).phase).toBe("heartbeat");
    await engine.tasks.reapExpiredLeases();
    const done = await suite.client.waitFor(instanceId, "COMPLETED", { timeoutMs: 20_000 });
    expect(done.output).toEqual({ slow: { fresh: true } });
    expect(done.tasks.map((t) => [t.attempt, t.state])).toEqual([
      [1, "TIMED_OUT"],
      [2, "COMPLETED"],
    ]);
  });

  it("has the completion of a handler stuck past its lease rejected, and aborts its signal", async () => {
    const workflow = uniqueName("stuck");
    await suite.client.register({ name: workflow, steps: [{ name: "stuck", retry: { maxAttempts: 1 } }] });
    const events = new EventLog();
    const release = gate();
    let signal: AbortSignal | undefined;
    startWorker({
      workflow,
      onEvent: events.push,
      heartbeatIntervalMs: 3_600_000, // no heartbeat comes before the handler returns
      handlers: {
        stuck: async (ctx) => {
          signal = ctx.signal;
          await release.promise;
          return { late: true };
        },
      },
    });
    const { instanceId } = await suite.client.start(workflow);
    const started = await events.next("task-started");
    await engine.expireLease(started.task.executionId);
    release.open();
    const lost = await events.next("lease-lost");
    expect(lost.phase).toBe("complete");
    expect(lost.error.code).toBe("LEASE_EXPIRED");
    expect(signal?.aborted).toBe(true);
    expect(events.ofType("task-completed")).toHaveLength(0);
    const view = await suite.client.get(instanceId);
    expect(view.tasks[0]).toMatchObject({ state: "LEASED", output: null });
    await engine.tasks.reapExpiredLeases();
    expect((await suite.client.waitFor(instanceId, "FAILED", { timeoutMs: 20_000 })).tasks[0]?.state).toBe("TIMED_OUT");
  });

  it("retries reporting through transient failures and records the outcome once", async () => {
    const workflow = uniqueName("blip");
    await suite.client.register({ name: workflow, steps: [{ name: "work" }] });
    const base = realTransport();
    let refusals = 2;
    const flaky: Transport = {
      ...base,
      completeMany: async (reports) => {
        // The first two answers are lost after the engine recorded the completion.
        const answers = await base.completeMany(reports);
        if (refusals-- > 0) throw new BatonError("UNAVAILABLE", "connection reset");
        return answers;
      },
    };
    const events = new EventLog();
    startWorker({ transport: flaky, workflow, onEvent: events.push, retry: { minDelayMs: 1, maxDelayMs: 5 }, handlers: { work: () => 7 } });
    const { instanceId } = await suite.client.start(workflow);
    const done = await suite.client.waitFor(instanceId, "COMPLETED", { timeoutMs: 20_000 });
    await events.next("task-completed");
    expect(refusals).toBe(-1);
    expect(done.tasks).toHaveLength(1);
    expect(done.events.filter((e) => e.eventType === "TASK_COMPLETED")).toHaveLength(1);
  });

  it("stops under load without losing a task or completing one twice", async () => {
    const workflow = uniqueName("load");
    const runs = 200;
    await suite.client.register({ name: workflow, steps: [{ name: "first" }, { name: "second" }] });
    const handlers = {
      first: async (ctx: HandlerContext) => {
        await new Promise((resolve) => setImmediate(resolve));
        return { n: ctx.input.n };
      },
      second: async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return "ok";
      },
    };
    const ids = await Promise.all(
      Array.from({ length: runs }, (_, n) => suite.client.start(workflow, { runId: `run-${n}`, input: { n } })),
    );
    let acquiresAfterStop = 0;
    let stopping = false;
    const base = realTransport();
    const watched: Transport = {
      ...base,
      acquire: (params) => {
        if (stopping) acquiresAfterStop++;
        return base.acquire(params);
      },
    };
    const first = new EventLog();
    const worker1 = startWorker({ transport: watched, workflow, concurrency: 8, onEvent: first.push, handlers });
    await first.count("task-completed", 60);
    stopping = true;
    const { abandoned } = await worker1.stop({ deadlineMs: 10_000 });
    expect(abandoned).toBe(0);
    expect(acquiresAfterStop).toBe(0);
    const eventsAtStop = first.all.length;

    // Whatever the first worker had leased but not started (an acquire cut short by stop over
    // HTTP) is left to its lease: expire and reap those, as the reaper would after leaseMs.
    const leased = await directDb(engine.database)
      .selectFrom("task_leases")
      .select("execution_id")
      .where("queue", "like", `${workflow}.%`)
      .where("state", "=", "LEASED")
      .execute();
    for (const { execution_id } of leased) await engine.expireLease(execution_id);
    await engine.tasks.reapExpiredLeases(10_000);
    await engine.skipBackoff();

    const second = new EventLog();
    startWorker({ workflow, concurrency: 8, onEvent: second.push, handlers });
    await second.count("task-completed", runs * 2 - first.ofType("task-completed").length);
    for (const { instanceId } of ids) {
      const done = await suite.client.get(instanceId);
      expect(done.state).toBe("COMPLETED");
      for (const step of ["first", "second"]) {
        expect(
          done.tasks.filter((t) => t.taskId === step && t.state === "COMPLETED"),
          `${instanceId} ${step}`,
        ).toHaveLength(1);
      }
    }
    expect(first.all.length).toBe(eventsAtStop); // nothing from the first worker after stop resolved
    const completions = [...first.ofType("task-completed"), ...second.ofType("task-completed")].map(
      (e) => `${e.task.instanceId}:${e.task.taskId}`,
    );
    expect(new Set(completions).size).toBe(completions.length);
    expect(completions).toHaveLength(runs * 2);
  }, 120_000);

  it("aborts handlers still running at the stop deadline and leaves them to their lease", async () => {
    const workflow = uniqueName("deadline");
    await suite.client.register({ name: workflow, steps: [{ name: "forever" }] });
    const events = new EventLog();
    const reason = gate<unknown>();
    const worker = startWorker({
      workflow,
      onEvent: events.push,
      handlers: {
        forever: async (ctx) => {
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
          reason.open(ctx.signal.reason);
          return "too late";
        },
      },
    });
    const { instanceId } = await suite.client.start(workflow);
    await events.next("task-started");
    expect(await worker.stop({ deadlineMs: 0 })).toEqual({ abandoned: 1 });
    expect(await reason.promise).toBeInstanceOf(WorkerStoppedError);
    expect(events.all.map((e) => e.type)).toEqual(["task-started", "task-abandoned", "stopped"]);
    const view = await suite.client.get(instanceId);
    expect(view.tasks.map((t) => t.state)).toEqual(["LEASED"]);
  });
});
