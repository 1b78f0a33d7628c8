import { z } from "zod";

/**
 * A step's `when`: a small declarative condition on the step's input (the run's input with the
 * outputs of the steps it depends on, keyed by step name). No code is evaluated: a condition is
 * `exists` (the path has a value other than null), `equals` / `in` (JSON equality with a value or
 * one of a list), or `not` / `all` / `any` of others. Paths are dot-separated keys (`order.coupon`;
 * a number indexes an array: `items.0.sku`).
 *
 * @example when: { all: [{ exists: "coupon" }, { not: { equals: { path: "order.type", value: "gift" } } }] }
 */
export type Condition =
  | { exists: string }
  | { equals: { path: string; value: unknown } }
  | { in: { path: string; values: unknown[] } }
  | { not: Condition }
  | { all: Condition[] }
  | { any: Condition[] };

/** Conditions nest at most this deep, and hold at most this many clauses in all. */
export const MAX_CONDITION_DEPTH = 8;
export const MAX_CONDITION_CLAUSES = 64;

/** A path into a step's input, as `when` and `forEach` take it. */
export const InputPathSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^.]+(\.[^.]+)*$/, "a path is dot-separated keys, none empty (e.g. order.coupon)");
const path = InputPathSchema;
const literal = z.union([z.string().max(1024), z.number(), z.boolean(), z.null()]);

export const ConditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    z.strictObject({ exists: path }),
    z.strictObject({ equals: z.strictObject({ path, value: literal }) }),
    z.strictObject({ in: z.strictObject({ path, values: z.array(literal).min(1).max(MAX_CONDITION_CLAUSES) }) }),
    z.strictObject({ not: ConditionSchema }),
    z.strictObject({ all: z.array(ConditionSchema).min(1).max(MAX_CONDITION_CLAUSES) }),
    z.strictObject({ any: z.array(ConditionSchema).min(1).max(MAX_CONDITION_CLAUSES) }),
  ]),
) as z.ZodType<Condition>;

/** Why a condition cannot be used (too deep or too large), or null. */
export function conditionSizeError(condition: Condition): string | null {
  let clauses = 0;
  const walk = (c: Condition, depth: number): string | null => {
    clauses++;
    if (depth > MAX_CONDITION_DEPTH) return `nests deeper than ${MAX_CONDITION_DEPTH}`;
    if (clauses > MAX_CONDITION_CLAUSES) return `has more than ${MAX_CONDITION_CLAUSES} clauses`;
    const inner = "not" in c ? [c.not] : "all" in c ? c.all : "any" in c ? c.any : [];
    for (const child of inner) {
      const error = walk(child, depth + 1);
      if (error) return error;
    }
    return null;
  };
  return walk(condition, 1);
}

/** Whether `condition` holds for `input`. Pure: the same input always gives the same answer. */
export function conditionHolds(condition: Condition, input: unknown): boolean {
  if ("exists" in condition) {
    const value = valueAt(input, condition.exists);
    return value !== undefined && value !== null;
  }
  if ("equals" in condition) return valueAt(input, condition.equals.path) === condition.equals.value;
  if ("in" in condition) {
    const value = valueAt(input, condition.in.path);
    return condition.in.values.some((v) => v === value);
  }
  if ("not" in condition) return !conditionHolds(condition.not, input);
  if ("all" in condition) return condition.all.every((c) => conditionHolds(c, input));
  return condition.any.some((c) => conditionHolds(c, input));
}

/** The value at a dot-separated path, or undefined when any key on the way is missing. Own keys only. */
export function valueAt(input: unknown, path: string): unknown {
  let value: unknown = input;
  for (const key of path.split(".")) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}
