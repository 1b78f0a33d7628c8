import pino, { type Logger } from "pino";

/** A real pino logger whose lines are kept (parsed) for the test to read, instead of printed. */
export function capturedLog(): { logger: Logger; lines: { level: number; msg: string; [field: string]: unknown }[] } {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** pino's number for the error level. */
export const ERROR_LEVEL = 50;
