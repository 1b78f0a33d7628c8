import type { InstanceState, TaskState } from "@baton/contract";
import type { HistoryEvent } from "./history-events.ts";
import type { InstanceError } from "./reconcile.ts";
import { instanceStateAfter, taskStateAfter } from "./transitions.ts";

/** The part of an instance that its events determine. */
export interface FoldedInstance {
  state: InstanceState | null;
  input: unknown;
  output: unknown;
  error: InstanceError | null;
  compensateFrom: string | null;
  sequenceNumber: number;
  /** executionId -> state; a lease is not an event, so a LEASED task folds to PENDING. */
  tasks: Record<string, TaskState>;
}

export interface FoldableEvent {
  sequenceNumber: number;
  eventType: string;
  payload: Record<string, unknown>;
}

/**
 * Replays an instance's events into its state (invariant I5: the fold equals what is stored).
 * Throws on a gap or duplicate in the numbering.
 */
export function foldEvents(events: FoldableEvent[]): FoldedInstance {
  const folded: FoldedInstance = {
    state: null,
    input: null,
    output: null,
    error: null,
    compensateFrom: null,
    sequenceNumber: 0,
    tasks: {},
  };
  for (const event of events) {
    if (event.sequenceNumber !== folded.sequenceNumber + 1) {
      throw new Error(`event ${event.sequenceNumber} follows ${folded.sequenceNumber}: the history has a gap or duplicate`);
    }
    folded.sequenceNumber = event.sequenceNumber;
    const e = { type: event.eventType, payload: event.payload } as HistoryEvent;
    // Which state an event leads to is the transitions table's; what else it sets is its payload's.
    const taskState = taskStateAfter(e.type);
    if (taskState) {
      folded.tasks[event.payload.executionId as string] = taskState;
      continue;
    }
    const state = instanceStateAfter(e);
    if (!state) throw new Error(`unknown event type ${event.eventType}`);
    folded.state = state;
    switch (e.type) {
      case "WORKFLOW_STARTED":
        folded.input = e.payload.input;
        break;
      case "WORKFLOW_REOPENED":
        if (state === "RUNNING") folded.error = null;
        break;
      case "WORKFLOW_COMPLETED":
        folded.output = e.payload.output;
        break;
      case "COMPENSATION_STARTED":
        folded.error = e.payload.error;
        folded.compensateFrom = e.payload.fromTaskId ?? null;
        break;
      case "COMPENSATION_FAILED":
      case "WORKFLOW_FAILED":
        folded.error = e.payload.error;
        break;
    }
  }
  return folded;
}
