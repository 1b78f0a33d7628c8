import type { WaitingStep } from "./registration-views.ts";
import type { InstanceState, TaskKind, TaskState } from "./states.ts";

/** Which attempt of which task: what a task handed to a worker and a task's view both begin with. */
export interface TaskAttempt {
  /** The step's name, or `<step>#<index>` for an element of a fan-out step (`forEach`). */
  taskId: string;
  /** The step the task runs (the task id without an element's `#<index>`). */
  step: string;
  /** For an element of a fan-out step, its index in the list (from 0); else null. */
  elementIndex: number | null;
  kind: TaskKind;
  queue: string;
  attempt: number;
}

/** A task handed to a worker. Times are ISO-8601 strings, fence tokens are numbers. */
export interface AcquiredTask extends TaskAttempt {
  executionId: string;
  instanceId: string;
  workflowName: string;
  /** The namespace of the instance (and so of the queue): where the task's data belongs. */
  namespace: string;
  fenceToken: number;
  leaseExpiresAt: string;
  input: unknown;
}

export interface StartResult {
  instanceId: string;
  runId: string;
  state: InstanceState;
  created: boolean;
}

export interface RegisterResult {
  namespace: string;
  name: string;
  version: number;
  created: boolean;
}

export interface TaskView extends TaskAttempt {
  executionId: string;
  maxAttempts: number;
  state: TaskState;
  fenceToken: number | null;
  leaseHolder: string | null;
  leaseExpiresAt: string | null;
  availableAt: string;
  input: unknown;
  output: unknown;
  error: unknown;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface EventView {
  sequenceNumber: number;
  eventType: string;
  payload: Record<string, unknown>;
  createdAt: string;
}

export interface InstanceSummary {
  instanceId: string;
  namespace: string;
  workflowName: string;
  workflowVersion: number;
  runId: string;
  state: InstanceState;
  input: unknown;
  output: unknown;
  error: unknown;
  createdAt: string;
  updatedAt: string;
}

/** The circuit breaker of one host that HTTP steps call, as one Baton process sees it. */
export interface HttpCircuitView {
  host: string;
  state: "closed" | "open" | "half-open";
  consecutiveFailures: number;
  steps: string[];
}

export interface InstanceView extends InstanceSummary {
  sequenceNumber: number;
  /** The circuit breakers of the hosts its HTTP steps call; absent when it has none. */
  httpCircuits?: HttpCircuitView[];
  /** Its PENDING attempts and who serves each (the API adds it to the instance view). */
  waiting?: WaitingStep[];
  /** The first page of the instance's attempts (see TaskPage). */
  tasks: TaskView[];
  /** Where the attempts go on: null when `tasks` holds them all. */
  tasksNextCursor: string | null;
  /** The first page of the instance's history (see EventPage). */
  events: EventView[];
  /** Where the history goes on: null when `events` holds it all. */
  eventsNextCursor: string | null;
}

export interface InstancePage {
  items: InstanceSummary[];
  nextCursor: string | null;
}

/** A page of one instance's attempts, in the order they were scheduled. */
export interface TaskPage {
  items: TaskView[];
  nextCursor: string | null;
}

/** A page of one instance's history, by sequence number. */
export interface EventPage {
  items: EventView[];
  nextCursor: string | null;
}

export interface TaskOutcome {
  executionId: string;
  state: TaskState;
  /** True when this call repeated an outcome already recorded (nothing changed). */
  duplicate: boolean;
}
