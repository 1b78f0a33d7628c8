import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { createClient, createWorker, silentLogger, type Worker } from "../src/index.ts";
import { type Connection, connectTo, TRANSPORT_MODES, uniqueName } from "./support/harness.ts";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const STALLING_WORKER = fileURLToPath(new URL("./fixtures/stalling-worker.ts", import.meta.url));

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine?.destroy());

describe.each(TRANSPORT_MODES)("a worker process killed mid-task (%s)", (mode) => {
  // In-process, the child opens its own engine on the test database: an in-memory PGlite
  // database cannot be shared with another process, so that case runs on Postgres only.
  const skip = mode === "in-process" && onPglite;
  let connection: Connection;
  let child: ChildProcess | undefined;
  let rescuer: Worker | undefined;

  beforeAll(async () => {
    connection = await connectTo(engine, mode);
  });
  afterAll(async () => {
    child?.kill("SIGKILL");
    await rescuer?.stop({ deadlineMs: 0 });
    await connection?.close();
  });

  it.skipIf(skip)("loses its lease once heartbeats stop, and another worker finishes the task", async () => {
    const client = createClient(connection.options);
    const workflow = uniqueName("crash");
    await client.register({ name: workflow, steps: [{ name: "work", leaseMs: 500, retry: { maxAttempts: 2, backoffMs: 0 } }] });
    const { instanceId } = await client.start(workflow, { input: { tenant: "acme" } });

    child = spawn(process.execPath, ["--import", "tsx", STALLING_WORKER], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        BATON_WORKFLOW: workflow,
        ...("url" in connection.options ? { BATON_URL: connection.options.url } : { BATON_DATABASE_URL: engine.testDb.url }),
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise((resolve) => child?.once("exit", resolve));
    const started = await firstLine(child);
    const { started: executionId, workerId: crashedWorkerId } = JSON.parse(started) as { started: string; workerId: string };

    child.kill("SIGKILL");
    await exited;

    // Nobody heartbeats any more: within leaseMs the lease runs out and the reaper takes it back.
    while ((await engine.tasks.reapExpiredLeases()) === 0) await new Promise((resolve) => setTimeout(resolve, 50));

    rescuer = createWorker({
      ...connection.options,
      workflow,
      logger: silentLogger,
      handlers: { work: (ctx) => ({ by: "rescuer", ...ctx.input }) },
    });
    const done = await client.waitFor(instanceId, "COMPLETED", { timeoutMs: 20_000 });
    expect(done.output).toEqual({ work: { by: "rescuer", tenant: "acme" } });
    expect(done.tasks.map((t) => [t.attempt, t.state, t.leaseHolder])).toEqual([
      [1, "TIMED_OUT", crashedWorkerId],
      [2, "COMPLETED", rescuer.id],
    ]);
    expect(done.tasks[0]?.executionId).toBe(executionId);
  });
});

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!child.stdout) return reject(new Error("child has no stdout"));
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => {
      lines.close();
      resolve(line);
    });
    child.once("exit", (code, signal) => reject(new Error(`worker process exited (${code ?? signal}) before starting a task`)));
  });
}
