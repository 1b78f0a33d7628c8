import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collect, ensureTopics, eventually, kafkaFixture } from "../../../../test-support/kafka.ts";
import { NonRetryableError } from "../../../worker-sdk/src/errors.ts";

// createKafkaWorker on its own, with the test playing Baton: it sends commands and reads the replies.

const k = kafkaFixture();
const { kafka, producer, admin, prefix, topics } = k;

beforeAll(() => k.connect());
afterAll(() => k.close());

describe("createKafkaWorker", () => {
  it("runs DO and UNDO handlers, echoes the command headers, and marks NonRetryableError as not retryable", async () => {
    await ensureTopics(admin, [topics.response, topics.registration]);
    const replies = await collect(kafka, [topics.response]);
    const registrations = await collect(kafka, [topics.registration]);
    const seen: { kind: string; fenceToken: number; attempt: number; input: unknown }[] = [];
    const worker = await k.startWorker({
      workflow: "billing",
      service: "billing-service",
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
