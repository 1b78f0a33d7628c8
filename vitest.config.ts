import { configDefaults, defineConfig } from "vitest/config";
import { kafkaTestPlan } from "./test-support/kafka-plan.ts";
import { postgresReachable, TEST_POSTGRES_URL } from "./test-support/postgres.ts";

const include = ["packages/*/test/**/*.test.ts"];
// The Kafka suite is its own project (below), so the database projects leave it out.
const kafkaTests = ["packages/api/test/kafka/**/*.test.ts"];
const exclude = [...configDefaults.exclude, ...kafkaTests];
// After each test, every project checks that the test gave back every connection and left no
// transaction open (test-support/leak-check-setup.ts).
const setupFiles = ["test-support/leak-check-setup.ts"];

// The same suite runs on real Postgres and on PGlite. Without a reachable Postgres the Postgres
// half is left out, and said so loudly.
const postgres = await postgresReachable();
if (!postgres) {
  console.warn(
    `\n*** SKIPPING the Postgres test project: no server at ${TEST_POSTGRES_URL.replace(/\/\/[^@]*@/, "//")}` +
      " (set DATABASE_URL, or start Postgres on 127.0.0.1:5432). Running on PGlite only. ***\n",
  );
}

// The Kafka suite runs against a real broker (see test-support/kafka-plan.ts for where it comes
// from), once: on Postgres when there is one, else on PGlite. It tests the bridge and the broker,
// not the SQL dialects the database projects already cover twice, and it is the slowest suite.
const kafka = kafkaTestPlan();
// vitest evaluates this file once per project; say it once.
const saidKafka = Symbol.for("baton.kafka-plan-said");
if ((globalThis as Record<symbol, unknown>)[saidKafka]) {
  // already said
} else if (kafka.kind === "skip") {
  console.warn(`\n*** SKIPPING the Kafka tests: ${kafka.reason}. Set KAFKA_BROKERS, or install Java 17 and Maven. ***\n`);
} else {
  console.warn(
    `\n*** Kafka tests: broker ${kafka.brokers}${kafka.kind === "local" ? " (started by scripts/kafka.sh if not running)" : ""};` +
      ` run once, on ${postgres ? "Postgres" : "PGlite"} only (the database projects cover both dialects). ***\n`,
  );
}
(globalThis as Record<symbol, unknown>)[saidKafka] = true;

// Inside the workspace, @baton/* packages resolve to their TypeScript source (the `@baton/source`
// export condition; the default condition is the compiled dist, which tests never need built).
// Child processes that tests start get the same condition through NODE_OPTIONS.
const SOURCE_CONDITION = "@baton/source";
const serverConditions = [SOURCE_CONDITION, "module", "node", "development|production"];
if (!process.env.NODE_OPTIONS?.includes(`--conditions=${SOURCE_CONDITION}`)) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --conditions=${SOURCE_CONDITION}`.trim();
}

export default defineConfig({
  // Tests run in Vite's server (SSR) environment, whose conditions these replace.
  ssr: { resolve: { conditions: serverConditions } },
  // Global set-up files (test-support/*-global-setup.ts) are loaded in Vitest's own environment.
  environments: { __vitest__: { resolve: { conditions: serverConditions } } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Most test time is spent waiting on Postgres, Kafka or timers, so on a 2-core machine three
    // files at a time finish sooner than the default of one per core.
    maxWorkers: 3,
    projects: [
      ...(postgres
        ? [
            {
              extends: true as const,
              test: {
                name: "postgres",
                include,
                exclude,
                setupFiles,
                env: { BATON_TEST_DB: "postgres" },
                globalSetup: ["test-support/postgres-global-setup.ts"],
              },
            },
          ]
        : []),
      { extends: true as const, test: { name: "pglite", include, exclude, setupFiles, env: { BATON_TEST_DB: "pglite" } } },
      ...(kafka.kind === "skip"
        ? []
        : [
            {
              extends: true as const,
              test: {
                name: "kafka",
                include: kafkaTests,
                setupFiles,
                env: {
                  BATON_TEST_DB: postgres ? "postgres" : "pglite",
                  KAFKA_BROKERS: kafka.brokers,
                  BATON_KAFKA_START: kafka.kind === "local" ? "1" : "0",
                  KAFKAJS_NO_PARTITIONER_WARNING: "1",
                },
                globalSetup: ["test-support/kafka-global-setup.ts"],
              },
            },
          ]),
    ],
  },
});
