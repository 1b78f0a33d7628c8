import { BatonError, type ErrorCode } from "./errors.ts";

/*
 * Zod issues as callers read them: the `details.fields` of a 4xx and the summary in its message.
 * Every refusal of a value zod found fault with (a request, a definition, a Kafka message) is
 * written by these, so each names the fields at fault the same way.
 */

/** One entry of `details.fields` in a VALIDATION_ERROR or INVALID_DEFINITION: a field and what is wrong with it. */
export interface FieldIssue {
  field: string;
  message: string;
}

/** What the issue helpers read of a zod issue (hand-made issues fit too). */
export interface IssueLike {
  code?: string;
  path: readonly PropertyKey[];
  message: string;
  /** The unknown fields of an `unrecognized_keys` issue. */
  keys?: readonly string[];
}

/**
 * Zod issues as `details.fields` entries, one per field at fault: an unknown-field issue becomes
 * one entry per unknown field (its path ending in the field's name), so every field a caller
 * must change is named. `root` names the value itself (a path of length 0).
 */
export function fieldIssues(issues: readonly IssueLike[], root: string): FieldIssue[] {
  return issues.flatMap((issue) => {
    const path = issue.path.map(String);
    if (issue.code === "unrecognized_keys" && issue.keys) {
      // strictFields writes one line per field; zod's own message is one line for all of them.
      const lines = issue.message.split("\n");
      const messageOf = (i: number) => (lines.length === issue.keys?.length ? (lines[i] as string) : issue.message);
      return issue.keys.map((key, i) => ({ field: [...path, key].join("."), message: messageOf(i) }));
    }
    return [{ field: path.join(".") || root, message: issue.message }];
  });
}

/**
 * The summary of zod issues for an error message: `field: message` per issue. An unknown-field
 * issue names its fields itself, so only its path (when not the root) is put in front.
 */
export function issuesSummary(issues: readonly IssueLike[], root: string): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join(".");
      const message = issue.message.replaceAll("\n", "; ");
      if (issue.code === "unrecognized_keys") return path ? `${path}: ${message}` : message;
      return `${path || root}: ${message}`;
    })
    .join("; ");
}

/**
 * The error refusing a value zod found fault with: its message is `<what>: <summary>`, its
 * `details.fields` names each field at fault (after any other `details`). `root` names the value
 * itself, as in `fieldIssues`.
 * @example
 * const parsed = Schema.safeParse(body);
 * if (!parsed.success) throw issuesError("VALIDATION_ERROR", "Invalid request body", parsed.error.issues, "(body)");
 */
export function issuesError(
  code: ErrorCode,
  what: string,
  issues: readonly IssueLike[],
  root: string,
  details: Record<string, unknown> = {},
): BatonError {
  return new BatonError(code, `${what}: ${issuesSummary(issues, root)}`, { ...details, fields: fieldIssues(issues, root) });
}
