import { BatonError, redactSecrets } from "@baton/contract";
import { type DatabaseConnection, type Dialect, type Driver, Kysely, PostgresDialect, sql, type Transaction } from "kysely";
import pg from "pg";
import { openPgliteInstance } from "./pglite.ts";
import type { Schema } from "./schema.ts";
import { batonTypes } from "./timestamps.ts";

/** Where the data lives: a Postgres server, an embedded PGlite data directory, or an in-memory PGlite. */
export type DatabaseConfig = { kind: "postgres"; url: string; poolSize?: number } | { kind: "pglite"; dataDir?: string };

export type Db = Kysely<Schema>;
export type DbOrTrx = Kysely<Schema> | Transaction<Schema>;

/**
 * One database handle for the engine: Kysely for queries, plus the two things Kysely does not
 * cover on both dialects alike: multi-statement scripts (migrations) and LISTEN.
 */
export interface Database {
  readonly kind: DatabaseConfig["kind"];
  readonly db: Db;
  /** Runs a multi-statement SQL script inside the given transaction. */
  execScript(trx: Transaction<Schema>, script: string): Promise<void>;
  /**
   * Calls `onNotify(payload)` for every NOTIFY on `channel`. The returned function unsubscribes.
   * On Postgres one dedicated connection listens and is re-established when it drops: `onLost` is
   * told each time the connection (or an attempt to re-establish it) fails, and `onReconnect` runs
   * after each re-connection, since notifications sent while it was down are lost.
   */
  listen(channel: string, onNotify: (payload: string) => void, events?: ListenEvents): Promise<() => Promise<void>>;
  /**
   * What the handle holds right now: the `connections` Kysely has taken (from the pool, or PGlite's
   * one session) and not given back, LISTEN's own aside, and for how long the oldest of them has
   * been out; on PGlite, whether its session is inside a transaction (a Postgres session's state is
   * in pg_stat_activity). The tests check after each test that nothing the test took is still out.
   */
  inUse(): DatabaseInUse;
  close(): Promise<void>;
}

/** See Database.inUse. */
export interface DatabaseInUse {
  connections: number;
  /** How long the connection out the longest has been out (0 when none is). */
  longestHeldMs: number;
  inTransaction: boolean;
}

/** What a LISTEN subscription tells its owner about its connection. */
export interface ListenEvents {
  onReconnect?: () => void;
  onLost?: (error: unknown) => void;
}

/** Opens a database handle. Migrations are not applied here: see `migrate`. */
export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  return config.kind === "postgres" ? openPostgres(config.url, config.poolSize ?? 10) : openPglite(config.dataDir);
}

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  checkConnectionString(url);
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types: batonTypes });
  // An idle client that errors (server restart) must not crash the process; the pool drops it.
  pool.on("error", () => {});
  // Nor may a client whose connection dies mid-query (backend terminated): the query in flight
  // is rejected with the error, and the pool discards the client when it is released.
  pool.on("connect", (client) => {
    client.on("error", () => {});
    preparedStatements(client);
    // Every statement of the engine looks rows up by key or walks an index in a fixed shape, so
    // a prepared statement's generic plan is as good as a custom one, and planning the acquire
    // anew each time cost more than running it (0.4 ms against 0.1 at 200 runs/s). Nor does one
    // gain from JIT compilation: a generic plan does not know its LIMIT, so over a deep backlog
    // the acquire's estimate passed jit_above_cost and each one spent 18 ms compiling to run 3.
    client.query("SET plan_cache_mode = force_generic_plan; SET jit = off").catch(() => {});
  });
  const held = new HeldConnections();
  const db = new Kysely<Schema>({ dialect: batonDialect(new PostgresDialect({ pool }), held) });
  const listeners = new Set<PostgresListener>();
  return {
    kind: "postgres",
    db,
    inUse: () => held.inUse(false),
    async execScript(trx, script) {
      // No parameters, so pg sends it with the simple protocol, which allows several statements.
      await sql.raw(script).execute(trx);
    },
    async listen(channel, onNotify, events = {}) {
      const listener = new PostgresListener(url, channel, onNotify, events);
      listeners.add(listener);
      await listener.start();
      return async () => {
        listeners.delete(listener);
        await listener.stop();
      };
    },
    async close() {
      await Promise.all([...listeners].map((l) => l.stop()));
      await db.destroy();
    },
  };
}

/**
 * Parses the URL the way pg will (a client is built, nothing connects), so a malformed one fails
 * here, quoted with its password hidden, instead of at the first query with pg's bare "Invalid URL".
 */
function checkConnectionString(url: string): void {
  try {
    new pg.Client({ connectionString: url });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new BatonError("VALIDATION_ERROR", `The Postgres connection URL cannot be used (${redactSecrets(url)}): ${reason}`, {
      url: redactSecrets(url),
    });
  }
}

/** Distinct statements one connection keeps prepared; beyond this, further ones run unnamed. */
const MAX_PREPARED_PER_CONNECTION = 200;

/**
 * Makes a connection prepare each parameterised statement once and reuse it: Postgres then parses
 * and plans Baton's hot-path statements (several data-modifying CTEs each) once per connection
 * instead of on every call. Statements get names in the order first seen; the cap keeps a
 * connection from collecting one plan per distinct `IN (...)` length forever.
 */
function preparedStatements(client: pg.PoolClient): void {
  const names = new Map<string, string>();
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const prepared = (text: unknown, values?: unknown, callback?: unknown) => {
    if (typeof text !== "string" || !Array.isArray(values) || values.length === 0) return query(text, values, callback);
    let name = names.get(text);
    if (name === undefined && names.size < MAX_PREPARED_PER_CONNECTION) {
      name = `baton_${names.size}`;
      names.set(text, name);
    }
    return name === undefined ? query(text, values, callback) : query({ name, text, values }, callback);
  };
  // A query refused because the backend went away (terminated, server shutting down) can be
  // answered before pg has seen the socket close, and the client would go back to the pool as if
  // it were healthy: ending it now makes the pool discard it on release.
  const discardingIfLost = (...args: unknown[]) => {
    const result = prepared(...(args as [unknown, unknown, unknown]));
    if (!(result instanceof Promise)) return result;
    return result.catch((error: unknown) => {
      if (connectionError(error)) client.end().catch(() => {});
      throw error;
    });
  };
  Object.assign(client, { query: discardingIfLost });
}

/** A LISTEN connection that comes back after it drops, with growing pauses between tries. */
class PostgresListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(
    private readonly url: string,
    private readonly channel: string,
    private readonly onNotify: (payload: string) => void,
    private readonly events: ListenEvents,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    client.on("notification", (msg) => {
      if (msg.channel === this.channel) this.onNotify(msg.payload ?? "");
    });
    client.on("error", (error) => this.scheduleReconnect(client, error));
    client.on("end", () => this.scheduleReconnect(client, new Error("the LISTEN connection ended")));
    await client.connect();
    await client.query(`LISTEN ${pg.Client.prototype.escapeIdentifier(this.channel)}`);
    if (this.stopped) {
      // Stopped while connecting: this connection is thrown away, so how its end goes does not matter.
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.failures = 0;
  }

  private scheduleReconnect(dead: pg.Client, error: unknown): void {
    if (this.stopped || this.client !== dead || this.retryTimer) return;
    this.events.onLost?.(error);
    this.client = undefined;
    const delay = Math.min(5000, 100 * 2 ** this.failures);
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = undefined;
      try {
        await this.connect();
        this.events.onReconnect?.();
      } catch (error) {
        this.failures++;
        this.client = dead;
        this.scheduleReconnect(dead, error);
      }
    }, delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    // Stopping: a connection that fails to close cleanly is gone all the same.
    await client?.end().catch(() => {});
  }
}

async function openPglite(dataDir: string | undefined): Promise<Database> {
  // Loaded only when asked for: PGlite's module graph and WASM cost a Postgres-backed process
  // tens of megabytes it would never use.
  const [pglite, { PGliteDialect }] = await Promise.all([openPgliteInstance(dataDir), import("kysely-pglite-dialect")]);
  const held = new HeldConnections();
  const db = new Kysely<Schema>({ dialect: batonDialect(new PGliteDialect(pglite), held) });
  return {
    kind: "pglite",
    db,
    inUse: () => held.inUse(pglite.isInTransaction()),
    async execScript(_trx, script) {
      // PGlite has one session, so exec runs inside the transaction Kysely opened on it.
      await pglite.exec(script);
    },
    async listen(channel, onNotify) {
      return pglite.listen(channel, onNotify);
    },
    async close() {
      await db.destroy();
    },
  };
}

/** The connections a driver has handed Kysely and not had back, each with when it went out. */
class HeldConnections {
  private readonly since = new Map<DatabaseConnection, number>();

  taken(connection: DatabaseConnection): void {
    this.since.set(connection, performance.now());
  }

  given(connection: DatabaseConnection): void {
    this.since.delete(connection);
  }

  inUse(inTransaction: boolean): DatabaseInUse {
    const oldest = Math.min(...this.since.values());
    return { connections: this.since.size, longestHeldMs: this.since.size === 0 ? 0 : performance.now() - oldest, inTransaction };
  }
}

/**
 * The dialect with its driver as Baton runs it: driver errors translated (see `translated`), and
 * the connections it has out counted in `held`.
 *
 * Postgres refuses some values that pass validation: a NUL character or a lone surrogate in JSON or
 * text, a string that is not a UUID. Those are the caller's input, so they surface as
 * VALIDATION_ERROR (SQLSTATE class 22, data exception) rather than as an internal error, whichever
 * query met them.
 */
function batonDialect(dialect: Dialect, held: HeldConnections): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createDriver: () => batonDriver(dialect.createDriver(), held),
  };
}

function batonDriver(driver: Driver, held: HeldConnections): Driver {
  const patched = new WeakSet<DatabaseConnection>();
  return new Proxy(driver, {
    get(target, prop, receiver) {
      if (prop === "releaseConnection") {
        return async (connection: DatabaseConnection) => {
          held.given(connection);
          await target.releaseConnection(connection);
        };
      }
      if (prop === "acquireConnection") {
        return async () => {
          const connection = await target.acquireConnection().catch((error: unknown) => {
            throw translated(error);
          });
          held.taken(connection);
          if (!patched.has(connection)) {
            // Patched in place: drivers recognise their connections by identity.
            const execute = connection.executeQuery.bind(connection);
            connection.executeQuery = async (query) => {
              try {
                return await execute(query);
              } catch (error) {
                throw translated(error);
              }
            };
            patched.add(connection);
          }
          return connection;
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A driver error as the typed error it means to a caller, or unchanged when it means nothing to one. */
function translated(error: unknown): unknown {
  return inputError(error) ?? connectionError(error) ?? error;
}

function inputError(error: unknown): BatonError | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !code.startsWith("22")) return null;
  const reason = error instanceof Error ? error.message : String(error);
  return new BatonError("VALIDATION_ERROR", `A value cannot be stored: ${reason}`, { sqlstate: code }, { cause: error });
}

/** Socket errors that mean the database went away (or cannot be reached). */
const LOST_SOCKET = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]);

/** What pg says, with no code, about a connection that died or was never made. */
const LOST_MESSAGE =
  /connection terminated|connection error and is not queryable|is not queryable|timeout exceeded when trying to connect/i;

/**
 * A lost or refused database connection (a backend terminated, Postgres restarting or shutting
 * down: SQLSTATE class 08 and 57P01-57P03, socket errors, pg's own "not queryable") is not the
 * caller's fault nor a bug: UNAVAILABLE (503), which clients retry. The outcome of a request cut
 * off mid-commit is unknown, so the message says to retry; every write is safe to repeat.
 */
function connectionError(error: unknown): BatonError | null {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const lost =
    typeof code === "string"
      ? code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || LOST_SOCKET.has(code)
      : LOST_MESSAGE.test(message);
  if (!lost) return null;
  return new BatonError(
    "UNAVAILABLE",
    `The database connection was lost or refused (${message}); the request may not have been applied, retry it`,
    { retryable: true, ...(typeof code === "string" ? { driverCode: code } : {}) },
    { cause: error },
  );
}
