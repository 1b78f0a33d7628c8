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
