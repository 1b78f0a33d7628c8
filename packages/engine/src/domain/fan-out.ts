import {
  BatonError,
  elementTaskId,
  jsonBytes,
  LIMITS,
  type StepDefinition,
  taskIdParts,
  valueAt,
  type WorkflowDefinition,
} from "@baton/contract";

/**
 * Fan-out over a list (`forEach` on a step): each element of the list at the step's `forEach` path
 * runs as a task of its own, with the task id `<step>#<index>` (step names cannot hold `#`). So an
 * element has its own attempt chain, retry budget and UNDO under the same unique (instance, task,
 * kind, attempt) index as any step, and a worker finds its handler by the step's queue.
 */

/** Why a step's list cannot be fanned out: the error its single FAILED attempt records. */
export interface ForEachError {
  message: string;
  forEach: string;
}

/**
 * The list a fan-out step runs over, read from its input at `path`, or why it cannot: no value
 * there, not an array, more than `maxForEachElements` elements, or element inputs over
 * `maxFanOutBytes` together.
 */
export function forEachList(path: string, input: Record<string, unknown>): { list: unknown[] } | { error: ForEachError } {
  const value = valueAt(input, path);
  const fail = (why: string) => ({ error: { message: `forEach: '${path}' ${why}`, forEach: path } });
  if (value === undefined || value === null) return fail("has no value in the step's input");
  if (!Array.isArray(value)) return fail(`is ${typeof value === "object" ? "an object" : `a ${typeof value}`}, not a list`);
  if (value.length > LIMITS.maxForEachElements) {
    return fail(`has ${value.length} elements, over the limit of ${LIMITS.maxForEachElements} (maxForEachElements)`);
  }
  // Each element's input holds the step's input without the list, plus the element.
  const bytes = jsonBytes(withoutPath(input, path)) * value.length + jsonBytes(value);
  if (bytes > LIMITS.maxFanOutBytes) {
    return fail(
      `makes element inputs of ${bytes} bytes together, over the limit of ${LIMITS.maxFanOutBytes} (maxFanOutBytes); pass large data by reference`,
    );
  }
  return { list: value };
}

/**
 * An element's input: the step's input without the list (it would be copied into every element),
 * plus `element` (the list's element) and `elementIndex` (its place in the list, from 0).
 */
export function elementInput(
  input: Record<string, unknown>,
  path: string,
  element: unknown,
  elementIndex: number,
): Record<string, unknown> {
  return { ...withoutPath(input, path), element, elementIndex };
}

/** A copy of `input` with the value at `path` left out (set to null inside an array, so indexes keep). */
function withoutPath(input: Record<string, unknown>, path: string): Record<string, unknown> {
  const drop = (value: unknown, keys: string[]): unknown => {
    const [key, ...rest] = keys as [string, ...string[]];
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return value;
    if (Array.isArray(value)) {
      const copy = [...value];
      copy[Number(key)] = rest.length === 0 ? null : drop(copy[Number(key)], rest);
      return copy;
    }
    const entries = Object.entries(value).flatMap(([k, v]) => (k !== key ? [[k, v]] : rest.length === 0 ? [] : [[k, drop(v, rest)]]));
    return Object.fromEntries(entries);
  };
  return drop(input, path.split(".")) as Record<string, unknown>;
}

/**
 * What a manual retry of `taskId` re-runs: the step itself, or, for a fan-out step, its element
 * named by the element's task id or, by the step's name, the element the run's error names.
 * NOT_FOUND when the definition has no such step or element; INVALID_STATE for a fan-out that failed
 * at its start (its list could not be used, and a retry would read the same list).
 */
export function retryTarget(
  def: WorkflowDefinition,
  taskId: string,
  failedElement: number | undefined,
): { step: StepDefinition; taskId: string } {
  const { step: name, elementIndex } = taskIdParts(taskId);
  const step = def.steps.find((s) => s.name === name && (elementIndex === null || s.forEach !== undefined));
  if (!step) throw new BatonError("NOT_FOUND", `Workflow ${def.name} has no step '${taskId}'`, { taskId });
  if (step.forEach === undefined || elementIndex !== null) return { step, taskId };
  if (failedElement === undefined) {
    throw new BatonError("INVALID_STATE", `Step '${name}' failed on its forEach list, not on an element; there is nothing to retry`, {
      taskId,
    });
  }
  return { step, taskId: elementTaskId(name, failedElement) };
}
