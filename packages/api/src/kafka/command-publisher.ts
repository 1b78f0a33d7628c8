import type { AcquiredTask, Engine, TaskKind } from "@baton/engine";
import type { Producer } from "kafkajs";
import type { BridgeLogger } from "./kafka-client.ts";
import { commandMessage } from "./messages.ts";
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

/**
 * The bridge as a worker: it leases tasks of `transport: kafka` steps with the engine's long-poll
 * acquire and publishes each as a command. It never heartbeats: the step's lease is the time the
 * service has to reply, and a lease that runs out is timed out by the reaper and retried like any
 * other. A command is published only after its lease committed; if the bridge dies in between,
 * the lease runs out and the next attempt is published (at least once, never lost).
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
    private readonly options: { workerId: string; maxBatch: number; acquireWaitMs: number },
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
    const byTopic = new Map<string, AcquiredTask[]>();
    for (const task of tasks) {
      // Served queues belong to served namespaces, so this misses only if a queue changed hands
      // meanwhile; the lease then runs out and the attempt is retried.
      const topic = this.topics.of(task.namespace)?.command(task.workflowName, task.taskId, task.kind);
      if (topic === undefined) {
        this.logger.error(
          { namespace: task.namespace, executionId: task.executionId },
          "kafka bridge: leased a command of a namespace it does not serve; not published",
        );
        continue;
      }
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), task]);
    }
    try {
      await this.producer.sendBatch({
        topicMessages: [...byTopic].map(([topic, list]) => ({ topic, messages: list.map(commandMessage) })),
      });
      for (const task of tasks) {
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
}

async function sleepUnlessStopped(ms: number, stopped: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!stopped() && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
}
