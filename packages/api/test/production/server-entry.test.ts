import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureBuilt, productionEnv, REPO_ROOT } from "../../../../test-support/build.ts";
import { createTestDatabase, onPglite, type TestDatabase } from "../../../../test-support/database.ts";

// The production process as an operator runs it: plain node on the build, no tsx, no pnpm.
const MAIN = join(REPO_ROOT, "packages/api/dist/main.js");
const CLI = join(REPO_ROOT, "packages/api/dist/cli/main.js");
const VERSION = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")).version as string;

let testDb: TestDatabase | undefined;
let dataDir: string;

beforeAll(async () => {
  await ensureBuilt();
  dataDir = await mkdtemp(join(tmpdir(), "baton-entry-"));
  // On Postgres the server migrates a fresh database of its own; on PGlite it makes its data directory.
  if (!onPglite) testDb = await createTestDatabase({ poolSize: 1 });
}, 300_000);

afterAll(async () => {
  await testDb?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

describe("the production server entry", () => {
  test("runs as one node process, answers /healthz with the version, and stops on SIGTERM mid long-poll", async () => {
    const server = await startEntry([MAIN]);
    try {
      const health = (await (await fetch(`${server.url}/healthz`)).json()) as { version: string; database: string };
      expect(health).toMatchObject({ version: VERSION, database: onPglite ? "pglite" : "postgres" });
      // One process: no children (no tsx, no esbuild service), and plain node on dist/main.js.
      expect(await childrenOf(server.child.pid as number)).toEqual([]);
      expect(await readFile(`/proc/${server.child.pid}/cmdline`, "utf8")).toBe(`${process.execPath}\0${MAIN}\0`);

      // A worker waiting 20 s for a task that never comes: the shutdown must answer it, not wait it out.
      const poll = fetch(`${server.url}/v1/tasks/acquire`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ workerId: "entry-test", queues: ["nothing.here"], waitMs: 20_000 }),
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const stopped = performance.now();
      server.child.kill("SIGTERM");
      const answer = await poll;
      const answeredMs = performance.now() - stopped;
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as { tasks: unknown[] }).tasks).toEqual([]);
      const [code] = await server.exited;
      const exitedMs = performance.now() - stopped;
      expect(code).toBe(0);
      expect(answeredMs).toBeLessThan(5000);
      expect(exitedMs).toBeLessThan(10_000);
      expect(server.output()).toContain('"msg":"stopped"');
      console.log(
        `entry (${onPglite ? "pglite" : "postgres"}): /healthz after ${server.startupMs} ms; long-poll answered ${Math.round(answeredMs)} ms and exit 0 ${Math.round(exitedMs)} ms after SIGTERM`,
      );
    } finally {
      server.child.kill("SIGKILL");
    }
  }, 120_000);

  test("baton serve runs the same server; baton --version prints the version", async () => {
    expect(execFileSync(process.execPath, [CLI, "--version"], { env: productionEnv({}), encoding: "utf8" }).trim()).toBe(VERSION);
    const server = await startEntry([CLI, "serve"]);
    try {
      expect(await childrenOf(server.child.pid as number)).toEqual([]);
      server.child.kill("SIGTERM");
      const [code] = await server.exited;
      expect(code).toBe(0);
    } finally {
      server.child.kill("SIGKILL");
    }
  }, 120_000);
});

interface Entry {
  child: ChildProcess;
  url: string;
  startupMs: number;
  exited: Promise<unknown[]>;
  output(): string;
}

async function startEntry(args: string[]): Promise<Entry> {
  const port = await freePort();
  const env = productionEnv({ PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "info", BATON_DATA_DIR: dataDir, KAFKA_BROKERS: "" });
  if (testDb?.url) env.DATABASE_URL = testDb.url;
  else delete env.DATABASE_URL;
  const started = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk));
  const exited = once(child, "exit");
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`no /healthz within 90 s:\n${output}`);
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { child, url, startupMs: Math.round(performance.now() - started), exited, output: () => output };
}

/** The processes `pid` started that are still running. */
async function childrenOf(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/task/${pid}/children`, "utf8")).split(" ").filter(Boolean);
}

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
