import { BatonError } from "../contract/errors.ts";

interface Waiting<In, Out> {
  item: In;
  resolve: (out: Out) => void;
  reject: (error: unknown) => void;
}

/**
 * Coalesces concurrent calls of one kind into batches. A call made while no flush runs is flushed
 * at once (no added delay when idle); calls made while one runs wait, and the next flush takes them
 * all, up to `maxBatch`. So under load batches grow by themselves and the database sees one
 * transaction per batch instead of one per call.
 *
 * `flush` answers every item in order: a value, or the BatonError that refused that item alone.
 * If the flush itself throws, every caller in that batch gets the error.
 */
export class GroupCommit<In, Out> {
  private queue: Waiting<In, Out>[] = [];
  private flushing = false;

  constructor(
    private readonly flush: (items: In[]) => Promise<(Out | BatonError)[]>,
    private readonly maxBatch = 1000,
  ) {}

  /** Whether a flush is running or calls are waiting. */
  get busy(): boolean {
    return this.flushing || this.queue.length > 0;
  }

  /** One call; resolves with its own answer, rejects with its own refusal. */
  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.next();
    });
  }

  /** Many calls at once (they go into the same flush when it is free); each answered on its own. */
  submitMany(items: In[]): Promise<(Out | BatonError)[]> {
    const answers = items.map(
      (item) =>
        new Promise<Out | BatonError>((resolve, reject) => {
          this.queue.push({ item, resolve, reject: (error) => (error instanceof BatonError ? resolve(error) : reject(error)) });
        }),
    );
    this.next();
    return Promise.all(answers);
  }

  private next(): void {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    const batch = this.queue.splice(0, this.maxBatch);
    this.flush(batch.map((w) => w.item))
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
        this.flushing = false;
        this.next();
      });
  }
}
