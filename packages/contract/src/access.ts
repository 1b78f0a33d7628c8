/*
 * Who may do what, as data: the four roles, what each may do, and the scope a key carries
 * (namespaces, and for workers the queues). The HTTP layer names the action of each route; the
 * checks here are pure so the role × route matrix can be read in one place.
 */

export const ROLES = ["admin", "operator", "starter", "worker"] as const;
export type Role = (typeof ROLES)[number];

export const ACTIONS = [
  "keys.manage",
  "workflows.register",
  "workflows.read",
  "workers.announce",
  "workers.read",
  "runs.start",
  "runs.read",
  "runs.operate",
  "tasks.work",
  "metrics.read",
  "docs.read",
] as const;
export type Action = (typeof ACTIONS)[number];

/** What each role may do; the scope (namespaces, queues) narrows it further. */
export const GRANTS: Record<Role, readonly Action[]> = {
  admin: ACTIONS,
  // Everything but managing keys and doing a worker's job.
  operator: ACTIONS.filter((a) => a !== "keys.manage" && a !== "tasks.work"),
  starter: ["workflows.read", "runs.start", "runs.read", "docs.read"],
  // A worker reads its workflow's definition (the SDK derives its queues from it) and announces
  // itself (the legacy `as: worker` registration).
  worker: ["workflows.read", "workers.announce", "tasks.work", "docs.read"],
};

/** Who is calling: a key's identity and scope, or anyone when auth is off. */
export interface Caller {
  /** The key's id, or null for the open (auth off) and in-process callers. */
  readonly keyId: string | null;
  readonly name: string;
  readonly role: Role;
  /** Namespaces the caller acts in; "*" = all. */
  readonly namespaces: readonly string[];
  /** Queue patterns a worker may work; "*" matches any run of characters. */
  readonly queues: readonly string[];
}

/** Everyone, when auth is off: what Baton allowed before keys existed. */
export const OPEN_CALLER: Caller = { keyId: null, name: "anyone (auth off)", role: "admin", namespaces: ["*"], queues: ["*"] };

export function can(caller: Caller, action: Action): boolean {
  return GRANTS[caller.role].includes(action);
}

export function inNamespace(caller: Caller, namespace: string): boolean {
  return caller.namespaces.includes("*") || caller.namespaces.includes(namespace);
}

export function allNamespaces(caller: Caller): boolean {
  return caller.namespaces.includes("*");
}

/** Whether a queue matches one of the caller's queue patterns. */
export function queueAllowed(caller: Caller, queue: string): boolean {
  return caller.role === "admin" || caller.queues.some((pattern) => globMatch(pattern, queue));
}

function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes("*")) return pattern === value;
  const parts = pattern.split("*");
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  if (!value.startsWith(first) || !value.endsWith(last) || value.length < first.length + last.length) return false;
  let at = first.length;
  for (const middle of parts.slice(1, -1)) {
    const found = value.indexOf(middle, at);
    if (found < 0 || found + middle.length > value.length - last.length) return false;
    at = found + middle.length;
  }
  return true;
}

/**
 * The lease holder recorded for a worker: qualified by the key that acquired, so a report from any
 * other key names a different holder and is refused like any report of a lease it does not hold.
 */
export function leaseHolderOf(caller: Caller, workerId: string): string {
  return caller.keyId === null ? workerId : `${caller.keyId}/${workerId}`;
}

/** The key part of a lease holder written by leaseHolderOf ("" for unqualified holders). */
export function holderKeyOf(holder: string): string {
  const slash = holder.indexOf("/");
  return slash === 16 ? holder.slice(0, 16) : "";
}

/** The worker id a holder written by leaseHolderOf was named with (the holder itself when unqualified). */
export function holderWorkerOf(holder: string): string {
  return holderKeyOf(holder) === "" ? holder : holder.slice(17);
}
