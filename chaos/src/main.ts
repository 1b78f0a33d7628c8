import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type CheckOptions, LEASE_GRANT_AUDIT, LEDGER_SCHEMA, printSummary, runCheck } from "@baton/api/check";
import { migrateDatabase } from "@baton/engine";
import { createClient } from "@baton/worker-sdk";
import { balancedFetch } from "./balanced-fetch.ts";
import { Driver } from "./driver.ts";
import { FaultInjector, type FaultKind, type FaultPlan } from "./faults.ts";
import { KafkaBroker } from "./kafka-broker.ts";
import { freePort, PostgresCluster } from "./postgres-cluster.ts";
import { ApiFleet, KAFKA_SERVICES, killAllChildren, sleep, WorkerFleet } from "./processes.ts";
import { LineLog } from "./report-log.ts";
import { API_KAFKA_SESSION_MS, kafkaSteps, WORKFLOWS } from "./workflows.ts";

/*
 * `pnpm test:chaos [--long] [--keep] [--no-kafka]`: Baton under faults, checked from outside. A
 * private Postgres cluster and Kafka broker, three API processes with the Kafka bridge on, several
 * SDK worker processes and Kafka services; runs of every workflow shape, paused, resumed and
 * cancelled while faults strike; then every instance must finish, and `baton-check` must find the
 * invariants of DESIGN §9 intact in the database, the ledger and the workers' and services' logs.
 * Exits non-zero on a violation or when too few faults were injected.
 */

interface Profile {
  name: string;
  apis: number;
  workers: number;
  kafkaServices: number;
  workflows: number;
  faultMs: number;
  faults: FaultPlan;
  /** The least of each fault kind, and of stale attempts refused, for the run to count. */
  minFaults: Record<FaultKind, number>;
  minStaleRefused: number;
}

const SHORT: Profile = {
  name: "short",
  apis: 3,
  workers: 3,
  kafkaServices: 2,
  workflows: 2200,
  faultMs: 110_000,
  faults: {
    workerStallEveryMs: 3000,
    workerKillEveryMs: 12_000,
    apiKillEveryMs: 5000,
    connectionKillEveryMs: 1500,
    listenKillEveryMs: 8000,
    postgresRestarts: 1,
    brokerRestarts: 1,
  },
  // Floors for the run to mean anything, well under what the plan injects on a machine to itself.
  minFaults: {
    "worker-stall": 5,
    "worker-kill": 3,
    "api-kill": 2,
    "connection-kill": 5,
    "listen-kill": 3,
    "postgres-restart": 1,
    "broker-restart": 1,
    "kafka-reply-duplicate": 30,
    "kafka-reply-delay": 20,
  },
  minStaleRefused: 100,
};

const LONG: Profile = {
  ...SHORT,
  name: "long",
  workflows: 30_000,
  faultMs: 29 * 60_000,
  faults: { ...SHORT.faults, postgresRestarts: 6, brokerRestarts: 6 },
  minFaults: {
    "worker-stall": 80,
    "worker-kill": 40,
    "api-kill": 30,
    "connection-kill": 100,
    "listen-kill": 40,
    "postgres-restart": 6,
    "broker-restart": 6,
    "kafka-reply-duplicate": 400,
    "kafka-reply-delay": 250,
  },
  minStaleRefused: 1000,
};

/** Every instance must be terminal this soon after the last fault (invariant I4). */
const QUIESCE_LIMIT_MS = 60_000;

const USAGE = `pnpm test:chaos [options] — Baton under faults, then pnpm baton-check on what happened (chaos/README.md)

  --long          the 30-minute soak (more workflows, several Postgres and broker restarts)
  --workflows N   workflows to start (default: the profile's)
  --seconds N     seconds of faults (default: the profile's); fault minimums scale with it
  --no-kafka      leave out the Kafka bridge, services and faults (no Java here, say)
  --keep          keep the cluster, broker and evidence directories afterwards
  --help          this text`;

const { values: args } = (() => {
  try {
    return parseArgs({
      options: {
        long: { type: "boolean" },
        keep: { type: "boolean" },
        workflows: { type: "string" },
        seconds: { type: "string" },
        "no-kafka": { type: "boolean" },
        help: { type: "boolean" },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
})();
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
// Without Kafka (no Java here, say) the Kafka workflows and faults are left out, and said so.
const withKafka = args["no-kafka"] !== true;
const RESTARTS: FaultKind[] = ["postgres-restart", "broker-restart"];
const KAFKA_FAULTS: FaultKind[] = ["broker-restart", "kafka-reply-duplicate", "kafka-reply-delay"];
// --workflows and --seconds shrink or grow a profile (e.g. a quick try while changing the suite);
// the fault minimums then scale with the time.
const base = args.long ? LONG : SHORT;
const faultMs = args.seconds ? Number(args.seconds) * 1000 : base.faultMs;
const scale = faultMs / base.faultMs;
const profile: Profile = {
  ...base,
  faultMs,
  workflows: args.workflows ? Number(args.workflows) : Math.round(base.workflows * scale),
  minFaults: Object.fromEntries(
    Object.entries(base.minFaults)
      .filter(([kind]) => withKafka || !KAFKA_FAULTS.includes(kind as FaultKind))
      .map(([kind, n]) => [kind, RESTARTS.includes(kind as FaultKind) ? n : Math.floor(n * scale)]),
  ) as Profile["minFaults"],
  minStaleRefused: Math.floor(base.minStaleRefused * scale),
};
const keep = args.keep === true;

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const runDir = join(REPO_ROOT, ".chaos", new Date().toISOString().replace(/[:.]/g, "-"));
await mkdir(runDir, { recursive: true });

let cluster: PostgresCluster | undefined;
let broker: KafkaBroker | undefined;
process.on("SIGINT", () => {
  killAllChildren();
  void Promise.allSettled([cluster?.destroy(), broker?.destroy()]).finally(() => process.exit(130));
});

const say = (message: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${message}`);

let exitCode = 1;
try {
  say(`profile ${profile.name}: ${profile.workflows} runs, faults for ${profile.faultMs / 1000} s; evidence in ${runDir}`);
  if (!withKafka) say("--no-kafka: NO Kafka bridge, Kafka workflows or Kafka faults in this run (I8 unchecked)");
  // The broker starts beside Postgres: a JVM takes a while on a busy machine.
  const brokerStarting = withKafka ? KafkaBroker.create() : undefined;
  brokerStarting?.then(
    (b) => {
      broker = b;
    },
    () => {},
  );
  cluster = await PostgresCluster.create();
  await cluster.query("CREATE DATABASE baton");
  await cluster.query("CREATE DATABASE ledger");
  await cluster.query(LEDGER_SCHEMA, "ledger");
  await migrateDatabase({ kind: "postgres", url: cluster.url("baton"), poolSize: 1 });
  await cluster.query(LEASE_GRANT_AUDIT, "baton");
  say(`Postgres on port ${cluster.port} (${cluster.dir})`);
  broker = await brokerStarting;
  if (broker) say(`Kafka broker on port ${broker.port} (${broker.dir})`);

  const ports = await Promise.all(Array.from({ length: profile.apis }, () => freePort()));
  const kafkaEnv: Record<string, string> = broker
    ? { KAFKA_BROKERS: broker.brokers, KAFKA_SESSION_TIMEOUT_MS: String(API_KAFKA_SESSION_MS) }
    : {};
  const apis = new ApiFleet(ports, cluster.url("baton"), runDir, kafkaEnv);
  await apis.startAll();
  const client = createClient({ url: apis.urls[0] as string, fetch: balancedFetch(apis.urls), retry: { retries: 30, maxDelayMs: 1000 } });
  const overKafka = new Set(kafkaSteps().map(([workflow]) => workflow));
  const workflows = WORKFLOWS.filter((w) => broker || !overKafka.has(w.name));
  for (const workflow of workflows) await client.register(workflow);
  const workerEnv = { CHAOS_API_URLS: apis.urls.join(","), CHAOS_LEDGER_URL: cluster.url("ledger") };
  const workers = new WorkerFleet(profile.workers, workerEnv, runDir);
  workers.startAll();
  const services = broker
    ? new WorkerFleet(profile.kafkaServices, { ...workerEnv, CHAOS_KAFKA_BROKERS: broker.brokers }, runDir, KAFKA_SERVICES)
    : undefined;
  services?.startAll();
  await workers.waitReady();
  // A service is ready once it is in its group, which needs the command topics the bridges create.
  await services?.waitReady();
  say(`${profile.apis} API processes on ${ports.join(", ")}, ${profile.workers} workers, ${services?.size ?? 0} Kafka services`);

  const faultLog = new LineLog(join(runDir, "faults.jsonl"));
  const startLog = new LineLog(join(runDir, "starts.jsonl"));
  const driver = new Driver(client, startLog, `chaos-${Date.now()}`, workflows);
  const faults = new FaultInjector(profile.faults, cluster, apis, workers, faultLog, broker);
  const progress = setInterval(() => say(`driver ${JSON.stringify(driver.counts)} faults ${JSON.stringify(faults.counts)}`), 15_000);
  // Runs start a little before the faults and stop a little before they do, so every run meets some.
  await Promise.all([
    driver.run(profile.workflows, profile.faultMs - 10_000),
    (async () => {
      await sleep(3000);
      await faults.run(profile.faultMs);
    })(),
  ]);
  await apis.settled();
  await faults.close();
  const lastFault = Date.now();
  clearInterval(progress);
  workers.wakeAll();
  say(`faults over: ${JSON.stringify(faults.counts)}; driver ${JSON.stringify(driver.counts)}`);

  // Whatever is still paused is resumed (a lost answer may hide a pause that happened).
  await driver.resumeAll();
  const quiet = await waitForQuiescence(cluster, client, lastFault + QUIESCE_LIMIT_MS + 30_000);
  say(
    quiet.left === 0
      ? `quiet ${((Date.now() - lastFault) / 1000).toFixed(1)} s after the last fault`
      : `${quiet.left} instances still not terminal`,
  );

  await workers.stopAll();
  await services?.stopAll();
  await apis.stopAll();
  faultLog.close();
  startLog.close();

  const options: CheckOptions = {
    databaseUrl: cluster.url("baton"),
    evidence: { dir: runDir, ledgerUrl: cluster.url("ledger") },
    expectQuiesced: true,
    quiesceLimitMs: QUIESCE_LIMIT_MS,
    minFaults: profile.minFaults,
    minStaleRefused: profile.minStaleRefused,
  };
  const result = await runCheck(options);
  printSummary(result);
  exitCode = result.ok ? 0 : 1;
} catch (error) {
  console.error("chaos run failed:", error);
  killAllChildren();
} finally {
  if (cluster) {
    if (keep) say(`kept: Postgres data in ${cluster.dir} (port ${cluster.port}); stop it with pg_ctl -D ${cluster.dataDir} stop`);
    else await cluster.destroy();
  }
  if (broker) {
    if (keep) say(`kept: Kafka broker in ${broker.dir} (port ${broker.port}); stop it with KAFKA_DIR=${broker.dir} scripts/kafka.sh stop`);
    else await broker.destroy();
  }
}
process.exit(exitCode);

/** Waits until no instance is left running, resuming any found paused; polls the database. */
async function waitForQuiescence(cluster: PostgresCluster, client: ReturnType<typeof createClient>, deadline: number) {
  for (;;) {
    const rows = await cluster
      .query<{ instance_id: string; state: string }>(
        "SELECT instance_id, state FROM workflow_instances WHERE state IN ('RUNNING', 'PAUSED', 'COMPENSATING')",
        "baton",
      )
      .catch(() => null);
    if (rows) {
      if (rows.length === 0 || Date.now() > deadline) return { left: rows.length };
      for (const r of rows) if (r.state === "PAUSED") await client.resume(r.instance_id).catch(() => {});
    }
    await sleep(500);
  }
}
