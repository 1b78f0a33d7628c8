import { type ChildProcess, spawn } from "node:child_process";
import { openSync } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const API_ENTRY = "packages/api/src/main.ts";

/** What a fleet of workers runs, and how its processes and their evidence files are named. */
export interface WorkerKind {
  entry: string;
  /** `chaos-<slot><index>-g<generation>` is a process's worker id. */
  slot: string;
  /** Its evidence file is `<evidence>-<worker id>.jsonl` (what baton-check reads by that prefix). */
  evidence: string;
  /** Its output goes to `<log>-<index>.log`. */
  log: string;
}

/** SDK workers over HTTP, logging every report they send. */
export const SDK_WORKERS: WorkerKind = { entry: "chaos/src/worker-process.ts", slot: "w", evidence: "reports", log: "worker" };
/** Kafka services, logging every command they read and every reply they send. */
export const KAFKA_SERVICES: WorkerKind = {
  entry: "chaos/src/kafka-worker-process.ts",
  slot: "k",
  evidence: "kafka",
  log: "kafka-service",
};

/** Every child still running, so an interrupted run leaves nothing behind. */
const children = new Set<ChildProcess>();

/** `node --import tsx <script>` from the repository root, its output appended to `logFile`. */
function spawnTypeScript(script: string, env: Record<string, string>, logFile: string): ChildProcess {
  const out = openSync(logFile, "a");
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", out, out],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export function killAllChildren(): void {
  for (const child of children) {
    child.kill("SIGCONT");
    child.kill("SIGKILL");
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** One slot of a fleet: the process in it now, replaced when it is killed and started again. */
interface Slot {
  index: number;
  generation: number;
  child: ChildProcess | undefined;
  stalled: boolean;
  restarting?: boolean;
}

/** Baton API processes on fixed ports, so a restarted one answers where the old one did. */
export class ApiFleet {
  private readonly slots: Slot[];
  private readonly restarts = new Set<Promise<void>>();

  constructor(
    readonly ports: number[],
    private readonly databaseUrl: string,
    private readonly runDir: string,
    private readonly extraEnv: Record<string, string> = {},
  ) {
    this.slots = ports.map((_, index) => ({ index, generation: 0, child: undefined, stalled: false }));
  }

  get urls(): string[] {
    return this.ports.map((p) => `http://127.0.0.1:${p}`);
  }

  async startAll(): Promise<void> {
    await Promise.all(this.slots.map((s) => this.start(s)));
  }

  /** Starts the slot's process, trying again while it cannot start (Postgres restarting, say). */
  private async start(slot: Slot): Promise<void> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.startOnce(slot);
      } catch (error) {
        slot.child?.kill("SIGKILL");
        if (tries >= 10) throw error;
        await sleep(500);
      }
    }
  }

  private async startOnce(slot: Slot): Promise<void> {
    const port = this.ports[slot.index] as number;
    const url = new URL(this.databaseUrl);
    url.searchParams.set("application_name", `baton-api-${slot.index}`);
    slot.generation++;
    slot.child = spawnTypeScript(
      API_ENTRY,
      { PORT: String(port), HOST: "127.0.0.1", DATABASE_URL: url.toString(), LOG_LEVEL: "warn", KAFKA_BROKERS: "", ...this.extraEnv },
      join(this.runDir, `api-${slot.index}.log`),
    );
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, slot.child);
  }

  /** How many API processes are up (not being restarted). */
  get up(): number {
    return this.slots.filter((s) => !s.restarting).length;
  }

  /**
   * SIGKILLs one API process and starts it again in the background (the new one takes a while to
   * be ready; meanwhile the others serve). Resolves once it is killed; `onBack` runs when the new
   * one is ready.
   */
  async kill(index: number, downMs: number, onBack: () => void): Promise<void> {
    const slot = this.slots[index] as Slot;
    if (slot.restarting) return;
    const child = slot.child;
    slot.restarting = true;
    if (child) {
      child.kill("SIGKILL");
      await exited(child);
    }
    this.restarts.add(
      sleep(downMs)
        .then(() => this.start(slot))
        .then(onBack)
        .catch((error: unknown) => console.error(`API ${index} did not start again:`, String(error)))
        .finally(() => {
          slot.restarting = false;
        }),
    );
  }

  /** Waits for restarts under way. */
  async settled(): Promise<void> {
    await Promise.all(this.restarts);
  }

  async stopAll(): Promise<void> {
    await this.settled();
    await Promise.all(this.slots.map((s) => stopGracefully(s.child, 10_000)));
  }
}

/** Chaos worker processes of one kind; each start is a new worker id and a new evidence log. */
export class WorkerFleet {
  private readonly slots: Slot[];

  constructor(
    count: number,
    private readonly env: Record<string, string>,
    private readonly runDir: string,
    private readonly kind: WorkerKind = SDK_WORKERS,
  ) {
    this.slots = Array.from({ length: count }, (_, index) => ({ index, generation: 0, child: undefined, stalled: false }));
  }

  get size(): number {
    return this.slots.length;
  }

  startAll(): void {
    for (const slot of this.slots) this.start(slot);
  }

  private start(slot: Slot): void {
    slot.generation++;
    slot.stalled = false;
    slot.child = spawnTypeScript(
      this.kind.entry,
      { ...this.env, CHAOS_WORKER_ID: this.workerId(slot), CHAOS_REPORTS_FILE: this.reportFile(slot) },
      join(this.runDir, `${this.kind.log}-${slot.index}.log`),
    );
  }

  private workerId(slot: Slot): string {
    return `chaos-${this.kind.slot}${slot.index}-g${slot.generation}`;
  }

  private reportFile(slot: Slot): string {
    return join(this.runDir, `${this.kind.evidence}-${this.workerId(slot)}.jsonl`);
  }

  /** Resolves once every worker runs (its evidence log has its first line). */
  async waitReady(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const slot of this.slots) {
      for (;;) {
        const size = await stat(this.reportFile(slot)).then(
          (s) => s.size,
          () => 0,
        );
        if (size > 0) break;
        if (Date.now() > deadline) throw new Error(`worker ${slot.index} did not start within ${timeoutMs} ms`);
        await sleep(200);
      }
    }
  }

  /** SIGKILLs a worker mid-step and starts a fresh one in its place. */
  async killAndRestart(index: number): Promise<void> {
    const slot = this.slots[index] as Slot;
    const child = slot.child;
    if (child) {
      child.kill("SIGKILL");
      await exited(child);
    }
    this.start(slot);
  }

  /**
   * Freezes a worker (SIGSTOP) for `ms`, as a long GC pause or a partition would: no heartbeats,
   * its leases run out, then it wakes up (SIGCONT) and carries on with what it held.
   */
  async stall(index: number, ms: number): Promise<boolean> {
    const slot = this.slots[index] as Slot;
    const child = slot.child;
    if (!child || slot.stalled) return false;
    slot.stalled = true;
    child.kill("SIGSTOP");
    await sleep(ms);
    child.kill("SIGCONT");
    slot.stalled = false;
    return true;
  }

  wakeAll(): void {
    for (const slot of this.slots) slot.child?.kill("SIGCONT");
  }

  async stopAll(): Promise<void> {
    this.wakeAll();
    await Promise.all(this.slots.map((s) => stopGracefully(s.child, 10_000)));
  }
}

async function stopGracefully(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited(child);
  clearTimeout(timer);
}

async function waitForHttp(url: string, child: ChildProcess, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${url}: the process exited before it was ready`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {}
    await sleep(100);
  }
  throw new Error(`${url}: not ready within ${timeoutMs} ms`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
