import { type RawBuilder, sql } from "kysely";

/**
 * A timestamptz column as UTC text with microseconds, as the database stores it: a list cursor
 * holds this rather than a JavaScript Date, which keeps only milliseconds (rows created in the same
 * millisecond as a page's last row would be skipped).
 */
export function exactTime(column: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}
