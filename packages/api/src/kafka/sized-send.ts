import type { Producer } from "kafkajs";

/**
 * Bytes one send may take by default (`KAFKA_MAX_MESSAGE_BYTES`): under the broker's default
 * `max.message.bytes` (1,048,588), which bounds each partition's record batch of a request.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_000_000;
/** The smallest limit the bridge takes: a dead letter's reason and an event's identity must fit. */
export const MIN_MAX_MESSAGE_BYTES = 16 * 1024;

// Upper bounds of the framing the v2 record format adds (varints at their widest), so an estimate
// is never below what the broker counts: a record batch's header with the log's offset and length.
const BATCH_OVERHEAD = 80;
const RECORD_OVERHEAD = 40;
const HEADER_OVERHEAD = 10;

/** A message to publish, with the topic it goes to. */
export interface Outgoing {
  topic: string;
  key: string | Buffer | null;
  value: string;
  headers: Record<string, string>;
}

/**
 * What to publish instead of a message that does not fit in `fitInto` bytes (its record batch
 * framing included): a smaller message, or null when the caller dealt with it otherwise (and said
 * so: a message is never dropped silently).
 */
export type Oversize<T extends Outgoing> = (message: T, fitInto: number) => Promise<Outgoing | null> | Outgoing | null;

/** Bytes a message takes in a record batch, at most. */
export function recordBytes(message: Omit<Outgoing, "topic">): number {
  let bytes = RECORD_OVERHEAD + (message.key === null ? 0 : Buffer.byteLength(message.key)) + Buffer.byteLength(message.value);
  for (const [name, value] of Object.entries(message.headers))
    bytes += HEADER_OVERHEAD + Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

/** Bytes a message's value may take for the message to be sent alone within `maxBytes`. */
export function valueRoom(message: Omit<Outgoing, "topic" | "value">, maxBytes: number): number {
  return maxBytes - BATCH_OVERHEAD - recordBytes({ ...message, value: "" });
}

/**
 * Publishes `messages` in order, in as many sends as it takes to keep each under `maxBytes` (all
 * its records, whatever the topics and partitions), one send at a time so each topic-partition
 * gets them in order. A message too large to go alone, by `maxBytes` or because the broker
 * refused it (a topic whose `max.message.bytes` is lower), is replaced by what `oversize` makes of
 * it, asked to fit the limit and then half as much each time the broker refuses again. Throws what
 * the broker answered otherwise (nothing after the failed send is sent).
 */
export async function sendSized<T extends Outgoing>(
  producer: Producer,
  messages: T[],
  options: {
    maxBytes: number;
    oversize: Oversize<T>;
    acks?: number;
    /** Called before each send (a long publish renews its lease here); what it throws ends the publish. */
    beforeSend?: () => Promise<void>;
  },
): Promise<void> {
  const send = async (chunk: Outgoing[]): Promise<void> => {
    await options.beforeSend?.();
    const byTopic = new Map<string, Outgoing[]>();
    for (const m of chunk) byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), m]);
    await producer.sendBatch({
      ...(options.acks === undefined ? {} : { acks: options.acks }),
      topicMessages: [...byTopic].map(([topic, list]) => ({
        topic,
        messages: list.map(({ key, value, headers }) => ({ key, value, headers })),
      })),
    });
  };
  /** Sends a chunk; one the broker refuses as too large is split, a single message replaced. */
  const deliver = async (chunk: T[]): Promise<void> => {
    try {
      await send(chunk);
    } catch (error) {
      if (!refusedAsTooLarge(error)) throw error;
      if (chunk.length > 1) {
        const half = Math.ceil(chunk.length / 2);
        await deliver(chunk.slice(0, half));
        await deliver(chunk.slice(half));
        return;
      }
      const [message] = chunk as [T];
      await replace(message, Math.floor(sizeAlone(message) / 2), error);
    }
  };
  /** Sends what `oversize` makes of a message, as long as it is smaller each time. */
  const replace = async (message: T, fitInto: number, cause: unknown): Promise<void> => {
    const smaller = await options.oversize(message, fitInto);
    if (smaller === null) return;
    if (sizeAlone(smaller) > fitInto) {
      throw new Error(`a message to ${message.topic} cannot be made to fit in ${fitInto} bytes`, { cause });
    }
    try {
      await send([smaller]);
    } catch (error) {
      if (!refusedAsTooLarge(error)) throw error;
      await replace(message, Math.floor(fitInto / 2), error);
    }
  };

  let chunk: T[] = [];
  let bytes = BATCH_OVERHEAD;
  const flush = async () => {
    if (chunk.length > 0) await deliver(chunk);
    chunk = [];
    bytes = BATCH_OVERHEAD;
  };
  for (const message of messages) {
    const size = recordBytes(message);
    if (BATCH_OVERHEAD + size > options.maxBytes) {
      await flush();
      await replace(message, options.maxBytes, null);
      continue;
    }
    if (bytes + size > options.maxBytes) await flush();
    chunk.push(message);
    bytes += size;
  }
  await flush();
}

/** Bytes a send of this message alone takes, at most: what must stay within a limit. */
export function sizeAlone(message: Omit<Outgoing, "topic">): number {
  return BATCH_OVERHEAD + recordBytes(message);
}

/** Whether the broker refused a send because a record batch or a message was over its limit. */
export function refusedAsTooLarge(error: unknown): boolean {
  const seen = new Set<unknown>();
  const look = (e: unknown): boolean => {
    if (typeof e !== "object" || e === null || seen.has(e)) return false;
    seen.add(e);
    const { type, cause, errors } = e as { type?: unknown; cause?: unknown; errors?: unknown };
    if (type === "MESSAGE_TOO_LARGE" || type === "RECORD_LIST_TOO_LARGE") return true;
    return look(cause) || (Array.isArray(errors) && errors.some(look));
  };
  return look(error);
}
