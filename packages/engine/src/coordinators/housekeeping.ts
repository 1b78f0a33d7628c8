import type { Db } from "../db/database.ts";
import { workerPruneStale } from "../store/workers.ts";
import { type PassLogger, type PeriodicPass, startPeriodicPass } from "./periodic-pass.ts";

export interface HousekeepingOptions {
  /** How often the pass runs. */
  intervalMs: number;
  /** Poll records of workers not seen for this long are deleted; 0 keeps them. */
  workerRetentionMs: number;
}

/** Rows per delete: each statement stays short beside the hot path's writes. */
export const HOUSEKEEPING_BATCH = 500;

/**
 * Deletes what the database would otherwise keep forever, in small batches, one pass at a time:
 * the poll records of workers long gone. Returns null when there is nothing to do.
 */
export function startHousekeeping(db: Db, options: HousekeepingOptions, logger: PassLogger): PeriodicPass | null {
  if (options.workerRetentionMs <= 0) return null;
  return startPeriodicPass("housekeeping", options.intervalMs, () => pruneWorkers(db, options.workerRetentionMs), logger);
}

/** Deletes stale worker poll records batch by batch until none is left; returns how many. */
export async function pruneWorkers(db: Db, olderThanMs: number): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await workerPruneStale(db, { olderThanMs, batch: HOUSEKEEPING_BATCH });
    total += deleted;
    if (deleted < HOUSEKEEPING_BATCH) return total;
  }
}
