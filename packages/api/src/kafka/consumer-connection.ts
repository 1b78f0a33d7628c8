import type { Consumer } from "kafkajs";

/**
 * Whether a consumer is connected, as its events tell: it is from the moment it joins its group
 * until it crashes (kafkajs then reconnects, and it joins again), disconnects or stops. The
 * health answers report it for the Kafka bridge.
 */
export function consumerConnection(consumer: Consumer): { connected(): boolean } {
  let connected = false;
  const { GROUP_JOIN, CRASH, DISCONNECT, STOP } = consumer.events;
  consumer.on(GROUP_JOIN, () => {
    connected = true;
  });
  for (const lost of [CRASH, DISCONNECT, STOP]) {
    consumer.on(lost, () => {
      connected = false;
    });
  }
  return { connected: () => connected };
}
