import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { BatonError, type Client, createClient, createWorker, silentLogger, WaitTimeoutError, type Worker } from "../src/index.ts";
import { type Connection, connectTo, EventLog, TRANSPORT_MODES, uniqueName } from "./support/harness.ts";

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine?.destroy());

/** The BatonError a call is rejected with. */
async function rejection(call: Promise<unknown>): Promise<BatonError> {
  try {
    await call;
  } catch (error) {
    expect(error).toBeInstanceOf(BatonError);
    return error as BatonError;
  }
  throw new Error("expected the call to be rejected");
}

describe.each(TRANSPORT_MODES)("client (%s)", (mode) => {
  let connection: Connection;
  let client: Client;

  beforeAll(async () => {
    connection = await connectTo(engine, mode);
    client = createClient(connection.options);
  });
  afterAll(() => connection?.close());

  it("starts idempotently by runId, and reports another input under the same runId as RUN_ID_CONFLICT", async () => {
    const workflow = uniqueName("idem");
    expect(await client.register({ name: workflow, steps: [{ name: "a" }] })).toMatchObject({ name: workflow, version: 1, created: true });
    expect(await client.register({ name: workflow, steps: [{ name: "a" }] })).toMatchObject({ version: 1, created: false });
    const first = await client.start(workflow, { runId: "tenant-acme", input: { tenant: "acme" } });
    const again = await client.start(workflow, { runId: "tenant-acme", input: { tenant: "acme" } });
    expect(first).toMatchObject({ runId: "tenant-acme", state: "RUNNING", created: true });
    expect(again).toEqual({ ...first, created: false });
    const conflict = await rejection(client.start(workflow, { runId: "tenant-acme", input: { tenant: "other" } }));
    expect(conflict.code).toBe("RUN_ID_CONFLICT");
    expect(conflict.details).toMatchObject({ runId: "tenant-acme", instanceId: first.instanceId });
  });

  it("reports unknown instances and workflows as NOT_FOUND, bad definitions as INVALID_DEFINITION, bad moves as INVALID_STATE", async () => {
    expect((await rejection(client.get(crypto.randomUUID()))).code).toBe("NOT_FOUND");
    expect((await rejection(client.start(uniqueName("missing")))).code).toBe("NOT_FOUND");
    const invalid = await rejection(client.register({ name: "bad name!", steps: [] }));
    expect(invalid.code).toBe("INVALID_DEFINITION");
    expect(invalid.message).toMatch(/steps/);

    const workflow = uniqueName("moves");
    await client.register({ name: workflow, steps: [{ name: "a" }] });
    const { instanceId } = await client.start(workflow);
    expect((await rejection(client.resume(instanceId))).code).toBe("INVALID_STATE");
    expect((await rejection(client.retry(instanceId, "a"))).code).toBe("INVALID_STATE");
  });

  it("pauses, resumes, cancels and lists instances", async () => {
    const workflow = uniqueName("ops");
    await client.register({ name: workflow, steps: [{ name: "a" }] });
    const runs = [];
    for (let n = 0; n < 3; n++) runs.push(await client.start(workflow, { runId: `r${n}`, input: { n } }));
    const [a, b, c] = runs.map((r) => r.instanceId) as [string, string, string];
    expect(await client.pause(a)).toEqual({ state: "PAUSED" });
    expect(await client.resume(a)).toEqual({ state: "RUNNING" });
    expect(await client.cancel(b)).toEqual({ state: "CANCELLED" });

    const firstPage = await client.list({ workflow, limit: 2 });
    expect(firstPage.items).toHaveLength(2);
    expect(firstPage.nextCursor).not.toBeNull();
    const secondPage = await client.list({ workflow, limit: 2, cursor: firstPage.nextCursor as string });
    expect([...firstPage.items, ...secondPage.items].map((i) => i.instanceId).sort()).toEqual([a, b, c].sort());
    expect(secondPage.nextCursor).toBeNull();
    expect((await client.list({ workflow, state: "CANCELLED" })).items.map((i) => i.instanceId)).toEqual([b]);
  });

  it("waitFor returns once the instance reaches a wanted state, and times out with a typed error otherwise", async () => {
    const workflow = uniqueName("wait");
    await client.register({ name: workflow, steps: [{ name: "a" }] });
    const { instanceId } = await client.start(workflow);

    const timeout = await client.waitFor(instanceId, "COMPLETED", { timeoutMs: 100, intervalMs: 20 }).catch((e: unknown) => e);
    expect(timeout).toBeInstanceOf(WaitTimeoutError);
    expect(timeout).toMatchObject({ code: "WAIT_TIMEOUT", instanceId, lastState: "RUNNING" });

    const worker: Worker = createWorker({ ...connection.options, workflow, logger: silentLogger, handlers: { a: () => "done" } });
    try {
      const seen: string[] = [];
      const done = await client.waitFor(instanceId, undefined, { timeoutMs: 20_000, onPoll: (i) => seen.push(i.state) });
      expect(done.state).toBe("COMPLETED");
      expect(seen.at(-1)).toBe("COMPLETED");
    } finally {
      await worker.stop();
    }
    expect((await rejection(client.waitFor(crypto.randomUUID(), "COMPLETED"))).code).toBe("NOT_FOUND");
  });

  it("start with waitMs answers once the run has ended, with its output or error, or with its state when the wait ran out", async () => {
    const workflow = uniqueName("sync");
    await client.register({ name: workflow, steps: [{ name: "a", retry: { maxAttempts: 1 } }] });
    const idle = await client.start(workflow, { runId: "idle", waitMs: 200 });
    expect(idle).toEqual({ instanceId: expect.any(String), runId: "idle", state: "RUNNING", created: true, output: null, error: null });

    const worker = createWorker({
      ...connection.options,
      workflow,
      logger: silentLogger,
      handlers: {
        a: (ctx) => {
          if ((ctx.input as { fail?: boolean }).fail) throw new Error("declined");
          return { realm: "r-1" };
        },
      },
    });
    try {
      const done = await client.start(workflow, { runId: "ok", input: {}, waitMs: 30_000 });
      expect(done).toMatchObject({ runId: "ok", state: "COMPLETED", created: true, output: { a: { realm: "r-1" } }, error: null });
      const failed = await client.start(workflow, { runId: "no", input: { fail: true }, waitMs: 30_000 });
      expect(failed).toMatchObject({ state: "FAILED", output: null, error: expect.objectContaining({ step: "a" }) });
      // A repeat of an ended run answers at once, ended.
      expect(await client.start(workflow, { runId: "ok", input: {}, waitMs: 30_000 })).toEqual({ ...done, created: false });
    } finally {
      await worker.stop();
    }
    const tooLong = await rejection(client.start(workflow, { runId: "never", waitMs: 60_001 }));
    expect([tooLong.code, tooLong.details.fields]).toEqual(["VALIDATION_ERROR", [{ field: "waitMs", message: "0 to 60000" }]]);
    expect((await client.list({ workflow })).items.map((i) => i.runId)).not.toContain("never");
  });

  it("compensates by hand, undoing what completed", async () => {
    const workflow = uniqueName("compensate");
    await client.register({ name: workflow, steps: [{ name: "a", undo: true }, { name: "b" }] });
    const events = new EventLog();
    const undone: string[] = [];
    // Nobody serves b: the instance waits there until it is compensated by hand.
    const worker = createWorker({
      ...connection.options,
      workflow,
      logger: silentLogger,
      onEvent: events.push,
      handlers: { a: { do: () => "a done", undo: (ctx) => void undone.push(ctx.instanceId) } },
    });
    try {
      const { instanceId } = await client.start(workflow);
      await events.next("task-completed", (e) => e.task.instanceId === instanceId);
      expect((await client.compensate(instanceId)).state).toBe("COMPENSATING");
      const done = await client.waitFor(instanceId, ["COMPENSATED", "COMPENSATION_FAILED"], { timeoutMs: 20_000 });
      expect(done.state).toBe("COMPENSATED");
      expect(undone).toEqual([instanceId]);
    } finally {
      await worker.stop();
    }
  });

  it("retries a failed step of a FAILED instance with new input", async () => {
    const workflow = uniqueName("repair");
    await client.register({ name: workflow, steps: [{ name: "x", retry: { maxAttempts: 1 } }] });
    const worker = createWorker({
      ...connection.options,
      workflow,
      logger: silentLogger,
      handlers: {
        x: (ctx) => {
          if (!(ctx.input as { fixed?: boolean }).fixed) throw new Error("needs fixing");
          return "repaired";
        },
      },
    });
    try {
      const { instanceId } = await client.start(workflow);
      await client.waitFor(instanceId, "FAILED", { timeoutMs: 20_000 });
      expect(await client.retry(instanceId, "x", { input: { fixed: true } })).toMatchObject({ taskId: "x", kind: "DO", attempt: 2 });
      const done = await client.waitFor(instanceId, "COMPLETED", { timeoutMs: 20_000 });
      expect(done.output).toEqual({ x: "repaired" });
    } finally {
      await worker.stop();
    }
  });
});
