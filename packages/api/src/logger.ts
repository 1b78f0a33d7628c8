import { SECRET_SAFE_LOGGING } from "@baton/engine";
import pino, { type Logger } from "pino";
import type { Config } from "./config.ts";

/** The process logger: JSON lines on stdout, at the configured level, with secrets redacted. */
export function createLogger(config: Pick<Config, "logLevel">): Logger {
  return pino({ level: config.logLevel, base: { service: "baton" }, ...SECRET_SAFE_LOGGING });
}
