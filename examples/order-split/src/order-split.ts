import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, startServer } from "@baton/api";
import {
  createClient,
  createWorker,
  type HandlerContext,
  type InstanceView,
  silentLogger,
  TERMINAL_STATES,
  timelineLine,
} from "@baton/worker-sdk";

/**
 * One payload split over several calls, as the FastAPI orchestrator splits its request: an order's
 * lines are reserved one by one by the inventory service's worker (a fan-out step, `forEach`), at
 * most two at a time, then the order is invoiced from the reservations in line order. A line that
 * cannot be reserved (after its retry) fails the order, and every line already reserved is
 * released again, each by its own UNDO.
 */
export const orderSplitDefinition = {
  name: "exampleOrderSplit",
  type: "sequential",
  defaults: { leaseMs: 10_000, retry: { maxAttempts: 2, backoffMs: 100 } },
  steps: [{ name: "reserve", forEach: "order.lines", maxConcurrency: 2, undo: true }, { name: "invoice" }],
} as const;

interface Line {
  sku: string;
  qty: number;
}
interface Reservation {
  sku: string;
  qty: number;
  price: number;
}

/** The orders the example places: one whose lines are all in stock, one with a piano nobody has. */
export const EXAMPLE_ORDERS = [
  {
    orderId: "o-1",
    lines: [
      { sku: "book", qty: 2 },
      { sku: "pen", qty: 3 },
      { sku: "lamp", qty: 1 },
      { sku: "pen", qty: 2 },
    ],
  },
  {
    orderId: "o-2",
    lines: [
      { sku: "book", qty: 1 },
      { sku: "piano", qty: 1 },
      { sku: "pen", qty: 1 },
    ],
  },
];

const PRICES: Record<string, number> = { book: 12, pen: 2, lamp: 30, piano: 4000 };

/** The inventory service's stock, and how many reservations it was running at once at most. */
export class Inventory {
  readonly stock = new Map(Object.entries({ book: 5, pen: 10, lamp: 2, piano: 0 }));
  running = 0;
  mostAtOnce = 0;

  async reserve(line: Line): Promise<Reservation> {
    this.running++;
    this.mostAtOnce = Math.max(this.mostAtOnce, this.running);
    try {
      // A slow call, so that the fan-out's bound shows.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const left = this.stock.get(line.sku) ?? 0;
      if (left < line.qty) throw new Error(`${line.sku}: ${line.qty} wanted, ${left} in stock`);
      this.stock.set(line.sku, left - line.qty);
      return { ...line, price: (PRICES[line.sku] ?? 0) * line.qty };
    } finally {
      this.running--;
    }
  }

  release(line: Line): void {
    this.stock.set(line.sku, (this.stock.get(line.sku) ?? 0) + line.qty);
  }
}

/** A line's input: the order without its lines, the line (`element`) and its place (`elementIndex`). */
type LineInput = { order: { orderId: string }; element: Line; elementIndex: number; reserve?: Reservation };

/** The inventory worker's handlers: the fan-out's DO and UNDO run once per line; invoice once per order. */
export function orderSplitHandlers(inventory: Inventory, say: (line: string) => void) {
  const note = (ctx: HandlerContext<LineInput>, what: string) =>
    say(`    worker: ${ctx.step} line ${ctx.elementIndex} ${ctx.kind} attempt ${ctx.attempt}: ${what}`);
  return {
    reserve: {
      do: async (ctx: HandlerContext<LineInput>) => {
        try {
          const reservation = await inventory.reserve(ctx.input.element);
          note(ctx, `reserved ${reservation.qty} ${reservation.sku}`);
          return reservation;
        } catch (error) {
          note(ctx, `failed: ${(error as Error).message}`);
          throw error;
        }
      },
      undo: (ctx: HandlerContext<LineInput>) => {
        inventory.release(ctx.input.element);
        note(ctx, `released ${ctx.input.element.qty} ${ctx.input.element.sku}`);
        return { released: ctx.input.element };
      },
    },
    invoice: (ctx: HandlerContext<{ order: { orderId: string }; reserve: Reservation[] }>) => ({
      orderId: ctx.input.order.orderId,
      lines: ctx.input.reserve.map((r) => `${r.qty} ${r.sku}`),
      total: ctx.input.reserve.reduce((sum, r) => sum + r.price, 0),
    }),
  };
}

export interface OrderSplitOptions {
  /** Where the timelines go (default: console.log). */
  say?: (line: string) => void;
  /** A Postgres database for Baton (default: a fresh embedded PGlite in a temporary directory). */
  databaseUrl?: string;
}

/**
 * Starts a Baton server (embedded database, no setup) and the inventory worker, registers the
 * split, places the example orders, prints each run's timeline and returns the runs once ended.
 */
export async function runOrderSplit(options: OrderSplitOptions = {}): Promise<{ runs: InstanceView[]; inventory: Inventory }> {
  const say = options.say ?? ((line: string) => console.log(line));
  const dataDir = options.databaseUrl ? undefined : await mkdtemp(join(tmpdir(), "baton-order-split-"));
  const server = await startServer(
    loadConfig({
      PORT: "0",
      LOG_LEVEL: "warn",
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : { BATON_DATA_DIR: dataDir }),
    }),
  );
  const inventory = new Inventory();
  const worker = createWorker({
    url: server.url,
    workflow: orderSplitDefinition.name,
    concurrency: 4,
    logger: silentLogger,
    handlers: orderSplitHandlers(inventory, say),
  });
  try {
    say(`Baton at ${server.url}; stock ${JSON.stringify(Object.fromEntries(inventory.stock))}`);
    const client = createClient({ url: server.url });
    const registered = await client.register(orderSplitDefinition);
    say(`registered ${registered.name} v${registered.version}`);
    const runs: InstanceView[] = [];
    for (const order of EXAMPLE_ORDERS) {
      say(`\norder ${order.orderId}: ${order.lines.map((l) => `${l.qty} ${l.sku}`).join(", ")}`);
      const run = await client.start(registered.name, { runId: `${order.orderId}-${Date.now()}`, input: { order } });
      const done = await client.waitFor(run.instanceId, TERMINAL_STATES, { timeoutMs: 60_000, intervalMs: 100 });
      say(`order ${order.orderId}: ${done.state}${done.state === "COMPLETED" ? ` ${JSON.stringify(done.output)}` : ""}`);
      const t0 = Date.parse(done.events[0]?.createdAt ?? new Date().toISOString());
      for (const event of done.events) say(timelineLine(event, t0));
      runs.push(done);
    }
    say(`\nstock now ${JSON.stringify(Object.fromEntries(inventory.stock))}; at most ${inventory.mostAtOnce} lines were reserved at once`);
    return { runs, inventory };
  } finally {
    await worker.stop();
    await server.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}
