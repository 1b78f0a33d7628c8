/** What a periodic pass needs to report its failures: pino's call shape, so a pino logger fits as is. */
export interface PassLogger {
  error(fields: Record<string, unknown>, message: string): void;
}

export interface PeriodicPass {
  /**
   * Runs a pass that starts after this call: at once when none is running, else right after the
   * running one (callers that ask meanwhile share that one pass). Never rejects: a failure is logged.
   */
  runNow(): Promise<void>;
  /** Stops the ticks and waits for the passes already started or asked for. */
  stop(): Promise<void>;
}

/**
 * Runs `pass` every `intervalMs`, one pass at a time. A tick that comes while a pass is running is
 * skipped, so a slow or hung database holds one pass, never a growing queue of them; a pass that
 * fails is logged and the next tick tries again.
 * @example const reaper = startPeriodicPass("lease reaper", 1000, () => tasks.reapExpiredLeases(), logger);
 */
export function startPeriodicPass(name: string, intervalMs: number, pass: () => Promise<unknown>, logger: PassLogger): PeriodicPass {
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  const runOnce = (): Promise<void> => {
    running = (async () => pass())()
      .then(
        () => undefined,
        (error: unknown) => logger.error({ err: error }, `${name}: pass failed; trying again in ${intervalMs} ms`),
      )
      .finally(() => {
        running = null;
      });
    return running;
  };
  const runNow = (): Promise<void> => {
    if (!running) return runOnce();
    next ??= running.then(() => {
      next = null;
      return runOnce();
    });
    return next;
  };
  const timer = setInterval(() => {
    if (!running && !next) void runOnce();
  }, intervalMs);
  timer.unref();
  return {
    runNow,
    async stop() {
      clearInterval(timer);
      await (next ?? running);
    },
  };
}
