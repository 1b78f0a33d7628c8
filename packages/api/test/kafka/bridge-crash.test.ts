import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { collect, ensureTopics, eventually, kafkaFixture } from "../../../../test-support/kafka.ts";
import { BRIDGE_WORKER_ID } from "../../src/kafka/index.ts";

// A bridge that dies between its acquire (committed: the task is LEASED to the bridge) and the
// publish loses nothing: the lease runs out, the reaper times the attempt out, and the next
// attempt is published by whichever bridge runs then.

let engine: TestEngine;
const k = kafkaFixture();
const { kafka, producer, admin, topics } = k;

beforeAll(async () => {
  engine = await createTestEngine({ pollIntervalMs: 100 });
  await k.connect();
});
afterAll(async () => {
  await k.close();
  await engine?.destroy();
});

describe("Kafka bridge crash between acquire and publish", () => {
  it("loses no command: the lease expires, the reaper times it out, the next attempt is published", async () => {
    const workflow = `crash-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({
      name: workflow,
      defaults: { transport: "kafka", leaseMs: 2000, retry: { maxAttempts: 3, backoffMs: 0 } },
      steps: [{ name: "reserve" }],
    });
    const topic = topics.command(workflow, "reserve", "DO");
    await ensureTopics(admin, [topic]);
    const commands = await collect(kafka, [topic]);
    try {
      const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: { sku: "A-1" } });
      // The dead bridge's acquire: the task is leased to the bridge, and no command was sent.
      const [lost] = await engine.tasks.acquire({ queues: [`${workflow}.reserve`], workerId: BRIDGE_WORKER_ID, max: 1 });
      expect(lost?.attempt).toBe(1);

      // A bridge starts (another replica, or the restarted one): the leased task is not its to send.
      const bridge = await k.startBridge(engine, { acquireWaitMs: 300 });
      try {
        expect(bridge.queues().map((q) => q.queue)).toEqual([`${workflow}.reserve`]);
        expect(commands.messages).toHaveLength(0);

        // The lease is the reply deadline: it runs out, and the reaper counts it as a failed attempt.
        await eventually(async () => (await engine.tasks.reapExpiredLeases()) === 1, "the lost lease to be reaped", 10_000);
        const command = await eventually(() => commands.messages[0], "the retry's command");
        const headers = (command.value as { headers: { attempt: number; executionId: string; fenceToken: number } }).headers;
        expect(headers.attempt).toBe(2);
        expect(headers.fenceToken).toBeGreaterThan(lost?.fenceToken ?? Number.POSITIVE_INFINITY);
        expect(command.value).toMatchObject({ payload: { sku: "A-1" } });

        await producer.send({
          topic: topics.response,
          messages: [
            {
              key: instanceId,
              value: JSON.stringify({
                headers: { flowId: instanceId, stepName: "reserve", action: "DO", status: true, errorMessage: null, ...headers },
                payload: { reserved: true },
              }),
            },
          ],
        });
        const view = await eventually(async () => {
          const v = await engine.workflows.getWorkflow(instanceId);
          return v.state === "COMPLETED" && v;
        }, "completion");
        expect(view.tasks.map((t) => `${t.attempt}:${t.state}`)).toEqual(["1:TIMED_OUT", "2:COMPLETED"]);
        expect(commands.messages).toHaveLength(1);
      } finally {
        await bridge.stop();
      }
    } finally {
      await commands.stop();
    }
  });
});
