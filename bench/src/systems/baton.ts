import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BatonError, createEngine, type Engine } from "@baton/engine";
import { directDb, instanceCountByState, openDatabase } from "@baton/engine/internal";
import { Countdown, Tally, untilCounted } from "../bookkeeping.ts";
import type { PgServer } from "../database.ts";
import { LostWorkError } from "../figure.ts";
import { perSecond } from "../measure.ts";

/** A one-step workflow: its queue is `bench.work`. */
export const ONE_STEP = { name: "bench", steps: [{ name: "work" }] };
export const ONE_STEP_QUEUES = ["bench.work"];

/** A 3-step sequential saga whose steps all have an UNDO (`<queue>.undo`). */
export function sagaDefinition(name: string) {
  return { name, type: "sequential", steps: ["a", "b", "c"].map((step) => ({ name: step, undo: true })) };
}
export function sagaQueues(name: string): string[] {
  return ["a", "b", "c"].flatMap((step) => [`${name}.${step}`, `${name}.${step}.undo`]);
}

export type BatonStore = { kind: "postgres"; url: string; pool: number } | { kind: "pglite"; dataDir: string };

/**
 * A fresh place for one Baton run: a new database on the server, or a new PGlite data directory
 * in the temp dir; removed afterwards either way.
 */
export async function withBatonStore<T>(
  server: PgServer,
  kind: BatonStore["kind"],
  pool: number,
  fn: (store: BatonStore) => Promise<T>,
): Promise<T> {
  if (kind === "postgres") return server.withFreshDatabase("baton", (url) => fn({ kind, url, pool }));
  const dataDir = await mkdtemp(join(tmpdir(), "baton-bench-pglite-"));
  try {
    return await fn({ kind, dataDir });
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** An engine as an application embeds it (migrations applied, dispatcher and reaper running). */
export function openBaton(store: BatonStore): Promise<Engine> {
  return createEngine({
    database:
      store.kind === "postgres" ? { kind: "postgres", url: store.url, poolSize: store.pool } : { kind: "pglite", dataDir: store.dataDir },
  });
}

/** Starts `count` runs with startMany, `chunk` runs per call, one call at a time; every run must be new. */
export async function startRuns(
  engine: Engine,
  workflow: string,
  count: number,
  chunk: number,
  input: (i: number) => Record<string, unknown> = (i) => ({ i }),
  runIdPrefix = "r",
): Promise<void> {
  for (let from = 0; from < count; from += chunk) {
    const runs = Array.from({ length: Math.min(chunk, count - from) }, (_, k) => ({
      runId: `${runIdPrefix}${from + k}`,
      input: input(from + k),
    }));
    const answers = await engine.workflows.startMany({ workflow, runs });
    const refused = answers.find((a) => a instanceof BatonError);
    if (refused) throw new LostWorkError(`startMany refused a run: ${(refused as BatonError).code} ${(refused as BatonError).message}`);
    if (answers.some((a) => !(a instanceof BatonError) && !a.created))
      throw new LostWorkError("startMany answered an existing run for a new runId");
  }
}

export interface EngineLoopOptions {
  queues: string[];
  loops: number;
  batch: number;
  /** The loops stop once this is aborted. */
  signal: AbortSignal;
  /** Sees each acquired task; true fails it (non-retryable) instead of completing it. */
  onTask?: (task: { taskId: string; kind: string; input: unknown }) => boolean;
  /** Told how many outcomes each completeMany / failMany call had accepted. */
  onAccepted?: (n: number) => void;
}

/**
 * The in-process hot path with no SDK: `loops` concurrent loops, each acquiring up to `batch`
 * tasks and reporting them with one completeMany (and one failMany for the failures).
 */
export async function runEngineLoops(engine: Engine, options: EngineLoopOptions): Promise<void> {
  await Promise.all(
    Array.from({ length: options.loops }, async (_, n) => {
      const workerId = `bench-loop-${n}`;
      while (!options.signal.aborted) {
        const tasks = await engine.tasks.acquire({ queues: options.queues, workerId, max: options.batch });
        if (tasks.length === 0) {
          // Nothing runnable right now (the next step of a saga is not yet written): look again soon.
          await new Promise((resolve) => setTimeout(resolve, 2));
          continue;
        }
        const toComplete = [];
        const toFail = [];
        for (const task of tasks) {
          const lease = { executionId: task.executionId, workerId, fenceToken: task.fenceToken };
          if (options.onTask?.(task)) toFail.push({ ...lease, error: { message: "bench: planned failure" }, retryable: false });
          else toComplete.push({ ...lease, output: { ok: true } });
        }
        const answers = [
          ...(toComplete.length > 0 ? await engine.tasks.completeMany(toComplete) : []),
          ...(toFail.length > 0 ? await engine.tasks.failMany(toFail) : []),
        ];
        const refused = answers.find((a) => a instanceof BatonError);
        if (refused) throw new LostWorkError(`an outcome was refused: ${(refused as BatonError).code} ${(refused as BatonError).message}`);
        options.onAccepted?.(answers.length);
      }
    }),
  );
}

/** Instances by state. */
export async function instanceStates(engine: Engine): Promise<Record<string, number>> {
  return engine.workflows.countInstancesByState();
}

/**
 * Instances by state on a Baton database (opened just for this when given a URL). Throws
 * LostWorkError unless they are exactly `expected`.
 */
export async function expectInstanceStates(target: Engine | string, expected: Record<string, number>, what: string): Promise<void> {
  const counts = typeof target === "string" ? await instanceStatesAt(target) : await instanceStates(target);
  const states = new Set([...Object.keys(counts), ...Object.keys(expected)]);
  const wrong = [...states].filter((s) => (counts[s] ?? 0) !== (expected[s] ?? 0));
  if (wrong.length > 0) {
    throw new LostWorkError(`${what}: instances by state ${JSON.stringify(counts)}, expected ${JSON.stringify(expected)}`);
  }
}

/** Instances by state on the Baton database at `url`, which no engine of this process runs on (a server's). */
async function instanceStatesAt(url: string): Promise<Record<string, number>> {
  const database = await openDatabase({ kind: "postgres", url, poolSize: 1 });
  try {
    return await instanceCountByState(directDb(database));
  } finally {
    await database.close();
  }
}

/** Drains `n` pending one-step tasks with engine loops; returns tasks/s. */
export async function drainWithLoops(engine: Engine, n: number, loops: number, batch: number): Promise<number> {
  const tally = new Tally(n);
  const accepted = new Countdown(n);
  const stop = new AbortController();
  const running = runEngineLoops(engine, {
    queues: ONE_STEP_QUEUES,
    loops,
    batch,
    signal: stop.signal,
    onTask: (task) => {
      tally.mark((task.input as { i?: unknown }).i);
      return false;
    },
    onAccepted: (k) => accepted.add(k),
  });
  try {
    const end = await Promise.race([untilCounted("Baton drain", accepted), running.then(() => Number.NaN)]);
    tally.verify("Baton drain");
    await expectInstanceStates(engine, { COMPLETED: n }, "Baton drain");
    return perSecond(n, tally.firstAt, end);
  } finally {
    stop.abort();
    await running.catch(() => {});
  }
}
