import { type DefinitionRow, type Engine, type EventsRelayOptions, startPeriodicPass } from "@baton/engine";
import { type ConsumerConfig, type KafkaConfig, Partitioners } from "kafkajs";
import { CommandPublisher, type KafkaQueue } from "./command-publisher.ts";
import { consumerConnection } from "./consumer-connection.ts";
import { restartAfterCrash } from "./consumer-restart.ts";
import { kafkaEventsPublisher } from "./events-publisher.ts";
import { InboundHandler, type InboundOutcome, UNFENCED_REPLIES, type UnfencedReplies } from "./inbound.ts";
import { type BridgeLogger, createKafkaClient, ensureTopics, silentBridgeLogger } from "./kafka-client.ts";
import { DEFAULT_MAX_MESSAGE_BYTES, MIN_MAX_MESSAGE_BYTES } from "./sized-send.ts";
import { type BridgeTopics, DEFAULT_TOPIC_PREFIX, NamespaceTopics } from "./topics.ts";

/**
 * The worker id under which every bridge replica leases Kafka commands. It is the same on every
 * replica on purpose: a reply may be consumed by any replica, and it can apply the reply because
 * the lease's holder is this id and the fence token in the reply is the lease's.
 */
export const BRIDGE_WORKER_ID = "baton-kafka-bridge";

export interface KafkaBridgeOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  logger?: BridgeLogger;
  /** Topic prefix of the `default` namespace (default `orchestrator`, the layout existing services use). */
  topicPrefix?: string;
  /**
   * Other namespaces the bridge serves, each with its topic prefix (see `parseNamespacePrefixes`
   * for `KAFKA_NAMESPACES`). Each gets its own command, reply, start, registration, dead-letter
   * and events topics; a message on one namespace's topic acts only in that namespace. Default:
   * only `default`.
   */
  namespaces?: ReadonlyMap<string, string>;
  /** Consumer group shared by every replica (default `baton-bridge`). */
  groupId?: string;
  clientId?: string;
  /** Read a new consumer group's topics from the beginning (default false: from now on). */
  fromBeginning?: boolean;
  /** Commands leased per acquire (default 100). */
  maxBatch?: number;
  /** Long-poll wait of each acquire (default 5000 ms). */
  acquireWaitMs?: number;
  /** How often the Kafka steps are looked up again in the registered definitions (default 5000 ms). */
  refreshMs?: number;
  /** Partitions of the topics the bridge creates when missing (default 1); false creates none. */
  createTopics?: { numPartitions?: number } | false;
  /** The events relay (default on: lease 10 s, every 500 ms, 200 events per batch); false turns it off. */
  relay?: Partial<EventsRelayOptions> | false;
  /** Extra kafkajs client settings (ssl, sasl, timeouts). */
  kafka?: Partial<KafkaConfig>;
  /**
   * How long this replica may go silent before the broker gives its inbound partitions to another
   * (kafkajs's default: 30 s). Heartbeats and fetch waits are set to a third of it (at most 3 s and
   * 5 s): kafkajs heartbeats only between fetches and messages.
   */
  sessionTimeoutMs?: number;
  /** Extra kafkajs consumer settings (they win over those derived from `sessionTimeoutMs`). */
  consumer?: Partial<ConsumerConfig>;
  /**
   * A reply that names no fence (no `executionId`/`fenceToken`): `match` (default) applies it to
   * the step's current lease, as the replaced orchestrators did, so a late reply to attempt n can
   * complete attempt n+1; `refuse` sends it to the dead-letter topic with the reason.
   */
  unfencedReplies?: UnfencedReplies;
  /**
   * Deliveries of an inbound message that may fail with an error worth retrying (database
   * unavailable, say) before it goes to the dead-letter topic with the last error (default 5).
   */
  maxRedeliveries?: number;
  /**
   * Bytes one send to the broker may take (default 1,000,000, under the broker's default
   * `max.message.bytes`; set it to at most the lowest `max.message.bytes` of the topics the bridge
   * writes). Commands, events and dead letters go in as many sends as that takes. One message over
   * it alone: an event is published without its largest payload fields, marked, with a link to read
   * it over the API; a command fails its attempt for good; a dead letter's echo is cut. The same
   * happens when the broker refuses a message as too large (a topic with a lower limit).
   */
  maxMessageBytes?: number;
  /** Called with what became of every inbound message (for metrics and tests). */
  onInbound?: (topic: string, outcome: InboundOutcome) => void;
}

export interface KafkaBridge {
  /** Resolves once the consumer has joined its group and the Kafka steps have been looked up. */
  readonly ready: Promise<void>;
  /** Looks up the Kafka steps of the registered definitions now. */
  refresh(): Promise<void>;
  /** The DO and UNDO queues of `transport: kafka` steps that the bridge currently serves. */
  queues(): KafkaQueue[];
  /** Whether the bridge's consumer is in its group now (false while it reconnects, and once stopped). */
  connected(): boolean;
  /** Stops consuming, publishes what it already leased, hands the relay lease over, disconnects. */
  stop(): Promise<void>;
}

/**
 * Connects the engine to Kafka (DESIGN §8): publishes the commands of `transport: kafka` steps,
 * applies the replies with their fences, takes registrations and run starts, relays lifecycle
 * events, and dead-letters what it cannot use.
 * @example
 * const bridge = await startKafkaBridge(engine, { brokers: ["127.0.0.1:9092"], logger });
 * // ... on shutdown:
 * await bridge.stop();
 */
export async function startKafkaBridge(engine: Engine, options: KafkaBridgeOptions): Promise<KafkaBridge> {
  const logger = options.logger ?? silentBridgeLogger;
  const unfencedReplies = options.unfencedReplies ?? "match";
  if (!UNFENCED_REPLIES.includes(unfencedReplies)) {
    throw new TypeError(`unfencedReplies: expected ${UNFENCED_REPLIES.join(" or ")}, got ${JSON.stringify(options.unfencedReplies)}`);
  }
  const maxRedeliveries = options.maxRedeliveries ?? 5;
  if (!Number.isSafeInteger(maxRedeliveries) || maxRedeliveries < 1) {
    throw new TypeError(`maxRedeliveries: expected a whole number from 1, got ${JSON.stringify(options.maxRedeliveries)}`);
  }
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < MIN_MAX_MESSAGE_BYTES) {
    throw new TypeError(
      `maxMessageBytes: expected a whole number from ${MIN_MAX_MESSAGE_BYTES}, got ${JSON.stringify(options.maxMessageBytes)}`,
    );
  }
  if (options.sessionTimeoutMs !== undefined && (!Number.isSafeInteger(options.sessionTimeoutMs) || options.sessionTimeoutMs < 1000)) {
    throw new TypeError(
      `sessionTimeoutMs: expected a whole number of milliseconds from 1000, got ${JSON.stringify(options.sessionTimeoutMs)}`,
    );
  }
  const topics = new NamespaceTopics(new Map([["default", options.topicPrefix ?? DEFAULT_TOPIC_PREFIX], ...(options.namespaces ?? [])]));
  const kafka = createKafkaClient(options.brokers, options.clientId ?? "baton", logger, options.kafka);
  const numPartitions = options.createTopics === false ? 0 : (options.createTopics?.numPartitions ?? 1);

  const admin = kafka.admin();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, maxInFlightRequests: 1 });
  const session = options.sessionTimeoutMs;
  const consumer = kafka.consumer({
    groupId: options.groupId ?? "baton-bridge",
    allowAutoTopicCreation: false,
    ...(session === undefined
      ? {}
      : {
          sessionTimeout: session,
          heartbeatInterval: Math.min(3000, Math.floor(session / 3)),
          maxWaitTimeInMs: Math.min(5000, Math.floor(session / 3)),
        }),
    ...options.consumer,
  });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  const connection = consumerConnection(consumer);

  await Promise.all([admin.connect(), producer.connect()]);
  const created = new Set<string>();
  const createMissing = async (names: string[]) => {
    const fresh = names.filter((t) => !created.has(t));
    if (numPartitions === 0 || fresh.length === 0) return;
    await ensureTopics(admin, fresh, numPartitions);
    for (const t of fresh) created.add(t);
  };

  const workerId = BRIDGE_WORKER_ID;
  const publisher = new CommandPublisher(engine, producer, topics, logger, {
    workerId,
    maxBatch: options.maxBatch ?? 100,
    acquireWaitMs: options.acquireWaitMs ?? 5000,
    maxMessageBytes,
  });
  let current: KafkaQueue[] = [];
  const refresh = async () => {
    const next = kafkaQueues(topics, await Promise.all(topics.namespaces().map((ns) => engine.workflows.listDefinitions(ns))), logger);
    // Serve the queues even if the topics cannot be created here (no permission, say): they may
    // exist already, or the broker creates them on the first publish.
    await createMissing(next.map((q) => q.topic)).catch((error: unknown) =>
      logger.warn({ err: error }, "kafka bridge: could not create command topics; publishing anyway"),
    );
    current = next;
    publisher.setQueues(next);
  };
  // Ticks skip while a look-up runs; a registration asks for one more after it (it may have read
  // the definitions before the new one was stored).
  const refresher = startPeriodicPass("kafka bridge: looking up Kafka steps", options.refreshMs ?? 5000, refresh, logger);
  const refreshNow = () => refresher.runNow();

  const inbound = new InboundHandler(engine, producer, topics, logger, {
    workerId,
    unfencedReplies,
    maxRedeliveries,
    maxMessageBytes,
    onRegistered: () => void refreshNow(),
    ...(options.onInbound ? { onOutcome: options.onInbound } : {}),
  });
  const relayOptions = options.relay === false ? null : { leaseMs: 10_000, intervalMs: 500, batchSize: 200, ...options.relay };
  const publishEvents = kafkaEventsPublisher(producer, (ns) => topics.of(ns)?.events, logger, maxMessageBytes);
  const relay = relayOptions ? engine.createEventsRelay(publishEvents, { ...relayOptions, logger }) : null;

  const consume = async () => {
    await consumer.connect();
    await consumer.subscribe({
      topics: topics.inboundTopics(),
      fromBeginning: options.fromBeginning ?? false,
    });
    await inbound.run(consumer);
  };
  let stopping: Promise<void> | undefined;
  restartAfterCrash(consumer, consume, logger, () => stopping !== undefined);
  try {
    await createMissing(topics.fixedTopics(relay !== null));
    await consume();
  } catch (error) {
    await refresher.stop();
    await Promise.allSettled([consumer.disconnect(), producer.disconnect(), admin.disconnect()]);
    throw error;
  }
  const firstLookUp = refreshNow();
  await firstLookUp;
  publisher.start();
  relay?.start();
  logger.info(
    { brokers: options.brokers, prefix: options.topicPrefix ?? DEFAULT_TOPIC_PREFIX, namespaces: topics.namespaces() },
    "kafka bridge started",
  );

  return {
    ready: joined.then(() => firstLookUp),
    refresh: refreshNow,
    queues: () => [...current],
    connected: connection.connected,
    stop() {
      stopping ??= (async () => {
        await consumer.disconnect();
        await publisher.stop();
        await relay?.stop();
        await refresher.stop();
        await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
        logger.info({}, "kafka bridge stopped");
      })();
      return stopping;
    },
  };
}

/**
 * The DO and UNDO queues of the `transport: kafka` steps of each served namespace's definitions
 * (`definitions` in the order of `topics.namespaces()`), with their command topics. Names may
 * contain dots, so two steps can map to one topic (`a` + `b.c` and `a.b` + `c`; or `default`'s
 * workflow `acme` and namespace `acme`'s topics): the first keeps it, the other is not served and
 * said so, since its commands would reach the wrong services.
 */
function kafkaQueues(topics: NamespaceTopics, definitions: DefinitionRow[][], logger: BridgeLogger): KafkaQueue[] {
  const queues: KafkaQueue[] = [];
  const owners = new Map<string, string>();
  for (const [i, namespace] of topics.namespaces().entries()) {
    const nsTopics = topics.of(namespace) as BridgeTopics;
    for (const row of definitions[i] ?? []) {
      for (const step of row.definition.steps) {
        if (step.transport !== "kafka") continue;
        const sides = [
          { kind: "DO" as const, queue: step.queue },
          ...(step.undo ? [{ kind: "UNDO" as const, queue: step.undo.queue }] : []),
        ];
        for (const { kind, queue } of sides) {
          const topic = nsTopics.command(row.name, step.name, kind);
          const owner = `${namespace}/${row.name}/${step.name}/${kind}`;
          const taken = owners.get(topic);
          if (taken !== undefined && taken !== owner) {
            logger.error(
              { topic, servedFor: taken, refusedFor: owner },
              "kafka bridge: two steps map to one command topic; the second is not served",
            );
            continue;
          }
          owners.set(topic, owner);
          queues.push({ queue, namespace, topic, workflow: row.name, step: step.name, kind });
        }
      }
    }
  }
  return queues;
}
