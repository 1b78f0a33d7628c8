import type { FaultLine } from "@baton/api/check";
import pg from "pg";
import type { KafkaBroker } from "./kafka-broker.ts";
import type { PostgresCluster } from "./postgres-cluster.ts";
import { type ApiFleet, sleep, type WorkerFleet } from "./processes.ts";
import type { LineLog } from "./report-log.ts";
import { LEASE_MS } from "./workflows.ts";

/** How often each fault strikes (mean ms between two), and how many Postgres and Kafka broker restarts a run gets. */
export interface FaultPlan {
  workerStallEveryMs: number;
  workerKillEveryMs: number;
  apiKillEveryMs: number;
  connectionKillEveryMs: number;
  listenKillEveryMs: number;
  postgresRestarts: number;
  brokerRestarts: number;
}

/** The faults injected here. */
export type InjectedFault =
  | "worker-stall"
  | "worker-kill"
  | "api-kill"
  | "connection-kill"
  | "listen-kill"
  | "postgres-restart"
  | "broker-restart";

/** Every kind of fault a run counts: also what the Kafka services do to their replies (from their logs). */
export type FaultKind = InjectedFault | "kafka-reply-duplicate" | "kafka-reply-delay";

/**
 * Injects faults until `durationMs` has passed, each kind on its own loop at random intervals
 * around its mean, and writes each to the fault log when it has been done.
 */
export class FaultInjector {
  readonly counts: Record<InjectedFault, number> = {
    "worker-stall": 0,
    "worker-kill": 0,
    "api-kill": 0,
    "connection-kill": 0,
    "listen-kill": 0,
    "postgres-restart": 0,
    "broker-restart": 0,
  };
  private stopAt = 0;
  private adminClient: pg.Client | undefined;

  constructor(
    private readonly plan: FaultPlan,
    private readonly cluster: PostgresCluster,
    private readonly apis: ApiFleet,
    private readonly workers: WorkerFleet,
    private readonly log: LineLog,
    /** The suite's own Kafka broker, when the run has the Kafka bridge on. */
    private readonly broker?: KafkaBroker,
  ) {}

  async run(durationMs: number): Promise<void> {
    const began = Date.now();
    this.stopAt = began + durationMs;
    // Spread over the run, the broker's between Postgres's, so the two never coincide.
    const spread = (count: number, offset: number) => Array.from({ length: count }, (_, i) => began + (durationMs * (i + offset)) / count);
    const restarts = spread(this.plan.postgresRestarts, 0.5);
    const brokerRestarts = this.broker ? spread(this.plan.brokerRestarts, 0.25) : [];
    await Promise.all([
      // One stall loop per worker: a stall lasts 1.5-2.5 leases and each loop waits for its stall
      // to end, so one loop alone stalls only about every 11 s; and a stalled worker's late report
      // is often not sent at all (its SDK saw the lease run out), so it takes many stalls to see
      // 100 stale reports refused in a short run.
      ...Array.from({ length: this.workers.size }, () => this.every(this.plan.workerStallEveryMs, () => this.stallWorker())),
      this.every(this.plan.workerKillEveryMs, () => this.killWorker()),
      this.every(this.plan.apiKillEveryMs, () => this.killApi()),
      this.every(this.plan.connectionKillEveryMs, () => this.killConnections()),
      this.every(this.plan.listenKillEveryMs, () => this.killListen()),
      this.at(restarts, "postgres-restart", async () => {
        await this.cluster.restart();
        return {};
      }),
      this.at(brokerRestarts, "broker-restart", async () => (await this.broker?.restart()) ?? {}),
    ]);
  }

  /** Restarts something at each of the given times, logging how long it was down (and what it said). */
  private async at(times: number[], kind: InjectedFault, restart: () => Promise<object>): Promise<void> {
    for (const at of times) {
      await sleep(at - Date.now());
      const t = Date.now();
      try {
        const detail = await restart();
        this.record(kind, { downMs: Date.now() - t, ...detail });
      } catch (error) {
        console.error(`${kind} failed:`, String(error));
      }
    }
  }

  private async every(meanMs: number, fault: () => Promise<unknown>): Promise<void> {
    for (;;) {
      const due = Date.now() + meanMs * (0.5 + Math.random());
      if (due >= this.stopAt) return;
      await sleep(due - Date.now());
      try {
        await fault();
      } catch (error) {
        // Postgres restarting under a connection kill, say: the fault did not happen this time.
        console.error("fault failed:", String(error));
      }
    }
  }

  /**
   * A query on one admin connection kept open (opened again after a Postgres restart): opening one
   * per fault is slow on a loaded machine.
   */
  private async admin<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
    if (!this.adminClient) {
      const client = new pg.Client({ connectionString: this.cluster.url(), application_name: "chaos-admin", query_timeout: 30_000 });
      client.on("error", () => {});
      await client.connect();
      this.adminClient = client;
    }
    try {
      return (await this.adminClient.query<T>(text)).rows;
    } catch (error) {
      const dead = this.adminClient;
      this.adminClient = undefined;
      await dead?.end().catch(() => {});
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.adminClient?.end().catch(() => {});
  }

  private record(kind: InjectedFault, detail: unknown): void {
    this.counts[kind]++;
    const line: FaultLine = { kind, at: new Date().toISOString(), detail };
    this.log.write(line);
  }

  private async stallWorker(): Promise<void> {
    const index = Math.floor(Math.random() * this.workers.size);
    // Past the lease and past the reaper's next pass, so the attempts are handed to others first.
    const ms = Math.round(LEASE_MS * (1.5 + Math.random()));
    // Logged when it ends: the worker's late writes come after.
    if (await this.workers.stall(index, ms)) this.record("worker-stall", { worker: index, ms });
  }

  private async killWorker(): Promise<void> {
    const index = Math.floor(Math.random() * this.workers.size);
    await this.workers.killAndRestart(index);
    this.record("worker-kill", { worker: index });
  }

  /** Kills one API process that is up, while another one is up too, so one always serves. */
  private async killApi(): Promise<void> {
    if (this.apis.up < 2) return;
    const index = Math.floor(Math.random() * this.apis.ports.length);
    const killedAt = Date.now();
    // Logged when the new process is ready: the fault lasts while it is down.
    await this.apis.kill(index, 200 + Math.random() * 800, () => this.record("api-kill", { api: index, downMs: Date.now() - killedAt }));
  }

  private async killConnections(): Promise<void> {
    const rows = await this.admin<{ pid: number }>(
      `SELECT pg_terminate_backend(pid) AS killed, pid FROM (
         SELECT pid FROM pg_stat_activity
         WHERE application_name LIKE 'baton-api-%' AND query NOT ILIKE 'LISTEN%'
         ORDER BY random() LIMIT 1 + floor(random() * 3)::int
       ) picked`,
    );
    if (rows.length > 0) this.record("connection-kill", { pids: rows.map((r) => r.pid) });
  }

  private async killListen(): Promise<void> {
    const rows = await this.admin<{ pid: number }>(
      `SELECT pg_terminate_backend(pid) AS killed, pid FROM (
         SELECT pid FROM pg_stat_activity
         WHERE application_name LIKE 'baton-api-%' AND query ILIKE 'LISTEN%'
         ORDER BY random() LIMIT 1
       ) picked`,
    );
    if (rows.length > 0) this.record("listen-kill", { pids: rows.map((r) => r.pid) });
  }
}
