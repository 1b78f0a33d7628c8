/** The middle value (mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) throw new RangeError("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Nearest-rank percentile (p in 0..100) of values sorted ascending. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) throw new RangeError("percentile of no values");
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** p50, p99 and max of latency samples (ms). */
export function latencySummary(samples: number[]): [number, number, number] {
  const sorted = Float64Array.from(samples).sort();
  const values = Array.from(sorted);
  return [percentile(values, 50), percentile(values, 99), values.at(-1) as number];
}

/** Each position's median across repetitions: [[a1, b1], [a2, b2], [a3, b3]] -> [med(a), med(b)]. */
export function medianOfRuns(runs: number[][]): number[] {
  const width = runs[0]?.length ?? 0;
  return Array.from({ length: width }, (_, i) => median(runs.map((r) => r[i] as number)));
}
