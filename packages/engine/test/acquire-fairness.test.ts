import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";

// A worker polling several queues gets the oldest available tasks first, whatever the queues are
// called: a busy queue must not starve the others.

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine.destroy());

describe("acquire across queues", () => {
  it("hands out the oldest tasks of all the queues first, not the first queue by name", async () => {
    const name = `fair-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({ name: `${name}-z`, steps: [{ name: "s", queue: `${name}.z` }] });
    await engine.workflows.registerWorkflow({ name: `${name}-a`, steps: [{ name: "s", queue: `${name}.a` }] });
    // The z task is the oldest; then a backlog on the queue that sorts first.
    const older = await engine.workflows.startWorkflow({ workflow: `${name}-z`, input: {} });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await engine.workflows.startMany({
      workflow: `${name}-a`,
      runs: Array.from({ length: 50 }, (_, i) => ({ runId: `a${i}`, input: {} })),
    });

    const tasks = await engine.tasks.acquire({ queues: [`${name}.a`, `${name}.z`], workerId: "w", max: 10 });
    expect(tasks).toHaveLength(10);
    expect(tasks.map((t) => t.instanceId)).toContain(older.instanceId);
    // And a worker asking for more than one queue holds still gets every task it asks for.
    const rest = await engine.tasks.acquire({ queues: [`${name}.a`, `${name}.z`], workerId: "w", max: 100 });
    expect(rest).toHaveLength(41);
  });
});
