import { type InstanceState, PAGE_LIMITS, redactSecrets } from "@baton/contract";
import type { DbOrTrx } from "../db/database.ts";
import { decodeIdCursor, encodeIdCursor } from "../domain/list-cursor.ts";
import { instanceListByIds } from "../store/instances.ts";

/** An instance whose expired leases the lease reaper could not time out (a poisoned row). */
export interface PoisonedInstance {
  instanceId: string;
  namespace: string;
  workflowName: string;
  state: InstanceState;
  /** Why its last reaper batch failed (secrets redacted, at most 500 characters). */
  reason: string;
  /** When this process's reaper first failed on it, in the run of passes that still fail. */
  firstFailedAt: string;
  lastFailedAt: string;
  /** How many passes in a row failed on it. */
  failedPasses: number;
}

export interface PoisonedPage {
  items: PoisonedInstance[];
  nextCursor: string | null;
}

interface Failure {
  reason: string;
  firstFailedAt: Date;
  lastFailedAt: Date;
  failedPasses: number;
}

const MAX_REASON = 500;

/**
 * The instances this process's lease reaper had to skip, so an operator can see them (/metrics and
 * the API), not only a log line. Kept in memory, per process: it describes what this process's
 * reaper met, and the next pass that reaches an instance decides again, so nothing needs to survive
 * a restart. An instance stops being listed once a pass that went through every expired lease no
 * longer failed on it (it was reaped, or no longer has an expired lease).
 */
export class PoisonedInstances {
  private readonly failures = new Map<string, Failure>();

  /** How many instances are marked. */
  get size(): number {
    return this.failures.size;
  }

  /**
   * Records a finished reaper pass: `failed` maps the instances it skipped to their errors. When
   * `sweptAll`, the pass reached every instance with an expired lease (bar those another replica
   * held locked), so an instance it did not fail on is no longer poisoned; a pass cut short (by its
   * limit, or a failing database) only adds.
   */
  passEnded(failed: ReadonlyMap<string, unknown>, sweptAll: boolean): void {
    const now = new Date();
    if (sweptAll) for (const id of this.failures.keys()) if (!failed.has(id)) this.failures.delete(id);
    for (const [id, error] of failed) {
      const known = this.failures.get(id);
      this.failures.set(id, {
        reason: reasonOf(error),
        firstFailedAt: known?.firstFailedAt ?? now,
        lastFailedAt: now,
        failedPasses: (known?.failedPasses ?? 0) + 1,
      });
    }
  }

  /**
   * A page of the marked instances by id, with what they are (instances deleted meanwhile are left
   * out): those of `namespace` (all when absent), default 100 and at most 500 per page.
   */
  async list(db: DbOrTrx, params: { namespace?: string; cursor?: string; limit?: number }): Promise<PoisonedPage> {
    const limit = Math.min(Math.max(params.limit ?? PAGE_LIMITS.defaultLimit, 1), PAGE_LIMITS.maxLimit);
    const after = params.cursor === undefined ? undefined : decodeIdCursor(params.cursor);
    const ids = [...this.failures.keys()].filter((id) => after === undefined || id > after).sort();
    const found: PoisonedInstance[] = [];
    // Read in slices: a namespace's instances may be few among many marked ones.
    for (let at = 0; at < ids.length && found.length <= limit; at += 500) {
      for (const row of await instanceListByIds(db, ids.slice(at, at + 500))) {
        const failure = this.failures.get(row.instanceId);
        if (!failure || (params.namespace !== undefined && row.namespace !== params.namespace)) continue;
        found.push({
          instanceId: row.instanceId,
          namespace: row.namespace,
          workflowName: row.workflowName,
          state: row.state,
          reason: failure.reason,
          firstFailedAt: failure.firstFailedAt.toISOString(),
          lastFailedAt: failure.lastFailedAt.toISOString(),
          failedPasses: failure.failedPasses,
        });
      }
    }
    const items = found.slice(0, limit);
    const last = items.at(-1);
    return { items, nextCursor: found.length > limit && last ? encodeIdCursor(last.instanceId) : null };
  }
}

function reasonOf(error: unknown): string {
  const text = redactSecrets(error instanceof Error ? error.message : String(error));
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON)}…` : text;
}
