import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, startServer } from "@baton/api";
import { createClient, type InstanceView, TERMINAL_STATES, timelineLine } from "@baton/worker-sdk";
import { type OrderServices, startOrderServices } from "./services.ts";

/**
 * The order saga with no worker of its own: every step is an HTTP call Baton makes itself.
 * reserve the items -> apply the coupon (only when the order has one) -> charge the card ->
 * notify the customer (allowed to fail). A declined card undoes the reservation (and the coupon
 * when it was applied); a notification that cannot be sent leaves the order as it is.
 */
export function orderSagaDefinition(base: OrderServices["base"]) {
  return {
    name: "exampleOrderSaga",
    type: "sequential",
    defaults: { transport: "http", leaseMs: 10_000, retry: { maxAttempts: 3, backoffMs: 200 } },
    steps: [
      { name: "reserve", url: `${base.inventory}/reserve`, undo: { url: `${base.inventory}/release` } },
      { name: "coupon", url: `${base.coupons}/apply`, when: { exists: "coupon" } },
      { name: "charge", url: `${base.payments}/charge`, undo: { url: `${base.payments}/refund` } },
      { name: "notify", url: `${base.notifications}/send`, onFailure: "continue", retry: { maxAttempts: 2, backoffMs: 100 } },
    ],
  };
}

/** The orders the example places: one with a coupon that goes through, one whose card is declined. */
export const EXAMPLE_ORDERS = [
  { orderId: "o-1", items: ["book"], amount: 40, coupon: "WINTER" },
  { orderId: "o-2", items: ["piano"], amount: 5000 },
];

export interface OrderSagaOptions {
  /** Where the timelines go (default: console.log). */
  say?: (line: string) => void;
  /** A Postgres database for Baton (default: a fresh embedded PGlite in a temporary directory). */
  databaseUrl?: string;
}

/**
 * Starts the loopback services and a Baton server allowed to call them (embedded database, no
 * setup), registers the saga, places the example orders, prints each run's timeline and returns
 * the runs once they have ended.
 */
export async function runOrderSaga(options: OrderSagaOptions = {}): Promise<{ runs: InstanceView[]; calls: string[] }> {
  const say = options.say ?? ((line: string) => console.log(line));
  const services = await startOrderServices();
  const dataDir = options.databaseUrl ? undefined : await mkdtemp(join(tmpdir(), "baton-order-saga-"));
  const server = await startServer(
    loadConfig({
      PORT: "0",
      LOG_LEVEL: "warn",
      BATON_HTTP_STEP_HOSTS: services.hosts.join(","),
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : { BATON_DATA_DIR: dataDir }),
    }),
  );
  try {
    say(`Baton at ${server.url}; services on ${services.hosts.join(", ")}`);
    const client = createClient({ url: server.url });
    const registered = await client.register(orderSagaDefinition(services.base));
    say(`registered ${registered.name} v${registered.version}`);
    const runs: InstanceView[] = [];
    for (const order of EXAMPLE_ORDERS) {
      const run = await client.start(registered.name, { runId: `${order.orderId}-${Date.now()}`, input: order });
      const done = await client.waitFor(run.instanceId, TERMINAL_STATES, { timeoutMs: 60_000, intervalMs: 100 });
      say(`\norder ${order.orderId} (${JSON.stringify(order)}): ${done.state}`);
      const t0 = Date.parse(done.events[0]?.createdAt ?? new Date().toISOString());
      for (const event of done.events) say(timelineLine(event, t0));
      runs.push(done);
    }
    say(`\nwhat the services did:\n  ${services.log.join("\n  ")}`);
    return { runs, calls: [...services.log] };
  } finally {
    await server.close();
    await services.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}
