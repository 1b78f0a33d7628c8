import { type AcquiredTask, type InstanceState, type InstanceView, isTerminalInstanceState } from "@baton/engine";
import { foldEvents } from "@baton/engine/internal";
import { expect } from "vitest";
import type { TestEngine } from "./engine.ts";

/** A step handler in engine tests: returns the output, or throws to fail the attempt. */
export type StepHandler = (task: AcquiredTask) => unknown;

/**
 * Plays worker for engine tests: acquires from the handlers' queues and completes or fails each
 * task, until the instance reaches one of `until` (default: any terminal state). Retry backoff is
 * skipped so tests run at full speed. Returns the tasks in the order they were handled.
 */
export async function drive(
  engine: TestEngine,
  instanceId: string,
  handlers: Record<string, StepHandler>,
  until: (state: InstanceState) => boolean = isTerminalInstanceState,
): Promise<AcquiredTask[]> {
  const handled: AcquiredTask[] = [];
  for (let round = 0; round < 200; round++) {
    const view = await engine.workflows.getWorkflow(instanceId);
    if (until(view.state)) return handled;
    await engine.skipBackoff();
    const tasks = await engine.tasks.acquire({ queues: Object.keys(handlers), workerId: "driver", max: 10 });
    for (const task of tasks) {
      handled.push(task);
      const lease = { executionId: task.executionId, workerId: "driver", fenceToken: task.fenceToken };
      let output: unknown;
      try {
        output = await (handlers[task.queue] as StepHandler)(task);
      } catch (error) {
        await engine.tasks.fail({ ...lease, error: { message: (error as Error).message } });
        continue;
      }
      await engine.tasks.complete({ ...lease, output });
    }
    if (tasks.length === 0) await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`instance ${instanceId} did not settle`);
}

/**
 * Invariant I5: events are numbered 1..n without gap or duplicate, the instance's sequence number
 * is n, and folding the events yields the stored state.
 */
export function expectHistoryConsistent(view: InstanceView): void {
  const folded = foldEvents(view.events);
  expect(view.events.map((e) => e.sequenceNumber)).toEqual(view.events.map((_, i) => i + 1));
  expect(folded.sequenceNumber).toBe(view.sequenceNumber);
  expect(folded.state).toBe(view.state);
  expect(folded.input).toEqual(view.input);
  expect(folded.output ?? null).toEqual(view.output ?? null);
  expect(folded.error ?? null).toEqual(view.error ?? null);
  const stored = Object.fromEntries(view.tasks.map((t) => [t.executionId, t.state === "LEASED" ? "PENDING" : t.state]));
  expect(folded.tasks).toEqual(stored);
}
