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

export const TERMINAL_INSTANCE_STATES: readonly InstanceState[] = [
  "COMPLETED",
  "CANCELLED",
  "COMPENSATED",
  "COMPENSATION_FAILED",
  "FAILED",
];

/** Instance states whose tasks may be handed out. */
export const ACTIVE_INSTANCE_STATES: readonly InstanceState[] = ["RUNNING", "COMPENSATING"];

/** SKIPPED: the step's `when` did not hold; the row is written finished and never leased. */
export const TASK_STATES = ["PENDING", "LEASED", "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED", "SKIPPED"] as const;
export type TaskState = (typeof TASK_STATES)[number];
export type TaskKind = "DO" | "UNDO";

export function isTerminalInstanceState(state: InstanceState): boolean {
  return TERMINAL_INSTANCE_STATES.includes(state);
}
