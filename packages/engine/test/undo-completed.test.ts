import { BatonError, type InstanceView, MAX_RUN_WAIT_MS } from "@baton/engine";
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

/** base -> (left, right) -> top, every step but `right` with an undo; each step answers its name. */
async function finishedDag() {
  const name = unique("undoFinished");
  const queue = (s: string) => `${name}.${s}`;
  await engine.workflows.registerWorkflow({
    name,
    type: "dag",
    steps: [
      { name: "base", queue: queue("base"), undo: true },
      { name: "left", queue: queue("left"), dependsOn: ["base"], undo: true },
      { name: "right", queue: queue("right"), dependsOn: ["base"] },
      { name: "top", queue: queue("top"), dependsOn: ["left", "right"], undo: true },
    ],
  });
  const { instanceId } = await engine.workflows.startWorkflow({ workflow: name, input: { tenant: "acme" } });
  const answer = Object.fromEntries(["base", "left", "right", "top"].map((s) => [queue(s), () => ({ made: s })]));
  await drive(engine, instanceId, answer);
  expect((await settled(instanceId)).state).toBe("COMPLETED");
  return { name, queue, instanceId };
}

describe("undo of a finished run", () => {
  it("undoes every completed step with an UNDO, in reverse dependency order, and records who asked", async () => {
    const { queue, instanceId } = await finishedDag();
    const asker = { keyId: "0123456789abcdef", name: "ops-key", role: "operator" as const };
    expect(await engine.workflows.triggerCompensation(instanceId, undefined, asker)).toEqual({ state: "COMPENSATING" });

    const undone: string[] = [];
    const undo = (s: string) => () => {
      undone.push(s);
      return { deleted: s };
    };
    const handled = await drive(engine, instanceId, {
      [queue("top.undo")]: undo("top"),
      [queue("left.undo")]: undo("left"),
      [queue("base.undo")]: undo("base"),
    });
    expect(undone).toEqual(["top", "left", "base"]);
    // An UNDO gets its DO's input plus the DO's output under the step name.
    expect(handled.find((t) => t.taskId === "left")?.input).toEqual({ tenant: "acme", base: { made: "base" }, left: { made: "left" } });

    const view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATED");
    // The run's output stays what it was when it completed; the history says what happened since.
    expect(view.output).toEqual({ base: { made: "base" }, left: { made: "left" }, right: { made: "right" }, top: { made: "top" } });
    const types = view.events.map((e) => e.eventType);
    expect(types.indexOf("WORKFLOW_COMPLETED")).toBeLessThan(types.indexOf("COMPENSATION_STARTED"));
    expect(types.at(-1)).toBe("WORKFLOW_COMPENSATED");
    const started = view.events.find((e) => e.eventType === "COMPENSATION_STARTED");
    expect(started?.payload).toMatchObject({ requestedBy: asker, fromState: "COMPLETED", error: { reason: "COMPENSATION_REQUESTED" } });
    expect(view.tasks.filter((t) => t.kind === "UNDO").map((t) => t.taskId)).toEqual(["top", "left", "base"]);
  });

  it("undoes only the named step and what it depends on when given one", async () => {
    const { queue, instanceId } = await finishedDag();
    await engine.workflows.triggerCompensation(instanceId, "left");
    const undone: string[] = [];
    await drive(engine, instanceId, {
      [queue("left.undo")]: () => undone.push("left"),
      [queue("base.undo")]: () => undone.push("base"),
      [queue("top.undo")]: () => undone.push("top"),
    });
    expect(undone).toEqual(["left", "base"]);
    const view = await settled(instanceId);
    expect(view.state).toBe("COMPENSATED");
    // No caller given: the in-process caller is recorded.
    expect(view.events.find((e) => e.eventType === "COMPENSATION_STARTED")?.payload.requestedBy).toEqual({
      keyId: null,
      name: "in-process",
      role: "admin",
    });
  });

  it("ends COMPENSATED at once when no completed step has an UNDO, and cannot be undone twice", async () => {
    const name = unique("nothingToUndo");
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "only", queue: `${name}.only` }] });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    await drive(engine, instanceId, { [`${name}.only`]: () => 1 });
    expect(await engine.workflows.triggerCompensation(instanceId)).toEqual({ state: "COMPENSATED" });
    expect((await settled(instanceId)).tasks.filter((t) => t.kind === "UNDO")).toEqual([]);
    expect(await code(engine.workflows.triggerCompensation(instanceId))).toBe("INVALID_STATE");
  });

  it("a failed UNDO of a finished run ends COMPENSATION_FAILED and retryTask repairs it", async () => {
    const name = unique("undoFails");
    await engine.workflows.registerWorkflow({
      name,
      steps: [{ name: "a", queue: `${name}.a`, undo: true, retry: { maxAttempts: 1 } }],
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    await drive(engine, instanceId, { [`${name}.a`]: () => 1 });
    await engine.workflows.triggerCompensation(instanceId);
    await drive(engine, instanceId, {
      [`${name}.a.undo`]: () => {
        throw new Error("realm is locked");
      },
    });
    expect((await settled(instanceId)).state).toBe("COMPENSATION_FAILED");
    await engine.tasks.retryTask(instanceId, "a");
    await drive(engine, instanceId, { [`${name}.a.undo`]: () => "deleted" });
    expect((await settled(instanceId)).state).toBe("COMPENSATED");
  });
});

describe("waiting for a run to end", () => {
  it("answers once the run has ended, with its output", async () => {
    const name = unique("waited");
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "s", queue: `${name}.s` }] });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    const waiting = engine.workflows.waitForEnd(instanceId, { waitMs: 10_000 });
    await drive(engine, instanceId, { [`${name}.s`]: () => ({ ok: true }) });
    const ended = await waiting;
    expect(ended.state).toBe("COMPLETED");
    expect(ended.output).toEqual({ s: { ok: true } });
  });

  it("answers the current state when the wait runs out or is aborted", async () => {
    const name = unique("unfinished");
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "s", queue: `${name}.s` }] });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow: name });
    expect((await engine.workflows.waitForEnd(instanceId, { waitMs: 50 })).state).toBe("RUNNING");
    const abort = new AbortController();
    const waiting = engine.workflows.waitForEnd(instanceId, { waitMs: MAX_RUN_WAIT_MS, signal: abort.signal });
    abort.abort();
    expect((await waiting).state).toBe("RUNNING");
  });

  it("refuses an unknown instance and a wait out of bounds", async () => {
    expect(await code(engine.workflows.waitForEnd(crypto.randomUUID(), { waitMs: 10 }))).toBe("NOT_FOUND");
    expect(await code(engine.workflows.waitForEnd(crypto.randomUUID(), { waitMs: MAX_RUN_WAIT_MS + 1 }))).toBe("VALIDATION_ERROR");
    expect(await code(engine.workflows.waitForEnd(crypto.randomUUID(), { waitMs: Number.NaN }))).toBe("VALIDATION_ERROR");
  });
});
