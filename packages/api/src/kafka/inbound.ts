import { type Engine, elementTaskId, isBatonError, LEASE_ERROR_CODES, redactSecrets, type TaskOutcome } from "@baton/engine";
import type { Consumer, KafkaMessage, Producer } from "kafkajs";
import { deadLetterMessage } from "./dead-letter.ts";
import type { BridgeLogger } from "./kafka-client.ts";
import { parseRegistration, parseReply, parseStart, type Reply, UnusableMessage } from "./messages.ts";
import { sendSized } from "./sized-send.ts";
import type { NamespaceTopics } from "./topics.ts";

/**
 * What the bridge does with a reply that names no fence (no `executionId`/`fenceToken`, as the
 * services of the replaced orchestrators send): `match` applies it to the attempt of that step the
 * bridge holds now, which may be a newer attempt than the one it answers; `refuse` dead-letters it.
 */
export const UNFENCED_REPLIES = ["match", "refuse"] as const;
export type UnfencedReplies = (typeof UNFENCED_REPLIES)[number];

/** What became of one inbound message (returned for logs and tests). */
export type InboundOutcome =
  | { kind: "applied"; detail: Record<string, unknown> }
  | { kind: "duplicate"; detail: Record<string, unknown> }
  | { kind: "stale"; detail: Record<string, unknown> }
  | { kind: "dead-letter"; reason: string };

// Errors that will not go away by trying the same message again: the message goes to the
// dead-letter topic. Anything else (database down, a lost optimistic-lock race) is retried.
const PERMANENT = new Set(["VALIDATION_ERROR", "INVALID_DEFINITION", "NOT_FOUND", "RUN_ID_CONFLICT", "INVALID_STATE"]);

/** Replies applied at once, in one chunk of a fetched batch. */
const REPLY_CHUNK = 100;

/**
 * Consumes replies, registrations and run starts. A message's offset is committed only after what
 * it changed committed, so a crash in between redelivers it, and applying it again changes nothing
 * (fenced completion, idempotent start by runId, registration of an identical definition). A
 * message that cannot be used goes to the dead-letter
 * topic with the reason, and the consumer goes on; so does one whose handling failed
 * `maxRedeliveries` times in a row in this process (the count starts over after a restart).
 */
export class InboundHandler {
  /** Failed deliveries of the messages that are failing now, by topic:partition:offset. */
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly engine: Engine,
    private readonly producer: Producer,
    private readonly topics: NamespaceTopics,
    private readonly logger: BridgeLogger,
    private readonly options: {
      workerId: string;
      unfencedReplies: UnfencedReplies;
      /** Deliveries of a message that fail before it is dead-lettered. */
      maxRedeliveries: number;
      /** Bytes a dead letter may take as a send of its own (the echoed message is cut to fit). */
      maxMessageBytes: number;
      onRegistered: () => void;
      onOutcome?: (topic: string, outcome: InboundOutcome) => void;
    },
  ) {}

  async run(consumer: Consumer): Promise<void> {
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const { topic, partition } = batch;
        // Replies are independent of one another: a chunk of them is applied at once, and the
        // engine commits them together (one at a time, a bridge fell minutes behind under load).
        // Registrations and starts keep their order, one at a time.
        const size = this.topics.route(topic)?.role === "response" ? REPLY_CHUNK : 1;
        for (let i = 0; i < batch.messages.length && isRunning() && !isStale(); i += size) {
          const chunk = batch.messages.slice(i, i + size);
          const settled = await Promise.allSettled(chunk.map((message) => this.deliver(topic, partition, message)));
          // Offsets are committed up to the first message to deliver again; those after it that
          // were applied come back too, and are duplicates then.
          const failedAt = settled.findIndex((s) => s.status === "rejected");
          const last = (failedAt === -1 ? chunk : chunk.slice(0, failedAt)).at(-1);
          if (last) {
            await consumer.commitOffsets([{ topic, partition, offset: (BigInt(last.offset) + 1n).toString() }]);
            resolveOffset(last.offset);
          }
          if (failedAt !== -1) throw (settled[failedAt] as PromiseRejectedResult).reason;
          await heartbeat();
        }
      },
    });
  }

  /** Applies one message and tells what became of it; throws when it is to be delivered again. */
  private async deliver(topic: string, partition: number, message: KafkaMessage): Promise<void> {
    const outcome = await this.handle(topic, partition, message).catch((error: unknown) => this.failed(topic, partition, message, error));
    this.failures.delete(`${topic}:${partition}:${message.offset}`);
    this.options.onOutcome?.(topic, outcome);
  }

  /** Applies one message; throws only for failures worth redelivering the message for. */
  async handle(topic: string, partition: number, message: KafkaMessage): Promise<InboundOutcome> {
    const route = this.topics.route(topic);
    try {
      if (!route) throw new UnusableMessage(`no handler for topic ${topic}`);
      const { namespace } = route;
      if (route.role === "response") {
        const reply = parseReply(message.value, message.headers);
        // Whatever becomes of it, the services registered for its step were heard from.
        this.engine.registrations.noteReply({ namespace, instanceId: reply.flowId, step: reply.stepName });
        return await this.applyReply(reply, namespace, `kafka:${topic}:${partition}:${message.offset}`);
      }
      if (route.role === "registration") return await this.applyRegistration(topic, message, namespace);
      return await this.applyStart(topic, partition, message, namespace);
    } catch (error) {
      const reason =
        error instanceof UnusableMessage
          ? error.message
          : isBatonError(error) && PERMANENT.has(error.code)
            ? `${error.code}: ${error.message}`
            : null;
      if (reason === null) throw error;
      await this.deadLetter(topic, partition, message, reason);
      return { kind: "dead-letter", reason };
    }
  }

  /**
   * Applies a reply with the fence of the command it answers. A reply that does not echo
   * executionId and fenceToken (older services) is matched to the step's current lease, or
   * dead-lettered when the bridge refuses unfenced replies. A repeated reply answers `duplicate` and changes nothing. A reply whose lease is gone (it
   * expired and the step was retried, or the instance was cancelled) is logged and dropped, not
   * dead-lettered: it is the lease doing its job, and the newer attempt's reply is the one that counts.
   */
  private async applyReply(reply: Reply, namespace: string, messageId: string): Promise<InboundOutcome> {
    const taskId = reply.elementIndex === undefined ? reply.stepName : elementTaskId(reply.stepName, reply.elementIndex);
    const base = { instanceId: reply.flowId, taskId, kind: reply.action };
    let lease =
      reply.executionId !== undefined && reply.fenceToken !== undefined
        ? { executionId: reply.executionId, fenceToken: reply.fenceToken }
        : null;
    if (!lease) {
      if (this.options.unfencedReplies === "refuse") {
        throw new UnusableMessage(
          "reply names no executionId and fenceToken, and this bridge refuses unfenced replies (unfencedReplies: refuse): " +
            "echo the executionId and fenceToken headers of the command it answers",
        );
      }
      lease = await this.engine.tasks.leaseOfStep({ ...base, holderId: this.options.workerId });
      if (!lease) {
        this.logger.warn({ ...base }, "kafka bridge: reply without executionId/fenceToken matches no leased command; dropped");
        return { kind: "stale", detail: { ...base, reason: "no command of this step is waiting for a reply" } };
      }
    }
    // A reply acts only in the namespace whose topic carried it. Where the execution does not
    // exist the completion below answers NOT_FOUND as usual.
    const owner = await this.engine.tasks.executionNamespace(lease.executionId);
    if (owner !== null && owner !== namespace) {
      throw new UnusableMessage(`reply: execution ${lease.executionId} is not in namespace ${namespace}, whose topic carried the reply`);
    }
    // The outcome is recorded under the message's own id: a redelivered reply is a duplicate even
    // when, matched by step (no fence echoed), it would now fit a newer attempt.
    const write = { ...lease, workerId: this.options.workerId, idempotencyKey: messageId };
    const detail = { ...base, ...lease, success: reply.success };
    let outcome: TaskOutcome;
    try {
      outcome = reply.success
        ? await this.engine.tasks.complete({ ...write, output: reply.payload })
        : await this.engine.tasks.fail({
            ...write,
            error: { message: reply.errorMessage ?? "the service reported a failure", payload: reply.payload },
            retryable: reply.retryable,
          });
    } catch (error) {
      if (isBatonError(error) && error.code !== "NOT_FOUND" && (LEASE_ERROR_CODES as readonly string[]).includes(error.code)) {
        this.logger.warn({ ...detail, code: error.code }, `kafka bridge: late or stale reply dropped (${error.message})`);
        return { kind: "stale", detail: { ...detail, code: error.code } };
      }
      throw error;
    }
    if (outcome.duplicate) {
      this.logger.info(detail, "kafka bridge: duplicate reply ignored");
      return { kind: "duplicate", detail };
    }
    this.logger.debug({ ...detail, state: outcome.state }, "kafka bridge: reply applied");
    return { kind: "applied", detail: { ...detail, state: outcome.state } };
  }

  private async applyRegistration(topic: string, message: KafkaMessage, namespace: string): Promise<InboundOutcome> {
    const registration = parseRegistration(message.value, message.headers);
    const named = registration.kind === "definition" ? registration.definition.namespace : registration.namespace;
    sameNamespace("registration", named, namespace);
    if (registration.kind === "definition") {
      const result = await this.engine.workflows.registerWorkflow({ ...registration.definition, namespace });
      this.logger.info(
        { workflow: result.name, namespace: result.namespace, version: result.version, created: result.created },
        "kafka bridge: workflow registered",
      );
      this.options.onRegistered();
      return { kind: "applied", detail: { workflow: result.name, version: result.version, created: result.created } };
    }
    // A worker may register before the workflow does; its queues then follow the default naming.
    const { queues, change } = await this.engine.registrations.register({
      workflow: registration.workflow,
      namespace,
      service: registration.service,
      steps: registration.steps,
      transport: "kafka",
      by: { keyId: null, name: `kafka:${topic}` },
    });
    this.logger.info({ service: registration.service, workflow: registration.workflow, queues, change }, "kafka bridge: worker registered");
    return { kind: "applied", detail: { service: registration.service, queues } };
  }

  /** Starts a run; without a runId in the message, one derived from where the message sits in the log. */
  private async applyStart(topic: string, partition: number, message: KafkaMessage, namespace: string): Promise<InboundOutcome> {
    const start = parseStart(message.value);
    sameNamespace("start", start.namespace, namespace);
    const runId = start.runId ?? `kafka:${topic}:${partition}:${message.offset}`;
    const result = await this.engine.workflows.startWorkflow({
      workflow: start.workflow,
      runId,
      input: start.input,
      namespace,
    });
    this.logger.info(
      { workflow: start.workflow, runId, instanceId: result.instanceId, created: result.created },
      "kafka bridge: run started",
    );
    const detail = { workflow: start.workflow, runId, instanceId: result.instanceId };
    return result.created ? { kind: "applied", detail } : { kind: "duplicate", detail };
  }

  /**
   * A delivery failed with an error worth retrying: rethrown (the message comes back) until it has
   * failed `maxRedeliveries` times, then dead-lettered with the last error, so one message cannot
   * hold its partition forever.
   */
  private async failed(topic: string, partition: number, message: KafkaMessage, error: unknown): Promise<InboundOutcome> {
    const id = `${topic}:${partition}:${message.offset}`;
    const failures = (this.failures.get(id) ?? 0) + 1;
    const cause = redactSecrets(
      isBatonError(error) ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error),
    );
    if (failures < this.options.maxRedeliveries) {
      this.failures.set(id, failures);
      this.logger.warn(
        { topic, partition, offset: message.offset, failures, err: error },
        "kafka bridge: message failed; it will be redelivered",
      );
      throw error;
    }
    // Kept until the dead letter is sent: if that send fails, the next delivery tries it again.
    this.failures.set(id, failures);
    const reason = `failed ${failures} times (maxRedeliveries ${this.options.maxRedeliveries}); last error: ${cause}`;
    await this.deadLetter(topic, partition, message, reason);
    return { kind: "dead-letter", reason };
  }

  private async deadLetter(topic: string, partition: number, message: KafkaMessage, reason: string): Promise<void> {
    this.logger.warn({ topic, partition, offset: message.offset, reason }, "kafka bridge: message sent to the dead-letter topic");
    // If this send fails the handler throws, the offset stays uncommitted and the message comes back.
    // A message on a topic of no served namespace (none arrive: the consumer subscribes only to
    // served ones) would go to the default namespace's dead letters.
    const owner = this.topics.of(this.topics.route(topic)?.namespace ?? "default") ?? this.topics.of("default");
    const to = (owner as NonNullable<typeof owner>).deadLetter;
    const source = { topic, partition, message };
    await sendSized(this.producer, [deadLetterMessage(to, source, reason, this.options.maxMessageBytes)], {
      maxBytes: this.options.maxMessageBytes,
      // Only when the topic's own limit is lower: cut to what the broker takes.
      oversize: (_letter, fitInto) => deadLetterMessage(to, source, reason, fitInto),
    });
  }
}

/** A message naming a namespace other than its topic's is refused: topics, not fields, say whose it is. */
function sameNamespace(what: string, named: unknown, namespace: string): void {
  if (named !== undefined && named !== namespace) {
    throw new UnusableMessage(
      `${what}: names namespace ${JSON.stringify(named)}, but arrived on a topic of namespace ${namespace}; send it to that namespace's topic`,
    );
  }
}
