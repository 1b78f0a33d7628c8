import { type Database, type DatabaseConfig, openDatabase } from "../db/database.ts";
import { migrate } from "../db/migrate.ts";
import { DefinitionCache } from "./definition-cache.ts";
import { PollRecorder } from "./poll-recorder.ts";
import { TaskCoordinator } from "./task-coordinator.ts";
import { TaskDispatcher } from "./task-dispatcher.ts";
import { WorkflowCoordinator } from "./workflow-coordinator.ts";

export interface EngineOptions {
  /** An open database, or how to open one. */
  database: Database | DatabaseConfig;
  /** Apply pending migrations before starting (default true). */
  migrate?: boolean;
  /** How often parked acquirers look again without a NOTIFY (default 1000 ms). */
  pollIntervalMs?: number;
  /** How often this process reaps expired leases; 0 turns the reaper off (default 1000 ms). */
  reapIntervalMs?: number;
  /** At most one readiness write per worker and queue per this many ms (default 5000). */
  pollRecordIntervalMs?: number;
  /** Told when recording a worker poll failed (it is tried again on the next poll). */
  onPollRecordError?: (error: unknown, workerId: string) => void;
}

/** Everything a Baton process runs: the coordinators, the long-poll dispatcher, the lease reaper. */
export interface Engine {
  readonly database: Database;
  readonly workflows: WorkflowCoordinator;
  readonly tasks: TaskCoordinator;
  readonly dispatcher: TaskDispatcher;
  close(): Promise<void>;
}

/**
 * Opens (or takes) a database, applies migrations, and starts the dispatcher and the reaper.
 * @example const engine = await createEngine({ database: { kind: "pglite" } });
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  const ownsDatabase = !("db" in options.database);
  const database = "db" in options.database ? options.database : await openDatabase(options.database);
  if (options.migrate !== false) await migrate(database);
  const definitions = new DefinitionCache();
  const tasks = new TaskCoordinator(database.db, definitions);
  const workflows = new WorkflowCoordinator(database.db, definitions);
  const polls = new PollRecorder(database.db, options.pollRecordIntervalMs ?? 5000, options.onPollRecordError);
  const dispatcher = new TaskDispatcher(database, tasks, polls, options.pollIntervalMs ?? 1000);
  await dispatcher.start();
  const reaper = startReaper(tasks, options.reapIntervalMs ?? 1000);
  return {
    database,
    workflows,
    tasks,
    dispatcher,
    async close() {
      await reaper.stop();
      await dispatcher.stop();
      if (ownsDatabase) await database.close();
    },
  };
}

function startReaper(tasks: TaskCoordinator, intervalMs: number) {
  if (intervalMs <= 0) return { stop: async () => {} };
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    // One pass at a time; a failed pass (database down) is simply tried again next tick.
    running = running.then(() => tasks.reapExpiredLeases().catch(() => 0));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
