import { BatonError } from "../contract/errors.ts";
import type { DbOrTrx } from "../db/database.ts";
import { isTerminalInstanceState } from "../domain/states.ts";
import { type InstanceRow, instanceGet } from "../store/instances.ts";

/** The longest a caller may wait for a run to end (synchronous starts, the FastAPI direct route). */
export const MAX_RUN_WAIT_MS = 60_000;

// Re-reads start soon (short runs end within milliseconds) and slow down to this: no commit
// announces a terminal state (NOTIFY names queues with new work, and a finished run has none).
const FIRST_LOOK_MS = 10;
const SLOWEST_LOOK_MS = 200;

export interface WaitForEndOptions {
  /** How long to wait, 0 to `MAX_RUN_WAIT_MS`. */
  waitMs: number;
  /** Ends the wait early (a client that went away, a shutdown). */
  signal?: AbortSignal;
}

/**
 * Waits until an instance is in a terminal state, the wait runs out or the signal aborts, and
 * answers the instance as it is then (the caller tells "ended" from "still running" by its state).
 * Between looks no connection or database session is held: each look is one primary-key read.
 * Throws NOT_FOUND for an unknown instance, VALIDATION_ERROR for a wait out of bounds.
 */
export async function waitForInstanceEnd(db: DbOrTrx, instanceId: string, options: WaitForEndOptions): Promise<InstanceRow> {
  if (!Number.isFinite(options.waitMs) || options.waitMs < 0 || options.waitMs > MAX_RUN_WAIT_MS) {
    throw new BatonError("VALIDATION_ERROR", `waitMs must be from 0 to ${MAX_RUN_WAIT_MS} ms`, {
      fields: [{ field: "waitMs", message: `0 to ${MAX_RUN_WAIT_MS}` }],
    });
  }
  const deadline = Date.now() + options.waitMs;
  let pause = FIRST_LOOK_MS;
  for (;;) {
    const row = await instanceGet(db, instanceId);
    if (!row) throw new BatonError("NOT_FOUND", `Instance ${instanceId} not found`, { instanceId });
    const left = deadline - Date.now();
    if (isTerminalInstanceState(row.state) || left <= 0 || options.signal?.aborted) return row;
    await pauseFor(Math.min(pause, left), options.signal);
    pause = Math.min(pause * 2, SLOWEST_LOOK_MS);
  }
}

/** Resolves after `ms`, or at once when the signal aborts. */
function pauseFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
