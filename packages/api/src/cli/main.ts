#!/usr/bin/env node
import { isBatonError } from "@baton/worker-sdk";
import { Command, CommanderError } from "commander";
import { VERSION } from "../version.ts";
import { catalogCommands } from "./catalog-commands.ts";
import { keysCommands } from "./keys-commands.ts";
import { runsCommands } from "./runs-commands.ts";

/*
 * `baton`: the operator's command line. `baton serve` runs the server (what `pnpm start` runs);
 * every other command talks to a running Baton over its HTTP API (never to its database).
 * Exit codes: 0 done, 1 the API refused or could not be reached, 2 the command line was wrong.
 */

const program = new Command("baton")
  .description("Baton, the lease-based workflow orchestrator: run the server, or operate one over its HTTP API")
  .version(VERSION, "-V, --version", "print Baton's version")
  .option("--url <url>", "Baton's base URL (env BATON_URL)", process.env.BATON_URL ?? "http://127.0.0.1:8080")
  .option("--api-key <key>", "an API key, sent as Authorization: Bearer (env BATON_API_KEY)", process.env.BATON_API_KEY)
  .option("--json", "print the API's JSON answers instead of tables (for scripts)")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

program
  .command("serve")
  .description("Run the Baton server: HTTP API, /ui console and /docs (configured by environment variables, see the README)")
  .action(async () => {
    await import("../main.ts");
  });

catalogCommands(program);
runsCommands(program);
keysCommands(program);

// Every subcommand reports usage errors the same way and leaves exiting to the handler below.
for (const command of allCommands(program)) command.exitOverride().showHelpAfterError("(run with --help for usage)");

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = exitCodeOf(error);
}

function allCommands(command: Command): Command[] {
  return command.commands.flatMap((c) => [c, ...allCommands(c)]);
}

function exitCodeOf(error: unknown): number {
  // Help and version exit cleanly; commander has already printed usage errors to stderr.
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (isBatonError(error)) {
    const fields = (error.details as { fields?: { field: string; message: string }[] }).fields;
    const lines = [
      `error: ${error.code}: ${error.message}`,
      ...(fields ?? []).map((f) => `  ${f.field}: ${f.message}`).filter((line) => !error.message.includes(line.trim())),
    ];
    if (error.code === "UNAUTHORIZED") lines.push("  (set BATON_API_KEY or pass --api-key)");
    process.stderr.write(`${lines.join("\n")}\n`);
    return 1;
  }
  throw error;
}
