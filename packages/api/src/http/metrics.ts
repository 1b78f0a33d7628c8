import { type Engine, INSTANCE_STATES } from "@baton/engine";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { REPLICA_ID } from "./replica.ts";

/**
 * The Prometheus metrics of one API process. Task outcomes are counted as the engine reports them
 * (whatever transport carried them); instances by state are read from the database at scrape time.
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
    help: "Task completions accepted by this process (HTTP, Kafka bridge, in-process; repeats excluded), by queue",
    labelNames: ["queue"] as const,
    registers: [this.registry],
  });

  readonly tasksFailed = new Counter({
    name: "baton_tasks_failed_total",
    help: "Task failures accepted by this process (HTTP, Kafka bridge, in-process; repeats excluded), by queue",
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

  readonly runWait = new Histogram({
    name: "baton_run_wait_seconds",
    help: "How long a start with waitMs waited for its run to end, by outcome (ended, deadline, aborted)",
    labelNames: ["outcome"] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: "baton_http_request_duration_seconds",
    help: "HTTP request latency by method, matched route pattern and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly leaseExpiries = new Counter({
    name: "baton_lease_expiries_total",
    help: "Task attempts whose lease expired before the worker finished, timed out by this process's reaper",
    registers: [this.registry],
  });

  readonly requestsInFlight = new Gauge({
    name: "baton_http_requests_in_flight",
    help: "Requests this server is working on, long-polls included",
    registers: [this.registry],
  });

  readonly requestsShed = new Counter({
    name: "baton_http_requests_shed_total",
    help: "Requests answered 503 at once because the server was at its limit of requests in flight (BATON_MAX_REQUESTS_IN_FLIGHT)",
    registers: [this.registry],
  });

  constructor(engine: Engine) {
    new Gauge({
      name: "baton_instances",
      help: "Workflow instances by state",
      labelNames: ["state"] as const,
      registers: [this.registry],
      async collect() {
        // A failed read (database down) leaves the last values: the scrape itself still answers.
        const counts = await engine.workflows.countInstancesByState().catch(() => null);
        if (counts) for (const state of INSTANCE_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
    new Gauge({
      name: "baton_poisoned_instances",
      help:
        "Instances whose expired leases this process's lease reaper could not time out in its latest passes (poisoned rows, " +
        "skipped and retried every pass); listed with the error at GET /v1/reaper/poisoned. Kept in memory per process: " +
        "`replica` names the process (host:pid); with several replicas, alert on the largest value, not the sum",
      labelNames: ["replica"] as const,
      registers: [this.registry],
      collect() {
        this.set({ replica: REPLICA_ID }, engine.tasks.poisonedCount);
      },
    });
    engine.tasks.onFinished(({ queue, state }) => {
      if (state === "COMPLETED") this.tasksCompleted.inc({ queue });
      else if (state === "FAILED") this.tasksFailed.inc({ queue });
      else this.leaseExpiries.inc();
    });
    collectDefaultMetrics({ register: this.registry, prefix: "baton_process_" });
  }

  /** Counts tasks handed out, per queue. */
  countAcquired(tasks: { queue: string }[]): void {
    for (const t of tasks) this.tasksAcquired.inc({ queue: t.queue });
  }

  /** The text exposition format; a scrape never fails because the database is down. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
