import { BatonError, SECRET_SAFE_LOGGING } from "@baton/contract";
import pino, { type Logger } from "pino";
import { type Database, type DatabaseConfig, openDatabase } from "../db/database.ts";
import { type DatabaseProbeFailure, probeDatabase } from "../db/database-probe.ts";
import { migrate, migrationsPending } from "../db/migrate.ts";
import { AccessCoordinator } from "./access-coordinator.ts";
import { DefinitionCache } from "./definition-cache.ts";
import { type EventsPublisher, EventsRelay, type EventsRelayOptions, type RelayLogger } from "./events-relay.ts";
import { startHousekeeping } from "./housekeeping.ts";
import { InstanceEndWaiter } from "./instance-end-waiter.ts";
import { startLeaseTableVacuum } from "./lease-table-vacuum.ts";
import { LocalHandoffs } from "./local-handoffs.ts";
import { LocalWakes } from "./local-wakes.ts";
import { startPeriodicPass } from "./periodic-pass.ts";
import { PollRecorder } from "./poll-recorder.ts";
import { ServiceRegistry } from "./service-registry.ts";
import { TaskCoordinator } from "./task-coordinator.ts";
import { TaskDispatcher } from "./task-dispatcher.ts";
import { WorkerCoordinator } from "./worker-coordinator.ts";
import { WorkflowCoordinator } from "./workflow-coordinator.ts";

export interface EngineOptions {
  /** An open database, or how to open one. */
  database: Database | DatabaseConfig;
  /** Apply pending migrations before starting (default true). */
  migrate?: boolean;
  /**
   * How often parked acquirers look again without a NOTIFY, and waits for a run's end look at
   * their instances without a commit of this process to wake them (default 1000 ms).
   */
  pollIntervalMs?: number;
  /** How often this process reaps expired leases and runs past their deadline; 0 turns the reaper off (default 1000 ms). */
  reapIntervalMs?: number;
  /**
   * At most one readiness write per worker and queue per this many ms, and one "last contact" write
   * per namespace and step name for Kafka replies (default 5000).
   */
  pollRecordIntervalMs?: number;
  /** Poll records of workers not seen for this long are deleted in the background; 0 keeps them (default one day). */
  workerRetentionMs?: number;
  /**
   * Instances finished (in a terminal state) longer ago than this are deleted in the background,
   * with their tasks, history and report keys, 500 at a time; 0 keeps them (default: 0, off).
   */
  retentionMs?: number;
  /** How often the background housekeeping pass runs (default 60,000 ms). */
  housekeepingIntervalMs?: number;
  /**
   * Where the engine reports what goes wrong in the background: failed reaper passes, instances
   * the reaper had to skip, failed poll records, a lost LISTEN connection. Default: pino at info
   * on stdout (the engine logs nothing at info while all is well).
   */
  logger?: Logger;
}

/**
 * Everything a Baton process runs: the coordinators, the long-poll dispatcher, the lease reaper.
 * The coordinators are the only way in: the database handle stays inside the engine.
 */
export interface Engine {
  /** Which database the engine runs on. */
  readonly databaseKind: DatabaseConfig["kind"];
  readonly workflows: WorkflowCoordinator;
  /** API keys and the scope of each caller. */
  readonly access: AccessCoordinator;
  readonly tasks: TaskCoordinator;
  readonly dispatcher: TaskDispatcher;
  /** Services' remembered `as: worker` registrations, and who serves a step. */
  readonly registrations: ServiceRegistry;
  /** Waits for instances to end without holding a database connection (see `workflows.waitForEnd`). */
  readonly instanceEnds: InstanceEndWaiter;
  /** Workers' polls, the open attempts per queue and who holds their leases. */
  readonly workers: WorkerCoordinator;
  /** Asks the database `SELECT 1` (liveness and readiness): null when it answers, else why not (see probeDatabase). */
  probeDatabase(): Promise<DatabaseProbeFailure | null>;
  /** The migrations not applied yet, by name (readiness). */
  migrationsPending(): Promise<string[]>;
  /**
   * A relay of the `events` table to `publish`, not started: only the replica holding the relay
   * lease publishes, and it moves the relay's cursor with the lease's fence (see EventsRelay).
   * Errors and hand-overs go to `logger` (default: the engine's).
   */
  createEventsRelay(publish: EventsPublisher, options: EventsRelayOptions & { logger?: RelayLogger }): EventsRelay;
  close(): Promise<void>;
}

/**
 * Opens (or takes) a database, applies migrations, and starts the dispatcher and the reaper.
 * Throws VALIDATION_ERROR naming the option when an option is out of range.
 * @example const engine = await createEngine({ database: { kind: "pglite" } });
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  checkOptions(options);
  const logger = options.logger ?? pino({ level: "info", base: { service: "baton" }, ...SECRET_SAFE_LOGGING });
  const ownsDatabase = !("db" in options.database);
  const database = "db" in options.database ? options.database : await openDatabase(options.database);
  if (options.migrate !== false) await migrate(database);
  const definitions = new DefinitionCache();
  const wakes = new LocalWakes();
  const handoffs = new LocalHandoffs();
  const tasks = new TaskCoordinator(database.db, definitions, logger, wakes, handoffs);
  const polls = new PollRecorder(database.db, options.pollRecordIntervalMs ?? 5000, logger);
  const registrations = new ServiceRegistry(database.db, options.pollRecordIntervalMs ?? 5000, logger);
  const dispatcher = new TaskDispatcher(database, tasks, polls, options.pollIntervalMs ?? 1000, logger, wakes, handoffs);
  const instanceEnds = new InstanceEndWaiter(database.db, tasks, options.pollIntervalMs ?? 1000, logger);
  const workflows = new WorkflowCoordinator(database.db, definitions, instanceEnds, wakes, handoffs);
  await dispatcher.start();
  const reapIntervalMs = options.reapIntervalMs ?? 1000;
  // One pass for what runs out with time: expired leases, then runs past their deadline.
  const reap = async () => {
    await tasks.reapExpiredLeases();
    await workflows.expireDeadlines();
  };
  const reaper = reapIntervalMs > 0 ? startPeriodicPass("lease reaper", reapIntervalMs, reap, logger) : null;
  const leaseVacuum = database.kind === "postgres" ? startLeaseTableVacuum(database.db, () => tasks.leasesHandedOut, logger) : null;
  const housekeeping = startHousekeeping(
    database.db,
    {
      intervalMs: options.housekeepingIntervalMs ?? 60_000,
      workerRetentionMs: options.workerRetentionMs ?? 86_400_000,
      retentionMs: options.retentionMs ?? 0,
    },
    logger,
  );
  return {
    databaseKind: database.kind,
    workflows,
    access: new AccessCoordinator(database.db),
    tasks,
    dispatcher,
    registrations,
    instanceEnds,
    workers: new WorkerCoordinator(database.db),
    probeDatabase: () => probeDatabase(database),
    migrationsPending: () => migrationsPending(database),
    createEventsRelay: (publish, { logger: relayLogger = logger, ...relayOptions }) =>
      new EventsRelay(database.db, publish, relayLogger, relayOptions),
    async close() {
      instanceEnds.stop();
      await reaper?.stop();
      await leaseVacuum?.stop();
      await housekeeping?.stop();
      await dispatcher.stop();
      await polls.settled();
      await registrations.settled();
      if (ownsDatabase) await database.close();
    },
  };
}

/** The longest delay a Node timer honours; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function checkOptions(options: EngineOptions): void {
  const database = options?.database as Partial<Database & DatabaseConfig> | undefined;
  const opened = typeof database?.db === "object";
  const config = database?.kind === "pglite" || (database?.kind === "postgres" && typeof database.url === "string" && database.url !== "");
  if (!opened && !config) {
    invalid("database", 'must be an open Database, { kind: "postgres", url } or { kind: "pglite", dataDir? }', database);
  }
  if (options.migrate !== undefined && typeof options.migrate !== "boolean") invalid("migrate", "must be true or false", options.migrate);
  checkInterval("pollIntervalMs", options.pollIntervalMs, 1);
  checkInterval("reapIntervalMs", options.reapIntervalMs, 0);
  checkInterval("pollRecordIntervalMs", options.pollRecordIntervalMs, 1);
  checkInterval("workerRetentionMs", options.workerRetentionMs, 0);
  checkInterval("housekeepingIntervalMs", options.housekeepingIntervalMs, 1);
  // An age, not a timer: years are fine.
  checkInterval("retentionMs", options.retentionMs, 0, Number.MAX_SAFE_INTEGER);
  const logger = options.logger as Partial<Logger> | undefined;
  if (logger !== undefined && (typeof logger.error !== "function" || typeof logger.warn !== "function")) {
    invalid("logger", "must be a pino logger", typeof logger);
  }
}

function checkInterval(field: string, value: number | undefined, min: number, max = MAX_TIMER_MS): void {
  if (value === undefined || (typeof value === "number" && Number.isFinite(value) && value >= min && value <= max)) return;
  invalid(field, `must be a number of milliseconds from ${min}${min === 0 ? " (off)" : ""} to ${max}`, value);
}

function invalid(field: string, rule: string, value: unknown): never {
  throw new BatonError("VALIDATION_ERROR", `createEngine: ${field} ${rule}; got ${describe(value)}`, { field });
}

function describe(value: unknown): string {
  if (typeof value === "number" || typeof value === "boolean" || value === undefined || value === null) return String(value);
  return typeof value === "string" ? JSON.stringify(value) : typeof value;
}
