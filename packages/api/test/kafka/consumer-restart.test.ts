import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../../test-support/database.ts";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { collect, ensureTopics, eventually, kafkaFixture } from "../../../../test-support/kafka.ts";
import type { BridgeLogger } from "../../src/kafka/index.ts";

// Found by the chaos suite: a reply whose database write outlasts the consumer's session gets the
// bridge evicted from its group, and kafkajs then crashes the consumer with an error it does not
// restart after ("The coordinator is not aware of this member"). The bridge went on running and
// applied no reply again. Now it starts its consumer again itself. Postgres only: the reply's write
// is held up by a row lock taken from a second connection.

describe.skipIf(onPglite)("Kafka bridge consumer", () => {
  let engine: TestEngine;
  const k = kafkaFixture();
  const logged: string[] = [];
  const logger: BridgeLogger = {
    debug() {},
    info: (_fields, message) => void logged.push(message),
    warn: (_fields, message) => void logged.push(message),
    error: (_fields, message) => void logged.push(message),
  };

  beforeAll(async () => {
    engine = await createTestEngine({ pollIntervalMs: 100 });
    await k.connect();
  });
  afterAll(async () => {
    await k.close();
    await engine?.destroy();
  });

  it("goes on applying replies after a reply held up past its session got it evicted", async () => {
    const bridge = await k.startBridge(engine, {
      logger,
      // The broker's smallest session: a reply held up 4 s outlasts it.
      consumer: { sessionTimeout: 1000, heartbeatInterval: 300, maxWaitTimeInMs: 100, rebalanceTimeout: 5000 },
    });
    const workflow = `evicted-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({
      name: workflow,
      defaults: { transport: "kafka", leaseMs: 60_000, retry: { maxAttempts: 1 } },
      steps: [{ name: "ship" }],
    });
    await bridge.refresh();
    const topic = k.topics.command(workflow, "ship", "DO");
    await ensureTopics(k.admin, [topic]);
    const commands = await collect(k.kafka, [topic]);
    k.onClose(() => commands.stop());
    const reply = async (index: number) => {
      const command = await eventually(() => commands.messages[index], `command ${index + 1}`);
      const headers = (command.value as { headers: Record<string, unknown> }).headers;
      await k.producer.send({
        topic: k.topics.response,
        messages: [{ value: JSON.stringify({ headers: { ...headers, status: true, errorMessage: null }, payload: { n: index } }) }],
      });
    };
    const completed = (instanceId: string) =>
      eventually(async () => (await engine.workflows.getWorkflow(instanceId)).state === "COMPLETED", `${instanceId} to complete`, 60_000);

    const first = await engine.workflows.startWorkflow({ workflow, input: {} });
    const blocker = new pg.Client({ connectionString: engine.testDb.url });
    await blocker.connect();
    try {
      await blocker.query("BEGIN");
      await blocker.query("SELECT 1 FROM workflow_instances WHERE instance_id = $1 FOR UPDATE", [first.instanceId]);
      await reply(0);
      await new Promise((resolve) => setTimeout(resolve, 4000));
      await blocker.query("COMMIT");
    } finally {
      await blocker.end();
    }
    await completed(first.instanceId);

    // After the eviction (and the crash, when kafkajs gave up), a new reply is still applied.
    const second = await engine.workflows.startWorkflow({ workflow, input: {} });
    await reply(1);
    await completed(second.instanceId);
    // The path this test is for was taken: kafkajs gave up on the consumer, and the bridge restarted it.
    expect(logged).toContain("kafka bridge: consumer restarted");
  });
});
