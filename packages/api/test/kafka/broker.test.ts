import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collect, ensureTopics, eventually, testKafka, testProducer, uniqueTopicPrefix } from "../../../../test-support/kafka.ts";

// The wiring itself: the broker the suite was given answers, topics can be created up front, and a
// consumer reading from the beginning sees what a producer sent.
const kafka = testKafka();
const admin = kafka.admin();
const producer = testProducer(kafka);

beforeAll(async () => {
  await Promise.all([admin.connect(), producer.connect()]);
});
afterAll(async () => {
  await Promise.all([admin.disconnect(), producer.disconnect()]);
});

describe("test broker", () => {
  it("round-trips a keyed message with headers", async () => {
    const topic = `${uniqueTopicPrefix()}.smoke`;
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
