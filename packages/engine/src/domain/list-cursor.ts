import { BatonError } from "../contract/errors.ts";

/**
 * A row's place in the instance list: its creation time exactly as stored (UTC text with
 * microseconds; a JavaScript Date keeps only milliseconds, and rows created in the same millisecond
 * as a page's last row would be skipped) and its id.
 */
export interface InstanceListPosition {
  createdAt: string;
  instanceId: string;
}

/** An exact creation time as the store writes it: UTC, microseconds (a Date's milliseconds also read). */
const EXACT_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The opaque `nextCursor` of an instance list page: where it ended. */
export function encodeListCursor(position: InstanceListPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.instanceId])).toString("base64url");
}

/** Reads a cursor made by encodeListCursor; anything else is a VALIDATION_ERROR naming `cursor`. */
export function decodeListCursor(cursor: string): InstanceListPosition {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    decoded = undefined;
  }
  const [createdAt, instanceId] = Array.isArray(decoded) && decoded.length === 2 ? decoded : [];
  if (typeof createdAt !== "string" || !EXACT_TIME.test(createdAt) || typeof instanceId !== "string" || !UUID.test(instanceId)) {
    const message = "not a cursor returned by a previous page";
    throw new BatonError("VALIDATION_ERROR", `Invalid request query: cursor: ${message}`, {
      in: "query",
      fields: [{ field: "cursor", message }],
    });
  }
  return { createdAt, instanceId };
}
