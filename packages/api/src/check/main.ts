import { parseArgs } from "node:util";
import { printSummary, runCheck } from "./run-check.ts";

/*
 * `pnpm baton-check`: checks DESIGN §9's invariants on the Baton database at DATABASE_URL and
 * prints a summary; exits 1 on any violation (or too few faults, with --min-faults), 2 on bad usage.
 */
const usage = `usage: pnpm baton-check [--evidence DIR] [--ledger URL] [--quiesced] [--quiesce-limit-ms N]
                         [--min-faults kind=n,...] [--min-stale N]
  DATABASE_URL         the Baton database (required)
  --evidence DIR       report logs (reports-*.jsonl), Kafka services' logs (kafka-*.jsonl),
                       start and fault logs (starts*.jsonl, faults*.jsonl)
  --ledger URL         a ledger database with the effects and effect_log tables
  --quiesced           every instance must be terminal
  --quiesce-limit-ms   ... within this long of the last fault logged
  --min-faults         fail unless the fault log has at least this many of each kind
  --min-stale          fail unless at least this many stale attempts were refused`;

let values: ReturnType<typeof parse>["values"];
function parse() {
  return parseArgs({
    options: {
      evidence: { type: "string" },
      ledger: { type: "string" },
      quiesced: { type: "boolean" },
      "quiesce-limit-ms": { type: "string" },
      "min-faults": { type: "string" },
      "min-stale": { type: "string" },
      help: { type: "boolean" },
    },
  });
}
try {
  values = parse().values;
} catch (error) {
  console.error(`${(error as Error).message}\n${usage}`);
  process.exit(2);
}
const databaseUrl = process.env.DATABASE_URL;
if (values.help || !databaseUrl) {
  console.error(values.help ? usage : `DATABASE_URL is not set\n${usage}`);
  process.exit(values.help ? 0 : 2);
}
const number = (name: string, value: string | undefined) => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name}: expected a whole number, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
};
const minFaults = values["min-faults"]
  ? Object.fromEntries(
      values["min-faults"].split(",").map((pair) => {
        const [kind, n] = pair.split("=");
        return [kind, number("min-faults", n)];
      }),
    )
  : undefined;
if (values.ledger && !values.evidence) {
  console.error(`--ledger needs --evidence\n${usage}`);
  process.exit(2);
}

const result = await runCheck({
  databaseUrl,
  ...(values.evidence ? { evidence: { dir: values.evidence, ...(values.ledger ? { ledgerUrl: values.ledger } : {}) } } : {}),
  expectQuiesced: values.quiesced === true,
  ...(values["quiesce-limit-ms"] ? { quiesceLimitMs: number("quiesce-limit-ms", values["quiesce-limit-ms"]) } : {}),
  ...(minFaults ? { minFaults } : {}),
  ...(values["min-stale"] ? { minStaleRefused: number("min-stale", values["min-stale"]) } : {}),
});
printSummary(result);
process.exit(result.ok ? 0 : 1);
