/**
 * How the CLI prints: aligned tables and timelines for people, the API's JSON as it came for
 * scripts (`--json`). Human output folds long values so one 1 MiB output cannot flood a terminal.
 */

/** Longest cell a table prints; longer values end in an ellipsis (`--json` has them whole). */
const MAX_CELL = 60;
/** Longest JSON value a human view prints inline. */
const MAX_INLINE_JSON = 400;

export interface Printer {
  json: boolean;
  out(text: string): void;
}

export function consolePrinter(json: boolean): Printer {
  return { json, out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`) };
}

/** A value as `--json` prints it: the API's answer, indented. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function fold(text: string, max = MAX_CELL): string {
  const oneLine = text.replace(/\s+/g, " ");
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}

/** A JSON value on one line, cut with a note of its full size when long. */
export function inlineJson(value: unknown, max = MAX_INLINE_JSON): string {
  if (value === null || value === undefined) return "-";
  const text = JSON.stringify(value);
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters; --json prints it whole)`;
}

export type Row = Record<string, string | number | boolean | null | undefined>;

/** Rows as an aligned table under a header of the column names; `(none)` for no rows. */
export function table(rows: Row[], columns: string[]): string {
  if (rows.length === 0) return "(none)\n";
  const cells = rows.map((row) => columns.map((c) => fold(cellText(row[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  return `${[line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join("\n")}\n`;
}

/** Label: value lines, labels aligned. */
export function fields(pairs: [string, string | number | null | undefined][]): string {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return `${pairs.map(([label, value]) => `${`${label}:`.padEnd(width + 2)}${cellText(value)}`).join("\n")}\n`;
}

function cellText(value: string | number | boolean | null | undefined): string {
  return value === null || value === undefined || value === "" ? "-" : String(value);
}

/** An ISO time as `2024-05-01 12:00:00.123` (UTC), short enough for a table. */
export function time(iso: string | null | undefined): string {
  return iso ? iso.replace("T", " ").replace(/Z$/, "") : "-";
}

/** "-" for a page with no more; else the hint of how to get the next one. */
export function nextPageHint(nextCursor: string | null): string {
  return nextCursor ? `more: --cursor ${nextCursor}\n` : "";
}
