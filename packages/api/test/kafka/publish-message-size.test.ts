import { loadConfig } from "@baton/api";
import type { KafkaMessage } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { ensureTopics, eventually, kafkaFixture } from "../../../../test-support/kafka.ts";
import { deadLetterMessage } from "../../src/kafka/dead-letter.ts";
import type { KafkaBridge } from "../../src/kafka/index.ts";
import { sizeAlone } from "../../src/kafka/sized-send.ts";

// Issue #10: commands were published in one send per acquire, so commands larger together than
// the broker's message size were refused, and their steps timed out and were retried, refused
// again, forever. Now they go in sends under KAFKA_MAX_MESSAGE_BYTES; a command or a reply that
// cannot fit alone fails its step for good with the reason, and a dead letter is cut to fit.

let engine: TestEngine;
let bridge: KafkaBridge;
const k = kafkaFixture();

beforeAll(async () => {
  engine = await createTestEngine({ pollIntervalMs: 100 });
  await k.connect();
  bridge = await k.startBridge(engine);
});
afterAll(async () => {
  await k.close();
  await engine?.destroy();
});

const blob = (bytes: number) => ({ blob: "x".repeat(bytes) });

/** A one-step Kafka workflow (3 attempts, no backoff). */
async function kafkaWorkflow(base: string) {
  const workflow = `${base}-${crypto.randomUUID().slice(0, 8)}`;
  await engine.workflows.registerWorkflow({
    name: workflow,
    defaults: { transport: "kafka", leaseMs: 30_000, retry: { maxAttempts: 3, backoffMs: 0 } },
    steps: [{ name: "charge" }],
  });
  return workflow;
}

async function settled(instanceId: string) {
  return eventually(async () => {
    const view = await engine.workflows.getWorkflow(instanceId);
    return (view.state === "COMPLETED" || view.state === "FAILED") && view;
  }, `instance ${instanceId} to finish`);
}

describe("commands and replies under the broker's message size", () => {
  it("publishes commands several MB together (one acquire) in sends the broker takes", async () => {
    const workflow = await kafkaWorkflow("burst");
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await engine.workflows.startWorkflow({ workflow, input: { i, ...blob(100_000) } })).instanceId);
    await k.startWorker({ workflow, handlers: { charge: ({ input }) => ({ bytes: (input as { blob: string }).blob.length }) } });
    // Served only now, so the bridge leases all 20 in one acquire (2 MB of commands).
    await bridge.refresh();
    for (const id of ids) {
      const view = await settled(id);
      expect([view.state, view.tasks.length]).toEqual(["COMPLETED", 1]);
      expect(view.output).toEqual({ charge: { bytes: 100_000 } });
    }
  });

  it("fails a step whose command cannot fit in a message, once, with the reason", async () => {
    const workflow = `too-large-${crypto.randomUUID().slice(0, 8)}`;
    // The Kafka step's input is the run's input with both outputs: about 1.1 MB.
    await engine.workflows.registerWorkflow({
      name: workflow,
      type: "dag",
      defaults: { retry: { maxAttempts: 3, backoffMs: 0 } },
      steps: [{ name: "a1" }, { name: "a2" }, { name: "c", transport: "kafka", dependsOn: ["a1", "a2"] }],
    });
    await bridge.refresh();
    const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: blob(300_000) });
    for (const step of ["a1", "a2"]) {
      const [task] = await eventually(async () => {
        const tasks = await engine.tasks.acquire({ queues: [`${workflow}.${step}`], workerId: "w", max: 1 });
        return tasks.length > 0 && tasks;
      }, step);
      await engine.tasks.complete({ ...(task as NonNullable<typeof task>), workerId: "w", output: blob(400_000) });
    }
    const view = await settled(instanceId);
    expect(view.state).toBe("FAILED");
    const attempts = view.tasks.filter((t) => t.taskId === "c");
    expect(attempts.map((t) => t.state)).toEqual(["FAILED"]);
    expect(attempts[0]?.error).toMatchObject({
      message: expect.stringMatching(/^the command is \d+ bytes, over the Kafka message limit of 1000000 bytes/),
      payload: { topic: k.topics.command(workflow, "c", "DO"), limitBytes: 1_000_000 },
    });
  });

  it("fails a command the broker refuses (a topic with a lower limit) and still publishes the others", async () => {
    const workflow = `low-limit-${crypto.randomUUID().slice(0, 8)}`;
    const topic = k.topics.command(workflow, "charge", "DO");
    await ensureTopics(k.admin, [{ topic, configEntries: [{ name: "max.message.bytes", value: "50000" }] }]);
    await engine.workflows.registerWorkflow({
      name: workflow,
      defaults: { transport: "kafka", leaseMs: 30_000, retry: { maxAttempts: 3, backoffMs: 0 } },
      steps: [{ name: "charge" }],
    });
    const large = await engine.workflows.startWorkflow({ workflow, input: blob(100_000) });
    const small = await engine.workflows.startWorkflow({ workflow, input: blob(10) });
    await k.startWorker({ workflow, handlers: { charge: () => ({ ok: true }) } });
    await bridge.refresh();
    const refused = await settled(large.instanceId);
    expect(refused.tasks.map((t) => t.state)).toEqual(["FAILED"]);
    expect(refused.tasks[0]?.error).toMatchObject({ message: expect.stringMatching(/or the topic's max\.message\.bytes/) });
    expect((await settled(small.instanceId)).state).toBe("COMPLETED");
  });

  it("fails a step whose reply cannot fit in a message (worker SDK), once, with the reason", async () => {
    const workflow = await kafkaWorkflow("large-reply");
    await k.startWorker({ workflow, handlers: { charge: () => blob(1_200_000) } });
    await bridge.refresh();
    const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: {} });
    const view = await settled(instanceId);
    expect(view.tasks.map((t) => t.state)).toEqual(["FAILED"]);
    expect(view.tasks[0]?.error).toMatchObject({ message: expect.stringMatching(/^the reply is \d+ bytes, over the Kafka message limit/) });
  });
});

describe("the limit itself", () => {
  const source = (key: string, value: string): { topic: string; partition: number; message: KafkaMessage } => ({
    topic: "t",
    partition: 0,
    message: {
      key: Buffer.from(key),
      value: Buffer.from(value),
      headers: { h: "v" },
      offset: "7",
      timestamp: "0",
      attributes: 0,
    } as KafkaMessage,
  });

  it("cuts a dead letter to fit, key and echo both, marked with what was cut", () => {
    const letter = deadLetterMessage("dl", source("k".repeat(600_000), '"'.repeat(400_000)), "not JSON", 100_000);
    expect(sizeAlone(letter)).toBeLessThanOrEqual(100_000);
    expect((letter.key as Buffer).length).toBe(1024);
    const value = JSON.parse(letter.value);
    expect(value.truncated).toEqual({ originalBytes: 400_000, keyBytes: 600_000 });
    expect(value.headers).toEqual({ h: "v" });
    expect(value.value).toMatch(/^"+…\[truncated: 400000 bytes in all\]$/);
    // A small one is left whole.
    expect(JSON.parse(deadLetterMessage("dl", source("k", "{"), "not JSON", 100_000).value)).toMatchObject({ key: "k", value: "{" });
  });

  it("is configured by KAFKA_MAX_MESSAGE_BYTES, from 16 KiB", async () => {
    expect(loadConfig({}).kafkaMaxMessageBytes).toBe(1_000_000);
    expect(loadConfig({ KAFKA_MAX_MESSAGE_BYTES: "500000" }).kafkaMaxMessageBytes).toBe(500_000);
    expect(() => loadConfig({ KAFKA_MAX_MESSAGE_BYTES: "1000" })).toThrow(/KAFKA_MAX_MESSAGE_BYTES="1000"/);
    await expect(k.startBridge(engine, { maxMessageBytes: 1000 })).rejects.toThrow(/maxMessageBytes: expected a whole number from 16384/);
  });
});
