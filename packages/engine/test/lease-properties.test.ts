import { type AcquiredTask, BatonError } from "@baton/engine";
import fc from "fast-check";
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
 * Pause, resume, cancel and manual compensation are mixed in; refused ones (INVALID_STATE) are fine.
 */

const WORKERS = ["w0", "w1", "w2"];
const INSTANCES = 3;
export const PROPERTY_RUNS = onPglite ? 40 : 100;

const op = fc.oneof(
  fc.record({ op: fc.constant("acquire" as const), worker: fc.nat(2), max: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant("heartbeat" as const), worker: fc.nat(2), pick: fc.nat(), wrongFence: fc.boolean() }),
  fc.record({ op: fc.constant("complete" as const), worker: fc.nat(2), pick: fc.nat(), wrongFence: fc.boolean() }),
  fc.record({ op: fc.constant("fail" as const), worker: fc.nat(2), pick: fc.nat(), wrongFence: fc.boolean() }),
  fc.record({ op: fc.constant("expire" as const), worker: fc.nat(2), pick: fc.nat() }),
  fc.record({ op: fc.constant("reap" as const) }),
  fc.record({
    op: fc.constantFrom("pause" as const, "resume" as const, "cancel" as const, "compensate" as const),
    instance: fc.nat(INSTANCES - 1),
  }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

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

async function runScenario(ops: Op[]): Promise<void> {
  const workflow = `prop-${crypto.randomUUID().slice(0, 8)}`;
  const queues = [`${workflow}.a`, `${workflow}.b`, `${workflow}.a.undo`];
  await engine.workflows.registerWorkflow({
    name: workflow,
    steps: [
      { name: "a", queue: queues[0], undo: true, retry: { maxAttempts: 2, backoffMs: 0 } },
      { name: "b", queue: queues[1], retry: { maxAttempts: 2, backoffMs: 0 } },
    ],
  });
  const instanceIds: string[] = [];
  for (let i = 0; i < INSTANCES; i++) instanceIds.push((await engine.workflows.startWorkflow({ workflow, input: { i } })).instanceId);

  // What each worker believes it holds; entries stay after the lease is lost (that is the point).
  const held: AcquiredTask[][] = WORKERS.map(() => []);
  const expired = new Set<string>();
  let lastFence = 0;

  for (const step of ops) {
    const before = await snapshot(workflow);
    if (step.op === "acquire") {
      const worker = WORKERS[step.worker] as string;
      const tasks = await engine.tasks.acquire({ queues, workerId: worker, max: step.max });
      for (const t of tasks) {
        expect(["RUNNING", "COMPENSATING"]).toContain((await engine.workflows.getWorkflow(t.instanceId)).state); // I7
        expect(t.fenceToken).toBeGreaterThan(lastFence); // I3
        lastFence = t.fenceToken;
        held[step.worker]?.push(t);
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
  }
  for (const id of instanceIds) expectHistoryConsistent(await engine.workflows.getWorkflow(id)); // I5
}

describe("lease invariants under random interleavings", () => {
  it(`hold I1-I3 and I7 after every step and I5 after every run (${PROPERTY_RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40 }), (ops) => runScenario(ops)),
      { numRuns: PROPERTY_RUNS },
    );
  }, 240_000);
});
