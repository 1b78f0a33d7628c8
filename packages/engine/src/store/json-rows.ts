import { sql } from "kysely";

/**
 * A batch of rows as ONE parameter, a JSON array of objects, read back as a table `v` by
 * `json_to_recordset`: `columns` is the column definition list, named as the objects' keys
 * (`"execution_id uuid, ord int"`). One native JSON.stringify replaces pg's escaping of every
 * element of one text array per column, which was the largest driver cost of a batch (JSON
 * values travelled escaped twice: once as JSON text, again as an array element). A key that is
 * missing or JSON null reads as SQL NULL.
 */
export function jsonRows(rows: object[], columns: string) {
  return sql`json_to_recordset(${JSON.stringify(rows)}::json) AS v(${sql.raw(columns)})`;
}
