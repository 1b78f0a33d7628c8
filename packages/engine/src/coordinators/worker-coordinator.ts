import type { Db } from "../db/database.ts";
import { type LeaseHolderRow, leaseHolderList, type QueueLoadRow, queueLoadList } from "../store/queue-load.ts";
import { type WorkerPollRow, workerPage } from "../store/workers.ts";

/** Which namespaces a read covers: all of them, or only these. */
export interface NamespaceScope {
  namespaces?: readonly string[];
}

/**
 * The work in flight as operators look at it (GET /v1/workers and /v1/queues): which workers
 * polled which queues, each queue's open attempts, and who holds their leases.
 */
export class WorkerCoordinator {
  constructor(private readonly db: Db) {}

  /**
   * One page of workers, by id: the poll rows of at most `limit` workers whose id comes after
   * `after`, each marked `recent` when it polled within `recentMs` (database clock).
   */
  async listWorkers(params: { recentMs: number; after?: string; limit: number }): Promise<WorkerPollRow[]> {
    return workerPage(this.db, params);
  }

  /** Open attempts by queue (ready, waiting, leased, the next lease expiry); at most QUEUE_LOAD_LIMIT queues. */
  async queueLoad(scope: NamespaceScope = {}): Promise<QueueLoadRow[]> {
    return queueLoadList(this.db, scope);
  }

  /** Leased attempts by holder and queue; at most QUEUE_LOAD_LIMIT rows. */
  async leaseHolders(scope: NamespaceScope = {}): Promise<LeaseHolderRow[]> {
    return leaseHolderList(this.db, scope);
  }
}
