import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const TSX = fileURLToPath(new URL("../../../../node_modules/.bin/tsx", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `baton <args>` as a subprocess (tsx, as `pnpm baton` does) against `url`, as a user would. */
export function runCli(url: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      [CLI, ...args],
      {
        // NODE_OPTIONS carries the workspace's source condition (vitest.config.ts): without it the CLI
        // would load @baton/* from dist/, which a fresh clone has not built.
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "/tmp",
          NODE_OPTIONS: process.env.NODE_OPTIONS ?? "",
          BATON_URL: url,
          ...env,
        },
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
