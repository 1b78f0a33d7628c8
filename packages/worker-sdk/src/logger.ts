/**
 * The logging the SDK needs: pino's call shape (`logger.warn({ executionId }, "message")`), so a
 * pino logger (or a child of one) can be passed as is.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** The default: warnings and errors to stderr, one line each; debug and info are dropped. */
export const consoleLogger: Logger = {
  debug() {},
  info() {},
  warn: (fields, message) => console.warn(`[baton-worker] ${message}`, fields),
  error: (fields, message) => console.error(`[baton-worker] ${message}`, fields),
};

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
