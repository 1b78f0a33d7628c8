import type { EventView, InstanceSummary, InstanceView, TaskView } from "@baton/engine";
import { latestAttempts } from "../instance-steps.ts";
import { fields, inlineJson, type Row, table, time } from "./output.ts";

/** How `baton runs list` shows a page of instances. */
export function instanceRows(items: InstanceSummary[]): string {
  const rows: Row[] = items.map((i) => ({
    instance: i.instanceId,
    workflow: `${i.workflowName}@${i.workflowVersion}`,
    run: i.runId,
    state: i.state,
    created: time(i.createdAt),
    updated: time(i.updatedAt),
  }));
  return table(rows, ["instance", "workflow", "run", "state", "created", "updated"]);
}

/** Each step (and its undo) as its latest attempt left it, in the order the steps were first scheduled. */
export function stepStates(tasks: TaskView[]): { step: string; kind: string; state: string; attempts: number }[] {
  return latestAttempts(tasks).flatMap((s) =>
    [s.do, s.undo].flatMap((t) => (t ? [{ step: s.step, kind: t.kind, state: t.state, attempts: t.attempt }] : [])),
  );
}

/** The message of an attempt's error, whatever shape the worker gave it. */
export function errorMessage(error: unknown): string | undefined {
  if (error === null || error === undefined) return undefined;
  if (typeof error === "string") return error;
  const message = (error as { message?: unknown }).message;
  return typeof message === "string" ? message : JSON.stringify(error);
}

/** One line of the event timeline: time, sequence number, type and what the event carries. */
export function eventLine(e: EventView): string {
  const payload = Object.keys(e.payload).length > 0 ? `  ${inlineJson(e.payload, 160)}` : "";
  return `${time(e.createdAt)}  #${String(e.sequenceNumber).padStart(3)}  ${e.eventType}${payload}`;
}

/** `baton runs describe`: the instance, its steps, every attempt with its lease, and the timeline. */
export function describeInstance(view: InstanceView): string {
  const header = fields([
    ["instance", view.instanceId],
    ["workflow", `${view.workflowName} (version ${view.workflowVersion}, namespace ${view.namespace})`],
    ["run", view.runId],
    ["state", view.state],
    ["created", time(view.createdAt)],
    ["updated", time(view.updatedAt)],
    ["waiting", view.waiting?.map((w) => `${w.taskId} ${w.kind}: ${w.serving === "nobody" ? "nobody serves it" : w.serving}`).join("; ")],
    ["input", inlineJson(view.input)],
    ["output", inlineJson(view.output)],
    ["error", inlineJson(view.error)],
  ]);
  const steps = table(stepStates(view.tasks), ["step", "kind", "state", "attempts"]);
  const attempts = table(
    view.tasks.map((t) => ({
      step: t.taskId,
      kind: t.kind,
      attempt: `${t.attempt}/${t.maxAttempts}`,
      state: t.state,
      worker: t.leaseHolder,
      fence: t.fenceToken,
      "lease expires": time(t.leaseExpiresAt),
      started: time(t.startedAt),
      finished: time(t.finishedAt),
      error: errorMessage(t.error),
    })),
    ["step", "kind", "attempt", "state", "worker", "fence", "lease expires", "started", "finished", "error"],
  );
  const more = (cursor: string | null, hint: string) => (cursor ? `(${hint})\n` : "");
  const timeline = view.events.length > 0 ? `${view.events.map(eventLine).join("\n")}\n` : "(none)\n";
  return [
    header,
    "Steps",
    steps,
    "Attempts",
    attempts + more(view.tasksNextCursor, `more attempts than shown: GET /v1/instances/${view.instanceId}/tasks`),
    "Events",
    timeline + more(view.eventsNextCursor, `more events: baton runs events ${view.instanceId}`),
  ].join("\n");
}
