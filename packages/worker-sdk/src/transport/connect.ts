import { createHttpTransport, type HttpTransportOptions } from "./http.ts";
import { createInProcessTransport, type InProcessEngine } from "./in-process.ts";
import type { Transport } from "./transport.ts";

/** Where the worker or client finds Baton: exactly one of `url`, `engine` or `transport`. */
export type ConnectOptions =
  | ({ url: string; engine?: never; transport?: never } & Omit<HttpTransportOptions, "url">)
  | { engine: InProcessEngine; url?: never; transport?: never }
  | { transport: Transport; url?: never; engine?: never };

export function connect(options: ConnectOptions, who: string): Transport {
  const given = [options.url, options.engine, options.transport].filter((x) => x !== undefined).length;
  if (given !== 1) {
    throw new TypeError(`${who}: give exactly one of url (Baton over HTTP), engine (in-process) or transport; got ${given}`);
  }
  if (options.transport) return options.transport;
  if (options.engine) return createInProcessTransport(options.engine);
  const { url, apiKey, headers, requestTimeoutMs, maxConnections, fetch } = options as HttpTransportOptions;
  return createHttpTransport({
    url,
    ...(apiKey ? { apiKey } : {}),
    ...(headers ? { headers } : {}),
    ...(requestTimeoutMs ? { requestTimeoutMs } : {}),
    ...(maxConnections !== undefined ? { maxConnections } : {}),
    ...(fetch ? { fetch } : {}),
  });
}
