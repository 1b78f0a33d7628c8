import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { redactSecrets } from "@baton/engine";
import { describe, expect, it } from "vitest";
import { onPglite } from "../../../test-support/database.ts";

// Issue #10: an invalid DATABASE_URL, or one that cannot connect, was logged with its password.

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts the real `baton` process with `env` and returns everything it printed and its exit code. */
function startBaton(env: Record<string, string>): Promise<{ output: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", main], {
      env: { PATH: process.env.PATH ?? "", PORT: "0", LOG_LEVEL: "debug", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ output, code });
    });
  });
}

// Processes cost seconds to start and use no test database: once (the PGlite project always runs), side by side.
describe.skipIf(!onPglite).concurrent("start-up failures do not print the database password", { timeout: 90_000 }, () => {
  it("a DATABASE_URL pointing at a closed port: fatal log without the password, non-zero exit", async () => {
    const url = `postgres://baton:hunter2@127.0.0.1:${await closedPort()}/baton`;
    const { output, code } = await startBaton({ DATABASE_URL: url });
    expect(output).toContain("could not start");
    expect(output).not.toContain("hunter2");
    expect(code).not.toBe(0);
  });

  it("a malformed DATABASE_URL: named with its password hidden, non-zero exit", async () => {
    const { output, code } = await startBaton({ DATABASE_URL: "postgres://baton:hunter2@[not-a-host/baton" });
    expect(output).toContain("postgres://baton:***@[not-a-host/baton");
    expect(output).not.toContain("hunter2");
    expect(code).not.toBe(0);
  });

  it("a DATABASE_URL refused by the configuration check: echoed with its password hidden, exit 2", async () => {
    const { output, code } = await startBaton({ DATABASE_URL: "mysql://baton:hunter2@127.0.0.1/baton" });
    expect(output).toContain('DATABASE_URL="mysql://baton:***@127.0.0.1/baton"');
    expect(output).not.toContain("hunter2");
    expect(code).toBe(2);
  });
});

describe("redactSecrets", () => {
  it("hides URL passwords (even with @ or / in them) and password= fields, and keeps the rest", () => {
    expect(redactSecrets("connect postgresql://u:p%40ss@db:5432/x?sslmode=require failed")).toBe(
      "connect postgresql://u:***@db:5432/x?sslmode=require failed",
    );
    expect(redactSecrets("postgres://u:hun@ter/2@db/x")).toBe("postgres://u:***@db/x");
    expect(redactSecrets("host=db password=hunter2 user=u")).toBe("host=db password=*** user=u");
    expect(redactSecrets('{"sasl":{"password":"hunter2"}}')).toBe('{"sasl":{"password":"***"}}');
    expect(redactSecrets("postgres://postgres@127.0.0.1/db and password authentication failed")).toBe(
      "postgres://postgres@127.0.0.1/db and password authentication failed",
    );
  });
});
