import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort } from "./postgres-cluster.ts";

const run = promisify(execFile);
const KAFKA_SH = fileURLToPath(new URL("../../scripts/kafka.sh", import.meta.url));

/**
 * A Kafka broker of the suite's own: `scripts/kafka.sh` (the jars it fetched once, shared with the
 * tests) with its config, data and pid file in a temporary directory and on free ports. The suite
 * stops and starts it under load; a broker others use (the tests' on 9092, say) is never touched,
 * because the script only ever stops the broker whose pid file is in its KAFKA_DIR.
 */
export class KafkaBroker {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly controllerPort: number,
  ) {}

  static async create(): Promise<KafkaBroker> {
    const dir = await mkdtemp(join(tmpdir(), "baton-chaos-kafka-"));
    const port = await freePort();
    let controllerPort = await freePort();
    while (controllerPort === port) controllerPort = await freePort();
    const broker = new KafkaBroker(dir, port, controllerPort);
    await broker.start();
    return broker;
  }

  /** `host:port`, as KAFKA_BROKERS takes it. */
  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts the broker (its data kept from before); resolves once it serves. */
  async start(): Promise<void> {
    await this.script("start");
  }

  /**
   * `clean`: SIGTERM, as an orderly shutdown (SIGKILL after 30 s); `crash`: SIGKILL at once, so the
   * restart recovers its logs, as after a crash (the page cache survives: the machine does not die).
   */
  async stop(mode: "clean" | "crash" = "clean"): Promise<void> {
    await this.script("stop", mode === "crash" ? { KAFKA_STOP_TIMEOUT: "0" } : {});
    // The script does not wait for a SIGKILLed JVM to be gone; a start before then finds its ports taken.
    for (const port of [this.port, this.controllerPort]) await portClosed(port);
  }

  /**
   * Crashes the broker and starts it again on the same port, with the same data; resolves once it
   * serves. A clean shutdown under load can take longer than the whole restart should.
   */
  async restart(): Promise<{ stopMs: number; startMs: number }> {
    const t0 = Date.now();
    await this.stop("crash");
    const t1 = Date.now();
    await this.start();
    return { stopMs: t1 - t0, startMs: Date.now() - t1 };
  }

  /** Stops the broker (if it runs) and deletes its directory. */
  async destroy(): Promise<void> {
    await this.stop().catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }

  private async script(command: "start" | "stop", extraEnv: Record<string, string> = {}): Promise<void> {
    const env = {
      ...process.env,
      ...extraEnv,
      KAFKA_DIR: this.dir,
      KAFKA_PORT: String(this.port),
      KAFKA_CONTROLLER_PORT: String(this.controllerPort),
      KAFKA_HEAP_OPTS: "-Xms128m -Xmx384m",
    };
    try {
      await run(KAFKA_SH, [command], { env, timeout: 180_000 });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr?.trim();
      throw new Error(`scripts/kafka.sh ${command} (KAFKA_DIR=${this.dir}) failed${stderr ? `:\n${stderr}` : ""}`);
    }
  }
}

/** Resolves once nothing accepts connections on the port (within `timeoutMs`). */
async function portClosed(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (!open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`port ${port} still accepts connections ${timeoutMs} ms after the broker was stopped`);
}
