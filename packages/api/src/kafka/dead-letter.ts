import type { KafkaMessage } from "kafkajs";
import { type Outgoing, sizeAlone } from "./sized-send.ts";

/** Where a dead letter came from. */
export interface DeadLetterSource {
  topic: string;
  partition: number;
  message: KafkaMessage;
}

/** Bytes of the source's key, and of its headers together, a cut dead letter still echoes. */
const KEPT_KEY_BYTES = 1024;
const KEPT_HEADER_BYTES = 4096;

/**
 * The dead letter of a message, to `topic`: its value holds the reason, where the message sat,
 * and the message itself (`{reason, source, key, headers, value}`); its headers the reason and the
 * source, for filtering. It is made to fit `maxBytes` as a send of its own (a message near the
 * broker's limit grows when it is quoted as JSON): the echoed value is cut, and if that is not
 * enough a very long key or header list too, with `truncated` giving the original value's size.
 */
export function deadLetterMessage(topic: string, source: DeadLetterSource, reason: string, maxBytes: number): Outgoing {
  const { message } = source;
  const key = message.key ?? null;
  const record = (value: string): Outgoing => ({
    topic,
    key: key === null || key.length <= KEPT_KEY_BYTES ? key : key.subarray(0, KEPT_KEY_BYTES),
    value,
    headers: {
      reason: reason.slice(0, 1000),
      sourceTopic: source.topic,
      sourcePartition: String(source.partition),
      sourceOffset: message.offset,
    },
  });
  const echo = { key: key?.toString("utf8") ?? null, headers: headersOf(message) };
  const whole = record(letter(source, reason, echo, message.value?.toString("utf8") ?? null));
  if (sizeAlone(whole) <= maxBytes) return whole;

  const truncated: Truncated = { originalBytes: message.value?.length ?? 0 };
  const kept = keptEcho(echo, truncated);
  const original = message.value?.toString("utf8") ?? "";
  const marker = `…[truncated: ${truncated.originalBytes} bytes in all]`;
  // Cut in proportion to the overshoot (escaping makes a character cost 1 to 6 bytes), at least
  // one character a round, so it ends within a few rounds close under the limit.
  let keep = original.length;
  let cut = record(letter(source, reason, kept, original + marker, truncated));
  for (;;) {
    const size = sizeAlone(cut);
    if (size <= maxBytes || keep === 0) return cut;
    keep = Math.max(0, Math.min(keep - 1, Math.floor((keep * maxBytes) / size)));
    cut = record(letter(source, reason, kept, original.slice(0, keep) + marker, truncated));
  }
}

type Echo = { key: string | null; headers: Record<string, string> };
type Truncated = { originalBytes: number; keyBytes?: number; headersLeftOut?: string[] };

function letter(source: DeadLetterSource, reason: string, echo: Echo, value: string | null, truncated?: Truncated): string {
  const { topic, partition, message } = source;
  return JSON.stringify({
    reason: reason.slice(0, 2000),
    source: { topic, partition, offset: message.offset, timestamp: message.timestamp },
    key: echo.key,
    headers: echo.headers,
    value,
    ...(truncated ? { truncated } : {}),
  });
}

/** The key and headers a cut dead letter echoes: a long key cut, headers past a few KiB named only. */
function keptEcho(echo: Echo, truncated: Truncated): Echo {
  let key = echo.key;
  if (key !== null && Buffer.byteLength(key) > KEPT_KEY_BYTES) {
    truncated.keyBytes = Buffer.byteLength(key);
    key = `${key.slice(0, KEPT_KEY_BYTES / 4)}…`;
  }
  const headers: Record<string, string> = {};
  const leftOut: string[] = [];
  let bytes = 0;
  for (const [name, value] of Object.entries(echo.headers)) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
    if (bytes <= KEPT_HEADER_BYTES) headers[name] = value;
    else if (leftOut.length < 100) leftOut.push(name.slice(0, 100));
  }
  if (leftOut.length > 0) truncated.headersLeftOut = leftOut;
  return { key, headers };
}

function headersOf(message: KafkaMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers ?? {}))
    if (v !== undefined) headers[k] = (Array.isArray(v) ? v[0] : v)?.toString() ?? "";
  return headers;
}
