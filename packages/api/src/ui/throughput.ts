import type { ApiMetrics } from "../http/metrics.ts";

/**
 * Completions and failures per queue over the last minutes, for the overview. /metrics counts
 * them since the process started; this keeps a snapshot of those counters every SAMPLE_MS for the
 * last HISTORY_MS, and answers the difference between now and a window ago. It starts when the
 * overview is first shown (a server nobody looks at keeps no samples), never holds the process
 * open, and stops at shutdown. It counts what this process accepted, as /metrics does.
 */

const SAMPLE_MS = 10_000;
const HISTORY_MS = 15 * 60_000;
export const THROUGHPUT_WINDOWS_MS = [60_000, 5 * 60_000, 15 * 60_000] as const;

type Counts = Map<string, { completed: number; failed: number }>;

interface Snapshot {
  at: number;
  counts: Counts;
}

export interface QueueThroughput {
  queue: string;
  /** Per window of THROUGHPUT_WINDOWS_MS: completions and failures within it. */
  windows: { completed: number; failed: number }[];
}

export class ThroughputSampler {
  private readonly snapshots: Snapshot[] = [];
  private timer: NodeJS.Timeout | undefined;
  private firstSample: Promise<void> | undefined;

  constructor(
    private readonly metrics: ApiMetrics,
    private readonly shutdown: AbortSignal,
  ) {}

  /** Since when the samples reach back (the first sample's time), or undefined before any. */
  get since(): Date | undefined {
    const first = this.snapshots[0];
    return first ? new Date(first.at) : undefined;
  }

  /** Per queue, completions and failures within each window (as far back as the samples reach). */
  async recent(): Promise<QueueThroughput[]> {
    await this.start();
    const now = await this.read();
    const queues = [...now.keys()].sort();
    return queues.map((queue) => ({
      queue,
      windows: THROUGHPUT_WINDOWS_MS.map((windowMs) => {
        const then = this.snapshotAt(Date.now() - windowMs)?.counts.get(queue) ?? { completed: 0, failed: 0 };
        const current = now.get(queue) ?? { completed: 0, failed: 0 };
        return { completed: current.completed - then.completed, failed: current.failed - then.failed };
      }),
    }));
  }

  /** Starts sampling on first use; resolves once the first sample is kept. */
  private start(): Promise<void> {
    if (this.firstSample || this.shutdown.aborted) return this.firstSample ?? Promise.resolve();
    const sample = () =>
      this.read().then((counts) => {
        this.snapshots.push({ at: Date.now(), counts });
        while (this.snapshots.length > 0 && (this.snapshots[0] as Snapshot).at < Date.now() - HISTORY_MS - SAMPLE_MS)
          this.snapshots.shift();
      });
    this.firstSample = sample();
    this.timer = setInterval(() => void sample(), SAMPLE_MS).unref();
    this.shutdown.addEventListener("abort", () => clearInterval(this.timer), { once: true });
    return this.firstSample;
  }

  /** The oldest snapshot taken at or after `at` (the window's start, as near as the samples allow). */
  private snapshotAt(at: number): Snapshot | undefined {
    return this.snapshots.find((s) => s.at >= at) ?? this.snapshots.at(-1);
  }

  private async read(): Promise<Counts> {
    const counts: Counts = new Map();
    const add = async (counter: ApiMetrics["tasksCompleted"], field: "completed" | "failed") => {
      for (const { labels, value } of (await counter.get()).values) {
        const queue = String(labels.queue ?? "");
        const entry = counts.get(queue) ?? { completed: 0, failed: 0 };
        entry[field] = value;
        counts.set(queue, entry);
      }
    };
    await add(this.metrics.tasksCompleted, "completed");
    await add(this.metrics.tasksFailed, "failed");
    return counts;
  }
}
