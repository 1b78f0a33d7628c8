import type { BlockList } from "node:net";
import { type Action, allNamespaces, BatonError, type Caller, can, type Engine, inNamespace, OPEN_CALLER } from "@baton/engine";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "./env.ts";
import { addressIn } from "./networks.ts";

/**
 * `on`: every request but the probes needs a key. `off`: anyone may do anything (for a trusted
 * network; the server warns at every start). `auto` (default): off until the first key exists,
 * then on — so a fresh embedded Baton works with no setup, on loopback only.
 */
export type AuthMode = "on" | "off" | "auto";

export interface AuthOptions {
  mode: AuthMode;
  /** Paths anyone may read (the probes; /metrics when opened to everyone). */
  publicPaths: ReadonlySet<string>;
  /** Paths anyone may read from these networks only (/metrics opened to a scraper's network). */
  publicFrom?: ReadonlyMap<string, BlockList>;
}

/** Who is calling: resolves the bearer key into `c.var.caller`, or answers 401. */
export function authenticate(engine: Engine, options: AuthOptions): MiddlewareHandler<AppEnv> {
  return async function authenticate(c, next) {
    if (isPublic(c, options) || options.mode === "off" || (options.mode === "auto" && !(await keysExist(engine)))) {
      c.set("caller", OPEN_CALLER);
      return next();
    }
    const header = c.req.header("authorization");
    const token = header?.startsWith("Bearer ") ? header.slice("Bearer ".length).trim() : undefined;
    if (!token) throw unauthorized("This server requires an API key: send `Authorization: Bearer <key>`");
    const caller = await engine.access.authenticate(token);
    if (!caller) throw unauthorized("The API key is not valid: unknown, revoked or mistyped");
    c.set("caller", caller);
    return next();
  };
}

function isPublic(c: Context<AppEnv>, options: AuthOptions): boolean {
  if (options.publicPaths.has(c.req.path)) return true;
  const networks = options.publicFrom?.get(c.req.path);
  return networks !== undefined && addressIn(networks, peerAddress(c));
}

/** The address of the peer on the other end of the connection (none under `app.request()`). */
function peerAddress(c: Context<AppEnv>): string | undefined {
  return (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;
}

async function keysExist(engine: Engine): Promise<boolean> {
  return (await engine.access.activeKeyCount()) > 0;
}

function unauthorized(message: string): BatonError {
  return new BatonError("UNAUTHORIZED", message, { scheme: "Bearer" });
}

/** Refuses with 403 unless the caller's role allows `action` (in `namespace`, when given). */
export function requireAccess(c: Context<AppEnv>, action: Action, namespace?: string): Caller {
  const caller = c.var.caller;
  if (!can(caller, action)) {
    throw new BatonError("FORBIDDEN", `A ${caller.role} key may not ${ACTION_WORDS[action]}`, { role: caller.role, action });
  }
  if (namespace !== undefined && !inNamespace(caller, namespace)) {
    throw new BatonError("FORBIDDEN", `This key may not act in namespace '${namespace}'`, { namespace, action });
  }
  return caller;
}

/** `requireAccess` as middleware, for routes served outside the OpenAPI routers (/openapi.json, /docs). */
export function requireAction(action: Action): MiddlewareHandler<AppEnv> {
  return async function requireAction(c, next) {
    requireAccess(c, action);
    await next();
  };
}

/**
 * For a resource found by id (an instance): one outside the caller's namespaces answers 404, as if
 * it did not exist, so ids cannot be probed across tenants.
 */
export function requireVisible(c: Context<AppEnv>, action: Action, namespace: string | null, what: string): Caller {
  const caller = requireAccess(c, action);
  if (namespace === null || !inNamespace(caller, namespace)) throw new BatonError("NOT_FOUND", `${what} not found`);
  return caller;
}

/**
 * The namespace a list is confined to: the one the caller named (when it may act there), else the
 * caller's only namespace, else none for a caller of every namespace. A key of several namespaces
 * must name one.
 */
export function listNamespace(c: Context<AppEnv>, action: Action, named: string | undefined): string | undefined {
  const caller = requireAccess(c, action, named);
  if (named !== undefined || allNamespaces(caller)) return named;
  if (caller.namespaces.length === 1) return caller.namespaces[0];
  throw new BatonError("FORBIDDEN", "This key acts in several namespaces: name one with `namespace`", { namespaces: caller.namespaces });
}

/** An instance view as a non-admin sees it: no fence tokens or lease holders of the attempts. */
export function instanceViewFor<V extends { tasks: LeaseFields[]; events: EventFields[] }>(caller: Caller, view: V): V {
  return caller.role === "admin" ? view : { ...view, tasks: attemptsFor(caller, view.tasks), events: eventsFor(caller, view.events) };
}

type EventFields = { payload: Record<string, unknown> };

/**
 * History as a non-admin sees it: an attempt's outcome event without the fence token and the
 * holder (`<key id>/<worker id>`) of the lease it had, as for the attempts themselves.
 */
export function eventsFor<T extends EventFields>(caller: Caller, events: T[]): T[] {
  if (caller.role === "admin") return events;
  return events.map((e) => {
    if (!("fenceToken" in e.payload) && !("workerId" in e.payload)) return e;
    const { fenceToken: _fence, workerId: _holder, ...payload } = e.payload;
    return { ...e, payload };
  });
}

type LeaseFields = { fenceToken: unknown; leaseHolder: unknown };

/** Attempts as a non-admin sees them: without the fence tokens and holders of their leases. */
export function attemptsFor<T extends LeaseFields>(caller: Caller, attempts: T[]): T[] {
  return caller.role === "admin" ? attempts : attempts.map((t) => ({ ...t, fenceToken: null, leaseHolder: null }));
}

/**
 * A refused report as a non-admin caller may see it: without the lease's current fence token, which
 * would let a caller that guessed an execution id learn the fence of a lease it does not hold, and
 * without the attempt's state, which is another tenant's business when the lease is not the
 * caller's (the code says what went wrong; a worker's own lease is named in the message).
 */
export function redactFor(caller: Caller, error: BatonError): BatonError {
  if (caller.role === "admin" || !("currentFenceToken" in error.details)) return error;
  const { currentFenceToken: _fence, state: _state, ...details } = error.details;
  return new BatonError(error.code, error.message, details);
}

const ACTION_WORDS: Record<Action, string> = {
  "keys.manage": "manage API keys",
  "workflows.register": "register workflows",
  "workflows.read": "read workflows",
  "workers.announce": "register as a worker",
  "workers.read": "list workers",
  "runs.start": "start runs",
  "runs.read": "read runs",
  "runs.operate": "pause, resume, cancel, compensate or retry runs",
  "tasks.work": "acquire or report tasks",
  "metrics.read": "read metrics",
  "docs.read": "read the API documentation",
};
