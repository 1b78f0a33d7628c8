import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { loadConfig, type RunningServer, startServer } from "@baton/api";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureBuilt, productionEnv, REPO_ROOT } from "../../../test-support/build.ts";
import { onPglite } from "../../../test-support/database.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { postgresReachable } from "../../../test-support/postgres.ts";

/*
 * The worker SDK as a service outside this repository gets it: `pnpm pack` of @baton/worker-sdk and
 * of @baton/contract (the wire contract it shares with the server), `npm install` of the two
 * tarballs into a fresh directory (the rest comes from the npm registry, or npm's cache), then an
 * ES module, a CommonJS script and a TypeScript caller, each run by plain node against a real Baton:
 * register, start, a worker that completes the step, the run COMPLETED. Under this Node (20) and,
 * when BATON_NODE22 names a Node 22 binary (.ci/run installs one from npm), under Node 22 too. What
 * got installed has no database driver: the SDK needs no engine.
 */
const run = promisify(execFile);
const NODE22 = process.env.BATON_NODE22;
// It tests the packages, not a database: once per run, on Postgres when there is one.
const here = onPglite ? !(await postgresReachable()) : true;

const CALLER = (loader: string) => `${loader}
const url = process.argv[2];
const name = process.argv[3];
(async () => {
  const client = createClient({ url });
  await client.register({ name, type: "sequential", steps: [{ name: "greet" }] });
  const worker = createWorker({ url, workflow: name, logger: silentLogger, handlers: { greet: async ({ input }) => ({ hello: input.who }) } });
  const { instanceId } = await client.start(name, { input: { who: "packed" } });
  const done = await client.waitFor(instanceId, ["COMPLETED", "FAILED"], { timeoutMs: 30000 });
  await worker.stop();
  console.log(JSON.stringify({ state: done.state, output: done.output }));
})().catch((error) => { console.error(error); process.exit(1); });
`;

const TYPED_CALLER = `import { createClient, createWorker, type InstanceView, type Worker } from "@baton/worker-sdk";
const client = createClient({ url: "http://127.0.0.1:8080" });
const worker: Worker = createWorker({ url: "http://127.0.0.1:8080", workflow: "w", handlers: { s: async () => ({ ok: true }) } });
export async function state(id: string): Promise<InstanceView["state"]> {
  await worker.stop();
  return (await client.get(id)).state;
}
`;

let project: string;
let engine: TestEngine;
let server: RunningServer;

beforeAll(async () => {
  if (!here) return;
  await ensureBuilt();
  project = await mkdtemp(join(tmpdir(), "baton-sdk-consumer-"));
  const tarballs = join(project, "tarballs");
  for (const pkg of ["contract", "worker-sdk"]) {
    await run("pnpm", ["pack", "--pack-destination", tarballs], { cwd: join(REPO_ROOT, "packages", pkg) });
  }
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "sdk-consumer", version: "1.0.0", private: true }));
  const packed = (await readdir(tarballs)).map((file) => join(tarballs, file));
  // @types/node as a TypeScript service has it: the SDK's Kafka worker exposes kafkajs's types.
  const install = ["install", "--no-audit", "--no-fund", "--prefer-offline", ...packed, "@types/node@20"];
  await run("npm", install, { cwd: project, env: productionEnv({}) });
  await writeFile(join(project, "caller.mjs"), CALLER('import { createClient, createWorker, silentLogger } from "@baton/worker-sdk";'));
  await writeFile(
    join(project, "caller.cjs"),
    CALLER('const { createClient, createWorker, silentLogger } = require("@baton/worker-sdk");'),
  );
  await writeFile(join(project, "typed.mts"), TYPED_CALLER);
  engine = await createTestEngine();
  server = await startServer(loadConfig({ PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent" }), { engine });
}, 300_000);

afterAll(async () => {
  await server?.close();
  await engine?.destroy();
  if (project) await rm(project, { recursive: true, force: true });
});

describe.skipIf(!here)("the packed worker SDK in a fresh project", () => {
  const nodes = [
    { label: `Node ${process.versions.node}`, node: process.execPath },
    ...(NODE22 ? [{ label: "Node 22", node: NODE22 }] : []),
  ];
  for (const { label, node } of nodes) {
    for (const caller of ["caller.mjs", "caller.cjs"]) {
      test(`${caller} under ${label}: a worker completes a run`, async () => {
        const name = `packed_${caller.replace(".", "_")}_${label.replace(/\W/g, "")}`;
        const { stdout } = await run(node, [caller, server.url, name], { cwd: project, env: productionEnv({}) });
        expect(JSON.parse(stdout)).toEqual({ state: "COMPLETED", output: { greet: { hello: "packed" } } });
      }, 60_000);
    }
  }

  if (!NODE22) test.skip("under Node 22: skipped, BATON_NODE22 names no Node 22 binary (.ci/run installs one from npm)", () => {});

  test("its production dependency tree has no engine and no database driver", async () => {
    const { stdout } = await run("npm", ["ls", "--omit=dev", "--all", "--json"], { cwd: project, env: productionEnv({}) });
    const installed = packageNames(JSON.parse(stdout));
    expect(installed).toEqual(expect.arrayContaining(["@baton/worker-sdk", "@baton/contract", "kafkajs", "zod"]));
    expect(installed.filter((name) => DATABASE_CODE.test(name))).toEqual([]);
  });

  test("its type declarations serve a strict TypeScript caller", async () => {
    const tsconfig = {
      compilerOptions: {
        module: "nodenext",
        moduleResolution: "nodenext",
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        lib: ["ES2023", "DOM"],
        types: [],
      },
      files: ["typed.mts"],
    };
    await writeFile(join(project, "tsconfig.json"), JSON.stringify(tsconfig));
    const tsc = run(process.execPath, [join(REPO_ROOT, "node_modules/typescript/bin/tsc"), "-p", project], { cwd: project });
    await tsc.catch((error: { stdout?: string }) => expect.fail(`tsc found errors:\n${error.stdout}`));
  }, 60_000);
});

/** The engine and what it brings: the Postgres driver (pg, pg-pool, ...), PGlite, Kysely and its PGlite dialect. */
const DATABASE_CODE = /^(@baton\/engine|pg|pg-.+|@electric-sql\/pglite.*|kysely.*)$/;

interface NpmTree {
  dependencies?: Record<string, NpmTree>;
}

/** Every package name in `npm ls --json`'s tree, each once. */
function packageNames(tree: NpmTree): string[] {
  const names = new Set<string>();
  const walk = (node: NpmTree) => {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      names.add(name);
      walk(child);
    }
  };
  walk(tree);
  return [...names].sort();
}
