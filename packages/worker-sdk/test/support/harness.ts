import { loadConfig, startServer } from "@baton/api";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { TestEngine } from "../../../../test-support/engine.ts";
import {
  type Client,
  type ConnectOptions,
  createClient,
  createHttpTransport,
  createInProcessTransport,
  createWorker,
  silentLogger,
  type Transport,
  type Worker,
  type WorkerEvent,
  type WorkerOptions,
} from "../../src/index.ts";

/** How a test reaches Baton: the same engine, in-process or over a real HTTP port. */
export type TransportMode = "in-process" | "http";

export const TRANSPORT_MODES: TransportMode[] = ["in-process", "http"];

export interface Connection {
  mode: TransportMode;
  options: ConnectOptions;
  close(): Promise<void>;
}

export async function connectTo(engine: TestEngine, mode: TransportMode): Promise<Connection> {
  if (mode === "in-process") return { mode, options: { engine }, close: async () => {} };
  // The real server on an ephemeral port, serving the test's engine (left open on close).
  const server = await startServer(loadConfig({ PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent" }), { engine });
  return { mode, options: { url: server.url }, close: () => server.close() };
}

/**
 * What every worker suite sets up per transport: a connection and a client for the suite, workers
 * started through it (stopped after each test), and the mode's real transport for a test to wrap.
 * Register it inside the `describe`; read `connection` and `client` from within tests.
 */
export function workerSuite(engine: () => TestEngine, mode: TransportMode, defaults: Partial<WorkerOptions> = {}) {
  let connection: Connection | undefined;
  let client: Client | undefined;
  const workers: Worker[] = [];
  beforeAll(async () => {
    connection = await connectTo(engine(), mode);
    client = createClient(connection.options);
  });
  afterAll(() => connection?.close());
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop({ deadlineMs: 0 })));
  });
  const suite = {
    get connection(): Connection {
      if (!connection) throw new Error("the suite's connection is opened in beforeAll");
      return connection;
    },
    get client(): Client {
      if (!client) throw new Error("the suite's client is made in beforeAll");
      return client;
    },
    /** Stops `worker` after the test. */
    track(worker: Worker): Worker {
      workers.push(worker);
      return worker;
    },
    /** The real transport of this mode. */
    realTransport(): Transport {
      const { options } = suite.connection;
      return options.engine ? createInProcessTransport(options.engine) : createHttpTransport({ url: options.url as string });
    },
    /** A worker on this mode's connection (or on `transport`), quiet, stopped after the test. */
    startWorker(options: Omit<WorkerOptions, "url" | "engine" | "transport"> & { transport?: Transport }): Worker {
      const { transport, ...rest } = options;
      const settings = { ...(transport ? { transport } : suite.connection.options), logger: silentLogger, ...defaults, ...rest };
      return suite.track(createWorker(settings as WorkerOptions));
    },
  };
  return suite;
}

/**
 * Records a worker's events and lets a test wait for one: `await events.next((e) => ...)` resolves
 * with the first matching event, past or future.
 */
export class EventLog {
  readonly all: WorkerEvent[] = [];
  private readonly waiters: { match: (e: WorkerEvent) => boolean; resolve: (e: WorkerEvent) => void }[] = [];

  readonly push = (event: WorkerEvent): void => {
    this.all.push(event);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(event)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  };

  next<T extends WorkerEvent["type"]>(type: T, match: (e: Extract<WorkerEvent, { type: T }>) => boolean = () => true) {
    const test = (e: WorkerEvent): boolean => e.type === type && match(e as Extract<WorkerEvent, { type: T }>);
    const seen = this.all.find(test);
    if (seen) return Promise.resolve(seen as Extract<WorkerEvent, { type: T }>);
    return new Promise<Extract<WorkerEvent, { type: T }>>((resolve) => {
      this.waiters.push({ match: test, resolve: resolve as (e: WorkerEvent) => void });
    });
  }

  /** Resolves once `count` events of `type` have been seen. */
  count(type: WorkerEvent["type"], count: number): Promise<void> {
    let seen = this.all.filter((e) => e.type === type).length;
    if (seen >= count) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({
        match: (e) => e.type === type && ++seen >= count,
        resolve: () => resolve(),
      });
    });
  }

  ofType<T extends WorkerEvent["type"]>(type: T): Extract<WorkerEvent, { type: T }>[] {
    return this.all.filter((e) => e.type === type) as Extract<WorkerEvent, { type: T }>[];
  }
}

/** A unique workflow name per test, so tests in one database never see each other's tasks. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** A promise with its resolve function, for handlers that wait on the test. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
