import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type CheckOptions, LEASE_GRANT_AUDIT, LEDGER_SCHEMA, printSummary, runCheck } from "@baton/api/check";
import { migrate, openDatabase } from "@baton/engine";
import { createClient } from "@baton/worker-sdk";
import { balancedFetch } from "./balanced-fetch.ts";
import { Driver } from "./driver.ts";
import { FaultInjector, type FaultKind, type FaultPlan } from "./faults.ts";
import { freePort, PostgresCluster } from "./postgres-cluster.ts";
import { ApiFleet, killAllChildren, sleep, WorkerFleet } from "./processes.ts";
import { LineLog } from "./report-log.ts";
import { WORKFLOWS } from "./workflows.ts";

/*
 * `pnpm test:chaos [--long] [--keep]`: Baton under faults, checked from outside. A private Postgres
 * cluster, three API processes and several SDK worker processes; runs of every workflow shape,
 * paused, resumed and cancelled while faults strike; then every instance must finish, and
 * `baton-check` must find the invariants of DESIGN §9 intact in the database, the ledger and the
 * workers' report logs. Exits non-zero on a violation or when too few faults were injected.
 */

interface Profile {
  name: string;
  apis: number;
  workers: number;
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
  workflows: 2200,
  faultMs: 110_000,
  faults: {
    workerStallEveryMs: 3000,
    workerKillEveryMs: 12_000,
    apiKillEveryMs: 5000,
    connectionKillEveryMs: 1500,
    listenKillEveryMs: 8000,
    postgresRestarts: 1,
  },
  // Floors for the run to mean anything, well under what the plan injects on a machine to itself.
  minFaults: { "worker-stall": 5, "worker-kill": 3, "api-kill": 2, "connection-kill": 5, "listen-kill": 3, "postgres-restart": 1 },
  minStaleRefused: 100,
};

const LONG: Profile = {
  ...SHORT,
  name: "long",
  workflows: 30_000,
  faultMs: 29 * 60_000,
  faults: { ...SHORT.faults, postgresRestarts: 6 },
  minFaults: { "worker-stall": 80, "worker-kill": 40, "api-kill": 30, "connection-kill": 100, "listen-kill": 40, "postgres-restart": 6 },
  minStaleRefused: 1000,
};

/** Every instance must be terminal this soon after the last fault (invariant I4). */
const QUIESCE_LIMIT_MS = 60_000;

const { values: args } = parseArgs({
  options: { long: { type: "boolean" }, keep: { type: "boolean" }, workflows: { type: "string" }, seconds: { type: "string" } },
});
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
    Object.entries(base.minFaults).map(([kind, n]) => [kind, kind === "postgres-restart" ? n : Math.floor(n * scale)]),
  ) as Profile["minFaults"],
  minStaleRefused: Math.floor(base.minStaleRefused * scale),
};
const keep = args.keep === true;

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const runDir = join(REPO_ROOT, ".chaos", new Date().toISOString().replace(/[:.]/g, "-"));
await mkdir(runDir, { recursive: true });

let cluster: PostgresCluster | undefined;
process.on("SIGINT", () => {
  killAllChildren();
  void cluster?.destroy().finally(() => process.exit(130));
});

const say = (message: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${message}`);

let exitCode = 1;
try {
  say(`profile ${profile.name}: ${profile.workflows} runs, faults for ${profile.faultMs / 1000} s; evidence in ${runDir}`);
  cluster = await PostgresCluster.create();
  await cluster.query("CREATE DATABASE baton");
  await cluster.query("CREATE DATABASE ledger");
  await cluster.query(LEDGER_SCHEMA, "ledger");
  const database = await openDatabase({ kind: "postgres", url: cluster.url("baton"), poolSize: 1 });
  await migrate(database);
  await database.close();
  await cluster.query(LEASE_GRANT_AUDIT, "baton");
  say(`Postgres on port ${cluster.port} (${cluster.dir})`);

  const ports = await Promise.all(Array.from({ length: profile.apis }, () => freePort()));
  const apis = new ApiFleet(ports, cluster.url("baton"), runDir);
  await apis.startAll();
  const client = createClient({ url: apis.urls[0] as string, fetch: balancedFetch(apis.urls), retry: { retries: 30, maxDelayMs: 1000 } });
  for (const workflow of WORKFLOWS) await client.register(workflow);
  const workers = new WorkerFleet(
    profile.workers,
    { CHAOS_API_URLS: apis.urls.join(","), CHAOS_LEDGER_URL: cluster.url("ledger") },
    runDir,
  );
  workers.startAll();
  await workers.waitReady();
  say(`${profile.apis} API processes on ${ports.join(", ")}, ${profile.workers} workers`);

  const faultLog = new LineLog(join(runDir, "faults.jsonl"));
  const startLog = new LineLog(join(runDir, "starts.jsonl"));
  const driver = new Driver(client, startLog, `chaos-${Date.now()}`);
  const faults = new FaultInjector(profile.faults, cluster, apis, workers, faultLog);
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
