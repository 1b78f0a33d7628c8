import { sleep } from "./bookkeeping.ts";
import { LostWorkError } from "./figure.ts";

/**
 * Calls `send(i)` for i = 0..total-1 at a steady `rate` per second, open loop: a slow answer does
 * not hold back the next send, so a saturated system shows up as latency, not as a lower rate.
 * Resolves when every send has been answered, with the rate actually offered.
 */
export async function offerAtRate(
  rate: number,
  total: number,
  send: (i: number) => Promise<unknown>,
): Promise<{ offeredPerSecond: number }> {
  const errors: unknown[] = [];
  const answers: Promise<unknown>[] = [];
  const start = performance.now();
  let i = 0;
  while (i < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    while (i < due) {
      answers.push(
        send(i++).catch((error: unknown) => {
          errors.push(error);
        }),
      );
    }
    if (i < total) await sleep(1);
  }
  const lastSend = performance.now();
  await Promise.all(answers);
  if (errors.length > 0) {
    const first = errors[0] instanceof Error ? (errors[0] as Error).message : String(errors[0]);
    throw new LostWorkError(`${errors.length} of ${total} sends failed, first: ${first}`);
  }
  return { offeredPerSecond: total <= 1 ? rate : ((total - 1) * 1000) / Math.max(lastSend - start, 0.001) };
}
