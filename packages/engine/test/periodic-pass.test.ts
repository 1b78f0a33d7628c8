import { startPeriodicPass } from "@baton/engine";
import { describe, expect, it, vi } from "vitest";
import { capturedLog, ERROR_LEVEL } from "./captured-log.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a periodic pass (the lease reaper, the Kafka bridge's refresh)", () => {
  it("skips the ticks that come while a pass hangs, instead of queueing passes behind it", async () => {
    const { logger } = capturedLog();
    let started = 0;
    let release = () => {};
    const hung = new Promise<void>((resolve) => {
      release = resolve;
    });
    const reaper = startPeriodicPass(
      "hung pass",
      5,
      async () => {
        started++;
        await hung;
      },
      logger,
    );
    await vi.waitFor(() => expect(started).toBe(1));
    await sleep(100); // some twenty ticks while the database "hangs"
    expect(started).toBe(1);
    release();
    await reaper.stop(); // waits for every pass started or queued
    expect(started).toBe(1);
  });

  it("logs a failing pass and tries again on the next tick", async () => {
    const { logger, lines } = capturedLog();
    let calls = 0;
    const reaper = startPeriodicPass(
      "flaky pass",
      5,
      async () => {
        calls++;
        if (calls === 1) throw new Error("database unreachable");
      },
      logger,
    );
    await vi.waitFor(() => expect(calls).toBeGreaterThanOrEqual(2));
    await reaper.stop();
    const errors = lines.filter((l) => l.level === ERROR_LEVEL);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.msg).toMatch(/^flaky pass: pass failed/);
    expect(errors[0]?.err).toMatchObject({ message: "database unreachable" });
  });

  it("runs an asked-for pass after the running one, once for all who asked meanwhile", async () => {
    const { logger } = capturedLog();
    let started = 0;
    let release = () => {};
    const reaper = startPeriodicPass(
      "refresh",
      60_000,
      async () => {
        started++;
        if (started === 1)
          await new Promise<void>((resolve) => {
            release = resolve;
          });
      },
      logger,
    );
    const first = reaper.runNow();
    const [second, third] = [reaper.runNow(), reaper.runNow()];
    expect(started).toBe(1);
    release();
    await Promise.all([first, second, third]);
    expect(started).toBe(2);
    await reaper.stop();
  });
});
