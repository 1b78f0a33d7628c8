import type { Logger } from "pino";

/** What the middleware puts on every request's context. */
export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    /** Who is calling (set by the auth middleware; everyone when auth is off). */
    caller: import("@baton/engine").Caller;
  };
}

/** What the routers need from the process. */
export interface ApiDeps {
  engine: import("@baton/engine").Engine;
  metrics: import("./metrics.ts").ApiMetrics;
  /** A step is ready while some worker polled its queue within this window (or a service registered for it). */
  readinessWindowMs: number;
  /** Workers whose polls only relay commands elsewhere (the Kafka bridge): they do not make a step ready. */
  relayWorkers: readonly string[];
  /** Aborts when the server shuts down: long-polls end at once with nothing handed out. */
  shutdown: AbortSignal;
  /** Where the process's Kafka bridge stands, for the health answers. */
  kafkaBridge: () => import("./health.ts").KafkaBridgeState;
  /** The HTTP-step runner of this process: the instance view shows its circuit breakers; a registration wakes it. */
  httpSteps?: Pick<import("../http-steps/index.ts").HttpStepRunner, "circuitsFor" | "refresh">;
}
