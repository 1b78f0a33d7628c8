import type { KafkaMessage } from "kafkajs";

/**
 * Bytes a dead letter's value may take by default: under Kafka's default `max.message.bytes`
 * (1,048,588, which also counts the record's key, headers and framing).
 */
export const DEFAULT_DEAD_LETTER_MAX_BYTES = 1_000_000;

/** Where a dead letter came from. */
export interface DeadLetterSource {
  topic: string;
  partition: number;
  message: KafkaMessage;
}

/**
 * The value of a dead letter: the reason, where the message sat, and the message itself. The
 * echoed value is cut so the whole stays within `maxBytes` (a message near the broker's limit grows
 * when it is quoted as JSON), and the cut is marked, with the original size.
 */
export function deadLetterValue(source: DeadLetterSource, reason: string, maxBytes: number): string {
  const { topic, partition, message } = source;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers ?? {}))
    if (v !== undefined) headers[k] = (Array.isArray(v) ? v[0] : v)?.toString() ?? "";
  const original = message.value?.toString("utf8") ?? null;
  const letter = (value: string | null, truncated?: { originalBytes: number }) =>
    JSON.stringify({
      reason: reason.slice(0, 2000),
      source: { topic, partition, offset: message.offset, timestamp: message.timestamp },
      key: message.key?.toString("utf8") ?? null,
      headers,
      value,
      ...(truncated ? { truncated } : {}),
    });
  let text = letter(original);
  if (original === null || Buffer.byteLength(text) <= maxBytes) return text;
  const truncated = { originalBytes: message.value?.length ?? 0 };
  const marker = `…[truncated: ${truncated.originalBytes} bytes in all]`;
  // Cut in proportion to the overshoot (escaping makes a character cost 1 to 6 bytes), at least
  // one character a round, so it ends within a few rounds close under the limit.
  let keep = original.length;
  let size = Buffer.byteLength(text);
  for (;;) {
    keep = Math.max(0, Math.min(keep - 1, Math.floor((keep * maxBytes) / size)));
    text = letter(original.slice(0, keep) + marker, truncated);
    size = Buffer.byteLength(text);
    if (size <= maxBytes || keep === 0) return text;
  }
}
