import { type Engine, INSTANCE_STATES, instanceCountByState } from "@baton/engine";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * The Prometheus metrics of one API process. Task counters are counted where the HTTP layer sees
 * the outcome; instance and lease-expiry figures are read from the database at scrape time.
 */
export class ApiMetrics {
  readonly registry = new Registry();

  readonly tasksAcquired = new Counter({
    name: "baton_tasks_acquired_total",
    help: "Tasks handed out to workers over HTTP, by queue",
    labelNames: ["queue"] as const,
    registers: [this.registry],
  });

  readonly tasksCompleted = new Counter({
    name: "baton_tasks_completed_total",
    help: "Task completions accepted over HTTP (repeats excluded), by queue",
    labelNames: ["queue"] as const,
    registers: [this.registry],
  });

  readonly tasksFailed = new Counter({
    name: "baton_tasks_failed_total",
    help: "Task failures accepted over HTTP (repeats excluded), by queue",
    labelNames: ["queue"] as const,
    registers: [this.registry],
  });

  readonly acquireAbandoned = new Counter({
    name: "baton_acquire_abandoned_total",
    help: "Tasks leased for a long-poll whose client had gone; released and scheduled again",
    registers: [this.registry],
  });

  readonly acquireWait = new Histogram({
    name: "baton_acquire_wait_seconds",
    help: "How long an acquire took, long-poll wait included, by outcome (tasks, empty, aborted)",
    labelNames: ["outcome"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: "baton_http_request_duration_seconds",
    help: "HTTP request latency by method, matched route pattern and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  /** Queue of each execution this process handed out and has not yet seen finish (bounded). */
  private readonly queueOfExecution = new Map<string, string>();
  private readonly db: Engine["database"]["db"];

  constructor(engine: Engine) {
    const db = engine.database.db;
    this.db = db;
    new Gauge({
      name: "baton_instances",
      help: "Workflow instances by state",
      labelNames: ["state"] as const,
      registers: [this.registry],
      async collect() {
        // A failed read (database down) leaves the last values: the scrape itself still answers.
        const counts = await instanceCountByState(db).catch(() => null);
        if (counts) for (const state of INSTANCE_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
    new Counter({
      name: "baton_lease_expiries_total",
      help: "Task attempts whose lease expired before the worker finished (TIMED_OUT attempts in the database)",
      registers: [this.registry],
      async collect() {
        const row = await db
          .selectFrom("task_executions")
          .select((eb) => eb.fn.countAll<string | number>().as("n"))
          .where("state", "=", "TIMED_OUT")
          .executeTakeFirst()
          .catch(() => null);
        if (!row) return;
        this.reset();
        this.inc(Number(row.n));
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: "baton_process_" });
  }

  /** Counts tasks handed out, per queue, and remembers their queues for their outcomes. */
  countAcquired(tasks: { executionId: string; queue: string }[]): void {
    for (const t of tasks) {
      this.tasksAcquired.inc({ queue: t.queue });
      this.queueOfExecution.set(t.executionId, t.queue);
    }
    // Forget the oldest when workers never report back (crashed); Map keeps insertion order.
    for (const id of this.queueOfExecution.keys()) {
      if (this.queueOfExecution.size <= 100_000) break;
      this.queueOfExecution.delete(id);
    }
  }

  /**
   * Counts an accepted completion or failure under its queue. A task handed out by another
   * replica (or before a restart) has its queue looked up, off the response path.
   */
  countOutcome(outcome: "completed" | "failed", executionId: string): void {
    const counter = outcome === "completed" ? this.tasksCompleted : this.tasksFailed;
    const queue = this.queueOfExecution.get(executionId);
    if (queue !== undefined) {
      this.queueOfExecution.delete(executionId);
      counter.inc({ queue });
      return;
    }
    this.db
      .selectFrom("task_executions")
      .select("queue")
      .where("execution_id", "=", executionId)
      .executeTakeFirst()
      .then(
        (row) => counter.inc({ queue: row?.queue ?? "unknown" }),
        () => counter.inc({ queue: "unknown" }),
      );
  }

  /** The text exposition format; a scrape never fails because the database is down. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
