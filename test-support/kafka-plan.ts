import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * How the Kafka test project gets its broker, decided when vitest loads its config:
 * - `KAFKA_BROKERS` set: use that broker (it must answer, or the run fails);
 * - else Java and Maven (or already fetched jars) present: scripts/kafka.sh starts a local broker
 *   for the run and stops it afterwards (a broker it did not start is left running);
 * - else the Kafka tests are skipped, saying why, except under CI=true, where that is an error.
 * `BATON_SKIP_KAFKA=1` skips them on purpose (refused under CI).
 */
export type KafkaPlan = { kind: "external" | "local"; brokers: string } | { kind: "skip"; reason: string };

export function kafkaTestPlan(env: NodeJS.ProcessEnv = process.env): KafkaPlan {
  const ci = env.CI === "true" || env.CI === "1";
  const skip = (reason: string): KafkaPlan => {
    if (ci) throw new Error(`Kafka tests cannot run under CI=true: ${reason}. CI must run them against a real broker.`);
    return { kind: "skip", reason };
  };
  if (env.BATON_SKIP_KAFKA === "1") return skip("BATON_SKIP_KAFKA=1");
  if (env.KAFKA_BROKERS) return { kind: "external", brokers: env.KAFKA_BROKERS };
  const java = env.JAVA_HOME ? join(env.JAVA_HOME, "bin", "java") : "java";
  if (!runs(java, ["-version"])) return skip("KAFKA_BROKERS is not set and there is no Java to run a local broker (install JDK 17)");
  const version = env.KAFKA_VERSION ?? "3.9.1";
  const cache = env.KAFKA_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "baton", `kafka-${version}`);
  if (!existsSync(join(cache, "jars", ".complete")) && !runs("mvn", ["-v"])) {
    return skip("KAFKA_BROKERS is not set and Maven is missing, so scripts/kafka.sh cannot fetch the Kafka jars");
  }
  return { kind: "local", brokers: `127.0.0.1:${env.KAFKA_PORT ?? "9092"}` };
}

function runs(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: "ignore", timeout: 15_000 });
    return true;
  } catch {
    return false;
  }
}
