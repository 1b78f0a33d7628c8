export { type Config, ConfigError, loadConfig } from "./config.ts";
export { type AppOptions, createApp } from "./http/app.ts";
export type { AuthMode } from "./http/auth.ts";
export type { AppEnv } from "./http/env.ts";
export { ApiMetrics } from "./http/metrics.ts";
export { HOSTS_VARIABLE, HostPolicy, type HttpStepRunner, type HttpStepRunnerOptions, startHttpStepRunner } from "./http-steps/index.ts";
export { BRIDGE_WORKER_ID, type KafkaBridge, type KafkaBridgeOptions, startKafkaBridge } from "./kafka/index.ts";
export { createLogger } from "./logger.ts";
export { databaseConfigOf, openEngine, prepareAuth, type RunningServer, type StartOptions, startServer } from "./server.ts";
