import { sql } from "kysely";

/**
 * A list of ids for `column = ANY(...)`, written so that the planner always looks each one up in
 * the column's index. Given the list itself, it estimates from its length and may prefer to scan
 * the whole table for a few hundred ids (each row then compared with every id: seen here at 20,000
 * rows, 10x slower); behind a sub-select it cannot, and walks the index.
 */
export function idList(ids: string[]) {
  return sql`ARRAY(SELECT unnest(${uuidArray(ids)}::uuid[]))`;
}

const UUID_SHAPED = /^[0-9a-fA-F-]{1,64}$/;

/**
 * Ids for a `::uuid[]` parameter. When every id is made of hex digits and dashes (nothing an
 * array literal would need escaped), they go as one literal built by a join: pg would escape
 * each element in turn, which showed in the hot path's profile. Anything else goes as a list, for
 * pg to escape, and Postgres refuses what is not a UUID either way.
 */
export function uuidArray(ids: string[]): string | string[] {
  return ids.every((id) => UUID_SHAPED.test(id)) ? `{${ids.join(",")}}` : ids;
}
