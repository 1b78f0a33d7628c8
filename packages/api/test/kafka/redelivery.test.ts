import { directDb } from "@baton/engine/internal";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { collect, eventually, kafkaFixture } from "../../../../test-support/kafka.ts";
import type { InboundOutcome } from "../../src/kafka/index.ts";

// Issue #10: a message whose handling kept failing with an error worth retrying was redelivered
// forever (its offset never committed, its partition stuck behind it), and a dead letter quoting a
// message near the broker's size limit was itself too large to send (so that message, too, came back forever).

let engine: TestEngine;
const k = kafkaFixture();
const { kafka, producer, topics } = k;
const workflow = `redelivered-${crypto.randomUUID().slice(0, 8)}`;
const outcomes: InboundOutcome[] = [];
let deadLetters: Awaited<ReturnType<typeof collect>>;

beforeAll(async () => {
  engine = await createTestEngine();
  await engine.workflows.registerWorkflow({ name: workflow, steps: [{ name: "a", queue: `${workflow}.a` }] });
  // The database refuses this one run, every time: an error that is not the message's fault.
  await sql
    .raw(`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'the database refuses run %', NEW.run_id; END $$;
          CREATE TRIGGER refuse_poison BEFORE INSERT ON workflow_instances
            FOR EACH ROW WHEN (NEW.run_id = 'poison') EXECUTE FUNCTION refuse_poison();`)
    .execute(directDb(engine.database));
  await k.connect();
  await k.startBridge(engine, { maxRedeliveries: 3, onInbound: (_topic, outcome) => outcomes.push(outcome) });
  deadLetters = await collect(kafka, [topics.deadLetter]);
  k.onClose(() => deadLetters.stop());
});

afterAll(async () => {
  await k.close();
  await engine?.destroy();
});

const runExists = async (runId: string) =>
  (await sql<{ n: string }>`SELECT count(*) AS n FROM workflow_instances WHERE run_id = ${runId}`.execute(directDb(engine.database)))
    .rows[0]?.n === "1";

describe("inbound messages that keep failing", () => {
  it("go to the dead-letter topic after maxRedeliveries failures, with the last error; the next message is then applied", async () => {
    await producer.send({
      topic: topics.start,
      messages: [
        { value: JSON.stringify({ workflow, runId: "poison", input: {} }) },
        { value: JSON.stringify({ workflow, runId: "behind-poison", input: {} }) },
      ],
    });
    const letter = await eventually(() => deadLetters.messages.find((m) => m.headers.sourceTopic === topics.start), "the dead letter");
    expect(letter.value).toMatchObject({
      reason: expect.stringMatching(/^failed 3 times \(maxRedeliveries 3\); last error: .*the database refuses run poison/),
      source: { topic: topics.start },
      value: expect.stringContaining('"poison"'),
    });
    await eventually(() => runExists("behind-poison"), "the run behind the poisoned message");
    expect(await runExists("poison")).toBe(false);
  });

  it("a message near the broker's size limit is dead-lettered with its echo cut to fit, marked, not refused by the broker", async () => {
    // 900,000 quotes: valid for the broker, not JSON, and twice as long once quoted in a dead letter.
    const huge = '"'.repeat(900_000);
    await producer.send({ topic: topics.start, messages: [{ value: huge }] });
    const letter = await eventually(
      () => deadLetters.messages.find((m) => (m.value as { truncated?: unknown }).truncated !== undefined),
      "the dead letter of the huge message",
    );
    const value = letter.value as { value: string; truncated: { originalBytes: number }; reason: string };
    expect(value.truncated).toEqual({ originalBytes: 900_000 });
    expect(value.value).toMatch(/^"+…\[truncated: 900000 bytes in all\]$/);
    // Cut to fit, not far below: most of the default 1,000,000-byte budget is the echo.
    expect(Buffer.byteLength(JSON.stringify(letter.value))).toBeLessThanOrEqual(1_000_000);
    expect(Buffer.byteLength(JSON.stringify(letter.value))).toBeGreaterThan(990_000);
    expect(value.reason).toMatch(/not JSON/);
  });
});
