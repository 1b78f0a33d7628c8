import type { TaskKind } from "@baton/engine";

/**
 * The topic layout of the orchestrators Baton replaces (reference/do-undo-examples.md), under a
 * prefix that is `orchestrator` there. Another prefix lets several Baton deployments (or test
 * runs) share one Kafka cluster.
 */
export interface BridgeTopics {
  /** Replies of the services: `<prefix>.response.result`. */
  response: string;
  /** Definitions and worker registrations: `<prefix>.registration`. */
  registration: string;
  /** Run starts: `<prefix>.execution.start`. */
  start: string;
  /** Messages the bridge could not use, with the reason: `<prefix>.dead-letter`. */
  deadLetter: string;
  /** Lifecycle events of every instance, keyed by instance id: `<prefix>.workflow.events`. */
  events: string;
  /** Where the command of one step's DO or UNDO goes: `<prefix>.<workflow>.<step>.do|undo`. */
  command(workflow: string, step: string, kind: TaskKind): string;
}

export const DEFAULT_TOPIC_PREFIX = "orchestrator";

export function bridgeTopics(prefix = DEFAULT_TOPIC_PREFIX): BridgeTopics {
  return {
    response: `${prefix}.response.result`,
    registration: `${prefix}.registration`,
    start: `${prefix}.execution.start`,
    deadLetter: `${prefix}.dead-letter`,
    events: `${prefix}.workflow.events`,
    command: (workflow, step, kind) => `${prefix}.${workflow}.${step}.${kind === "DO" ? "do" : "undo"}`,
  };
}

/**
 * The namespaces a bridge serves, each with its own topic prefix, so that one tenant's commands,
 * replies, starts and events never share a topic with another's (and Kafka ACLs per prefix can
 * keep them apart). `default` keeps the base prefix, today's names; another namespace gets
 * `<base>.<namespace>` unless a prefix is given for it.
 */
export class NamespaceTopics {
  private readonly byNamespace = new Map<string, BridgeTopics>();
  /** Inbound topic -> whose it is and what arrives on it. */
  private readonly inbound = new Map<string, { namespace: string; role: "response" | "registration" | "start" }>();

  constructor(prefixes: ReadonlyMap<string, string>) {
    const owner = new Map<string, string>();
    for (const [namespace, prefix] of prefixes) {
      const taken = owner.get(prefix);
      if (taken !== undefined) {
        throw new TypeError(`Kafka namespaces ${taken} and ${namespace} both use the topic prefix '${prefix}'; give each its own`);
      }
      owner.set(prefix, namespace);
      const topics = bridgeTopics(prefix);
      this.byNamespace.set(namespace, topics);
      for (const role of ["response", "registration", "start"] as const) this.inbound.set(topics[role], { namespace, role });
    }
  }

  /** The default layout: only `default`, under `prefix`. */
  static single(prefix = DEFAULT_TOPIC_PREFIX): NamespaceTopics {
    return new NamespaceTopics(new Map([["default", prefix]]));
  }

  namespaces(): string[] {
    return [...this.byNamespace.keys()];
  }

  /** The topics of a served namespace, or undefined when the bridge does not serve it. */
  of(namespace: string): BridgeTopics | undefined {
    return this.byNamespace.get(namespace);
  }

  /** Whose inbound topic this is, and what arrives on it. */
  route(topic: string): { namespace: string; role: "response" | "registration" | "start" } | undefined {
    return this.inbound.get(topic);
  }

  /** Every topic the bridge consumes. */
  inboundTopics(): string[] {
    return [...this.inbound.keys()];
  }

  /** Every fixed topic (not per step) of every namespace, `events` only with the relay on. */
  fixedTopics(withEvents: boolean): string[] {
    return [...this.byNamespace.values()].flatMap((t) => [
      t.response,
      t.registration,
      t.start,
      t.deadLetter,
      ...(withEvents ? [t.events] : []),
    ]);
  }
}

const TOPIC_PREFIX = /^[A-Za-z0-9._-]{1,100}$/;
const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Reads `KAFKA_NAMESPACES`: comma-separated namespaces, each alone (`acme`: topics under
 * `<base>.acme`) or with its prefix (`acme=acme.orch`). `default` is always served, under `base`
 * unless the list gives it a prefix. Throws a TypeError naming the entry that cannot be used.
 */
export function parseNamespacePrefixes(spec: string | undefined, base = DEFAULT_TOPIC_PREFIX): Map<string, string> {
  const prefixes = new Map<string, string>([["default", base]]);
  for (const raw of (spec ?? "").split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const [namespace = "", prefix, extra] = entry.split("=").map((s) => s.trim());
    if (extra !== undefined || !NAMESPACE.test(namespace)) {
      throw new TypeError(`'${entry}' is not a namespace (1-128 letters, digits, '_', '.' or '-') or namespace=prefix`);
    }
    const chosen = prefix ?? (namespace === "default" ? base : `${base}.${namespace}`);
    if (!TOPIC_PREFIX.test(chosen))
      throw new TypeError(`'${entry}': the topic prefix '${chosen}' may use only letters, digits, '.', '_' and '-'`);
    prefixes.set(namespace, chosen);
  }
  return prefixes;
}
