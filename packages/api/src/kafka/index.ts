export { BRIDGE_WORKER_ID, type KafkaBridge, type KafkaBridgeOptions, startKafkaBridge } from "./bridge.ts";
export type { KafkaQueue } from "./command-publisher.ts";
export { type InboundOutcome, UNFENCED_REPLIES, type UnfencedReplies } from "./inbound.ts";
export type { BridgeLogger } from "./kafka-client.ts";
export { type CommandHeaders, commandMessage, parseRegistration, parseReply, parseStart, type Reply, UnusableMessage } from "./messages.ts";
export { DEFAULT_MAX_MESSAGE_BYTES, MIN_MAX_MESSAGE_BYTES } from "./sized-send.ts";
export { type BridgeTopics, bridgeTopics, DEFAULT_TOPIC_PREFIX } from "./topics.ts";
