import { randomBytes } from "node:crypto";
import type { QueueWake } from "../store/tasks.ts";

/**
 * New work this process committed, told to its own dispatcher at once instead of after the NOTIFY's
 * round trip through the database (another backend, another connection). The commit's NOTIFY names
 * `id`, so this process's dispatcher skips it; other processes still wake on it.
 */
export class LocalWakes {
  /** Names this process's engine in the NOTIFY payloads it sends (hex, see SENDER_ID). */
  readonly id = randomBytes(6).toString("hex");
  private listener: ((wakes: QueueWake[]) => void) | undefined;

  /** The dispatcher's hook; one per engine. */
  listen(listener: (wakes: QueueWake[]) => void): void {
    this.listener = listener;
  }

  /** Called once the work is committed. */
  announce(wakes: QueueWake[]): void {
    if (wakes.length > 0) this.listener?.(wakes);
  }
}
