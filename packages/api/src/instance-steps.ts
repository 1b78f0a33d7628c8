import type { TaskView } from "@baton/contract";

/** One step of an instance as its latest attempts left it: the DO attempt and, once compensating, the UNDO. */
export interface StepAttempts {
  step: string;
  do?: TaskView;
  undo?: TaskView;
}

/**
 * The latest DO and UNDO attempt of each step, in the order the steps were first scheduled (the
 * CLI's and the console's view of where each step stands).
 */
export function latestAttempts(tasks: readonly TaskView[]): StepAttempts[] {
  const steps = new Map<string, StepAttempts>();
  for (const t of tasks) {
    const entry = steps.get(t.taskId) ?? { step: t.taskId };
    const slot = t.kind === "DO" ? "do" : "undo";
    const seen = entry[slot];
    if (!seen || t.attempt >= seen.attempt) entry[slot] = t;
    steps.set(t.taskId, entry);
  }
  return [...steps.values()];
}
