import type { InstanceState } from "@baton/contract";

export const TERMINAL_INSTANCE_STATES: readonly InstanceState[] = [
  "COMPLETED",
  "CANCELLED",
  "COMPENSATED",
  "COMPENSATION_FAILED",
  "FAILED",
];

/** Instance states whose tasks may be handed out. */
export const ACTIVE_INSTANCE_STATES: readonly InstanceState[] = ["RUNNING", "COMPENSATING"];

export function isTerminalInstanceState(state: InstanceState): boolean {
  return TERMINAL_INSTANCE_STATES.includes(state);
}
