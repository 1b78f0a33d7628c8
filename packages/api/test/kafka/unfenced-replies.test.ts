import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import {
  type CollectedMessage,
  collect,
  ensureTopics,
  eventually,
  kafkaFixture,
  uniqueTopicPrefix,
} from "../../../../test-support/kafka.ts";
import { bridgeTopics, type InboundOutcome, type UnfencedReplies } from "../../src/kafka/index.ts";

// A reply that names no fence, arriving after its attempt timed out and the retry's command went
// out: what the bridge does with it in each mode, against the real broker. Each mode gets its own
// bridge on its own topic prefix, one after the other, over one database.

let engine: TestEngine;
const k = kafkaFixture();
const { kafka, producer, admin } = k;

beforeAll(async () => {
  engine = await createTestEngine({ pollIntervalMs: 100 });
  await k.connect();
});

// Each test's bridge stops before the next starts: both would lease every Kafka step's commands.
afterEach(() => k.closeStarted());

afterAll(async () => {
  await k.close();
  await engine?.destroy();
});

/**
 * Starts a bridge in `mode`, registers a one-step Kafka workflow, starts a run, lets attempt 1 time
 * out and waits for attempt 2's command; then sends attempt 1's late reply without a fence.
 */
async function lateUnfencedReply(mode: UnfencedReplies) {
  const prefix = uniqueTopicPrefix();
  const topics = bridgeTopics(prefix);
  const outcomes: { topic: string; outcome: InboundOutcome }[] = [];
  const bridge = await k.startBridge(engine, {
    topicPrefix: prefix,
    unfencedReplies: mode,
    onInbound: (topic, outcome) => outcomes.push({ topic, outcome }),
  });

  const workflow = `unfenced-${mode}-${crypto.randomUUID().slice(0, 8)}`;
  await engine.workflows.registerWorkflow({
    name: workflow,
    defaults: { transport: "kafka", leaseMs: 30_000, retry: { maxAttempts: 3, backoffMs: 0 } },
    steps: [{ name: "charge" }],
  });
  await bridge.refresh();
  const commandTopic = topics.command(workflow, "charge", "DO");
  await ensureTopics(admin, [commandTopic]);
  const deadLetters = await collect(kafka, [topics.deadLetter]);
  const reader = await collect(kafka, [commandTopic]);
  k.onClose(() => reader.stop());
  k.onClose(() => deadLetters.stop());

  const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: {} });
  const first = await eventually(() => reader.messages[0], "attempt 1's command");
  await engine.expireLease(headersOf(first).executionId);
  expect(await engine.tasks.reapExpiredLeases()).toBe(1);
  const second = await eventually(() => reader.messages[1], "attempt 2's command");

  // What a service of the replaced orchestrators sends: the step, no executionId, no fence token.
  await producer.send({
    topic: topics.response,
    messages: [
      {
        key: instanceId,
        value: JSON.stringify({
          headers: { flowId: instanceId, stepName: "charge", action: "DO", status: true },
          payload: { from: "attempt 1" },
        }),
      },
    ],
  });
  const outcome = await eventually(() => outcomes.find((o) => o.topic === topics.response)?.outcome, "the reply to be handled");
  return { topics, instanceId, first, second, outcome, deadLetters: deadLetters.messages };
}

interface CommandHeaders {
  flowId: string;
  stepName: string;
  action: string;
  executionId: string;
  fenceToken: number;
}
const headersOf = (command: CollectedMessage) => (command.value as { headers: CommandHeaders }).headers;

describe("a reply that names no fence", () => {
  it("is matched to the step's current lease by default, as the replaced orchestrators did: attempt 1's late reply completes attempt 2", async () => {
    const { instanceId, second, outcome } = await lateUnfencedReply("match");
    expect(outcome).toMatchObject({ kind: "applied", detail: { executionId: headersOf(second).executionId } });
    const view = await engine.workflows.getWorkflow(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(view.tasks.map((t) => `${t.attempt}:${t.state}`)).toEqual(["1:TIMED_OUT", "2:COMPLETED"]);
    expect(view.output).toEqual({ charge: { from: "attempt 1" } });
  });

  it("is dead-lettered with the reason when the bridge refuses unfenced replies; attempt 2 waits for its own", async () => {
    const { topics, instanceId, second, outcome, deadLetters } = await lateUnfencedReply("refuse");
    expect(outcome).toMatchObject({ kind: "dead-letter", reason: expect.stringMatching(/names no executionId and fenceToken/) });
    const letter = await eventually(() => deadLetters.find((l) => l.headers.sourceTopic === topics.response), "the dead letter");
    expect(letter.value).toMatchObject({
      reason: expect.stringMatching(/refuses unfenced replies/),
      source: { topic: topics.response },
      value: expect.stringContaining('"attempt 1"'),
    });
    expect((await engine.workflows.getWorkflow(instanceId)).tasks.map((t) => `${t.attempt}:${t.state}`)).toEqual([
      "1:TIMED_OUT",
      "2:LEASED",
    ]);

    // Attempt 2's own reply, with its fence, is the one that counts.
    const h2 = headersOf(second);
    await producer.send({
      topic: topics.response,
      messages: [
        {
          key: instanceId,
          value: JSON.stringify({
            headers: { ...h2, status: true, errorMessage: null },
            payload: { from: "attempt 2" },
          }),
        },
      ],
    });
    const done = await eventually(async () => {
      const view = await engine.workflows.getWorkflow(instanceId);
      return view.state === "COMPLETED" && view;
    }, "the instance to complete");
    expect(done.output).toEqual({ charge: { from: "attempt 2" } });
  });
});
