import type { Db } from "../db/database.ts";
import { instancePruneFinished } from "../store/retention.ts";
import { workerPruneStale } from "../store/workers.ts";
import { type PassLogger, type PeriodicPass, startPeriodicPass } from "./periodic-pass.ts";

export interface HousekeepingOptions {
  /** How often the pass runs. */
  intervalMs: number;
  /** Poll records of workers not seen for this long are deleted; 0 keeps them. */
  workerRetentionMs: number;
  /** Instances finished this long ago are deleted with their tasks and history; 0 keeps them. */
  retentionMs: number;
}

/** Rows (or instances) per delete: each statement stays short beside the hot path's writes. */
export const HOUSEKEEPING_BATCH = 500;

/**
 * Deletes what the database would otherwise keep forever, in small batches, one pass at a time:
 * the poll records of workers long gone and, when retention is on, finished instances. Returns
 * null when there is nothing to do.
 */
export function startHousekeeping(db: Db, options: HousekeepingOptions, logger: PassLogger): PeriodicPass | null {
  if (options.workerRetentionMs <= 0 && options.retentionMs <= 0) return null;
  return startPeriodicPass("housekeeping", options.intervalMs, () => housekeep(db, options), logger);
}

async function housekeep(db: Db, options: HousekeepingOptions): Promise<void> {
  if (options.workerRetentionMs > 0) await pruneWorkers(db, options.workerRetentionMs);
  if (options.retentionMs > 0) await pruneFinishedInstances(db, options.retentionMs);
}

/** Deletes stale worker poll records batch by batch until none is left; returns how many. */
export function pruneWorkers(db: Db, olderThanMs: number): Promise<number> {
  return inBatches((batch) => workerPruneStale(db, { olderThanMs, batch }));
}

/** Deletes instances finished longer than `olderThanMs` ago, batch by batch; returns how many. */
export function pruneFinishedInstances(db: Db, olderThanMs: number): Promise<number> {
  return inBatches((batch) => instancePruneFinished(db, { olderThanMs, batch }));
}

async function inBatches(deleteBatch: (batch: number) => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await deleteBatch(HOUSEKEEPING_BATCH);
    total += deleted;
    if (deleted < HOUSEKEEPING_BATCH) return total;
  }
}
