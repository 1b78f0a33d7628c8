import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createClient, createWorker, silentLogger } from "@baton/worker-sdk";

/*
 * `pnpm bench:footprint`: the production server's footprint, as docs/benchmarks.md reports it.
 * Starts `node packages/api/dist/main.js` (run `pnpm build` first) on PGlite in a fresh data
 * directory (its first start, initdb included) or on DATABASE_URL with --postgres; times start-up to
 * the first 200 from /healthz; reads its RSS after --idle seconds; then drains --tasks one-step runs
 * through a worker over HTTP (concurrency 10) while sampling the server's RSS every 100 ms; then
 * stops it with SIGTERM and times the exit. With --restart, a second start on the same data
 * directory is measured too (the common case: the database already exists). --node-options sets
 * the server's NODE_OPTIONS (the Docker image's are measured that way).
 */
const { values } = parseArgs({
  options: {
    postgres: { type: "boolean", default: false },
    tasks: { type: "string", default: "2000" },
    idle: { type: "string", default: "15" },
    restart: { type: "boolean", default: false },
    "node-options": { type: "string", default: "" },
  },
});
const tasks = Number(values.tasks);
const idleSeconds = Number(values.idle);
const MAIN = new URL("../packages/api/dist/main.js", import.meta.url);

const dataDir = await mkdtemp(join(tmpdir(), "baton-footprint-"));
try {
  if (values.postgres && !process.env.DATABASE_URL) throw new Error("--postgres needs DATABASE_URL");
  const first = await measureStart("first start");
  await drain(first);
  await stop(first);
  if (values.restart) await stop(await measureStart("restart"));
} finally {
  await rm(dataDir, { recursive: true, force: true });
}

interface Server {
  child: ChildProcess;
  url: string;
}

async function measureStart(label: string): Promise<Server> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", BATON_DATA_DIR: dataDir };
  // The production process: plain node on the build, no loader, no source condition (with
  // --node-options, those flags only: e.g. the image's NODE_OPTIONS).
  env.NODE_OPTIONS = values["node-options"];
  if (!values.postgres) delete env.DATABASE_URL;
  delete env.KAFKA_BROKERS;
  const started = performance.now();
  const child = spawn(process.execPath, [MAIN.pathname], { env, stdio: ["ignore", "inherit", "inherit"] });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await sleep(20);
  }
  const startupMs = Math.round(performance.now() - started);
  await sleep(idleSeconds * 1000);
  report(label, { database: values.postgres ? "postgres" : "pglite", startupMs, idleRssMb: rssMb(child.pid) });
  return { child, url };
}

async function drain({ child, url }: Server): Promise<void> {
  const client = createClient({ url });
  await client.register({ name: "footprintDrain", type: "sequential", steps: [{ name: "noop" }] });
  let peak = rssMb(child.pid);
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMb(child.pid));
  }, 100);
  const started = performance.now();
  for (let i = 0; i < tasks; i += 50) {
    const count = Math.min(50, tasks - i);
    await Promise.all(Array.from({ length: count }, () => client.start("footprintDrain", { input: {} })));
  }
  let done = 0;
  let allDone = () => {};
  const finished = new Promise<void>((resolve) => {
    allDone = resolve;
  });
  const worker = createWorker({
    url,
    workflow: "footprintDrain",
    concurrency: 10,
    logger: silentLogger,
    handlers: {
      noop: async () => {
        done++;
        if (done === tasks) allDone();
        return {};
      },
    },
  });
  await finished;
  await worker.stop();
  clearInterval(sampler);
  const seconds = (performance.now() - started) / 1000;
  report("drain", { tasks, seconds: Math.round(seconds * 10) / 10, peakRssMb: Math.max(peak, rssMb(child.pid)) });
}

async function stop({ child }: Server): Promise<void> {
  const started = performance.now();
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const [code] = await exited;
  report("SIGTERM", { exitCode: code, shutdownMs: Math.round(performance.now() - started) });
}

function rssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

function report(what: string, figures: Record<string, unknown>): void {
  console.log(
    `${what}: ${Object.entries(figures)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")}`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
