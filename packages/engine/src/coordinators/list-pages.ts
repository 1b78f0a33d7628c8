import {
  BatonError,
  type EventPage,
  type InstancePage,
  type InstanceState,
  type InstanceView,
  PAGE_LIMITS,
  type TaskPage,
} from "@baton/contract";
import type { DbOrTrx } from "../db/database.ts";
import {
  decodeCreatedCursor,
  decodeDefinitionCursor,
  decodeListCursor,
  decodeSequenceCursor,
  encodeCreatedCursor,
  encodeDefinitionCursor,
  encodeListCursor,
  encodeSequenceCursor,
} from "../domain/list-cursor.ts";
import { type DefinitionRow, definitionPageLatest } from "../store/definitions.ts";
import { eventPageByInstance } from "../store/events.ts";
import { instanceGet, instanceList, instanceNamespace } from "../store/instances.ts";
import { taskPageByInstance } from "../store/tasks.ts";
import { eventView, instanceSummary, taskView } from "./views.ts";

/*
 * Every list a caller reads, a page at a time (issue 10: lists paginated everywhere). A page asks
 * the store for one row more than it answers: that row's presence is what `nextCursor` says.
 */

/** `?cursor=&limit=` as the coordinators take them; the limit is clamped to 1..max. */
export interface PageParams {
  cursor?: string;
  limit?: number;
}

export interface InstanceListParams extends PageParams {
  namespace?: string;
  workflow?: string;
  state?: InstanceState;
}

/** Instances start a list of 50 by default: their list predates the other pages. */
const INSTANCE_PAGE_DEFAULT = 50;

function pageLimit(limit: number | undefined, fallback: number = PAGE_LIMITS.defaultLimit): number {
  return Math.min(Math.max(limit ?? fallback, 1), PAGE_LIMITS.maxLimit);
}

/** The first `limit` of `rows` (read as limit + 1) and the cursor after the last of them. */
function pageOf<R>(rows: R[], limit: number, cursorAfter: (row: R) => string): { items: R[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last !== undefined ? cursorAfter(last) : null };
}

/** Instances newest first. */
export async function instancePage(db: DbOrTrx, params: InstanceListParams): Promise<InstancePage> {
  const limit = pageLimit(params.limit, INSTANCE_PAGE_DEFAULT);
  const rows = await instanceList(db, {
    ...(params.namespace ? { namespace: params.namespace } : {}),
    ...(params.workflow ? { workflowName: params.workflow } : {}),
    ...(params.state ? { state: params.state } : {}),
    ...(params.cursor ? { after: decodeListCursor(params.cursor) } : {}),
    limit: limit + 1,
  });
  const page = pageOf(rows, limit, (row) => encodeListCursor(row.position));
  return { items: page.items.map(instanceSummary), nextCursor: page.nextCursor };
}

/** The latest version of each workflow, by namespace then name. */
export async function definitionPage(
  db: DbOrTrx,
  params: PageParams & { namespace?: string },
): Promise<{ items: DefinitionRow[]; nextCursor: string | null }> {
  const limit = pageLimit(params.limit);
  const rows = await definitionPageLatest(db, {
    ...(params.namespace ? { namespace: params.namespace } : {}),
    ...(params.cursor ? { after: decodeDefinitionCursor(params.cursor) } : {}),
    limit: limit + 1,
  });
  return pageOf(rows, limit, encodeDefinitionCursor);
}

/** One instance's attempts in the order they were scheduled. NOT_FOUND for an unknown instance. */
export async function taskPage(db: DbOrTrx, instanceId: string, params: PageParams = {}): Promise<TaskPage> {
  const limit = pageLimit(params.limit);
  const after = params.cursor ? decodeCreatedCursor(params.cursor) : undefined;
  const rows = await taskPageByInstance(db, { instanceId, ...(after ? { after } : {}), limit: limit + 1 });
  if (rows.length === 0) await requireInstance(db, instanceId);
  const page = pageOf(rows, limit, (row) => encodeCreatedCursor(row.position));
  return { items: page.items.map(taskView), nextCursor: page.nextCursor };
}

/** One instance's history by sequence number. NOT_FOUND for an unknown instance. */
export async function eventPage(db: DbOrTrx, instanceId: string, params: PageParams = {}): Promise<EventPage> {
  const limit = pageLimit(params.limit);
  const after = params.cursor ? decodeSequenceCursor(params.cursor) : 0;
  const rows = await eventPageByInstance(db, { instanceId, after, limit: limit + 1 });
  if (rows.length === 0) await requireInstance(db, instanceId);
  const page = pageOf(rows, limit, (row) => encodeSequenceCursor(row.sequenceNumber));
  return { items: page.items.map(eventView), nextCursor: page.nextCursor };
}

/** One instance with the first page (of the largest size) of its attempts and of its history. */
export async function instanceView(db: DbOrTrx, instanceId: string): Promise<InstanceView> {
  const instance = await instanceGet(db, instanceId);
  if (!instance) throw notFound(instanceId);
  const first = { limit: PAGE_LIMITS.maxLimit };
  const [tasks, events] = await Promise.all([taskPage(db, instanceId, first), eventPage(db, instanceId, first)]);
  return {
    ...instanceSummary(instance),
    sequenceNumber: instance.sequenceNumber,
    tasks: tasks.items,
    tasksNextCursor: tasks.nextCursor,
    events: events.items,
    eventsNextCursor: events.nextCursor,
  };
}

async function requireInstance(db: DbOrTrx, instanceId: string): Promise<void> {
  if ((await instanceNamespace(db, instanceId)) === null) throw notFound(instanceId);
}

function notFound(instanceId: string): BatonError {
  return new BatonError("NOT_FOUND", `Instance ${instanceId} not found`, { instanceId });
}
