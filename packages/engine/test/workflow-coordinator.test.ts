import { BatonError, createEngine, type InstanceView } from "@baton/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drive, expectHistoryConsistent } from "../../../test-support/drive.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine.destroy());

const unique = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}`;

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(BatonError);
    return (error as BatonError).code;
  }
  throw new Error("expected a rejection");
}

async function settled(instanceId: string): Promise<InstanceView> {
  const view = await engine.workflows.getWorkflow(instanceId);
  expectHistoryConsistent(view);
  return view;
}

/** The (taskId, kind) of each attempt that completed, in completion order. */
function completions(view: InstanceView): string[] {
  return view.tasks
    .filter((t) => t.state === "COMPLETED")
    .sort((a, b) => (a.finishedAt ?? "").localeCompare(b.finishedAt ?? "") || (a.fenceToken ?? 0) - (b.fenceToken ?? 0))
    .map((t) => `${t.kind} ${t.taskId}`);
}

describe("registration", () => {
  it("treats an identical definition as a no-op and a changed one as a new version; instances keep theirs", async () => {
    const name = unique("versioned");
    const v1 = { name, steps: [{ name: "a", queue: `${name}.a` }] };
    expect(await engine.workflows.registerWorkflow(v1)).toMatchObject({ version: 1, created: true });
    expect(await engine.workflows.registerWorkflow(structuredClone(v1))).toMatchObject({ version: 1, created: false });
    const first = await engine.workflows.startWorkflow({ workflow: name, input: {} });
    const v2 = {
      name,
      steps: [
        { name: "a", queue: `${name}.a` },
        { name: "b", queue: `${name}.b` },
      ],
    };
    expect(await engine.workflows.registerWorkflow(v2)).toMatchObject({ version: 2, created: true });
    const second = await engine.workflows.startWorkflow({ workflow: name, input: {} });
    expect((await engine.workflows.getWorkflow(first.instanceId)).workflowVersion).toBe(1);
    expect((await engine.workflows.getWorkflow(second.instanceId)).workflowVersion).toBe(2);
    await drive(engine, first.instanceId, { [`${name}.a`]: () => "a" });
    expect((await settled(first.instanceId)).output).toEqual({ a: "a" });
  });

  it("starts on the version another process registered since, though this one had started runs on the one before", async () => {
    const name = unique("elsewhere");
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "a", queue: `${name}.a` }] });
    const first = await engine.workflows.startWorkflow({ workflow: name, runId: "before" });
    const other = await createEngine({ database: engine.database, migrate: false, reapIntervalMs: 0 });
    try {
      const v2 = {
        name,
        steps: [
          { name: "a", queue: `${name}.a` },
          { name: "b", queue: `${name}.b` },
        ],
      };
      expect(await other.workflows.registerWorkflow(v2)).toMatchObject({ version: 2, created: true });
    } finally {
      await other.close();
    }
    const [second, third] = await engine.workflows.startMany({ workflow: name, runs: [{ runId: "after" }, { runId: "before" }] });
    expect(second).toMatchObject({ created: true });
    expect(third).toMatchObject({ instanceId: first.instanceId, created: false });
    expect((await engine.workflows.getWorkflow((second as { instanceId: string }).instanceId)).workflowVersion).toBe(2);
    expect((await engine.workflows.getWorkflow(first.instanceId)).workflowVersion).toBe(1);
  });

  it("rejects starting an unknown workflow with NOT_FOUND", async () => {
    expect(await code(engine.workflows.startWorkflow({ workflow: "no-such-workflow" }))).toBe("NOT_FOUND");
  });
});

describe("idempotent start", () => {
  it("returns the existing instance for a repeated runId, and RUN_ID_CONFLICT for other input", async () => {
    const name = unique("idem");
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "a" }] });
    const first = await engine.workflows.startWorkflow({ workflow: name, runId: "order-1", input: { x: 1 } });
    expect(first).toMatchObject({ runId: "order-1", created: true, state: "RUNNING" });
    const again = await engine.workflows.startWorkflow({ workflow: name, runId: "order-1", input: { x: 1 } });
    expect(again).toEqual({ ...first, created: false });
    expect(await code(engine.workflows.startWorkflow({ workflow: name, runId: "order-1", input: { x: 2 } }))).toBe("RUN_ID_CONFLICT");
    const generated = await engine.workflows.startWorkflow({ workflow: name });
    expect(generated.runId).toMatch(/^[0-9a-f-]{36}$/);
    const view = await settled(first.instanceId);
    expect(view.tasks).toHaveLength(1);
  });

  it("creates exactly one instance from 50 concurrent starts with one runId", async () => {
    const name = unique("race");
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "a" }] });
    const results = await Promise.all(
      Array.from({ length: 50 }, () => engine.workflows.startWorkflow({ workflow: name, runId: "same", input: { k: "v" } })),
    );
    expect(new Set(results.map((r) => r.instanceId)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const page = await engine.workflows.listWorkflows({ workflow: name });
    expect(page.items).toHaveLength(1);
    expect((await settled(page.items[0]?.instanceId as string)).tasks).toHaveLength(1);
  });
});

describe("sagas from real use", () => {
  it("tenant creation: createClient fails three times, createRealm is undone, the instance is COMPENSATED", async () => {
    const name = unique("tenantCreation");
    await engine.workflows.registerWorkflow({
      name,
      steps: [
        { name: "createRealm", queue: `${name}.realm`, undo: true },
        { name: "createClient", queue: `${name}.client`, retry: { maxAttempts: 3, backoffMs: 10 } },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { tenant: "acme" } });
    let clientAttempts = 0;
    let undoInput: unknown;
    await drive(engine, instanceId, {
      [`${name}.realm`]: (t) => ({ realmId: `realm-${(t.input as { tenant: string }).tenant}` }),
      [`${name}.client`]: () => {
        clientAttempts++;
        throw new Error("client service unavailable");
      },
      [`${name}.realm.undo`]: (t) => {
        undoInput = t.input;
        return { deleted: true };
      },
    });
    const view = await settled(instanceId);
    expect(clientAttempts).toBe(3);
    expect(view.state).toBe("COMPENSATED");
    expect(undoInput).toEqual({ tenant: "acme", createRealm: { realmId: "realm-acme" } });
    expect(completions(view)).toEqual(["DO createRealm", "UNDO createRealm"]);
    expect(view.error).toMatchObject({ reason: "STEP_FAILED", step: "createClient" });
    expect(view.events.map((e) => e.eventType)).toEqual([
      "WORKFLOW_STARTED",
      "TASK_SCHEDULED",
      "TASK_COMPLETED",
      "TASK_SCHEDULED",
      "TASK_FAILED",
      "TASK_SCHEDULED",
      "TASK_FAILED",
      "TASK_SCHEDULED",
      "TASK_FAILED",
      "COMPENSATION_STARTED",
      "TASK_SCHEDULED",
      "TASK_COMPLETED",
      "WORKFLOW_COMPENSATED",
    ]);
  });

  it("order saga: payment fails, the coupon and then the inventory are undone in reverse order", async () => {
    const name = unique("orderSaga");
    const step = (s: string, undo: boolean) => ({ name: s, queue: `${name}.${s}`, undo, retry: { maxAttempts: 2, backoffMs: 0 } });
    await engine.workflows.registerWorkflow({
      name,
      steps: [step("reserveInventory", true), step("applyCoupon", true), step("processPayment", true), step("confirmOrder", false)],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { orderId: "o-1" } });
    await drive(engine, instanceId, {
      [`${name}.reserveInventory`]: () => ({ reservation: "r-1" }),
      [`${name}.applyCoupon`]: (t) => ({ coupon: "SAVE10", sawReservation: (t.input as Record<string, unknown>).reserveInventory }),
      [`${name}.processPayment`]: () => {
        throw new Error("card declined");
      },
      [`${name}.confirmOrder`]: () => "never",
      [`${name}.reserveInventory.undo`]: () => ({ released: true }),
      [`${name}.applyCoupon.undo`]: () => ({ revoked: true }),
      [`${name}.processPayment.undo`]: () => ({ refunded: true }),
    });
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATED");
    expect(completions(view)).toEqual(["DO reserveInventory", "DO applyCoupon", "UNDO applyCoupon", "UNDO reserveInventory"]);
    expect(view.tasks.find((t) => t.taskId === "applyCoupon" && t.kind === "DO")?.output).toEqual({
      coupon: "SAVE10",
      sawReservation: { reservation: "r-1" },
    });
    expect(view.tasks.some((t) => t.taskId === "confirmOrder")).toBe(false);
  });
});

describe("parallel and DAG workflows", () => {
  it("undoes the successful siblings of a failing parallel branch", async () => {
    const name = unique("fanout");
    const step = (s: string) => ({ name: s, queue: `${name}.${s}`, undo: true, retry: { maxAttempts: 1 } });
    await engine.workflows.registerWorkflow({ name, type: "simultaneous", steps: [step("profile"), step("email"), step("prefs")] });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { user: "u1" } });
    const undone: string[] = [];
    await drive(engine, instanceId, {
      [`${name}.profile`]: () => "p",
      [`${name}.email`]: () => {
        throw new Error("smtp down");
      },
      [`${name}.prefs`]: () => "q",
      [`${name}.profile.undo`]: () => undone.push("profile"),
      [`${name}.email.undo`]: () => undone.push("email"),
      [`${name}.prefs.undo`]: () => undone.push("prefs"),
    });
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATED");
    expect(undone.sort()).toEqual(["prefs", "profile"]);
  });

  it("passes outputs along a diamond: each step sees the outputs of the steps it depends on", async () => {
    const name = unique("diamond");
    await engine.workflows.registerWorkflow({
      name,
      type: "dag",
      steps: [
        { name: "a", queue: `${name}.a` },
        { name: "b", queue: `${name}.b`, dependsOn: ["a"] },
        { name: "c", queue: `${name}.c`, dependsOn: ["a"] },
        { name: "d", queue: `${name}.d`, dependsOn: ["b", "c"] },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { seed: 2 } });
    const inputs: Record<string, unknown> = {};
    type Seen = { seed: number; a: { v: number }; b: number; c: number };
    const record = (step: string, out: (i: Seen) => unknown) => (t: { input: unknown }) => {
      inputs[step] = t.input;
      return out(t.input as Seen);
    };
    await drive(engine, instanceId, {
      [`${name}.a`]: record("a", (i) => ({ v: i.seed * 10 })),
      [`${name}.b`]: record("b", (i) => i.a.v + 1),
      [`${name}.c`]: record("c", (i) => i.a.v + 2),
      [`${name}.d`]: record("d", (i) => i.b + i.c),
    });
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(inputs.b).toEqual({ seed: 2, a: { v: 20 } });
    expect(inputs.d).toEqual({ seed: 2, b: 21, c: 22 });
    expect(view.output).toEqual({ a: { v: 20 }, b: 21, c: 22, d: 43 });
  });

  it("undoes a DAG in reverse topological order: dependents before what they build on", async () => {
    const name = unique("dagUndo");
    await engine.workflows.registerWorkflow({
      name,
      type: "dag",
      steps: [
        { name: "base", queue: `${name}.base`, undo: true },
        { name: "left", queue: `${name}.left`, dependsOn: ["base"], undo: true },
        { name: "right", queue: `${name}.right`, dependsOn: ["base"], undo: true },
        { name: "top", queue: `${name}.top`, dependsOn: ["left", "right"], retry: { maxAttempts: 1 } },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: {} });
    await drive(engine, instanceId, {
      [`${name}.base`]: () => 1,
      [`${name}.left`]: () => 2,
      [`${name}.right`]: () => 3,
      [`${name}.top`]: () => {
        throw new Error("no");
      },
      [`${name}.base.undo`]: () => "b",
      [`${name}.left.undo`]: () => "l",
      [`${name}.right.undo`]: () => "r",
    });
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATED");
    const undos = completions(view).filter((c) => c.startsWith("UNDO"));
    expect(undos.at(-1)).toBe("UNDO base");
    expect(undos.slice(0, 2).sort()).toEqual(["UNDO left", "UNDO right"]);
  });

  it("ends FAILED when a step fails with nothing to undo", async () => {
    const name = unique("noUndo");
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "a", queue: `${name}.a`, retry: { maxAttempts: 1 } }] });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    await drive(engine, instanceId, {
      [`${name}.a`]: () => {
        throw new Error("bad");
      },
    });
    const view = await settled(instanceId);
    expect(view.state).toBe("FAILED");
    expect(view.error).toMatchObject({ reason: "STEP_FAILED", step: "a", cause: { message: "bad" } });
  });
});

describe("control", () => {
  async function twoSteps() {
    const name = unique("control");
    await engine.workflows.registerWorkflow({
      name,
      steps: [
        { name: "one", queue: `${name}.one` },
        { name: "two", queue: `${name}.two` },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: {} });
    return { instanceId, one: `${name}.one`, two: `${name}.two` };
  }

  it("pause stops hand-outs; resume lets the run complete", async () => {
    const { instanceId, one, two } = await twoSteps();
    expect(await engine.workflows.pause(instanceId)).toEqual({ state: "PAUSED" });
    expect(await engine.tasks.acquire({ queues: [one, two], workerId: "w", max: 5 })).toEqual([]);
    expect(await code(engine.workflows.pause(instanceId))).toBe("INVALID_STATE");
    expect(await engine.workflows.resume(instanceId)).toEqual({ state: "RUNNING" });
    await drive(engine, instanceId, { [one]: () => 1, [two]: () => 2 });
    expect((await settled(instanceId)).state).toBe("COMPLETED");
  });

  it("records a leased task that completes while paused, and advances only after resume", async () => {
    const { instanceId, one, two } = await twoSteps();
    const [task] = await engine.tasks.acquire({ queues: [one], workerId: "w", max: 1 });
    if (!task) throw new Error("expected step one");
    await engine.workflows.pause(instanceId);
    await engine.tasks.complete({ executionId: task.executionId, workerId: "w", fenceToken: task.fenceToken, output: 1 });
    let view = await settled(instanceId);
    expect(view.state).toBe("PAUSED");
    expect(view.tasks.map((t) => `${t.taskId}:${t.state}`)).toEqual(["one:COMPLETED"]);
    await engine.workflows.resume(instanceId);
    view = await settled(instanceId);
    expect(view.tasks.map((t) => `${t.taskId}:${t.state}`)).toEqual(["one:COMPLETED", "two:PENDING"]);
    await drive(engine, instanceId, { [two]: () => 2 });
    expect((await settled(instanceId)).output).toEqual({ one: 1, two: 2 });
  });

  it("cancel stops hand-outs and fences off the leased task", async () => {
    const { instanceId, one } = await twoSteps();
    const [task] = await engine.tasks.acquire({ queues: [one], workerId: "w", max: 1 });
    if (!task) throw new Error("expected step one");
    expect(await engine.workflows.cancel(instanceId)).toEqual({ state: "CANCELLED" });
    const lease = { executionId: task.executionId, workerId: "w", fenceToken: task.fenceToken };
    expect(await code(engine.tasks.complete({ ...lease, output: 1 }))).toBe("NOT_LEASED");
    expect(await code(engine.tasks.heartbeat(lease))).toBe("NOT_LEASED");
    const view = await settled(instanceId);
    expect(view.state).toBe("CANCELLED");
    expect(view.tasks.map((t) => t.state)).toEqual(["CANCELLED"]);
    expect(await code(engine.workflows.resume(instanceId))).toBe("INVALID_STATE");
    expect(await code(engine.workflows.cancel(instanceId))).toBe("INVALID_STATE");
  });

  it("compensates by hand from a step: that step and what it depends on are undone", async () => {
    const name = unique("manual");
    const step = (s: string) => ({ name: s, queue: `${name}.${s}`, undo: true });
    await engine.workflows.registerWorkflow({ name, steps: [step("a"), step("b"), step("c")] });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    for (const step of ["a", "b"]) {
      const [task] = await engine.tasks.acquire({ queues: [`${name}.${step}`], workerId: "w", max: 1 });
      if (!task) throw new Error(`expected step ${step}`);
      await engine.tasks.complete({ executionId: task.executionId, workerId: "w", fenceToken: task.fenceToken, output: step });
    }
    const before = await settled(instanceId);
    expect(before.tasks.filter((t) => t.state === "COMPLETED").map((t) => t.taskId)).toEqual(["a", "b"]);
    expect(await code(engine.workflows.triggerCompensation(instanceId, "nope"))).toBe("NOT_FOUND");
    expect(await engine.workflows.triggerCompensation(instanceId, "a")).toEqual({ state: "COMPENSATING" });
    await drive(engine, instanceId, { [`${name}.a.undo`]: () => "undone a", [`${name}.b.undo`]: () => "undone b" });
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATED");
    expect(completions(view)).toEqual(["DO a", "DO b", "UNDO a"]);
    expect(view.tasks.find((t) => t.taskId === "c")?.state).toBe("CANCELLED");
  });

  it("retryTask repairs a COMPENSATION_FAILED instance by re-running its UNDO", async () => {
    const name = unique("repair");
    await engine.workflows.registerWorkflow({
      name,
      steps: [
        { name: "a", queue: `${name}.a`, undo: true, retry: { maxAttempts: 2, backoffMs: 0 } },
        { name: "b", queue: `${name}.b`, retry: { maxAttempts: 1 } },
      ],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    await drive(engine, instanceId, {
      [`${name}.a`]: () => 1,
      [`${name}.b`]: () => {
        throw new Error("b broke");
      },
      [`${name}.a.undo`]: () => {
        throw new Error("undo broke");
      },
    });
    let view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATION_FAILED");
    expect(view.error).toMatchObject({ reason: "UNDO_FAILED", step: "a" });
    expect(await code(engine.tasks.retryTask(instanceId, "b"))).toBe("INVALID_STATE");
    const retried = await engine.tasks.retryTask(instanceId, "a", { fixed: true });
    expect(retried).toMatchObject({ taskId: "a", kind: "UNDO", attempt: 3 });
    let undoInput: unknown;
    await drive(engine, instanceId, {
      [`${name}.a.undo`]: (t) => {
        undoInput = t.input;
        return "ok";
      },
    });
    view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATED");
    expect(undoInput).toEqual({ fixed: true });
  });

  it("cancels the waiting UNDOs when compensation fails, and runs them again after a manual retry", async () => {
    const name = unique("undoFan");
    const step = (s: string, retry = 3) => ({ name: s, queue: `${name}.${s}`, undo: true, retry: { maxAttempts: retry, backoffMs: 0 } });
    await engine.workflows.registerWorkflow({
      name,
      type: "parallel",
      steps: [step("a", 1), step("b"), step("c"), { name: "d", queue: `${name}.d`, retry: { maxAttempts: 1 } }],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    const done = (s: string) => async () => {
      const [t] = await engine.tasks.acquire({ queues: [`${name}.${s}`], workerId: "w", max: 1 });
      if (!t) throw new Error(`expected ${s}`);
      return t;
    };
    for (const s of ["a", "b", "c"]) {
      const t = await done(s)();
      await engine.tasks.complete({ executionId: t.executionId, workerId: "w", fenceToken: t.fenceToken, output: s });
    }
    const d = await done("d")();
    await engine.tasks.fail({ executionId: d.executionId, workerId: "w", fenceToken: d.fenceToken, error: "d broke" });
    // All three UNDOs are waiting; a's fails for good while b's and c's still wait.
    const undoA = await done("a.undo")();
    await engine.tasks.fail({ executionId: undoA.executionId, workerId: "w", fenceToken: undoA.fenceToken, error: "stuck" });
    let view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATION_FAILED");
    expect(view.tasks.filter((t) => t.kind === "UNDO" && t.taskId !== "a").map((t) => t.state)).toEqual(["CANCELLED", "CANCELLED"]);

    await engine.tasks.retryTask(instanceId, "a");
    await drive(engine, instanceId, { [`${name}.a.undo`]: () => "ok", [`${name}.b.undo`]: () => "ok", [`${name}.c.undo`]: () => "ok" });
    view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATED");
    expect(
      completions(view)
        .filter((c) => c.startsWith("UNDO"))
        .sort(),
    ).toEqual(["UNDO a", "UNDO b", "UNDO c"]);
  });

  it("retryTask names the step that stopped the instance when asked to retry another", async () => {
    const name = unique("twoFail");
    const step = (s: string) => ({ name: s, queue: `${name}.${s}`, retry: { maxAttempts: 1 } });
    await engine.workflows.registerWorkflow({ name, type: "parallel", steps: [step("x"), step("y")] });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    const [x] = await engine.tasks.acquire({ queues: [`${name}.x`], workerId: "w", max: 1 });
    const [y] = await engine.tasks.acquire({ queues: [`${name}.y`], workerId: "w", max: 1 });
    if (!x || !y) throw new Error("expected both steps");
    await engine.tasks.fail({ executionId: x.executionId, workerId: "w", fenceToken: x.fenceToken, error: "x" });
    await engine.tasks.fail({ executionId: y.executionId, workerId: "w", fenceToken: y.fenceToken, error: "y" });
    const view = await settled(instanceId);
    expect(view.state).toBe("FAILED");
    expect(view.error).toMatchObject({ step: "x" });
    const error = await engine.tasks.retryTask(instanceId, "y").catch((e: unknown) => e);
    expect((error as BatonError).code).toBe("INVALID_STATE");
    expect((error as BatonError).details).toMatchObject({ failedStep: "x" });
  });

  it("retryTask re-runs the failed step of a FAILED instance, which then completes", async () => {
    const name = unique("refail");
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "a", queue: `${name}.a`, retry: { maxAttempts: 1 } }] });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    let broken = true;
    const handlers = {
      [`${name}.a`]: () => {
        if (broken) throw new Error("broken");
        return "fixed";
      },
    };
    await drive(engine, instanceId, handlers);
    expect((await settled(instanceId)).state).toBe("FAILED");
    expect(await code(engine.tasks.retryTask(instanceId, "zzz"))).toBe("NOT_FOUND");
    broken = false;
    await engine.tasks.retryTask(instanceId, "a");
    await drive(engine, instanceId, handlers);
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(view.error).toBeNull();
    expect(view.output).toEqual({ a: "fixed" });
  });
});

describe("listing", () => {
  it("pages through instances with a cursor and filters by workflow and state", async () => {
    const name = unique("listed");
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "a" }] });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await engine.workflows.startWorkflow({ workflow: name })).instanceId);
    await engine.workflows.cancel(ids[0] as string);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await engine.workflows.listWorkflows({ workflow: name, limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((i) => i.instanceId));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen.sort()).toEqual([...ids].sort());
    const cancelled = await engine.workflows.listWorkflows({ workflow: name, state: "CANCELLED" });
    expect(cancelled.items.map((i) => i.instanceId)).toEqual([ids[0]]);
    expect(await code(engine.workflows.listWorkflows({ cursor: "garbage" }))).toBe("VALIDATION_ERROR");
  });

  it("pages through instances started together (one timestamp, to the microsecond) with each exactly once", async () => {
    const name = unique("together");
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "a" }] });
    // One batch commits in one statement, and concurrent starts are coalesced into one: rows that
    // share created_at, which a millisecond cursor could not tell apart from the page's last row.
    const batch = await engine.workflows.startMany({ workflow: name, runs: Array.from({ length: 12 }, (_, i) => ({ runId: `b${i}` })) });
    const concurrent = await Promise.all(
      Array.from({ length: 12 }, (_, i) => engine.workflows.startWorkflow({ workflow: name, runId: `c${i}` })),
    );
    const ids = [...batch, ...concurrent].map((started) => {
      if (started instanceof BatonError) throw started;
      return started.instanceId;
    });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await engine.workflows.listWorkflows({ workflow: name, limit: 5, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(5);
      seen.push(...page.items.map((i) => i.instanceId));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toHaveLength(ids.length);
    expect([...seen].sort()).toEqual([...ids].sort());
    const all = await engine.workflows.listWorkflows({ workflow: name, limit: 100 });
    expect(seen).toEqual(all.items.map((i) => i.instanceId));
  });
});
