import pg from "pg";

/**
 * Fresh databases on the server of DATABASE_URL, one per measured run, so no system sees another's
 * tables or its own leftovers. Every database is dropped WITH (FORCE) afterwards, also when the run
 * failed or the bench is interrupted.
 */
export class PgServer {
  private readonly live = new Set<string>();
  private counter = 0;

  constructor(readonly url: string) {}

  /** Runs one statement on the server's own database (the one DATABASE_URL names). */
  async query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<Row[]> {
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    try {
      return (await client.query<Row>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  /** The URL of a database on this server. */
  urlOf(database: string): string {
    const url = new URL(this.url);
    url.pathname = `/${database}`;
    return url.toString();
  }

  /**
   * Creates `bench_<pid>_<n>_<label>` from template0 (nobody connects to it, so creation never
   * waits on a colleague's session in template1), runs `fn` with its URL, drops it.
   */
  async withFreshDatabase<T>(label: string, fn: (url: string) => Promise<T>): Promise<T> {
    const name = `bench_${process.pid}_${++this.counter}_${label.replace(/[^a-z0-9]+/gi, "_").toLowerCase()}`.slice(0, 63);
    await this.query(`CREATE DATABASE ${pg.Client.prototype.escapeIdentifier(name)} TEMPLATE template0`);
    this.live.add(name);
    try {
      return await fn(this.urlOf(name));
    } finally {
      await this.drop(name);
    }
  }

  private async drop(name: string): Promise<void> {
    // A peer's stop() can resolve while its pool is still closing connections; killing those
    // (FORCE) would raise errors in its pool, so give them a moment to go on their own first.
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const [row] = await this.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1", [name]);
      if (!row?.n) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await this.query(`DROP DATABASE IF EXISTS ${pg.Client.prototype.escapeIdentifier(name)} WITH (FORCE)`);
    this.live.delete(name);
  }

  /** Drops every database this process created and has not dropped yet (on interrupt). */
  async dropAll(): Promise<void> {
    await Promise.allSettled([...this.live].map((name) => this.drop(name)));
  }
}

/** ANALYZE a freshly loaded database, as autovacuum would soon: the same for every system. */
export async function analyze(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("ANALYZE");
  } finally {
    await client.end();
  }
}

export interface RelationSize {
  table: string;
  totalMb: number;
  indexesMb: number;
}

/** Every user table of a database with its total size (heap, TOAST, indexes) and its indexes' size. */
export async function relationSizes(url: string): Promise<RelationSize[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ table: string; total: string; indexes: string }>(
      `SELECT relname AS table, pg_total_relation_size(relid) AS total, pg_indexes_size(relid) AS indexes
         FROM pg_stat_user_tables ORDER BY pg_total_relation_size(relid) DESC, relname`,
    );
    return rows.map((r) => ({ table: r.table, totalMb: Number(r.total) / 2 ** 20, indexesMb: Number(r.indexes) / 2 ** 20 }));
  } finally {
    await client.end();
  }
}
