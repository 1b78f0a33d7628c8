import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backoffDelayMs } from "../src/domain/backoff.ts";

describe("backoffDelayMs", () => {
  it("is 0, not NaN, with no base delay and a growth that overflows (backoffMs 0, multiplier 100, attempt 500)", () => {
    expect(backoffDelayMs({ maxAttempts: 1000, backoffMs: 0, backoffMultiplier: 100, maxBackoffMs: 60_000 }, 500)).toBe(0);
  });

  it("is the cap when the growth overflows to Infinity", () => {
    expect(backoffDelayMs({ maxAttempts: 1000, backoffMs: 1000, backoffMultiplier: 100, maxBackoffMs: 60_000 }, 999)).toBe(60_000);
  });

  it("is always a whole number of ms from 0 to maxBackoffMs, for every policy the schema accepts", () => {
    const policy = fc.record({
      maxAttempts: fc.integer({ min: 1, max: 1000 }),
      backoffMs: fc.integer({ min: 0, max: 86_400_000 }),
      backoffMultiplier: fc.double({ min: 1, max: 100, noNaN: true }),
      maxBackoffMs: fc.integer({ min: 0, max: 86_400_000 }),
    });
    fc.assert(
      fc.property(policy, fc.integer({ min: 1, max: 1000 }), (p, attempt) => {
        const delay = backoffDelayMs(p, attempt);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(p.maxBackoffMs);
      }),
    );
  });
});
