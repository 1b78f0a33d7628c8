/** One row of the printed table: what one system measured in one scenario (medians of the repetitions). */
export interface Figure {
  scenario: string;
  system: string;
  /** One number, or several that share a unit (latency: p50, p99, max). Null: not measured (see note). */
  values: number[] | null;
  unit: string;
  /** Names of the values when there are several ("p50", "p99", "max"). */
  labels?: string[];
  /** Rows that compare themselves to this one name it in `ref`. */
  key?: string;
  /** The key of the Baton row this row's ratio is taken against. */
  ref?: string;
  note?: string;
  /** Why the run failed ("LOST WORK: …" or "ERROR: …"); the bench then exits 1. */
  failed?: string;
}

/** Thrown when a run ends with work not done: an instance not completed, a job not run. */
export class LostWorkError extends Error {
  override readonly name = "LostWorkError";
}

/** Throws LostWorkError unless `actual` equals `expected`. */
export function expectCount(what: string, expected: number, actual: number): void {
  if (actual !== expected) throw new LostWorkError(`${what}: expected ${expected}, got ${actual}`);
}
