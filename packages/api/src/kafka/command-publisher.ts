import type { AcquiredTask, Engine, TaskKind } from "@baton/engine";
import type { Producer } from "kafkajs";
import type { BridgeLogger } from "./kafka-client.ts";
import { commandMessage } from "./messages.ts";
import { type Outgoing, sendSized } from "./sized-send.ts";
import type { NamespaceTopics } from "./topics.ts";

/** One queue served over Kafka: the DO or UNDO of one step. */
export interface KafkaQueue {
  queue: string;
  namespace: string;
  /** Where its commands go. */
  topic: string;
  workflow: string;
  step: string;
  kind: TaskKind;
}

/** A command ready to publish, with the lease it carries. */
interface Command extends Outgoing {
  task: AcquiredTask;
}

/**
 * The bridge as a worker: it leases tasks of `transport: kafka` steps with the engine's long-poll
 * acquire and publishes each as a command. It never heartbeats: the step's lease is the time the
 * service has to reply, and a lease that runs out is timed out by the reaper and retried like any
 * other. A command is published only after its lease committed; if the bridge dies in between,
 * the lease runs out and the next attempt is published (at least once, never lost). Commands go in
 * sends under the broker's message size; one too large to go alone fails its attempt for good.
 */
export class CommandPublisher {
  private queues: string[] = [];
  private stopped = false;
  private acquiring: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private queuesChanged: (() => void) | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly producer: Producer,
    private readonly topics: NamespaceTopics,
    private readonly logger: BridgeLogger,
    private readonly options: { workerId: string; maxBatch: number; acquireWaitMs: number; maxMessageBytes: number },
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Serve these queues from now on (an acquire in progress is restarted with them). */
  setQueues(queues: KafkaQueue[]): void {
    const next = [...new Set(queues.map((q) => q.queue))].sort();
    if (next.join("\n") === this.queues.join("\n")) return;
    this.queues = next;
    this.acquiring?.abort();
    this.queuesChanged?.();
  }

  /** Stops acquiring; commands already leased are still published before this resolves. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.acquiring?.abort();
    this.queuesChanged?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (this.queues.length === 0) {
        await new Promise<void>((resolve) => {
          this.queuesChanged = resolve;
        });
        continue;
      }
      const abort = new AbortController();
      this.acquiring = abort;
      let tasks: AcquiredTask[];
      try {
        tasks = await this.engine.dispatcher.acquire({
          queues: this.queues,
          workerId: this.options.workerId,
          max: this.options.maxBatch,
          waitMs: this.options.acquireWaitMs,
          signal: abort.signal,
        });
        failures = 0;
      } catch (error) {
        failures++;
        this.logger.error({ err: error }, "kafka bridge: acquire failed; trying again");
        await sleepUnlessStopped(Math.min(5000, 100 * 2 ** failures), () => this.stopped);
        continue;
      } finally {
        this.acquiring = undefined;
      }
      // Tasks in hand are published even when stopping: their leases are already taken.
      if (tasks.length > 0) await this.publish(tasks);
    }
  }

  private async publish(tasks: AcquiredTask[]): Promise<void> {
    const commands: Command[] = [];
    for (const task of tasks) {
      // Served queues belong to served namespaces, so this misses only if a queue changed hands
      // meanwhile; the lease then runs out and the attempt is retried.
      // Elements of a fan-out step go to the step's topic; the message names the element.
      const topic = this.topics.of(task.namespace)?.command(task.workflowName, task.step, task.kind);
      if (topic === undefined) {
        this.logger.error(
          { namespace: task.namespace, executionId: task.executionId },
          "kafka bridge: leased a command of a namespace it does not serve; not published",
        );
        continue;
      }
      commands.push({ topic, task, ...commandMessage(task) });
    }
    try {
      await sendSized(this.producer, commands, {
        maxBytes: this.options.maxMessageBytes,
        oversize: (command, fitInto) => this.refuseOversize(command, fitInto),
      });
      for (const { task } of commands) {
        this.logger.debug(
          { instanceId: task.instanceId, executionId: task.executionId, taskId: task.taskId, kind: task.kind, attempt: task.attempt },
          "kafka bridge: command published",
        );
      }
    } catch (error) {
      // Nothing to undo: the leases run out, the reaper times the attempts out, and the retries
      // are published once Kafka is back.
      this.logger.error(
        { err: error, executionIds: tasks.map((t) => t.executionId) },
        "kafka bridge: publishing commands failed; their leases will time out and the steps be retried",
      );
    }
  }

  /**
   * A command too large for a Kafka message fails its attempt for good: its input is the step's,
   * so every retry would be as large, and a service cannot act on part of it. The step fails with
   * the reason (and the run compensates or fails as its definition says).
   */
  private async refuseOversize(command: Command, fitInto: number): Promise<null> {
    const { task } = command;
    const commandBytes = Buffer.byteLength(command.value);
    const message =
      `the command is ${commandBytes} bytes, over the Kafka message limit of ${fitInto} bytes ` +
      "(KAFKA_MAX_MESSAGE_BYTES, or the topic's max.message.bytes); pass large inputs by reference";
    this.logger.error({ executionId: task.executionId, topic: command.topic, commandBytes, fitInto }, `kafka bridge: ${message}`);
    await this.engine.tasks
      .fail({
        executionId: task.executionId,
        workerId: this.options.workerId,
        fenceToken: task.fenceToken,
        error: { message, payload: { topic: command.topic, commandBytes, limitBytes: fitInto } },
        retryable: false,
      })
      .catch((error: unknown) =>
        // The other commands are still published; this lease runs out and the next attempt comes here again.
        this.logger.error(
          { err: error, executionId: task.executionId },
          "kafka bridge: could not fail an attempt whose command is too large",
        ),
      );
    return null;
  }
}

async function sleepUnlessStopped(ms: number, stopped: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!stopped() && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
}
