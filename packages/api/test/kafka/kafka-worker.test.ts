import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  collect,
  ensureTopics,
  eventually,
  TEST_CONSUMER_SETTINGS,
  TEST_KAFKA_BROKERS,
  TEST_KAFKA_CONFIG,
  testKafka,
  testProducer,
  uniqueGroupId,
  uniqueTopicPrefix,
} from "../../../../test-support/kafka.ts";
import { NonRetryableError } from "../../../worker-sdk/src/errors.ts";
import { createKafkaWorker } from "../../../worker-sdk/src/kafka-worker.ts";
import { silentLogger } from "../../../worker-sdk/src/logger.ts";

// createKafkaWorker on its own, with the test playing Baton: it sends commands and reads the replies.

const prefix = uniqueTopicPrefix();
const kafka = testKafka();
const producer = testProducer(kafka);
const admin = kafka.admin();

beforeAll(async () => {
  await Promise.all([producer.connect(), admin.connect()]);
});
afterAll(async () => {
  await Promise.all([producer.disconnect(), admin.disconnect()]);
});

describe("createKafkaWorker", () => {
  it("runs DO and UNDO handlers, echoes the command headers, and marks NonRetryableError as not retryable", async () => {
    const responses = `${prefix}.response.result`;
    await ensureTopics(admin, [responses, `${prefix}.registration`]);
    const replies = await collect(kafka, [responses]);
    const registrations = await collect(kafka, [`${prefix}.registration`]);
    const seen: { kind: string; fenceToken: number; attempt: number; input: unknown }[] = [];
    const worker = await createKafkaWorker({
      brokers: TEST_KAFKA_BROKERS,
      workflow: "billing",
      service: "billing-service",
      topicPrefix: prefix,
      groupId: uniqueGroupId("worker"),
      fromBeginning: true,
      logger: silentLogger,
      kafka: { connectionTimeout: TEST_KAFKA_CONFIG.connectionTimeout, retry: TEST_KAFKA_CONFIG.retry },
      consumer: TEST_CONSUMER_SETTINGS,
      handlers: {
        charge: {
          do: ({ input, kind, fenceToken, attempt }) => {
            seen.push({ kind, fenceToken, attempt, input });
            if ((input as { amount: number }).amount < 0) throw new NonRetryableError("negative amount", { amount: input.amount });
            return { chargeId: "c-1" };
          },
          undo: ({ kind, fenceToken, attempt, input }) => {
            seen.push({ kind, fenceToken, attempt, input });
            return { refunded: true };
          },
        },
      },
    });
    try {
      expect(worker.topics).toEqual([`${prefix}.billing.charge.do`, `${prefix}.billing.charge.undo`]);
      await worker.ready;
      const command = (action: "DO" | "UNDO", fenceToken: number, payload: unknown) => ({
        topic: `${prefix}.billing.charge.${action.toLowerCase()}`,
        messages: [
          {
            key: "flow-1",
            value: JSON.stringify({
              headers: {
                flowId: "flow-1",
                orchName: "billing",
                stepName: "charge",
                action,
                executionId: `e-${fenceToken}`,
                fenceToken,
                attempt: 1,
              },
              payload,
            }),
          },
        ],
      });
      await producer.send(command("DO", 11, { amount: 5 }));
      await producer.send(command("DO", 12, { amount: -1 }));
      await producer.send(command("UNDO", 13, { amount: 5 }));
      const got = await eventually(() => replies.messages.length >= 3 && replies.messages, "three replies");
      const byFence = new Map(got.map((m) => [(m.value as { headers: { fenceToken: number } }).headers.fenceToken, m]));
      expect(byFence.get(11)?.value).toEqual({
        headers: {
          flowId: "flow-1",
          stepName: "charge",
          action: "DO",
          executionId: "e-11",
          fenceToken: 11,
          status: true,
          errorMessage: null,
        },
        payload: { chargeId: "c-1" },
      });
      expect(byFence.get(11)?.key).toBe("flow-1");
      expect(byFence.get(12)?.value).toEqual({
        headers: {
          flowId: "flow-1",
          stepName: "charge",
          action: "DO",
          executionId: "e-12",
          fenceToken: 12,
          status: false,
          errorMessage: "negative amount",
          retryable: false,
        },
        payload: { amount: -1 },
      });
      expect(byFence.get(13)?.value).toMatchObject({ headers: { action: "UNDO", status: true }, payload: { refunded: true } });
      expect(seen.map((s) => `${s.kind}:${s.fenceToken}`).sort()).toEqual(["DO:11", "DO:12", "UNDO:13"]);

      const [registration] = await eventually(() => registrations.messages.length > 0 && registrations.messages, "the registration");
      expect(registration?.value).toEqual({ orchName: "billing", as: "worker", service: "billing-service", steps: [{ name: "charge" }] });
    } finally {
      await Promise.all([worker.stop(), replies.stop(), registrations.stop()]);
    }
  });
});
