import { type Admin, type IHeaders, Kafka, type KafkaConfig, type KafkaMessage, logLevel, Partitioners, type Producer } from "kafkajs";
import { NonRetryableError } from "./errors.ts";
import { consoleLogger, type Logger } from "./logger.ts";

/** What a Kafka step handler gets: the command's payload and the headers Baton sent with it. */
export interface KafkaHandlerContext<Input = Record<string, unknown>> {
  /** The command's payload: the step's input. */
  input: Input;
  /** The instance id (the older orchestrators' flow id). */
  instanceId: string;
  workflowName: string;
  /** The step's name. */
  taskId: string;
  /** For an element of a fan-out step (`forEach`), its index in the list (from 0); else null. */
  elementIndex: number | null;
  kind: "DO" | "UNDO";
  executionId: string;
  /**
   * This attempt's fence token: tokens increase strictly across attempts, so a service can keep
   * the highest one it has seen per step and refuse work that carries a lower one.
   */
  fenceToken: number;
  attempt: number;
  /** All headers of the command, as received. */
  headers: Record<string, unknown>;
}

/** Runs one command; what it returns (JSON) is the reply's payload. Throw to report a failure. */
// biome-ignore lint/suspicious/noExplicitAny: handlers declare their own input types
export type KafkaHandlerFn<Input = any> = (context: KafkaHandlerContext<Input>) => unknown;

export interface KafkaWorkerOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** The workflow whose steps this worker serves. */
  workflow: string;
  /** Handlers keyed by step name: a function (DO only) or `{ do, undo? }`. */
  handlers: Record<string, KafkaHandlerFn | { do: KafkaHandlerFn; undo?: KafkaHandlerFn }>;
  /** Topic prefix, as configured on the Baton side (default `orchestrator`). */
  topicPrefix?: string;
  /** Consumer group (default `<service or workflow>-worker`); replicas of one service share it. */
  groupId?: string;
  /**
   * The service's name. When given, the worker registers itself on the registration topic
   * (`as: worker`) for its steps, which marks them ready in Baton.
   */
  service?: string;
  /** Read a new group's topics from the beginning (default false: from now on). */
  fromBeginning?: boolean;
  /** Create missing command topics before subscribing (default true, one partition). */
  createTopics?: boolean;
  logger?: Logger;
  /** Extra kafkajs client settings (ssl, sasl, timeouts). */
  kafka?: Partial<KafkaConfig>;
  /**
   * Bytes a reply may take (default 1,000,000, under the broker's default `max.message.bytes`). A
   * reply over it, or one the broker refuses as too large, is replaced by a failure naming its
   * size, with `retryable: false` (the same output would be as large again).
   */
  maxMessageBytes?: number;
  /** Extra kafkajs consumer settings. */
  consumer?: { sessionTimeout?: number; heartbeatInterval?: number; rebalanceTimeout?: number; maxWaitTimeInMs?: number };
}

export interface KafkaWorker {
  /** The command topics this worker consumes. */
  readonly topics: readonly string[];
  /** Resolves once the consumer has joined its group (commands sent from then on are seen). */
  readonly ready: Promise<void>;
  /** Stops consuming; a command being handled finishes and is replied to first. */
  stop(): Promise<void>;
}

/**
 * A service on Baton's Kafka bridge: consumes the `.do` / `.undo` command topics of its steps,
 * runs the handler, and replies on `<prefix>.response.result` with the command's headers echoed
 * (executionId and fenceToken included, so Baton applies the reply with the lease's fence). A
 * handler that throws replies `status: false`; throwing `NonRetryableError` also sets
 * `retryable: false`, so Baton does not try the step again. The offset of a command is committed
 * after its reply is sent: a crash in between runs the command again (make handlers idempotent,
 * e.g. by instance id and step), and Baton ignores the repeated reply.
 * @example
 * const worker = await createKafkaWorker({
 *   brokers: ["127.0.0.1:9092"],
 *   workflow: "tenantCreation",
 *   service: "realm-service",
 *   handlers: { createRealm: { do: ({ input }) => realms.create(input), undo: ({ input }) => realms.delete(input) } },
 * });
 */
export async function createKafkaWorker(options: KafkaWorkerOptions): Promise<KafkaWorker> {
  const prefix = options.topicPrefix ?? "orchestrator";
  const logger = options.logger ?? consoleLogger;
  const routes = new Map<string, { step: string; kind: "DO" | "UNDO"; run: KafkaHandlerFn }>();
  for (const [step, handler] of Object.entries(options.handlers)) {
    const spec = typeof handler === "function" ? { do: handler } : handler;
    if (typeof spec?.do !== "function") throw new TypeError(`handlers.${step}: expected a function or { do, undo? }`);
    routes.set(`${prefix}.${options.workflow}.${step}.do`, { step, kind: "DO", run: spec.do });
    if (spec.undo) routes.set(`${prefix}.${options.workflow}.${step}.undo`, { step, kind: "UNDO", run: spec.undo });
  }
  if (routes.size === 0) throw new TypeError("handlers: give at least one step handler");
  const topics = [...routes.keys()];
  const responseTopic = `${prefix}.response.result`;

  const kafka = new Kafka({
    clientId: options.service ?? `${options.workflow}-worker`,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }) => {
        const { message, ...fields } = log;
        if (level === logLevel.ERROR) logger.error(fields, `kafkajs: ${message}`);
        else if (level === logLevel.WARN) logger.warn(fields, `kafkajs: ${message}`);
      },
    ...options.kafka,
  });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({
    groupId: options.groupId ?? `${options.service ?? options.workflow}-worker`,
    allowAutoTopicCreation: false,
    ...options.consumer,
  });
  const ready = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));

  await producer.connect();
  try {
    if (options.createTopics !== false) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        await createMissingTopics(admin, [...topics, responseTopic]);
      } finally {
        await admin.disconnect();
      }
    }
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: options.fromBeginning ?? false });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const route = routes.get(topic);
        if (route)
          await handleCommand(route, message, { producer, topic: responseTopic, maxBytes: options.maxMessageBytes ?? 1_000_000 }, logger);
        await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      },
    });
    if (options.service) {
      await producer.send({
        topic: `${prefix}.registration`,
        messages: [
          {
            key: options.service,
            value: JSON.stringify({
              orchName: options.workflow,
              as: "worker",
              service: options.service,
              steps: Object.keys(options.handlers).map((name) => ({ name })),
            }),
            headers: { service: options.service },
          },
        ],
      });
    }
  } catch (error) {
    await Promise.allSettled([consumer.disconnect(), producer.disconnect()]);
    throw error;
  }

  let stopping: Promise<void> | undefined;
  return {
    topics,
    ready,
    stop() {
      stopping ??= (async () => {
        await consumer.disconnect();
        await producer.disconnect();
      })();
      return stopping;
    },
  };
}

/** Where replies go, and the most bytes one may take. */
interface ReplyChannel {
  producer: Producer;
  topic: string;
  maxBytes: number;
}

async function handleCommand(
  route: { step: string; kind: "DO" | "UNDO"; run: KafkaHandlerFn },
  message: KafkaMessage,
  replies: ReplyChannel,
  logger: Logger,
): Promise<void> {
  let body: { headers?: Record<string, unknown>; payload?: unknown };
  try {
    body = JSON.parse(message.value?.toString("utf8") ?? "");
  } catch {
    logger.error({ offset: message.offset }, "kafka worker: command is not JSON; skipped");
    return;
  }
  const headers = { ...stringHeaders(message.headers), ...(body.headers ?? {}) };
  const context: KafkaHandlerContext = {
    input: (body.payload ?? {}) as Record<string, unknown>,
    instanceId: String(headers.flowId ?? message.key?.toString() ?? ""),
    workflowName: String(headers.orchName ?? ""),
    taskId: String(headers.stepName ?? route.step),
    elementIndex: headers.elementIndex === undefined ? null : Number(headers.elementIndex),
    kind: route.kind,
    executionId: String(headers.executionId ?? ""),
    fenceToken: Number(headers.fenceToken),
    attempt: Number(headers.attempt ?? 1),
    headers,
  };
  const reply: Record<string, unknown> = {
    flowId: context.instanceId,
    stepName: context.taskId,
    ...(context.elementIndex !== null ? { elementIndex: context.elementIndex } : {}),
    action: route.kind,
    executionId: headers.executionId,
    fenceToken: headers.fenceToken,
  };
  let payload: unknown = null;
  try {
    payload = (await route.run(context)) ?? null;
    Object.assign(reply, { status: true, errorMessage: null });
  } catch (error) {
    const nonRetryable = error instanceof NonRetryableError;
    Object.assign(reply, {
      status: false,
      errorMessage: error instanceof Error ? error.message : String(error),
      ...(nonRetryable ? { retryable: false } : {}),
    });
    payload = nonRetryable ? error.details : null;
    logger.warn(
      { instanceId: context.instanceId, executionId: context.executionId, step: route.step, kind: route.kind },
      "kafka worker: handler failed",
    );
  }
  const fenceHeaders: Record<string, string> =
    headers.executionId !== undefined && headers.fenceToken !== undefined
      ? { executionId: String(headers.executionId), fenceToken: String(headers.fenceToken) }
      : {};
  await sendReply(replies, { key: context.instanceId, headers: fenceHeaders }, reply, payload, logger);
}

// Framing a record, its batch and its two headers add, at most (varints at their widest).
const REPLY_FRAMING = 200;

/**
 * Sends a reply; one too large for a Kafka message (by `maxBytes`, or refused by the broker) goes
 * as a failure that says so instead, so the step fails with the reason rather than wait out its
 * lease, retry, and meet the same wall.
 */
async function sendReply(
  replies: ReplyChannel,
  record: { key: string; headers: Record<string, string> },
  reply: Record<string, unknown>,
  payload: unknown,
  logger: Logger,
): Promise<void> {
  const send = (value: string) => replies.producer.send({ topic: replies.topic, messages: [{ ...record, value }] });
  const value = JSON.stringify({ headers: reply, payload });
  const bytes =
    Buffer.byteLength(value) + Buffer.byteLength(record.key) + Buffer.byteLength(JSON.stringify(record.headers)) + REPLY_FRAMING;
  const tooLarge = () => {
    const errorMessage =
      `the reply is ${bytes} bytes, over the Kafka message limit (maxMessageBytes ${replies.maxBytes}, or the topic's ` +
      "max.message.bytes); return large outputs by reference";
    logger.error({ instanceId: record.key, executionId: reply.executionId, bytes }, `kafka worker: ${errorMessage}`);
    return send(JSON.stringify({ headers: { ...reply, status: false, errorMessage, retryable: false }, payload: null }));
  };
  if (bytes > replies.maxBytes) {
    await tooLarge();
    return;
  }
  try {
    await send(value);
  } catch (error) {
    if ((error as { type?: unknown }).type !== "MESSAGE_TOO_LARGE") throw error;
    await tooLarge();
  }
}

function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    const value = Array.isArray(v) ? v[0] : v;
    if (value !== undefined) out[k] = value.toString();
  }
  return out;
}

async function createMissingTopics(admin: Admin, topics: string[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  const { brokers } = await admin.describeCluster();
  const replicationFactor = Math.max(1, Math.min(3, brokers.length));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 1, replicationFactor })), waitForLeaders: true });
      break;
    } catch (error) {
      // A KRaft broker may briefly not know a topic it just created; kafkajs gives up on that at once.
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  while (Date.now() < deadline) {
    const metadata = await admin.fetchTopicMetadata({ topics: missing }).catch(() => null);
    if (metadata?.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Kafka topics have no leader after 30 s: ${missing.join(", ")}`);
}
