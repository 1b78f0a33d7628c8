import { defineConfig } from "vitest/config";
import { postgresReachable, TEST_POSTGRES_URL } from "./test-support/postgres.ts";

const include = ["packages/*/test/**/*.test.ts"];

// The same suite runs on real Postgres and on PGlite. Without a reachable Postgres the Postgres
// half is left out, and said so loudly.
const postgres = await postgresReachable();
if (!postgres) {
  console.warn(
    `\n*** SKIPPING the Postgres test project: no server at ${TEST_POSTGRES_URL.replace(/\/\/[^@]*@/, "//")}` +
      " (set DATABASE_URL, or start Postgres on 127.0.0.1:5432). Running on PGlite only. ***\n",
  );
}

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      ...(postgres
        ? [
            {
              extends: true as const,
              test: {
                name: "postgres",
                include,
                env: { BATON_TEST_DB: "postgres" },
                globalSetup: ["test-support/postgres-global-setup.ts"],
              },
            },
          ]
        : []),
      { extends: true as const, test: { name: "pglite", include, env: { BATON_TEST_DB: "pglite" } } },
    ],
  },
});
