import pg from "pg";

declare module "vitest" {
  export interface ProvidedContext {
    /** The migrated template database of this test run, cloned by each test file. */
    templateDb: string;
  }
}

/** The server the Postgres test project uses: DATABASE_URL, else the local default. */
export const TEST_POSTGRES_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** Replaces the database name of a connection URL. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function postgresReachable(url = TEST_POSTGRES_URL): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Runs one statement on a connection of its own (to the server's default database unless `url` names another); answers its rows. */
export async function adminQuery<R extends object = object>(text: string, values: unknown[] = [], url = TEST_POSTGRES_URL): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}
