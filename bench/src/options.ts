/**
 * The bench's settings: flags first, then BENCH_* environment variables, then defaults (which
 * `--quick` shrinks). `pnpm bench --help` prints this table.
 */

export const SCENARIOS = ["drain", "enqueue", "latency", "saga", "scale", "pglite"] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const SYSTEMS = ["baton", "floor", "graphile-worker", "pg-boss"] as const;
export type SystemName = (typeof SYSTEMS)[number];

export interface Options {
  quick: boolean;
  only: ScenarioName[];
  systems: SystemName[];
  reps: number;
  databaseUrl: string;
  /** Drain: tasks per run, and the worker concurrencies to try. */
  tasks: number;
  concurrency: number[];
  /** Baton's in-process acquire batch (`max`). */
  batch: number;
  /** Most Postgres connections one system's process may open. */
  pool: number;
  enqueue: number;
  /** Runs or jobs per batch call when enqueueing or loading a backlog. */
  chunk: number;
  rates: number[];
  latencySeconds: number;
  latencyWarmupSeconds: number;
  latencyConcurrency: number;
  sagas: number;
  scale: number[];
  pgliteTasks: number;
}

interface Setting {
  key: Exclude<keyof Options, "quick" | "only" | "systems" | "databaseUrl">;
  flag: string;
  env: string;
  kind: "int" | "ints";
  full: number | number[];
  quick: number | number[];
  help: string;
  /** The smallest value accepted (default 1). */
  min?: number;
}

const SETTINGS: Setting[] = [
  {
    key: "reps",
    flag: "--reps",
    env: "BENCH_REPS",
    kind: "int",
    full: 3,
    quick: 1,
    help: "repetitions per figure; the table shows the median",
  },
  { key: "tasks", flag: "--tasks", env: "BENCH_TASKS", kind: "int", full: 20_000, quick: 500, help: "drain: one-step tasks per run" },
  {
    key: "concurrency",
    flag: "--concurrency",
    env: "BENCH_CONCURRENCY",
    kind: "ints",
    full: [10, 50],
    quick: [10],
    help: "drain: worker concurrencies, comma-separated",
  },
  { key: "batch", flag: "--batch", env: "BENCH_BATCH", kind: "int", full: 50, quick: 50, help: "Baton in-process acquire batch (max)" },
  {
    key: "pool",
    flag: "--pool",
    env: "BENCH_POOL",
    kind: "int",
    full: 20,
    quick: 20,
    help: "cap on each system's Postgres pool (pool = min(concurrency + 1, cap))",
  },
  { key: "enqueue", flag: "--enqueue", env: "BENCH_ENQUEUE", kind: "int", full: 20_000, quick: 500, help: "enqueue: runs/jobs per run" },
  {
    key: "chunk",
    flag: "--chunk",
    env: "BENCH_CHUNK",
    kind: "int",
    full: 1000,
    quick: 250,
    help: "runs/jobs per batch call (enqueue, backlog loads)",
  },
  {
    key: "rates",
    flag: "--rates",
    env: "BENCH_RATES",
    kind: "ints",
    full: [200, 2000],
    quick: [200],
    help: "latency: offered starts per second",
  },
  {
    key: "latencySeconds",
    flag: "--latency-seconds",
    env: "BENCH_LATENCY_SECONDS",
    kind: "int",
    full: 10,
    quick: 1,
    help: "latency: seconds of offered load per rate",
  },
  {
    key: "latencyWarmupSeconds",
    flag: "--latency-warmup",
    env: "BENCH_LATENCY_WARMUP",
    kind: "int",
    full: 5,
    quick: 0,
    min: 0,
    help: "latency: seconds offered at the same rate before the measured ones (not measured; 0: measure from the first start)",
  },
  {
    key: "latencyConcurrency",
    flag: "--latency-concurrency",
    env: "BENCH_LATENCY_CONCURRENCY",
    kind: "int",
    full: 50,
    quick: 50,
    help: "latency: worker concurrency",
  },
  { key: "sagas", flag: "--sagas", env: "BENCH_SAGAS", kind: "int", full: 5000, quick: 200, help: "saga: 3-step workflows per run" },
  {
    key: "scale",
    flag: "--scale",
    env: "BENCH_SCALE",
    kind: "ints",
    full: [10_000, 1_000_000],
    quick: [1000],
    help: "scale: backlog sizes to drain (the 1,000,000 case runs once)",
  },
  {
    key: "pgliteTasks",
    flag: "--pglite-tasks",
    env: "BENCH_PGLITE_TASKS",
    kind: "int",
    full: 2000,
    quick: 200,
    help: "pglite: tasks (and runs; a tenth as many sagas)",
  },
];

const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export function helpText(): string {
  const pad = (s: string, n: number) => s.padEnd(n);
  const show = (v: number | number[]) => (Array.isArray(v) ? v.join(",") : String(v));
  const lines = [
    "pnpm bench [options] — Baton side by side with graphile-worker and pg-boss (docs/benchmarks.md)",
    "",
    "Each system runs in its own fresh database on the server of DATABASE_URL",
    `(default ${DEFAULT_DATABASE_URL}); the databases are dropped afterwards.`,
    "",
    "  --quick                  small counts, 1 repetition, concurrency 10 only, no 1,000,000 backlog, no 2,000/s (CI: under a minute)",
    `  --only <names>           scenarios to run, comma-separated: ${SCENARIOS.join(", ")}`,
    `  --systems <names>        systems to run, comma-separated: ${SYSTEMS.join(", ")}`,
    "  --help                   this text",
    "",
    `  ${pad("flag", 24)} ${pad("environment", 26)} ${pad("default", 14)} quick`,
  ];
  for (const s of SETTINGS) {
    lines.push(`  ${pad(`${s.flag} N`, 24)} ${pad(s.env, 26)} ${pad(show(s.full), 14)} ${pad(show(s.quick), 8)} ${s.help}`);
  }
  lines.push("", "A run fails (exit 1) only when work is lost: a run that did not complete, a job not run. No timing is asserted.");
  return lines.join("\n");
}

/** Parses argv (without node and the script); throws UsageError naming the flag at fault. */
export function parseOptions(argv: string[], env: Record<string, string | undefined> = process.env): Options | "help" {
  const flags = new Map<string, string>();
  let quick = false;
  const args = argv.filter((a) => a !== "--"); // `pnpm bench -- --quick` passes the separator on
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--help" || arg === "-h") return "help";
    if (arg === "--quick") {
      quick = true;
      continue;
    }
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const known = flag === "--only" || flag === "--systems" || SETTINGS.some((s) => s.flag === flag);
    if (!known) throw new UsageError(`unknown option ${arg} (see pnpm bench --help)`);
    const value = inline ?? args[++i];
    if (value === undefined || value.startsWith("--")) throw new UsageError(`${flag}: expected a value`);
    flags.set(flag, value);
  }

  const options: Partial<Options> = {
    quick,
    databaseUrl: env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL,
    only: pickNames("--only", flags.get("--only"), SCENARIOS),
    systems: pickNames("--systems", flags.get("--systems"), SYSTEMS),
  };
  for (const s of SETTINGS) {
    const raw = flags.get(s.flag) ?? env[s.env];
    const source = flags.has(s.flag) ? s.flag : s.env;
    const value = raw === undefined || raw.trim() === "" ? (quick ? s.quick : s.full) : parseNumbers(source, raw, s.kind, s.min ?? 1);
    (options as Record<string, unknown>)[s.key] = value;
  }
  return options as Options;
}

function parseNumbers(source: string, raw: string, kind: "int" | "ints", min: number): number | number[] {
  const parts = raw.split(",").map((p) => p.trim().replaceAll("_", ""));
  const numbers = parts.map((p) => Number(p));
  if (numbers.some((n) => !Number.isInteger(n) || n < min) || (kind === "int" && numbers.length !== 1)) {
    const what = min === 1 ? "positive integer" : `integer of at least ${min}`;
    throw new UsageError(`${source}: expected ${kind === "int" ? `a ${what}` : `${what}s, comma-separated`}, got ${raw}`);
  }
  return kind === "int" ? (numbers[0] as number) : numbers;
}

function pickNames<T extends string>(flag: string, raw: string | undefined, allowed: readonly T[]): T[] {
  if (raw === undefined) return [...allowed];
  const names = raw
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !allowed.includes(n as T));
  if (unknown.length > 0 || names.length === 0) {
    throw new UsageError(`${flag}: unknown name ${unknown.join(", ") || "(none)"}; choose from ${allowed.join(", ")}`);
  }
  return names as T[];
}

/** The command line as typed, for the header of a run (so it can be repeated). */
export function commandLine(argv: string[], env: Record<string, string | undefined> = process.env): string {
  const settings = SETTINGS.map((s) => s.env)
    .filter((name) => env[name]?.trim())
    .map((name) => `${name}=${env[name]}`);
  const args = argv.filter((a) => a !== "--");
  return [...settings, "pnpm bench", ...args].join(" ");
}
