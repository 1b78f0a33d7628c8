import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { bundleServer } from "../../../scripts/server-bundle.ts";
import { spawnNode } from "../child-process.ts";
import { peakRssMb } from "../rss.ts";

/** The production server bundle, built once per bench run (beside packages/api's dependencies, for PGlite). */
let bundled: Promise<string> | undefined;
const serverBundle = () => {
  bundled ??= bundleServer(".bench-server/");
  return bundled;
};

/** The server as the image and `baton serve` run it, a separate process on one database: what HTTP workers talk to. */
export interface BatonServer {
  readonly url: string;
  readonly pid: number;
  /** Stops the process (SIGTERM, then SIGKILL after 10 s) and returns its peak RSS in MB. */
  stop(): Promise<number | null>;
}

/** Peak RSS (MB) of every server process this run stopped. */
export const serverPeaksMb: number[] = [];

/**
 * Spawns `node main.js` of the production bundle (what `pnpm build` makes for the image; this
 * checkout's source, bundled afresh) with DATABASE_URL and a free PORT, and waits for /healthz.
 * Not `pnpm start`: its tsx loader compiles TypeScript in a thread of its own, which costs memory
 * and CPU that no deployment carries (and that the peers, plain JavaScript, do not pay).
 * LOG_LEVEL=warn: one log line per request would be measured as well otherwise.
 */
export async function startBatonServer(databaseUrl: string): Promise<BatonServer> {
  const [port, main] = await Promise.all([freePort(), serverBundle()]);
  const child = spawnNode(
    [main],
    { DATABASE_URL: databaseUrl, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", KAFKA_BROKERS: "" },
    ["ignore", "pipe", "pipe"],
  );
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(url, child, 30_000);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${(error as Error).message}\n--- server output ---\n${output}`);
  }
  const pid = child.pid as number;
  return {
    url,
    pid,
    async stop() {
      const peak = peakRssMb(pid);
      if (peak !== null) serverPeaksMb.push(peak);
      await stopChild(child);
      return peak;
    },
  };
}

async function waitHealthy(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the Baton server exited with code ${child.exitCode} before it was healthy`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the Baton server did not answer ${url}/healthz within ${timeoutMs / 1000} s`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** A port nobody listens on right now (the kernel's pick for port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
