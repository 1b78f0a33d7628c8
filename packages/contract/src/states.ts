/** The states of a run (an instance), as the API shows them. Which moves each allows is the engine's transitions table. */
export const INSTANCE_STATES = [
  "RUNNING",
  "PAUSED",
  "COMPLETED",
  "CANCELLED",
  "COMPENSATING",
  "COMPENSATED",
  "COMPENSATION_FAILED",
  "FAILED",
] as const;
export type InstanceState = (typeof INSTANCE_STATES)[number];

/** States a run ends in: nothing moves it on its own any more (an operator may still retry or undo some). */
export const TERMINAL_INSTANCE_STATES: readonly InstanceState[] = [
  "COMPLETED",
  "CANCELLED",
  "COMPENSATED",
  "COMPENSATION_FAILED",
  "FAILED",
];

/** States of a running run (forward or compensating): only then are its tasks handed out. */
export const ACTIVE_INSTANCE_STATES: readonly InstanceState[] = ["RUNNING", "COMPENSATING"];

export function isTerminalInstanceState(state: InstanceState): boolean {
  return TERMINAL_INSTANCE_STATES.includes(state);
}

/** SKIPPED: the step's `when` did not hold; the row is written finished and never leased. */
export const TASK_STATES = ["PENDING", "LEASED", "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED", "SKIPPED"] as const;
export type TaskState = (typeof TASK_STATES)[number];
export type TaskKind = "DO" | "UNDO";
