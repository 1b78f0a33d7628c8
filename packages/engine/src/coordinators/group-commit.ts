import { BatonError, isBatonError } from "@baton/contract";

interface Waiting<In, Out> {
  item: In;
  resolve: (out: Out) => void;
  reject: (error: unknown) => void;
}

/**
 * Coalesces concurrent calls of one kind into batches. A call made while fewer than `maxFlushes`
 * flushes run is flushed at once (no added delay when idle); calls made while they all run wait,
 * and the next flush takes them all, up to `maxBatch`. So under load batches grow by themselves and the database sees one
 * transaction per batch instead of one per call.
 *
 * `flush` answers every item in order: a value, or the BatonError that refused that item alone.
 * If the flush itself throws, every caller in that batch gets the error, with one exception: a
 * VALIDATION_ERROR (a value the database refused, e.g. a NUL character in an output) belongs to
 * one caller's input, so the batch is flushed again item by item and only that caller is refused.
 */
export interface GroupCommitOptions {
  /** Calls per flush (default 1000). */
  maxBatch?: number;
  /** Flushes in flight at once (default 1). */
  maxFlushes?: number;
  /**
   * Calls that may wait for a flush (default 20,000). Past it a call is refused at once with
   * UNAVAILABLE (503: try again): a database that cannot keep up must not make memory grow
   * without bound.
   */
  maxWaiting?: number;
}

export class GroupCommit<In, Out> {
  private queue: Waiting<In, Out>[] = [];
  private flushing = 0;
  private readonly maxBatch: number;
  private readonly maxFlushes: number;
  private readonly maxWaiting: number;

  constructor(
    private readonly flush: (items: In[]) => Promise<(Out | BatonError)[]>,
    options: GroupCommitOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 1000;
    this.maxFlushes = options.maxFlushes ?? 1;
    this.maxWaiting = options.maxWaiting ?? 20_000;
  }

  /** Whether a flush is running or calls are waiting. */
  get busy(): boolean {
    return this.flushing > 0 || this.queue.length > 0;
  }

  /** One call; resolves with its own answer, rejects with its own refusal. */
  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      if (this.queue.length >= this.maxWaiting) return reject(this.overloaded());
      this.queue.push({ item, resolve, reject });
      this.next();
    });
  }

  /** Many calls at once (they go into the same flush when it is free); each answered on its own. */
  submitMany(items: In[]): Promise<(Out | BatonError)[]> {
    if (this.queue.length + items.length > this.maxWaiting) return Promise.resolve(items.map(() => this.overloaded()));
    const answers = items.map(
      (item) =>
        new Promise<Out | BatonError>((resolve, reject) => {
          this.queue.push({ item, resolve, reject: (error) => (error instanceof BatonError ? resolve(error) : reject(error)) });
        }),
    );
    this.next();
    return Promise.all(answers);
  }

  private overloaded(): BatonError {
    return new BatonError("UNAVAILABLE", "Too many calls are waiting for the database; try again shortly", {
      waiting: this.queue.length,
      limit: this.maxWaiting,
    });
  }

  /** Starts flushes while fewer than maxFlushes run and calls wait (a burst past maxBatch fills several). */
  private next(): void {
    while (this.flushing < this.maxFlushes && this.queue.length > 0) this.flushOnce();
  }

  private flushOnce(): void {
    this.flushing++;
    const batch = this.queue.splice(0, this.maxBatch);
    this.flushIsolating(batch.map((w) => w.item))
      .then(
        (answers) => {
          for (const [i, w] of batch.entries()) {
            const answer = answers[i];
            if (answer === undefined) w.reject(new BatonError("INTERNAL", "A batched call got no answer"));
            else if (answer instanceof BatonError) w.reject(answer);
            else w.resolve(answer as Out);
          }
        },
        (error: unknown) => {
          for (const w of batch) w.reject(error);
        },
      )
      .finally(() => {
        this.flushing--;
        this.next();
      });
  }

  private async flushIsolating(items: In[]): Promise<(Out | BatonError)[]> {
    try {
      return await this.flush(items);
    } catch (error) {
      if (items.length === 1 || !isBatonError(error, "VALIDATION_ERROR")) throw error;
      const answers: (Out | BatonError)[] = [];
      for (const item of items) {
        answers.push(...(await this.flush([item]).catch((e: unknown) => (isBatonError(e, "VALIDATION_ERROR") ? [e] : Promise.reject(e)))));
      }
      return answers;
    }
  }
}
