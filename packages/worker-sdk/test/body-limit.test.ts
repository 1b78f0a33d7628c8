import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { createHttpTransport } from "../src/index.ts";
import { EventLog, uniqueName, workerSuite } from "./support/harness.ts";

/** The server's default body limit, which the suite's server keeps. */
const LIMIT = 1024 * 1024;

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine?.destroy());

describe("a report over the server's body limit", () => {
  const suite = workerSuite(() => engine, "http", { pollWaitMs: 5000 });

  /** A worker over HTTP whose transport records the size of every request body it sends. */
  function startMeasuredWorker(workflow: string, handler: () => unknown) {
    const sent: number[] = [];
    const measured: typeof fetch = (input, init) => {
      if (typeof init?.body === "string") sent.push(Buffer.byteLength(init.body));
      return fetch(input, init);
    };
    const events = new EventLog();
    suite.startWorker({
      workflow,
      onEvent: events.push,
      transport: createHttpTransport({ url: suite.connection.options.url as string, fetch: measured }),
      handlers: { work: handler },
    });
    return { sent, events };
  }

  it("is never sent: an output over it fails the attempt for good, naming its size and the limit", async () => {
    const workflow = uniqueName("big-output");
    await suite.client.register({ name: workflow, steps: [{ name: "work", retry: { maxAttempts: 3, backoffMs: 0 } }] });
    const { sent, events } = startMeasuredWorker(workflow, () => ({ blob: "x".repeat(2 * LIMIT) }));
    const { instanceId } = await suite.client.start(workflow);

    const failed = await suite.client.waitFor(instanceId, "FAILED", { timeoutMs: 20_000 });
    expect(failed.tasks).toHaveLength(1);
    const [attempt] = failed.tasks;
    expect(attempt).toMatchObject({ state: "FAILED", attempt: 1 });
    const error = attempt?.error as { message: string; name: string; details: { sizeBytes: number; limitBytes: number } };
    expect(error.name).toBe("NonRetryableError");
    expect(error.details.limitBytes).toBe(LIMIT);
    expect(error.details.sizeBytes).toBeGreaterThan(2 * LIMIT);
    expect(error.message).toContain(`${error.details.sizeBytes} bytes`);
    expect(error.message).toContain(`limit of ${LIMIT} bytes`);
    expect((await events.next("task-failed")).retryable).toBe(false);
    expect(events.ofType("report-failed")).toEqual([]);
    expect(Math.max(...sent)).toBeLessThanOrEqual(LIMIT);
  });

  it("is never sent: an error over it is cut to its message, and the step retries as thrown", async () => {
    const workflow = uniqueName("big-error");
    await suite.client.register({ name: workflow, steps: [{ name: "work", retry: { maxAttempts: 2, backoffMs: 0 } }] });
    const { sent, events } = startMeasuredWorker(workflow, () => {
      throw Object.assign(new Error("the bank said no"), { details: { response: "x".repeat(2 * LIMIT) } });
    });
    const { instanceId } = await suite.client.start(workflow);

    const failed = await suite.client.waitFor(instanceId, "FAILED", { timeoutMs: 20_000 });
    expect(failed.tasks.map((t) => [t.attempt, t.state])).toEqual([
      [1, "FAILED"],
      [2, "FAILED"],
    ]);
    const error = failed.tasks[0]?.error as { message: string; name: string; details?: unknown };
    expect(error.name).toBe("Error");
    expect(error.message).toMatch(/^the bank said no \[the error as thrown \(\d+ bytes as JSON\) is larger than the server's body limit/);
    expect(error.details).toBeUndefined();
    expect(events.ofType("task-failed").map((e) => e.retryable)).toEqual([true, true]);
    expect(Math.max(...sent)).toBeLessThanOrEqual(LIMIT);
  });
});
