import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireOne, type Harness, startHarness, uniqueWorkflow } from "../http-harness.ts";
import { runCli } from "./run-cli.ts";

// `baton` as a user runs it: a subprocess talking to a real server over HTTP (Postgres and PGlite).
// Each command is a tsx process (about a second of CPU): generous timeouts for a loaded machine.
describe("baton CLI", { timeout: 180_000 }, () => {
  let h: Harness;
  let dir: string;
  const cli = (...args: string[]) => runCli(h.url, args);

  beforeAll(async () => {
    h = await startHarness();
    dir = await mkdtemp(join(tmpdir(), "baton-cli-"));
  });
  afterAll(async () => {
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("registers a YAML definition, lists and describes it with its readiness", async () => {
    const { name, queue } = uniqueWorkflow("cli");
    const file = join(dir, "wf.yaml");
    await writeFile(file, `name: ${name}\nsteps:\n  - name: charge\n    queue: ${queue}\n    undo: true\n`);
    const registered = await cli("workflows", "register", file);
    expect(registered).toMatchObject({ code: 0, stdout: `default/${name} version 1: registered\n` });
    expect((await cli("workflows", "register", file)).stdout).toContain("unchanged");

    const list = await cli("workflows", "list");
    expect(list.stdout).toMatch(/^NAMESPACE\s+NAME\s+VERSION\s+TYPE\s+STEPS\s+READY/);
    expect(list.stdout).toMatch(new RegExp(`default\\s+${name}\\s+1\\s+sequential\\s+1\\s+no`));

    const described = await cli("workflows", "describe", name);
    expect(described.code).toBe(0);
    expect(described.stdout).toContain(`workflow:    default/${name}`);
    expect(described.stdout).toMatch(new RegExp(`charge\\s+${queue.replace(/\./g, "\\.")}\\s+worker`));
    expect(described.stdout).toMatch(/served by/i);
    expect(described.stdout).toContain("nobody");
  });

  it("starts a run, describes its attempt with worker, fence and lease, pauses, resumes and cancels it", async () => {
    const { name, queue } = uniqueWorkflow("cli");
    await h.call("POST", "/v1/workflows", { name, steps: [{ name: "work", queue }] });
    const started = await cli("runs", "start", name, "--run-id", "order-1", "--input", '{"order": 7}', "--json");
    expect(started.code).toBe(0);
    const { instanceId, created } = JSON.parse(started.stdout);
    expect(created).toBe(true);
    const again = await cli("runs", "start", name, "--run-id", "order-1", "--input", '{"order": 7}');
    expect(again.stdout).toContain("no: a run with this runId already existed");

    const task = await acquireOne(h, queue, "worker-7");
    const described = await cli("runs", "describe", instanceId);
    expect(described.code).toBe(0);
    expect(described.stdout).toContain("state:    RUNNING");
    expect(described.stdout).toContain('input:    {"order":7}');
    const attempt = described.stdout.split("\n").find((line) => /^work\s+DO\s+1\/3\s+LEASED\s/.test(line));
    expect(attempt).toContain("worker-7");
    expect(attempt).toContain(String(task.fenceToken));
    expect(attempt).toContain(task.leaseExpiresAt.replace("T", " ").replace("Z", ""));
    expect(described.stdout).toMatch(/#\s+1\s+WORKFLOW_STARTED/);

    expect(await cli("runs", "pause", instanceId)).toMatchObject({ code: 0, stdout: `${instanceId}: PAUSED\n` });
    const refused = await cli("runs", "pause", instanceId);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: INVALID_STATE: /);
    expect((await cli("runs", "resume", instanceId)).stdout).toBe(`${instanceId}: RUNNING\n`);
    expect((await cli("runs", "cancel", instanceId)).stdout).toBe(`${instanceId}: CANCELLED\n`);

    const listed = await cli("runs", "list", "--workflow", name, "--state", "CANCELLED", "--json");
    expect(JSON.parse(listed.stdout).items.map((i: { instanceId: string }) => i.instanceId)).toEqual([instanceId]);
    const events = await cli("runs", "events", instanceId, "--follow");
    const types = events.stdout
      .trim()
      .split("\n")
      .map((line) => line.match(/#\s*\d+\s+(\S+)/)?.[1]);
    expect(types).toEqual([
      "WORKFLOW_STARTED",
      "TASK_SCHEDULED",
      "WORKFLOW_PAUSED",
      "WORKFLOW_RESUMED",
      "TASK_CANCELLED",
      "WORKFLOW_CANCELLED",
    ]);
  });

  it("retries a failed step of a FAILED run", async () => {
    const { name, queue } = uniqueWorkflow("cli");
    await h.call("POST", "/v1/workflows", { name, steps: [{ name: "work", queue, retry: { maxAttempts: 1 } }] });
    const { instanceId } = JSON.parse((await cli("runs", "start", name, "--json")).stdout);
    const task = await acquireOne(h, queue);
    await h.call("POST", `/v1/tasks/${task.executionId}/fail`, {
      workerId: "w1",
      fenceToken: task.fenceToken,
      error: { message: "card declined" },
    });
    const described = await cli("runs", "describe", instanceId);
    expect(described.stdout).toContain("state:    FAILED");
    expect(described.stdout).toMatch(/work\s+DO\s+1\/1\s+FAILED\s+w1\s+\d+.*card declined/);

    const retried = await cli("runs", "retry", instanceId, "work", "--input", '{"card": "new"}');
    expect(retried.code).toBe(0);
    expect(retried.stdout).toMatch(/^work \(DO\) scheduled again as attempt 2: [0-9a-f-]{36}\n$/);
    expect((await h.call("GET", `/v1/instances/${instanceId}`)).body.state).toBe("RUNNING");
  });

  it("answers the short top-level forms: register, workflows, start, list, get, events", async () => {
    const { name, queue } = uniqueWorkflow("cli");
    const file = join(dir, "short.json");
    await writeFile(file, JSON.stringify({ name, steps: [{ name: "only", queue }] }));
    expect(await cli("register", file)).toMatchObject({ code: 0, stdout: `default/${name} version 1: registered\n` });
    expect((await cli("workflows")).stdout).toMatch(new RegExp(`default\\s+${name}\\s+1\\s+sequential`));
    const started = await cli("start", name, "--run-id", "short-1", "--json");
    const { instanceId } = JSON.parse(started.stdout);
    expect((await cli("list", "--workflow", name)).stdout).toContain(instanceId);
    expect((await cli("get", instanceId)).stdout).toContain("state:    RUNNING");
    expect((await cli("events", instanceId)).stdout).toMatch(/#\s*1\s+WORKFLOW_STARTED/);
  });

  it("says what is wrong with the command line (exit 2) and what the API refused (exit 1)", async () => {
    const notObject = await cli("runs", "start", "x", "--input", "[1]");
    expect(notObject.code).toBe(2);
    expect(notObject.stderr).toContain("--input: expected a JSON object, got an array");
    const badState = await cli("runs", "list", "--state", "DONE");
    expect(badState.code).toBe(2);
    expect(badState.stderr).toContain("Allowed choices are RUNNING, PAUSED");
    const unknown = await cli("workflows", "describe", "no-such-workflow");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: NOT_FOUND: .*no-such-workflow/);
    const down = await runCli("http://127.0.0.1:9", ["runs", "list"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^error: UNAVAILABLE: /);
    for (const args of [["--help"], ["runs", "describe", "--help"]]) {
      const help = await cli(...args);
      expect(help.code, args.join(" ")).toBe(0);
      expect(help.stdout).toMatch(/^Usage: baton/);
    }
  });

  // Last: the first key turns authentication on for this server.
  it("creates a key (its token printed once), lists and revokes keys with it, and names a missing key", async () => {
    const created = await cli("keys", "create", "--name", "ops", "--role", "admin", "--json");
    expect(created.code).toBe(0);
    const { key, token } = JSON.parse(created.stdout);
    expect(token).toMatch(/^baton_[0-9a-f]{16}_/);

    const anonymous = await cli("keys", "list");
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain("error: UNAUTHORIZED: ");
    expect(anonymous.stderr).toContain("set BATON_API_KEY or pass --api-key");

    const withKey = (...args: string[]) => runCli(h.url, args, { BATON_API_KEY: token });
    const starter = await withKey("keys", "create", "--name", "ci", "--role", "starter", "--namespace", "billing");
    expect(starter.stdout).toMatch(/Token \(shown only now[^\n]*\n\n {2}baton_[0-9a-f]{16}_\S+\n$/);
    const listed = await withKey("keys", "list");
    expect(listed.stdout).toMatch(new RegExp(`${key.keyId}\\s+ops\\s+admin`));
    expect(listed.stdout).toMatch(/ci\s+starter\s+billing/);
    const ciKey = listed.stdout.match(/^([0-9a-f]{16})\s+ci\s/m)?.[1] as string;
    const revoked = await runCli(h.url, ["--api-key", token, "keys", "revoke", ciKey]);
    expect(revoked.stdout).toMatch(new RegExp(`^${ciKey} \\(ci\\) revoked at \\d{4}-`));
  });
});
