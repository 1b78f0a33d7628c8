import type { InstanceError } from "./reconcile.ts";
import type { InstanceState, TaskState } from "./states.ts";

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
    const p = event.payload;
    const executionId = p.executionId as string;
    switch (event.eventType) {
      case "WORKFLOW_STARTED":
        folded.state = "RUNNING";
        folded.input = p.input;
        break;
      case "TASK_SCHEDULED":
        folded.tasks[executionId] = "PENDING";
        break;
      case "TASK_COMPLETED":
        folded.tasks[executionId] = "COMPLETED";
        break;
      case "TASK_FAILED":
        folded.tasks[executionId] = "FAILED";
        break;
      case "TASK_TIMED_OUT":
        folded.tasks[executionId] = "TIMED_OUT";
        break;
      case "TASK_CANCELLED":
        folded.tasks[executionId] = "CANCELLED";
        break;
      case "TASK_SKIPPED":
        folded.tasks[executionId] = "SKIPPED";
        break;
      case "WORKFLOW_PAUSED":
        folded.state = "PAUSED";
        break;
      case "WORKFLOW_RESUMED":
        folded.state = "RUNNING";
        break;
      case "WORKFLOW_REOPENED":
        folded.state = p.state as InstanceState;
        if (folded.state === "RUNNING") folded.error = null;
        break;
      case "WORKFLOW_CANCELLED":
        folded.state = "CANCELLED";
        break;
      case "WORKFLOW_COMPLETED":
        folded.state = "COMPLETED";
        folded.output = p.output;
        break;
      case "COMPENSATION_STARTED":
        folded.state = "COMPENSATING";
        folded.error = p.error as InstanceError;
        folded.compensateFrom = (p.fromTaskId as string | undefined) ?? null;
        break;
      case "WORKFLOW_COMPENSATED":
        folded.state = "COMPENSATED";
        break;
      case "COMPENSATION_FAILED":
        folded.state = "COMPENSATION_FAILED";
        folded.error = p.error as InstanceError;
        break;
      case "WORKFLOW_FAILED":
        folded.state = "FAILED";
        folded.error = p.error as InstanceError;
        break;
      default:
        throw new Error(`unknown event type ${event.eventType}`);
    }
  }
  return folded;
}
