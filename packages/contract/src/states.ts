/** The states of a run (an instance), as the API shows them. The engine's domain says what each allows. */
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

/** SKIPPED: the step's `when` did not hold; the row is written finished and never leased. */
export const TASK_STATES = ["PENDING", "LEASED", "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED", "SKIPPED"] as const;
export type TaskState = (typeof TASK_STATES)[number];
export type TaskKind = "DO" | "UNDO";
