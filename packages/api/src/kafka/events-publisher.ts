import type { EventsPublisher } from "@baton/engine";
import type { Producer } from "kafkajs";
import { type EventMessage, eventCutToFit, eventMessage } from "./event-message.ts";
import type { BridgeLogger } from "./kafka-client.ts";
import { DEFAULT_MAX_MESSAGE_BYTES, sendSized } from "./sized-send.ts";

/**
 * Publishes what the engine's events relay hands over to the lifecycle-events topic of each
 * instance's namespace, keyed by instance id, in the order given (events of namespaces the bridge
 * does not serve are passed over). A batch goes in sends under the broker's message size, with
 * acks from all in-sync replicas; an event too large to go alone is published without its largest
 * payload fields, marked (`payloadOmitted`) with a link to read it whole over the API, so the relay
 * never stalls on one.
 */
export function kafkaEventsPublisher(
  producer: Producer,
  /** The events topic of a namespace; undefined: its events are not relayed (not served). */
  topicOf: (namespace: string) => string | undefined,
  logger: BridgeLogger,
  /** Bytes one send may take; a batch goes in as many sends as that takes. */
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
): EventsPublisher {
  return async (events, keepLease) => {
    const messages: EventMessage[] = [];
    for (const e of events) {
      const topic = topicOf(e.namespace);
      if (topic !== undefined) messages.push(eventMessage(topic, e));
    }
    await sendSized(producer, messages, {
      acks: -1,
      beforeSend: keepLease,
      maxBytes: maxMessageBytes,
      oversize: (message, fitInto) => {
        const cut = eventCutToFit(message, fitInto);
        logger.warn(
          {
            instanceId: message.event.instanceId,
            sequenceNumber: message.event.sequenceNumber,
            fitInto,
            omitted: cut.headers.payloadOmitted,
          },
          "kafka bridge: event over the Kafka message limit; published without its largest payload fields",
        );
        return cut;
      },
    });
  };
}
