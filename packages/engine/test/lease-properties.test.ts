import { type AcquiredTask, BatonError, type InstanceView } from "@baton/engine";
import fc from "fast-check";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { expectHistoryConsistent } from "../../../test-support/drive.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";

/**
 * Random interleavings of acquire / heartbeat / complete / fail / expire / reap by several workers,
 * checking after every step:
 *  I1 at most one accepted completion per (instance, step, kind);
 *  I2 a rejected write changes nothing, and a write on a lease known to be expired is rejected;
 *  I3 fence tokens strictly increase in hand-out order;
 *  I7 nothing of a paused or cancelled instance is handed out;
 * and at the end of each run, I5 (events contiguous, their fold equals the stored state).
 * Pause, resume, cancel, manual compensation and a run's deadline passing are mixed in; refused
 * ones (INVALID_STATE) are fine. The second property runs the step kinds of issue 12 the same way:
 * a skipped step (`when`), a fan-out (`forEach`) over an empty list, a list, and a value that is
 * not a list, a step that continues on failure, and a whole-run deadline; after every step no
 * fan-out runs more elements (DO or UNDO) than its maxConcurrency and no skipped step is handed
 * out, and a completed run's fan-out output is its elements' outputs in element order.
 */

const WORKERS = ["w0", "w1", "w2"];
const INSTANCES = 4;
export const PROPERTY_RUNS = onPglite ? 40 : 100;

const acquireOp = fc.record({ op: fc.constant("acquire" as const), worker: fc.nat(2), max: fc.integer({ min: 1, max: 3 }) });
/** A well-behaved worker's turn: acquire up to four tasks and complete them, failing the one at `fail` (if any). */
const roundOp = fc.record({ op: fc.constant("round" as const), worker: fc.nat(2), fail: fc.nat(7) });
const otherOps = [
  fc.record({ op: fc.constant("heartbeat" as const), worker: fc.nat(2), pick: fc.nat(), wrongFence: fc.boolean() }),
  fc.record({ op: fc.constant("complete" as const), worker: fc.nat(2), pick: fc.nat(), wrongFence: fc.boolean() }),
  fc.record({ op: fc.constant("fail" as const), worker: fc.nat(2), pick: fc.nat(), wrongFence: fc.boolean() }),
  fc.record({ op: fc.constant("expire" as const), worker: fc.nat(2), pick: fc.nat() }),
  fc.record({ op: fc.constant("reap" as const) }),
  fc.record({
    op: fc.constantFrom("pause" as const, "resume" as const, "cancel" as const, "compensate" as const, "deadline" as const),
    instance: fc.nat(INSTANCES - 1),
  }),
];
/** Random operations; the step kinds' longer workflow also gets well-behaved rounds, so its runs get somewhere. */
const op = fc.oneof(acquireOp, ...otherOps);
const stepKindsOp = fc.oneof(
  { arbitrary: roundOp, weight: 3 },
  { arbitrary: acquireOp, weight: 1 },
  ...otherOps.map((arbitrary) => ({ arbitrary, weight: 1 })),
);
type Op = typeof stepKindsOp extends fc.Arbitrary<infer T> ? T : never;

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine.destroy());

async function snapshot(workflow: string) {
  const rows = await engine.database.db
    .selectFrom("task_executions as t")
    .innerJoin("workflow_instances as i", "i.instance_id", "t.workflow_instance_id")
    // An open attempt's lease lives in task_leases: a refused write must change neither table.
    .leftJoin("task_leases as l", "l.execution_id", "t.execution_id")
    .select(["t.execution_id", "t.state", "t.fence_token", "t.lease_holder", "t.lease_expires_at", "t.output", "i.sequence_number"])
    .select(["l.state as lease_state", "l.fence_token as lease_fence", "l.lease_holder as holder", "l.lease_expires_at as expires"])
    .where("i.workflow_name", "=", workflow)
    .orderBy("t.execution_id")
    .execute();
  return JSON.stringify(rows);
}

async function completionsPerStep(workflow: string): Promise<number> {
  const rows = await engine.database.db
    .selectFrom("task_executions as t")
    .innerJoin("workflow_instances as i", "i.instance_id", "t.workflow_instance_id")
    .select(["t.workflow_instance_id", "t.task_id", "t.kind", (eb) => eb.fn.countAll<string>().as("n")])
    .where("i.workflow_name", "=", workflow)
    .where("t.state", "=", "COMPLETED")
    .groupBy(["t.workflow_instance_id", "t.task_id", "t.kind"])
    .execute();
  return Math.max(0, ...rows.map((r) => Number(r.n)));
}

/** A workflow to run random interleavings on, and what to check of it. */
interface Scenario {
  steps: (workflow: string) => Record<string, unknown>;
  /** Queue names under the workflow's name (`<workflow>.<suffix>`). */
  queues: string[];
  input: (i: number) => Record<string, unknown>;
  /** Checked after every step. */
  afterStep?: (workflow: string, acquired: AcquiredTask[]) => Promise<void>;
  /** Checked on each instance at the end. */
  atEnd?: (view: InstanceView) => void;
}

/** a (undoable) -> b, the lease protocol's own ground. */
const PLAIN: Scenario = {
  steps: (workflow) => ({
    name: workflow,
    steps: [
      { name: "a", queue: `${workflow}.a`, undo: true, retry: { maxAttempts: 2, backoffMs: 0 } },
      { name: "b", queue: `${workflow}.b`, retry: { maxAttempts: 2, backoffMs: 0 } },
    ],
  }),
  queues: ["a", "b", "a.undo"],
  input: (i) => ({ i }),
};

/** The fan-out's lists, by instance: empty, three elements, not a list, two elements. */
const FAN_LISTS: unknown[] = [[], ["x", "y", "z"], "not a list", ["x", "y"]];
const FAN_CONCURRENCY = 2;

/**
 * A DAG: fan (forEach), a and notify (continues on failure) start at once; gate (runs for instance 1
 * only) follows a; b follows them all. The run has a deadline.
 */
const STEP_KINDS: Scenario = {
  steps: (workflow) => ({
    name: workflow,
    type: "dag",
    timeoutMs: 3_600_000,
    defaults: { retry: { maxAttempts: 2, backoffMs: 0 } },
    steps: [
      { name: "fan", queue: `${workflow}.fan`, undo: true, forEach: "items", maxConcurrency: FAN_CONCURRENCY },
      { name: "a", queue: `${workflow}.a`, undo: true },
      { name: "gate", queue: `${workflow}.gate`, undo: true, dependsOn: ["a"], when: { equals: { path: "i", value: 1 } } },
      { name: "notify", queue: `${workflow}.notify`, onFailure: "continue", retry: { maxAttempts: 1 } },
      { name: "b", queue: `${workflow}.b`, dependsOn: ["fan", "gate", "notify"] },
    ],
  }),
  queues: ["a", "gate", "fan", "notify", "b", "a.undo", "gate.undo", "fan.undo"],
  input: (i) => ({ i, items: FAN_LISTS[i] }),
  async afterStep(workflow, acquired) {
    for (const t of acquired) if (t.taskId === "gate") expect((t.input as { i: number }).i).toBe(1);
    const open = await engine.database.db
      .selectFrom("task_leases as l")
      .innerJoin("task_executions as t", "t.execution_id", "l.execution_id")
      .innerJoin("workflow_instances as i", "i.instance_id", "t.workflow_instance_id")
      .select(["t.workflow_instance_id", "t.kind", (eb) => eb.fn.countAll<string>().as("n")])
      .where("i.workflow_name", "=", workflow)
      .where("t.task_id", "like", "fan#%")
      .groupBy(["t.workflow_instance_id", "t.kind"])
      .execute();
    for (const row of open) expect(Number(row.n)).toBeLessThanOrEqual(FAN_CONCURRENCY);
  },
  atEnd(view) {
    if (view.state !== "COMPLETED") return;
    const { i } = view.input as { i: number };
    const output = view.output as Record<string, unknown>;
    expect("gate" in output).toBe(i === 1);
    const completed = view.tasks.filter((t) => t.kind === "DO" && t.state === "COMPLETED" && t.taskId.startsWith("fan#"));
    const byIndex = new Map(completed.map((t) => [Number(t.taskId.slice(4)), t.output]));
    const list = FAN_LISTS[i] as unknown[];
    if (output.fan !== undefined && !("error" in (output.fan as object))) {
      expect(output.fan).toEqual(list.map((_, index) => byIndex.get(index)));
    }
  },
};

async function runScenario(scenario: Scenario, ops: Op[]): Promise<void> {
  const workflow = `prop-${crypto.randomUUID().slice(0, 8)}`;
  const queues = scenario.queues.map((q) => `${workflow}.${q}`);
  await engine.workflows.registerWorkflow(scenario.steps(workflow));
  const instanceIds: string[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    instanceIds.push((await engine.workflows.startWorkflow({ workflow, input: scenario.input(i) })).instanceId);
  }

  // What each worker believes it holds; entries stay after the lease is lost (that is the point).
  const held: AcquiredTask[][] = WORKERS.map(() => []);
  const expired = new Set<string>();
  let lastFence = 0;

  for (const step of ops) {
    const before = await snapshot(workflow);
    const acquired: AcquiredTask[] = [];
    if (step.op === "acquire" || step.op === "round") {
      const worker = WORKERS[step.worker] as string;
      const tasks = await engine.tasks.acquire({ queues, workerId: worker, max: step.op === "round" ? 4 : step.max });
      for (const t of tasks) {
        expect(["RUNNING", "COMPENSATING"]).toContain((await engine.workflows.getWorkflow(t.instanceId)).state); // I7
        expect(t.fenceToken).toBeGreaterThan(lastFence); // I3
        lastFence = t.fenceToken;
        held[step.worker]?.push(t);
        acquired.push(t);
      }
      if (step.op === "round") {
        for (const [i, t] of tasks.entries()) {
          const lease = { executionId: t.executionId, workerId: worker, fenceToken: t.fenceToken };
          if (i === step.fail) await engine.tasks.fail({ ...lease, error: { message: "random failure" } });
          else await engine.tasks.complete({ ...lease, output: { by: worker } });
        }
      }
    } else if (step.op === "reap") {
      await engine.tasks.reapExpiredLeases();
    } else if ("instance" in step) {
      const id = instanceIds[step.instance] as string;
      const control = {
        pause: () => engine.workflows.pause(id),
        resume: () => engine.workflows.resume(id),
        cancel: () => engine.workflows.cancel(id),
        compensate: () => engine.workflows.triggerCompensation(id),
        deadline: () => passDeadline(id),
      }[step.op];
      await control().catch((error: unknown) => {
        if (!(error instanceof BatonError && error.code === "INVALID_STATE")) throw error;
      });
    } else {
      const mine = held[step.worker] as AcquiredTask[];
      const task = mine[step.pick % Math.max(1, mine.length)];
      if (!task) continue;
      if (step.op === "expire") {
        await engine.expireLease(task.executionId);
        expired.add(task.executionId);
        continue;
      }
      const fenceToken = step.wrongFence ? task.fenceToken + 1 : task.fenceToken;
      const lease = { executionId: task.executionId, workerId: WORKERS[step.worker] as string, fenceToken };
      const call =
        step.op === "heartbeat"
          ? engine.tasks.heartbeat(lease)
          : step.op === "complete"
            ? engine.tasks.complete({ ...lease, output: { by: lease.workerId } })
            : engine.tasks.fail({ ...lease, error: { message: "random failure" } });
      const outcome = await call.then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      if (!outcome.ok) {
        expect(outcome.error).toBeInstanceOf(BatonError);
        expect(await snapshot(workflow)).toBe(before); // I2: a rejected write changes nothing
      } else {
        const duplicate = "duplicate" in outcome.value && outcome.value.duplicate;
        // I2: nothing is accepted on a wrong fence or on a lease known to have run out.
        expect(step.wrongFence).toBe(false);
        if (!duplicate) expect(expired.has(task.executionId)).toBe(false);
        if (duplicate) expect(await snapshot(workflow)).toBe(before);
      }
    }
    expect(await completionsPerStep(workflow)).toBeLessThanOrEqual(1); // I1
    await scenario.afterStep?.(workflow, acquired);
  }
  for (const id of instanceIds) {
    const view = await engine.workflows.getWorkflow(id);
    expectHistoryConsistent(view); // I5
    scenario.atEnd?.(view);
  }
}

/** Makes a run's deadline (if it has one) pass now, and lets the engine act on it. */
async function passDeadline(instanceId: string): Promise<void> {
  await sql`UPDATE workflow_instances SET deadline_at = now() - interval '1 millisecond'
    WHERE instance_id = ${instanceId} AND deadline_at IS NOT NULL`.execute(engine.database.db);
  await engine.workflows.expireDeadlines();
}

describe("lease invariants under random interleavings", () => {
  it(`hold I1-I3 and I7 after every step and I5 after every run (${PROPERTY_RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40 }), (ops) => runScenario(PLAIN, ops)),
      { numRuns: PROPERTY_RUNS },
    );
  }, 240_000);

  it(`hold with skipped steps, fan-outs, continued failures and deadlines too (${PROPERTY_RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepKindsOp, { minLength: 5, maxLength: 60 }), (ops) => runScenario(STEP_KINDS, ops)),
      { numRuns: PROPERTY_RUNS },
    );
  }, 480_000);
});
