import type { WorkflowDefinition } from "@baton/engine";

/** Queues one in-process worker serves, and how many calls it may have in flight. */
export interface StepGroup {
  queues: string[];
  concurrency: number;
  /** Stable name of the group: its queues and its limit. */
  key: string;
}

/**
 * The queues of the HTTP steps of these definitions, in groups that one worker each serves: a
 * step's DO and UNDO queues are one group (the step's `maxInFlight` bounds both together), and
 * steps that share a queue share a group (a queue has one worker). A queue's limit is the
 * `maxInFlight` of the latest definition that names it (definitions oldest first); a group's is the
 * lowest of its queues'.
 */
export function httpStepGroups(definitions: Iterable<WorkflowDefinition>): StepGroup[] {
  const parent = new Map<string, string>();
  const root = (queue: string): string => {
    let at = queue;
    for (let up = parent.get(at); up !== undefined && up !== at; up = parent.get(at)) at = up;
    parent.set(queue, at);
    return at;
  };
  const limit = new Map<string, number>();
  for (const definition of definitions) {
    for (const step of definition.steps) {
      if (!step.http) continue;
      const queues = step.undo ? [step.queue, step.undo.queue] : [step.queue];
      for (const queue of queues) {
        if (!parent.has(queue)) parent.set(queue, queue);
        limit.set(queue, step.http.maxInFlight);
      }
      if (queues[1] !== undefined) parent.set(root(queues[1]), root(queues[0] as string));
    }
  }
  const members = new Map<string, string[]>();
  for (const queue of parent.keys()) members.set(root(queue), [...(members.get(root(queue)) ?? []), queue]);
  return [...members.values()].map((queues) => {
    const sorted = queues.sort();
    const concurrency = Math.min(...sorted.map((q) => limit.get(q) ?? 1));
    return { queues: sorted, concurrency, key: `${sorted.join(",")}@${concurrency}` };
  });
}
