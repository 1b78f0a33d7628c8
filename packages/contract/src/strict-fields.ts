import { z } from "zod";

/**
 * Objects that refuse what they do not know. A field a caller sends that the object does not
 * take would otherwise be dropped without a word (a run started with `payload` instead of `input`
 * ran with no input at all), so every object a caller sends is strict: an unknown field is an
 * issue naming it, with a hint where the name is a known mistake (most often a field of the
 * orchestrators Baton replaces).
 */

/** Unknown field name -> what to send instead. */
export type FieldHints = Readonly<Record<string, string>>;

/**
 * `z.strictObject` whose unknown-field issue names each unknown field, says what to use instead
 * for the names in `hints`, and otherwise lists the fields the object takes. A value that is not
 * an object at all is refused with the same list. Derived objects (`extend`, `pick`) keep the
 * hints and list their own fields.
 * @example
 * const Start = strictFields({ input: z.record(z.string(), z.unknown()) }, { payload: "use `input`" });
 * Start.safeParse({ payload: {} }).error?.issues[0]?.message; // "unknown field `payload`: use `input`"
 */
export function strictFields<S extends z.ZodRawShape>(shape: S, hints: FieldHints = {}) {
  return z.strictObject(shape, {
    error: (issue) => {
      const fields = Object.keys((issue.inst as { shape?: object } | undefined)?.shape ?? shape);
      if (issue.code === "unrecognized_keys") return unknownFieldsMessage(issue.keys, fields, hints, BODY_WORDS);
      if (issue.code === "invalid_type" && issue.expected === "object") {
        return `expected a JSON object (with ${takes(fields, BODY_WORDS)}), got ${jsonTypeOf(issue.input)}`;
      }
      return undefined;
    },
  });
}

/**
 * The query string of a route, strict like a body: an unknown parameter is an issue naming it
 * (with the hint in `hints`, else the parameters the route takes), where it would otherwise be
 * ignored without a word (`?status=FAILED` listing every instance, say, for `?state=`).
 * @example
 * const Query = strictQuery({ limit: z.coerce.number().int().optional() });
 * Query.safeParse({ size: "5" }).error?.issues[0]?.message; // "unknown query parameter `size` (this route takes `limit`)"
 */
export function strictQuery<S extends z.ZodRawShape>(shape: S, hints: FieldHints = {}) {
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? unknownFieldsMessage(issue.keys, Object.keys((issue.inst as { shape?: object } | undefined)?.shape ?? shape), hints, QUERY_WORDS)
        : undefined,
  });
}

/** How a refusal names what was unknown and what holds it. */
interface Words {
  unknown: string;
  holder: string;
  none: string;
}
const BODY_WORDS: Words = { unknown: "field", holder: "this object", none: "no fields" };
const QUERY_WORDS: Words = { unknown: "query parameter", holder: "this route", none: "no query parameters" };

/**
 * One line per unknown field, in the order of `keys`, so `fieldIssues` can give each field its
 * own line and `issuesSummary` can join them.
 */
function unknownFieldsMessage(keys: string[], fields: string[], hints: FieldHints, words: Words): string {
  return keys
    .map(
      (key) =>
        `unknown ${words.unknown} \`${key}\`${Object.hasOwn(hints, key) ? `: ${hints[key]}` : ` (${words.holder} takes ${takes(fields, words)})`}`,
    )
    .join("\n");
}

const takes = (fields: string[], words: Words) => (fields.length === 0 ? words.none : fields.map((f) => `\`${f}\``).join(", "));

/** The JSON type of a value, as a caller would name it. */
export function jsonTypeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return "a number";
  if (typeof value === "boolean") return "a boolean";
  if (value === undefined) return "nothing";
  return typeof value === "object" ? "an object" : typeof value;
}
