import { BatonError, MAX_BATCH_ITEMS, type TaskOutcome } from "@baton/contract";
import type { CompleteReport, FailReport, ItemAnswer, LeaseRef, Transport } from "./transport/transport.ts";

interface Queued<I, A> {
  item: I;
  resolve: (answer: A) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers reports of one kind for `delayMs` (0: until the event loop's next turn) and sends them
 * in one request, at most MAX_BATCH_ITEMS at a time. Each caller's promise settles with its own
 * item's answer; when the request as a whole fails, every item in it is rejected with that error,
 * and each caller decides on its own whether to submit again.
 */
export class ReportBatcher<I, A> {
  private queued: Queued<I, A>[] = [];
  private cancelTimer: (() => void) | undefined;
  private readonly sending = new Set<Promise<void>>();

  constructor(
    private readonly send: (items: I[]) => Promise<ItemAnswer<A>[]>,
    private readonly delayMs: number,
  ) {}

  submit(item: I): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      this.queued.push({ item, resolve, reject });
      if (this.queued.length >= MAX_BATCH_ITEMS) this.flush();
      else this.cancelTimer ??= this.startTimer();
    });
  }

  /** Sends everything queued now. */
  flush(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    while (this.queued.length > 0) {
      const sent: Promise<void> = this.sendBatch(this.queued.splice(0, MAX_BATCH_ITEMS)).finally(() => this.sending.delete(sent));
      this.sending.add(sent);
    }
  }

  /** Sends everything queued and resolves once every request sent so far has been answered. */
  async drain(): Promise<void> {
    this.flush();
    await Promise.all(this.sending);
  }

  private startTimer(): () => void {
    if (this.delayMs === 0) {
      const immediate = setImmediate(() => this.flush());
      return () => clearImmediate(immediate);
    }
    const timer = setTimeout(() => this.flush(), this.delayMs);
    return () => clearTimeout(timer);
  }

  private async sendBatch(batch: Queued<I, A>[]): Promise<void> {
    let answers: ItemAnswer<A>[];
    try {
      answers = await this.send(batch.map((q) => q.item));
      if (answers.length !== batch.length) {
        throw new BatonError("INTERNAL", `a batch of ${batch.length} reports was answered with ${answers.length} results`);
      }
    } catch (error) {
      for (const q of batch) q.reject(error);
      return;
    }
    for (const [i, q] of batch.entries()) {
      const answer = answers[i];
      if (answer instanceof BatonError) q.reject(answer);
      else q.resolve(answer as A);
    }
  }
}

/** A worker's heartbeats, completions and failures, each kind gathered into its own batches. */
export class Reports {
  readonly heartbeat: ReportBatcher<LeaseRef, { leaseExpiresAt: string }>;
  readonly complete: ReportBatcher<CompleteReport, TaskOutcome>;
  readonly fail: ReportBatcher<FailReport, TaskOutcome>;

  constructor(transport: Transport, delayMs: number) {
    this.heartbeat = new ReportBatcher((leases) => transport.heartbeatMany(leases), delayMs);
    this.complete = new ReportBatcher((reports) => transport.completeMany(reports), delayMs);
    this.fail = new ReportBatcher((reports) => transport.failMany(reports), delayMs);
  }

  /** Sends everything gathered now. */
  flush(): void {
    for (const batcher of this.all()) batcher.flush();
  }

  /** Sends everything gathered and resolves once every report sent so far has been answered. */
  async drain(): Promise<void> {
    await Promise.all(this.all().map((batcher) => batcher.drain()));
  }

  private all() {
    return [this.heartbeat, this.complete, this.fail];
  }
}
