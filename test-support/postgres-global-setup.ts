import { migrateDatabase } from "@baton/engine";
import type { TestProject } from "vitest/node";
import { adminQuery, TEST_POSTGRES_URL, withDatabase } from "./postgres.ts";

/**
 * Builds one migrated template database per test run; each test file clones it (fast, isolated).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // One template per run, so runs in parallel (several checkouts, CI) do not trip over each other.
  const TEMPLATE_DB = `baton_template_${process.pid}`;
  project.provide("templateDb", TEMPLATE_DB);
  await adminQuery(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
  await adminQuery(`CREATE DATABASE ${TEMPLATE_DB}`);
  await migrateDatabase({ kind: "postgres", url: withDatabase(TEST_POSTGRES_URL, TEMPLATE_DB), poolSize: 1 });
  return async () => {
    await adminQuery(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
  };
}
