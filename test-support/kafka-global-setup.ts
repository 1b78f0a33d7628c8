import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { migrateDatabase } from "@baton/engine";
import type { TestProject } from "vitest/node";
import { waitForKafka } from "./kafka.ts";
import { adminQuery, TEST_POSTGRES_URL, withDatabase } from "./postgres.ts";

const KAFKA_SH = fileURLToPath(new URL("../scripts/kafka.sh", import.meta.url));

/**
 * Global setup of the Kafka project: a broker that answers (started here when the plan says so,
 * and stopped afterwards only if this run started it) and, on Postgres, a migrated template
 * database of the project's own, so it never races the Postgres project's template.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The project's `env` reaches the test workers, not this process: read it from the config.
  const env = project.config.env ?? {};
  const teardown: (() => Promise<void>)[] = [];
  if (env.BATON_KAFKA_START === "1") {
    const wasRunning = kafkaSh("status");
    if (!kafkaSh("start")) throw new Error(`scripts/kafka.sh start failed (see its output above); the Kafka tests need a broker`);
    if (!wasRunning) teardown.push(async () => void kafkaSh("stop"));
  }
  await waitForKafka(String(env.KAFKA_BROKERS ?? "127.0.0.1:9092").split(","));
  if (env.BATON_TEST_DB === "postgres") {
    const template = `baton_kafka_template_${process.pid}`;
    project.provide("templateDb", template);
    await adminQuery(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
    await adminQuery(`CREATE DATABASE ${template}`);
    await migrateDatabase({ kind: "postgres", url: withDatabase(TEST_POSTGRES_URL, template), poolSize: 1 });
    teardown.push(() => adminQuery(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`));
  }
  return async () => {
    for (const step of teardown.reverse()) await step();
  };
}

function kafkaSh(command: "start" | "stop" | "status"): boolean {
  try {
    execFileSync(KAFKA_SH, [command], { stdio: ["ignore", "ignore", command === "status" ? "ignore" : "inherit"] });
    return true;
  } catch {
    return false;
  }
}
