import { createEngine, type Engine } from "@baton/engine";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { workerList } from "../src/store/workers.ts";

// The safety-net poll is set to a minute, so a waiter answered within the test ran on a wake-up.
const NO_POLL_MS = 60_000;

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine({ pollIntervalMs: NO_POLL_MS });
});
afterAll(() => engine.destroy());

async function register() {
  const name = `wake-${crypto.randomUUID().slice(0, 8)}`;
  await engine.workflows.registerWorkflow({ name, steps: [{ name: "a", queue: name }] });
  return name;
}

/** A second engine on the same database: another process's dispatcher, with a LISTEN connection of its own. */
function otherProcess(): Promise<Engine> {
  return createEngine({ database: engine.database, migrate: false, pollIntervalMs: NO_POLL_MS, reapIntervalMs: 0 });
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("TaskDispatcher (long-poll acquire)", () => {
  it("answers at once when a task is there", async () => {
    const name = await register();
    await engine.workflows.startWorkflow({ workflow: name });
    const tasks = await engine.dispatcher.acquire({ queues: [name], workerId: "w", max: 5, waitMs: 0 });
    expect(tasks).toHaveLength(1);
  });

  it("wakes a waiting acquirer when a task is scheduled, without waiting for a poll", async () => {
    const name = await register();
    const waiting = engine.dispatcher.acquire({ queues: [name], workerId: "w", max: 1, waitMs: 30_000 });
    await waitUntil(async () => engine.dispatcher.waiting > 0, "the acquirer to park");
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    const [task] = await waiting;
    expect(task?.instanceId).toBe(instanceId);
  });

  it("hands a start's task straight to a parked poll of this process: leased by the start's statement, completed with its fence", async () => {
    const name = await register();
    const looks = vi.spyOn(engine.tasks, "acquire");
    try {
      const waiting = engine.dispatcher.acquire({ queues: [name], workerId: "w", max: 1, waitMs: 30_000 });
      await waitUntil(async () => engine.dispatcher.parkedPolls > 0, "the poll to park");
      const handedBefore = engine.dispatcher.handedOff;
      const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { order: 7 } });
      const [task] = await waiting;
      expect(task).toMatchObject({ instanceId, workflowName: name, namespace: "default", step: "a", kind: "DO", attempt: 1 });
      expect(task?.input).toEqual({ order: 7 });
      expect(new Date(task?.leaseExpiresAt as string).getTime()).toBeGreaterThan(Date.now());
      // One look, the one that parked the poll: the start leased the task, no acquire statement did.
      expect(looks).toHaveBeenCalledTimes(1);
      expect(engine.dispatcher.handedOff).toBe(handedBefore + 1);
      const [view] = (await engine.workflows.getWorkflow(instanceId)).tasks;
      expect(view).toMatchObject({ state: "LEASED", leaseHolder: "w", fenceToken: task?.fenceToken });
      await engine.tasks.complete({ executionId: task?.executionId as string, workerId: "w", fenceToken: task?.fenceToken as number });
      expect((await engine.workflows.getWorkflow(instanceId)).state).toBe("COMPLETED");
    } finally {
      looks.mockRestore();
    }
  });

  it("hands the next step a completion schedules straight to a poll parked on its queue", async () => {
    const name = `next-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({
      name,
      steps: [
        { name: "a", queue: `${name}.a` },
        { name: "b", queue: `${name}.b` },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { n: 1 } });
    const [first] = await engine.tasks.acquire({ queues: [`${name}.a`], workerId: "w", max: 1 });
    const looks = vi.spyOn(engine.tasks, "acquire");
    try {
      const waiting = engine.dispatcher.acquire({ queues: [`${name}.b`], workerId: "w2", max: 5, waitMs: 30_000 });
      await waitUntil(async () => engine.dispatcher.parkedPolls > 0, "the poll to park");
      const handedBefore = engine.dispatcher.handedOff;
      await engine.tasks.complete({ executionId: first?.executionId as string, workerId: "w", fenceToken: first?.fenceToken as number });
      const [next] = await waiting;
      expect(next).toMatchObject({ instanceId, step: "b", kind: "DO", attempt: 1, input: { n: 1 } });
      expect(looks).toHaveBeenCalledTimes(1);
      expect(engine.dispatcher.handedOff).toBe(handedBefore + 1);
      await engine.tasks.complete({ executionId: next?.executionId as string, workerId: "w2", fenceToken: next?.fenceToken as number });
      expect((await engine.workflows.getWorkflow(instanceId)).state).toBe("COMPLETED");
    } finally {
      looks.mockRestore();
    }
  });

  it("hands a parked poll at most its max; the rest of a batch start stays pending for the next acquire", async () => {
    const name = await register();
    const waiting = engine.dispatcher.acquire({ queues: [name], workerId: "w", max: 2, waitMs: 30_000 });
    await waitUntil(async () => engine.dispatcher.parkedPolls > 0, "the poll to park");
    const started = await engine.workflows.startMany({ workflow: name, runs: [0, 1, 2, 3, 4].map((i) => ({ runId: `r${i}` })) });
    expect(await waiting).toHaveLength(2);
    const rest = await engine.tasks.acquire({ queues: [name], workerId: "other", max: 10 });
    expect(rest).toHaveLength(3);
    expect(started).toHaveLength(5);
  });

  it("hands nothing for a start that found its run already there; the poll keeps waiting for new work", async () => {
    const name = await register();
    const first = await engine.workflows.startWorkflow({ workflow: name, runId: "once" });
    expect(await engine.tasks.acquire({ queues: [name], workerId: "w", max: 1 })).toHaveLength(1);
    const waiting = engine.dispatcher.acquire({ queues: [name], workerId: "w", max: 1, waitMs: 30_000 });
    await waitUntil(async () => engine.dispatcher.parkedPolls > 0, "the poll to park");
    expect(await engine.workflows.startWorkflow({ workflow: name, runId: "once" })).toMatchObject({
      instanceId: first.instanceId,
      created: false,
    });
    await waitUntil(async () => engine.dispatcher.parkedPolls > 0, "the poll to park again");
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, runId: "twice" });
    expect((await waiting).map((t) => t.instanceId)).toEqual([instanceId]);
  });

  it("wakes another process's waiting acquirer through the NOTIFY, and skips the NOTIFY of its own starts", async () => {
    const other = await otherProcess();
    try {
      const name = await register();
      const waiting = other.dispatcher.acquire({ queues: [name], workerId: "elsewhere", max: 1, waitMs: 30_000 });
      await waitUntil(async () => other.dispatcher.waiting > 0, "the other process's acquirer to park");
      const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
      expect((await waiting)[0]?.instanceId).toBe(instanceId);

      // This process woke its own waiters when its start committed; its NOTIFY names it, and is skipped.
      const heard: string[] = [];
      const unlisten = await engine.database.listen("baton_tasks", (payload) => heard.push(payload));
      const idle = await register();
      try {
        await engine.workflows.startWorkflow({ workflow: idle });
        expect(await engine.tasks.acquire({ queues: [idle], workerId: "w", max: 1 })).toHaveLength(1);
        await waitUntil(async () => heard.some((p) => p.startsWith(`${idle}#`)), "the start's NOTIFY");
      } finally {
        await unlisten();
      }
      const own = heard.find((p) => p.startsWith(`${idle}#`)) as string;
      const looks = vi.spyOn(engine.tasks, "acquire");
      const stop = new AbortController();
      const parked = engine.dispatcher.acquire({ queues: [idle], workerId: "w", max: 1, waitMs: 30_000, signal: stop.signal });
      await waitUntil(async () => engine.dispatcher.waiting > 0, "the acquirer to park");
      expect(looks).toHaveBeenCalledTimes(1);
      await sql`SELECT pg_notify('baton_tasks', ${own})`.execute(engine.database.db);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(looks).toHaveBeenCalledTimes(1);
      await sql`SELECT pg_notify('baton_tasks', ${idle})`.execute(engine.database.db);
      await waitUntil(async () => looks.mock.calls.length === 2, "a look after another sender's wake-up");
      looks.mockRestore();
      stop.abort();
      expect(await parked).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it("parks a poll without a look when the last look drained its queue; a start elsewhere still wakes it", async () => {
    const other = await otherProcess();
    const looks = vi.spyOn(engine.tasks, "acquire");
    try {
      const name = await register();
      await engine.workflows.startWorkflow({ workflow: name });
      // Fewer handed out than asked for: this look drained the queue.
      expect(await engine.dispatcher.acquire({ queues: [name], workerId: "w", max: 5, waitMs: 30_000 })).toHaveLength(1);
      looks.mockClear();
      const waiting = engine.dispatcher.acquire({ queues: [name], workerId: "w", max: 5, waitMs: 30_000 });
      await waitUntil(async () => engine.dispatcher.waiting > 0, "the poll to park");
      expect(looks).not.toHaveBeenCalled();
      // A poll that may not wait is always looked up.
      expect(await engine.dispatcher.acquire({ queues: [name], workerId: "w", max: 5, waitMs: 0 })).toEqual([]);
      expect(looks).toHaveBeenCalledTimes(1);
      const { instanceId } = await other.workflows.startWorkflow({ workflow: name });
      expect((await waiting).map((t) => t.instanceId)).toEqual([instanceId]);
    } finally {
      looks.mockRestore();
      await other.close();
    }
  });

  it("trusts a drained queue for one poll interval: a task that turns up without a wake is found by the next look", async () => {
    const polling = await createEngine({ database: engine.database, migrate: false, pollIntervalMs: 200, reapIntervalMs: 0 });
    try {
      const name = await register();
      const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
      // Hidden for an hour, then made available by hand: no commit of Baton's, so no wake-up.
      await sql`UPDATE task_leases SET available_at = now() + interval '1 hour' WHERE queue = ${name}`.execute(engine.database.db);
      expect(await polling.dispatcher.acquire({ queues: [name], workerId: "w", max: 1, waitMs: 10 })).toEqual([]);
      const waiting = polling.dispatcher.acquire({ queues: [name], workerId: "w", max: 1, waitMs: 30_000 });
      await sql`UPDATE task_leases SET available_at = now() WHERE queue = ${name}`.execute(engine.database.db);
      const started = Date.now();
      expect((await waiting).map((t) => t.instanceId)).toEqual([instanceId]);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await polling.close();
    }
  });

  it("answers empty when the wait runs out, and nothing when the caller aborts", async () => {
    const name = await register();
    expect(await engine.dispatcher.acquire({ queues: [name], workerId: "w", max: 1, waitMs: 50 })).toEqual([]);
    const controller = new AbortController();
    const waiting = engine.dispatcher.acquire({ queues: [name], workerId: "w", max: 1, waitMs: 30_000, signal: controller.signal });
    await waitUntil(async () => engine.dispatcher.waiting > 0, "the acquirer to park");
    controller.abort();
    expect(await waiting).toEqual([]);
    await engine.workflows.startWorkflow({ workflow: name });
    expect(await engine.tasks.acquire({ queues: [name], workerId: "next", max: 1 })).toHaveLength(1);
  });

  it("wakes a waiting acquirer when a retry's backoff has passed, without waiting for a poll", async () => {
    const name = `backoff-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "a", queue: name, retry: { maxAttempts: 2, backoffMs: 300 } }] });
    await engine.workflows.startWorkflow({ workflow: name });
    const [first] = await engine.tasks.acquire({ queues: [name], workerId: "w", max: 1 });
    if (!first) throw new Error("expected the first attempt");
    await engine.tasks.fail({ executionId: first.executionId, workerId: "w", fenceToken: first.fenceToken, error: "try again" });
    // Not available yet: the backoff runs, and the safety-net poll is a minute away.
    const [retry] = await engine.dispatcher.acquire({ queues: [name], workerId: "w", max: 1, waitMs: 20_000 });
    expect(retry?.attempt).toBe(2);
  });

  it("records which worker polled which queue, for readiness", async () => {
    const name = await register();
    await engine.dispatcher.acquire({ queues: [name], workerId: "in-process-worker", max: 1, waitMs: 0 });
    await waitUntil(
      async () =>
        (await workerList(engine.database.db, 30_000)).some((w) => w.workerId === "in-process-worker" && w.queue === name && w.recent),
      "the poll to be recorded",
    );
  });

  it.skipIf(onPglite)(
    "re-establishes a dropped LISTEN connection and is woken again (Postgres only: PGlite has no separate connection to drop)",
    async () => {
      const listening = async () => {
        const rows = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE 'LISTEN %'`.execute(engine.database.db);
        return (rows.rows[0]?.n ?? 0) > 0;
      };
      await waitUntil(listening, "the LISTEN connection");
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE 'LISTEN %'`.execute(engine.database.db);
      await waitUntil(async () => !(await listening()), "the LISTEN connection to drop").catch(() => {});
      await waitUntil(listening, "the LISTEN connection to come back");

      // Started by another process, so only the NOTIFY on the new connection can wake it.
      const other = await otherProcess();
      try {
        const name = await register();
        const waiting = engine.dispatcher.acquire({ queues: [name], workerId: "w", max: 1, waitMs: 30_000 });
        await waitUntil(async () => engine.dispatcher.waiting > 0, "the acquirer to park");
        const { instanceId } = await other.workflows.startWorkflow({ workflow: name });
        expect((await waiting)[0]?.instanceId).toBe(instanceId);
      } finally {
        await other.close();
      }
    },
  );
});
