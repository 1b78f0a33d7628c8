import type { EventView } from "@baton/contract";

/**
 * One line of a run's timeline, for people: time since `t0` (ms since epoch, e.g. the first
 * event's), sequence number, event type, the attempt it concerns and what matters of its payload
 * (an output, an error's message, why the run stopped).
 * @example for (const e of view.events) console.log(timelineLine(e, Date.parse(view.events[0].createdAt)));
 */
export function timelineLine(event: EventView, t0: number): string {
  const p = event.payload as Record<string, unknown>;
  const at = `+${((Date.parse(event.createdAt) - t0) / 1000).toFixed(3)}s`.padStart(9);
  const task = typeof p.taskId === "string" ? ` ${p.taskId} ${p.kind} attempt ${p.attempt}` : "";
  const error = p.error as { message?: string; reason?: string; step?: string; elementIndex?: number } | null | undefined;
  // A fan-out's element is named as its task is: <step>#<index>.
  const step = error?.step && error.elementIndex !== undefined ? `${error.step}#${error.elementIndex}` : error?.step;
  const detail =
    event.eventType === "TASK_FAILED" || event.eventType === "TASK_TIMED_OUT"
      ? `: ${error?.message ?? JSON.stringify(error)}`
      : event.eventType === "TASK_COMPLETED"
        ? ` -> ${JSON.stringify(p.output)}`
        : event.eventType === "TASK_SKIPPED"
          ? `: ${String(p.reason)}`
          : error?.reason
            ? `: ${error.reason}${step ? ` (${step})` : ""}${error.message ? ` ${error.message}` : ""}`
            : "";
  return `${at}  #${String(event.sequenceNumber).padEnd(3)} ${event.eventType}${task}${detail}`;
}
