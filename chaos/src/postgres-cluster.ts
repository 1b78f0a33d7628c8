import { execFile } from "node:child_process";
import { chmod, chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);

/**
 * A throwaway Postgres cluster of the suite's own, on a free port in a temporary directory: the
 * suite restarts it and kills its connections, which it must never do to a server others use.
 * As root, initdb and pg_ctl run as the `postgres` OS user (initdb refuses root).
 */
export class PostgresCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly asUser: string | undefined,
  ) {}

  static async create(options: { bin?: string } = {}): Promise<PostgresCluster> {
    const bin = options.bin ?? process.env.PG_BIN ?? (await findPostgresBin());
    const dir = await mkdtemp(join(tmpdir(), "baton-chaos-pg-"));
    const asUser = process.getuid?.() === 0 ? "postgres" : undefined;
    if (asUser) {
      const { stdout } = await run("id", ["-u", asUser]);
      const { stdout: gid } = await run("id", ["-g", asUser]);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    await chmod(dir, 0o700);
    const cluster = new PostgresCluster(dir, await freePort(), bin, asUser);
    await cluster.pg("initdb", ["-D", cluster.dataDir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
    const settings = {
      port: cluster.port,
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${dir}'`,
      max_connections: 300,
      shared_buffers: "'256MB'",
      // Durability across a crash of the server (what the suite does) needs the WAL written at
      // commit, not flushed to disk: the machine itself never crashes here.
      fsync: "off",
      full_page_writes: "off",
      // Invariant I7 is checked on commit order: when a lease was granted against when a pause committed.
      track_commit_timestamp: "on",
      log_min_messages: "fatal",
      logging_collector: "off",
    };
    const conf = Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}`)
      .join("\n");
    await writeFile(join(cluster.dataDir, "postgresql.auto.conf"), `${conf}\n`);
    if (asUser) await run("chown", [asUser, join(cluster.dataDir, "postgresql.auto.conf")]);
    await cluster.start();
    return cluster;
  }

  get dataDir(): string {
    return join(this.dir, "data");
  }

  url(database = "postgres"): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    await this.pg("pg_ctl", ["-D", this.dataDir, "-l", join(this.dir, "server.log"), "-w", "-t", "60", "start"]);
  }

  /** Stops the server; `immediate` is a crash (no checkpoint; recovery replays the WAL on start). */
  async stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    await this.pg("pg_ctl", ["-D", this.dataDir, "-m", mode, "-w", "-t", "60", "stop"]);
  }

  /** Crashes the server and starts it again; resolves once it accepts connections. */
  async restart(): Promise<void> {
    await this.stop("immediate");
    await this.start();
  }

  async query<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, database = "postgres", values: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({
      connectionString: this.url(database),
      application_name: "chaos-admin",
      connectionTimeoutMillis: 10_000,
      query_timeout: 30_000,
    });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Stops the server (if it runs) and deletes its directory. */
  async destroy(): Promise<void> {
    await this.stop("immediate").catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }

  private async pg(tool: string, args: string[]): Promise<void> {
    const command = join(this.bin, tool);
    if (this.asUser) await run("runuser", ["-u", this.asUser, "--", command, ...args], { cwd: this.dir });
    else await run(command, args, { cwd: this.dir });
  }
}

async function findPostgresBin(): Promise<string> {
  try {
    const { stdout } = await run("pg_config", ["--bindir"]);
    const dir = stdout.trim();
    await run(join(dir, "initdb"), ["--version"]);
    return dir;
  } catch {
    for (const version of ["17", "16", "15", "14"]) {
      const dir = `/usr/lib/postgresql/${version}/bin`;
      try {
        await run(join(dir, "initdb"), ["--version"]);
        return dir;
      } catch {}
    }
  }
  throw new Error("No Postgres server binaries (initdb, pg_ctl) found: install Postgres or set PG_BIN to their directory");
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
