import type { Logger } from "pino";

/**
 * Longest a SIGTERM or SIGINT may take: long-polls are answered at once, requests in flight get 5 s,
 * HTTP-step calls 10 s, then the engine closes. Past this the process exits 1 with what was still
 * running left to its leases (a container runtime's stop timeout should be longer: 30 s in compose).
 */
export const SHUTDOWN_DEADLINE_MS = 25_000;

/**
 * Runs `stop` on the first SIGTERM or SIGINT and exits 0 when it is done, 1 when it fails or
 * outlasts the deadline; a second signal exits 1 at once.
 */
export function exitOnSignals(logger: Logger, stop: () => Promise<void>, deadlineMs = SHUTDOWN_DEADLINE_MS): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting without finishing the shutdown");
      process.exit(1);
    }
    stopping = true;
    const started = Date.now();
    logger.info({ signal }, "shutting down");
    setTimeout(() => {
      logger.error({ deadlineMs }, "shutdown did not finish in time; exiting");
      process.exit(1);
    }, deadlineMs).unref();
    stop().then(
      () => {
        logger.info({ ms: Date.now() - started }, "stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
