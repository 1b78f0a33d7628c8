import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The services the order saga calls, on loopback: stand-ins for the order-saga system's inventory,
 * payment, coupon and notification services (reference/order-saga-orchestrator.md). Each keeps the
 * highest fence token it has seen per order and refuses a lower one (409), as a service that uses
 * Baton's fences does.
 */
export interface OrderServices {
  /** `host:port` of every service, for BATON_HTTP_STEP_HOSTS. */
  hosts: string[];
  base: { inventory: string; payments: string; coupons: string; notifications: string };
  /** What each service did, in order: `reserve o-1`, `refund o-2`, ... */
  log: string[];
  close(): Promise<void>;
}

type Handler = (order: Record<string, unknown>, path: string) => { status: number; body: unknown };

export async function startOrderServices(): Promise<OrderServices> {
  const log: string[] = [];
  const fences = new Map<string, number>();
  const serve = (name: string, handle: Handler) =>
    listen(async (req, res) => {
      const order = JSON.parse((await body(req)) || "{}") as Record<string, unknown>;
      const fence = Number(req.headers["x-baton-fence-token"]);
      const key = `${name}:${req.url}:${String(order.orderId)}`;
      if (fence < (fences.get(key) ?? 0)) return send(res, 409, { error: "a newer attempt already called" });
      fences.set(key, fence);
      const answer = handle(order, req.url ?? "/");
      log.push(`${name} ${req.url} ${String(order.orderId)} -> ${answer.status}`);
      send(res, answer.status, answer.body);
    });
  const servers = {
    inventory: await serve("inventory", (order, path) =>
      path === "/release"
        ? { status: 200, body: { released: order.items } }
        : { status: 200, body: { reservationId: `res-${order.orderId}` } },
    ),
    // Declines a charge over 1,000 for good (402: not retried), so the saga compensates.
    payments: await serve("payments", (order, path) => {
      if (path === "/refund") return { status: 200, body: { refunded: order.amount } };
      return Number(order.amount) > 1000
        ? { status: 402, body: { error: "card declined" } }
        : { status: 200, body: { chargeId: `ch-${order.orderId}`, amount: order.amount } };
    }),
    coupons: await serve("coupons", (order) => ({ status: 200, body: { discount: order.coupon === "WINTER" ? 10 : 0 } })),
    // Always down: the notification step continues on failure, the order is not undone for it.
    notifications: await serve("notifications", () => ({ status: 503, body: { error: "mail relay unavailable" } })),
  };
  const address = (s: Server) => `127.0.0.1:${(s.address() as AddressInfo).port}`;
  return {
    hosts: Object.values(servers).map(address),
    base: {
      inventory: `http://${address(servers.inventory)}`,
      payments: `http://${address(servers.payments)}`,
      coupons: `http://${address(servers.coupons)}`,
      notifications: `http://${address(servers.notifications)}`,
    },
    log,
    close: async () => {
      await Promise.all(Object.values(servers).map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
}

function listen(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<Server> {
  const server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, { error: "service crashed" }));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function body(req: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text;
}

function send(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
}
