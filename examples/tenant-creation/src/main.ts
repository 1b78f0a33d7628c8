/**
 * Runs the tenant-creation saga against a running Baton and prints its timeline.
 *
 *   pnpm example:tenant                                        # against the Baton at BATON_URL
 *   BATON_URL=http://baton.internal:8080 pnpm example:tenant   # (default http://127.0.0.1:8080)
 *   pnpm example:tenant --in-process                           # an embedded engine, no server
 *   pnpm example:tenant --tenant globex --succeed-after 2      # createClient succeeds on attempt 3
 *
 * Exits 0 once the run reaches a terminal state (COMPENSATED is the expected ending by default).
 */
import { parseArgs } from "node:util";
import type { ConnectOptions } from "@baton/worker-sdk";
import { runTenantCreation } from "./tenant-creation.ts";

// `pnpm run x -- --flag` hands the `--` on; it means nothing here.
const args = process.argv.slice(2).filter((arg, i) => !(i === 0 && arg === "--"));
const { values } = parseArgs({
  args,
  options: {
    "in-process": { type: "boolean", default: false },
    tenant: { type: "string", default: "acme" },
    "run-id": { type: "string" },
    "succeed-after": { type: "string" },
  },
});

const failClientCalls = values["succeed-after"] === undefined ? undefined : Number(values["succeed-after"]);
if (failClientCalls !== undefined && !(Number.isInteger(failClientCalls) && failClientCalls >= 0)) {
  console.error(`--succeed-after: expected a whole number of failures, got ${values["succeed-after"]}`);
  process.exit(2);
}

let close = async () => {};
let connection: ConnectOptions;
if (values["in-process"]) {
  // Loaded only here: the worker SDK itself never pulls in the engine's database code.
  const { createEngine } = await import("@baton/engine");
  const engine = await createEngine({ database: { kind: "pglite" } });
  connection = { engine };
  close = () => engine.close();
  console.log("Baton in-process (PGlite in memory)");
} else {
  // 127.0.0.1, as Baton listens by default (HOST): localhost may resolve to ::1 first.
  const url = process.env.BATON_URL ?? "http://127.0.0.1:8080";
  connection = { url };
  console.log(`Baton at ${url}`);
}

try {
  await runTenantCreation({
    connection,
    tenant: values.tenant,
    ...(values["run-id"] ? { runId: values["run-id"] } : {}),
    ...(failClientCalls !== undefined ? { failClientCalls } : {}),
  });
  await close();
  process.exit(0);
} catch (error) {
  const code = (error as { code?: string }).code;
  console.error(`tenant creation did not finish: ${code ? `${code}: ` : ""}${(error as Error).message}`);
  if (code === "UNAVAILABLE") console.error("Is Baton running? Start it with `pnpm start`, or pass --in-process.");
  await close();
  process.exit(1);
}
