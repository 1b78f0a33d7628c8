import { BatonError } from "@baton/contract";

/*
 * The opaque `nextCursor` of every paginated list: base64url of a JSON array holding the exact
 * sort key of the page's last row, so the next page starts right after it, with no row skipped or
 * repeated. Each list checks what it reads back: anything else is a VALIDATION_ERROR naming `cursor`.
 */

/**
 * A row's place in a list ordered by creation: its creation time exactly as stored (UTC text with
 * microseconds; a JavaScript Date keeps only milliseconds, and rows created in the same millisecond
 * as a page's last row would be skipped) and its id.
 */
export interface CreatedPosition {
  createdAt: string;
  id: string;
}

/** A row's place in the instance list (newest first). */
export interface InstanceListPosition {
  createdAt: string;
  instanceId: string;
}

/** A definition's place in the list of definitions (by namespace, then name). */
export interface DefinitionListPosition {
  namespace: string;
  name: string;
}

/** An exact creation time as the store writes it: UTC, microseconds (a Date's milliseconds also read). */
const EXACT_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Namespaces and names are at most 128 characters (LIMITS.maxNameLength). */
const MAX_NAME = 128;

function encode(values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString("base64url");
}

/** The cursor's values when it is a JSON array of `length` values, else undefined. */
function decode(cursor: string, length: number): unknown[] | undefined {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    return Array.isArray(decoded) && decoded.length === length ? decoded : undefined;
  } catch {
    return undefined;
  }
}

function malformed(): BatonError {
  const message = "not a cursor returned by a previous page";
  return new BatonError("VALIDATION_ERROR", `Invalid request query: cursor: ${message}`, {
    in: "query",
    fields: [{ field: "cursor", message }],
  });
}

export function encodeCreatedCursor(position: CreatedPosition): string {
  return encode([position.createdAt, position.id]);
}

/** Reads a cursor made by encodeCreatedCursor. */
export function decodeCreatedCursor(cursor: string): CreatedPosition {
  const [createdAt, id] = decode(cursor, 2) ?? [];
  if (typeof createdAt !== "string" || !EXACT_TIME.test(createdAt) || typeof id !== "string" || !UUID.test(id)) throw malformed();
  return { createdAt, id };
}

/** The opaque `nextCursor` of an instance list page: where it ended. */
export function encodeListCursor(position: InstanceListPosition): string {
  return encodeCreatedCursor({ createdAt: position.createdAt, id: position.instanceId });
}

/** Reads a cursor made by encodeListCursor. */
export function decodeListCursor(cursor: string): InstanceListPosition {
  const { createdAt, id } = decodeCreatedCursor(cursor);
  return { createdAt, instanceId: id };
}

/** The cursor after the event numbered `sequenceNumber` of an instance's history. */
export function encodeSequenceCursor(sequenceNumber: number): string {
  return encode([sequenceNumber]);
}

/** Reads a cursor made by encodeSequenceCursor: the last sequence number of the previous page. */
export function decodeSequenceCursor(cursor: string): number {
  const [sequenceNumber] = decode(cursor, 1) ?? [];
  if (typeof sequenceNumber !== "number" || !Number.isSafeInteger(sequenceNumber) || sequenceNumber < 1) throw malformed();
  return sequenceNumber;
}

/** The cursor after the row with this id, in a list ordered by id. */
export function encodeIdCursor(id: string): string {
  return encode([id]);
}

/** Reads a cursor made by encodeIdCursor. */
export function decodeIdCursor(cursor: string): string {
  const [id] = decode(cursor, 1) ?? [];
  if (typeof id !== "string" || !UUID.test(id)) throw malformed();
  return id.toLowerCase();
}

export function encodeDefinitionCursor(position: DefinitionListPosition): string {
  return encode([position.namespace, position.name]);
}

/** Reads a cursor made by encodeDefinitionCursor. */
export function decodeDefinitionCursor(cursor: string): DefinitionListPosition {
  const [namespace, name] = decode(cursor, 2) ?? [];
  const isName = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= MAX_NAME;
  if (!isName(namespace) || !isName(name)) throw malformed();
  return { namespace, name };
}

/** A registration's place in the list of registrations (by namespace, workflow, then service). */
export interface RegistrationListPosition {
  namespace: string;
  workflow: string;
  service: string;
}

/** Services are named like worker ids: at most 200 characters (LIMITS.maxIdLength). */
const MAX_ID = 200;

export function encodeRegistrationCursor(position: RegistrationListPosition): string {
  return encode([position.namespace, position.workflow, position.service]);
}

/** Reads a cursor made by encodeRegistrationCursor. */
export function decodeRegistrationCursor(cursor: string): RegistrationListPosition {
  const [namespace, workflow, service] = decode(cursor, 3) ?? [];
  const isText = (v: unknown, max: number): v is string => typeof v === "string" && v.length > 0 && v.length <= max;
  if (!isText(namespace, MAX_NAME) || !isText(workflow, MAX_NAME) || !isText(service, MAX_ID)) throw malformed();
  return { namespace, workflow, service };
}
