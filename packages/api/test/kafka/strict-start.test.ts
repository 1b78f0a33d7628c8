import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { collect, eventually, kafkaFixture } from "../../../../test-support/kafka.ts";

// Against the broker: a start message with a field the bridge would drop goes to the dead-letter
// topic naming it, and starts nothing; the reference format still starts its run.

let engine: TestEngine;
const k = kafkaFixture();
const { kafka, producer, topics } = k;
const workflow = `strict-start-${crypto.randomUUID().slice(0, 8)}`;
let deadLetters: Awaited<ReturnType<typeof collect>>;

beforeAll(async () => {
  engine = await createTestEngine();
  await engine.workflows.registerWorkflow({ name: workflow, steps: [{ name: "a", queue: `${workflow}.a` }] });
  await k.connect();
  await k.startBridge(engine);
  deadLetters = await collect(kafka, [topics.deadLetter]);
  k.onClose(() => deadLetters.stop());
});
afterAll(async () => {
  await k.close();
  await engine?.destroy();
});

describe("start messages on orchestrator.execution.start", () => {
  it("dead-letters one whose data is under a field the bridge does not take, and starts the reference one", async () => {
    await producer.send({
      topic: topics.start,
      messages: [
        { value: JSON.stringify({ orchName: workflow, runId: "lost-data", data: { tenantId: "t1" } }) },
        { value: JSON.stringify({ orchName: workflow, runId: "reference", payload: Buffer.from('{"tenantId":"t2"}').toString("base64") }) },
      ],
    });
    const letter = await eventually(() => deadLetters.messages.find((m) => m.headers.sourceTopic === topics.start), "the dead letter");
    expect(letter.value).toMatchObject({ reason: "start: unknown field `data`: use `input` (or `payload`)" });
    const started = await eventually(async () => {
      const page = await engine.workflows.listWorkflows({ workflow });
      return page.items.length > 0 ? page.items : undefined;
    }, "the reference start's run");
    expect(started.map((i) => [i.runId, i.input])).toEqual([["reference", { tenantId: "t2" }]]);
  });
});
