import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";

/**
 * A signal that aborts when the client goes away before its answer was sent: what ends a long
 * poll or a run wait early. @hono/node-server offers one only as `c.req.raw.signal`, and reading
 * it builds the whole web Request (headers, body stream, undici's checks): about 5% of the
 * server's CPU at 200 long polls a second. On Node the response's `close` says the same thing.
 */
export function clientGoneSignal(c: Context): AbortSignal {
  const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  if (!outgoing) return c.req.raw.signal; // not served by node:http (e.g. app.request in a test)
  const controller = new AbortController();
  const closed = () => {
    if (!outgoing.writableFinished) controller.abort(new Error("the client closed the connection before the answer"));
  };
  if (outgoing.closed) closed();
  else outgoing.once("close", closed);
  return controller.signal;
}
