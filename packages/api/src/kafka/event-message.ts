import type { RelayEventRow } from "@baton/engine";
import { type Outgoing, sizeAlone } from "./sized-send.ts";

/** A lifecycle event as the relay publishes it, with the row it came from. */
export interface EventMessage extends Outgoing {
  event: RelayEventRow;
}

/**
 * The events-topic message of an event: `{instanceId, namespace, workflowName, runId,
 * sequenceNumber, eventType, payload, createdAt}`, keyed by instance id.
 */
export function eventMessage(topic: string, event: RelayEventRow): EventMessage {
  return { topic, event, ...recordOf(event, event.payload, null) };
}

/**
 * The event of `message` cut to fit `fitInto` bytes: its payload's largest fields are left out,
 * one at a time, until it fits, and `payloadOmitted` says which, how large the payload was, and
 * where the whole event is read: the instance's history over the API (relative to Baton's base
 * URL), paged by sequence number. A `payloadOmitted` header names the fields, for consumers that
 * filter on headers.
 * If it cannot fit even with no payload, it is returned at its smallest (the sender then refuses it).
 */
export function eventCutToFit(message: EventMessage, fitInto: number): Outgoing {
  const { event } = message;
  const fields = Object.entries(event.payload).map(([name, value]) => ({ name, bytes: Buffer.byteLength(JSON.stringify(value) ?? "") }));
  fields.sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
  const omitted = {
    fields: [] as string[],
    payloadBytes: Buffer.byteLength(JSON.stringify(event.payload)),
    reason: "the event is over the Kafka message limit (KAFKA_MAX_MESSAGE_BYTES or the topic's max.message.bytes)",
    href: `/v1/instances/${event.instanceId}/events`,
  };
  let cut: Outgoing = message;
  for (const field of fields) {
    omitted.fields.push(field.name);
    const payload = Object.fromEntries(Object.entries(event.payload).filter(([name]) => !omitted.fields.includes(name)));
    cut = { topic: message.topic, ...recordOf(event, payload, omitted) };
    if (sizeAlone(cut) <= fitInto) break;
  }
  return cut;
}

function recordOf(
  e: RelayEventRow,
  payload: Record<string, unknown>,
  omitted: { fields: string[]; payloadBytes: number; reason: string; href: string } | null,
): Omit<Outgoing, "topic"> {
  return {
    key: e.instanceId,
    value: JSON.stringify({
      instanceId: e.instanceId,
      namespace: e.namespace,
      workflowName: e.workflowName,
      runId: e.runId,
      sequenceNumber: e.sequenceNumber,
      eventType: e.eventType,
      payload,
      ...(omitted ? { payloadOmitted: omitted } : {}),
      createdAt: e.createdAt.toISOString(),
    }),
    headers: {
      eventType: e.eventType,
      instanceId: e.instanceId,
      sequenceNumber: String(e.sequenceNumber),
      ...(omitted ? { payloadOmitted: omitted.fields.join(",") } : {}),
    },
  };
}
