import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import { type BatonApi, connectApi } from "./api.ts";
import { consolePrinter, type Printer } from "./output.ts";

/** What every command that talks to Baton gets: the API and how to print. */
export interface CommandContext {
  api: BatonApi;
  print: Printer;
}

/** The global options (`--url`, `--api-key`, `--json`) as seen from any subcommand. */
export function contextOf(command: Command): CommandContext {
  const options = command.optsWithGlobals<{ url: string; apiKey?: string; json?: boolean }>();
  return {
    api: connectApi({ url: options.url, ...(options.apiKey ? { apiKey: options.apiKey } : {}) }),
    print: consolePrinter(options.json === true),
  };
}

/** Largest `@file` the CLI reads for an input or a definition (the server's default body limit). */
const MAX_FILE_BYTES = 1024 * 1024;

/** Reads `@path` as a file's text, anything else as it is. */
export function textOrFile(value: string, option: string): string {
  if (!value.startsWith("@")) return value;
  const path = value.slice(1);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new InvalidArgumentError(`${option}: cannot read ${path}: ${(error as Error).message}`);
  }
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) throw new InvalidArgumentError(`${option}: ${path} is over ${MAX_FILE_BYTES} bytes`);
  return text;
}

/** `--input '{"a":1}'` or `--input @input.json`: a JSON object. */
export function parseJsonObject(option: string) {
  return (value: string): Record<string, unknown> => {
    const text = textOrFile(value, option);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new InvalidArgumentError(`${option}: not JSON (${(error as Error).message})`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new InvalidArgumentError(`${option}: expected a JSON object, got ${Array.isArray(parsed) ? "an array" : typeof parsed}`);
    }
    return parsed as Record<string, unknown>;
  };
}

/** `--limit 20`: a page size the API takes (1 to 500). */
export function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw new InvalidArgumentError("expected a whole number from 1 to 500");
  return n;
}
