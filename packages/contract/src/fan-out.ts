/*
 * Fan-out (`forEach` on a step) as callers see it: each element of the list runs as a task of its
 * own, with the task id `<step>#<index>` (step names cannot hold `#`), and an element's input adds
 * the element and its index to the step's input. How the engine builds and plans the elements is
 * its own (engine domain/fan-out.ts).
 */

/** Most elements of one fan-out step running (or waiting out a retry) at once, unless it says. */
export const DEFAULT_MAX_CONCURRENCY = 10;

const SEPARATOR = "#";

/** The task id of one element of a fan-out step. */
export function elementTaskId(step: string, elementIndex: number): string {
  return `${step}${SEPARATOR}${elementIndex}`;
}

/** The step a task id belongs to and, for an element of a fan-out, its index (else null). */
export function taskIdParts(taskId: string): { step: string; elementIndex: number | null } {
  const at = taskId.lastIndexOf(SEPARATOR);
  if (at < 0) return { step: taskId, elementIndex: null };
  return { step: taskId.slice(0, at), elementIndex: Number(taskId.slice(at + 1)) };
}

/** The keys an element adds to the step's input: `element` (the list's element) and `elementIndex` (from 0). */
export const ELEMENT_INPUT_KEYS: readonly string[] = ["element", "elementIndex"];
