import { LostWorkError } from "./figure.ts";

/**
 * Which jobs a handler has seen, by the index each carries in its payload: catches a job never
 * run and one run twice, at the cost of one byte per job.
 */
export class Tally {
  private readonly seen: Uint8Array;
  count = 0;
  duplicates = 0;
  /** performance.now() of the first job seen: throughput is timed from here. */
  firstAt = Number.NaN;

  constructor(readonly expected: number) {
    this.seen = new Uint8Array(expected);
  }

  mark(index: unknown): void {
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= this.expected) {
      throw new LostWorkError(`a handler saw a payload index outside 0..${this.expected - 1}: ${String(index)}`);
    }
    if (this.count === 0 && this.duplicates === 0) this.firstAt = performance.now();
    if (this.seen[index]) this.duplicates++;
    else {
      this.seen[index] = 1;
      this.count++;
    }
  }

  /** Throws LostWorkError unless every job was seen. Duplicates are allowed (at-least-once) but reported. */
  verify(what: string): void {
    if (this.count !== this.expected) throw new LostWorkError(`${what}: handlers saw ${this.count} of ${this.expected} jobs`);
  }
}

/** Counts events up to a target; `reached` resolves with the performance.now() of the last one. */
export class Countdown {
  count = 0;
  readonly reached: Promise<number>;
  private resolve!: (at: number) => void;

  constructor(readonly target: number) {
    this.reached = new Promise((resolve) => {
      this.resolve = resolve;
    });
    if (target === 0) this.resolve(performance.now());
  }

  add(n = 1): void {
    this.count += n;
    if (this.count >= this.target && this.count - n < this.target) this.resolve(performance.now());
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `remaining()` until it is 0 and returns the performance.now() at which it was seen.
 * A run that makes no progress for `stallMs` is lost work, not a slow run: it throws.
 */
export async function untilNoneRemain(what: string, remaining: () => Promise<number>, intervalMs = 20, stallMs = 60_000): Promise<number> {
  let last = Number.POSITIVE_INFINITY;
  let lastMoved = performance.now();
  for (;;) {
    const left = await remaining();
    const now = performance.now();
    if (left === 0) return now;
    if (left < last) {
      last = left;
      lastMoved = now;
    } else if (now - lastMoved > stallMs) {
      throw new LostWorkError(`${what}: ${left} left and no progress for ${Math.round(stallMs / 1000)} s`);
    }
    await sleep(intervalMs);
  }
}

/** Resolves `promise`, or throws LostWorkError when `countdown` stops moving for `stallMs`. */
export async function untilCounted(what: string, countdown: Countdown, stallMs = 60_000): Promise<number> {
  let last = -1;
  let lastMoved = performance.now();
  let done = false;
  const watch = (async () => {
    while (!done) {
      await sleep(100);
      if (done) break;
      if (countdown.count !== last) {
        last = countdown.count;
        lastMoved = performance.now();
      } else if (performance.now() - lastMoved > stallMs) {
        throw new LostWorkError(`${what}: ${countdown.count} of ${countdown.target} and no progress for ${Math.round(stallMs / 1000)} s`);
      }
    }
    return 0;
  })();
  try {
    return await Promise.race([countdown.reached, watch]);
  } finally {
    done = true;
  }
}
