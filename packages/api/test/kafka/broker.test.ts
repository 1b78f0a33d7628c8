import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collect, ensureTopics, eventually, kafkaFixture } from "../../../../test-support/kafka.ts";

// The wiring itself: the broker the suite was given answers, topics can be created up front, and a
// consumer reading from the beginning sees what a producer sent.
const k = kafkaFixture();
const { kafka, admin, producer } = k;

beforeAll(() => k.connect());
afterAll(() => k.close());

describe("test broker", () => {
  it("round-trips a keyed message with headers", async () => {
    const topic = `${k.prefix}.smoke`;
    await ensureTopics(admin, [topic]);
    const reader = await collect(kafka, [topic]);
    try {
      await producer.send({ topic, messages: [{ key: "k1", value: JSON.stringify({ hello: "kafka" }), headers: { h: "v" } }] });
      const [message] = await eventually(() => reader.messages.length > 0 && reader.messages, "the message");
      expect(message).toMatchObject({ topic, key: "k1", headers: { h: "v" }, value: { hello: "kafka" } });
    } finally {
      await reader.stop();
    }
  });
});
