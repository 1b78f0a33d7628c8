import type { WorkflowDefinition } from "@baton/engine";
import pg from "pg";

/*
 * What the checker reads from a Baton database, in one repeatable-read transaction so that every
 * table is seen at the same moment.
 */

export interface InstanceRecord {
  instanceId: string;
  namespace: string;
  workflowName: string;
  workflowVersion: number;
  runId: string;
  state: string;
  output: unknown;
  error: unknown;
  compensateFrom: string | null;
  sequenceNumber: number;
  updatedAt: Date;
}

export interface AttemptRecord {
  executionId: string;
  instanceId: string;
  taskId: string;
  kind: "DO" | "UNDO";
  attempt: number;
  /** The attempt number at which its retries are exhausted. */
  maxAttempts: number;
  /** As recorded in task_executions: open attempts are PENDING there, LEASED or not. */
  state: string;
  leased: boolean;
  fenceToken: number | null;
  leaseHolder: string | null;
  leaseExpiresAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  createdAt: Date;
  output: unknown;
}

export interface EventRecord {
  instanceId: string;
  sequenceNumber: number;
  eventType: string;
  payload: Record<string, unknown>;
  /** When the transaction that wrote it committed; null without track_commit_timestamp. */
  committedAt: Date | null;
}

export interface LeaseGrant {
  executionId: string;
  instanceId: string;
  fenceToken: number;
  holder: string;
  committedAt: Date | null;
}

/** A Kafka reply Baton applied: the message (`kafka:<topic>:<partition>:<offset>`) and the event it wrote. */
export interface AppliedReply {
  key: string;
  instanceId: string;
  sequenceNumber: number;
}

export interface Snapshot {
  instances: InstanceRecord[];
  attempts: AttemptRecord[];
  /** Events by instance, in sequence order. */
  events: Map<string, EventRecord[]>;
  definitions: Map<string, WorkflowDefinition>;
  /** The lease-grant audit (see LEASE_GRANT_AUDIT), when the database has one. */
  grants: LeaseGrant[] | null;
  /** The Kafka replies that changed something, each with the event it caused (report_keys). */
  appliedReplies: AppliedReply[];
  commitTimestamps: boolean;
}

export function definitionKey(namespace: string, name: string, version: number): string {
  return `${namespace}\u0000${name}\u0000${version}`;
}

export async function readSnapshot(databaseUrl: string): Promise<Snapshot> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "baton-check" });
  await client.connect();
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const { rows: settings } = await client.query<{ on: boolean; audit: boolean }>(
      "SELECT current_setting('track_commit_timestamp') = 'on' AS on, to_regclass('lease_grants') IS NOT NULL AS audit",
    );
    const commitTimestamps = settings[0]?.on === true;
    const committed = (alias: string) => (commitTimestamps ? `pg_xact_commit_timestamp(${alias}.xmin)` : "NULL::timestamptz");

    const definitions = new Map<string, WorkflowDefinition>();
    for (const r of (await client.query("SELECT namespace, name, version, definition FROM workflow_definitions")).rows) {
      // Stored already normalised (every step with its queue, dependsOn and undo), as the engine reads it.
      definitions.set(definitionKey(r.namespace, r.name, r.version), r.definition as WorkflowDefinition);
    }

    const instances = (
      await client.query(
        `SELECT instance_id, namespace, workflow_name, workflow_version, run_id, state, output, error, compensate_from,
                sequence_number, updated_at
         FROM workflow_instances`,
      )
    ).rows.map(
      (r): InstanceRecord => ({
        instanceId: r.instance_id,
        namespace: r.namespace,
        workflowName: r.workflow_name,
        workflowVersion: r.workflow_version,
        runId: r.run_id,
        state: r.state,
        output: r.output,
        error: r.error,
        compensateFrom: r.compensate_from,
        sequenceNumber: Number(r.sequence_number),
        updatedAt: r.updated_at,
      }),
    );

    const attempts = (
      await client.query(
        `SELECT t.execution_id, t.workflow_instance_id, t.task_id, t.kind, t.attempt_number, t.max_attempts, t.state, l.state = 'LEASED' AS leased,
                coalesce(l.fence_token, t.fence_token) AS fence_token, coalesce(l.lease_holder, t.lease_holder) AS lease_holder,
                coalesce(l.lease_expires_at, t.lease_expires_at) AS lease_expires_at, coalesce(l.started_at, t.started_at) AS started_at,
                t.finished_at, t.created_at, t.output
         FROM task_executions t LEFT JOIN task_leases l ON l.execution_id = t.execution_id`,
      )
    ).rows.map(
      (r): AttemptRecord => ({
        executionId: r.execution_id,
        instanceId: r.workflow_instance_id,
        taskId: r.task_id,
        kind: r.kind,
        attempt: r.attempt_number,
        maxAttempts: r.max_attempts,
        state: r.state,
        leased: r.leased === true,
        fenceToken: r.fence_token === null ? null : Number(r.fence_token),
        leaseHolder: r.lease_holder,
        leaseExpiresAt: r.lease_expires_at,
        startedAt: r.started_at,
        finishedAt: r.finished_at,
        createdAt: r.created_at,
        output: r.output,
      }),
    );

    const events = new Map<string, EventRecord[]>();
    const eventRows = await client.query(
      `SELECT e.workflow_instance_id, e.sequence_number + x.ord - 1 AS seq, x.entry->>'type' AS type, x.entry->'payload' AS payload,
              ${committed("e")} AS committed_at
       FROM events e CROSS JOIN LATERAL jsonb_array_elements(e.entries) WITH ORDINALITY AS x(entry, ord)
       ORDER BY e.workflow_instance_id, seq`,
    );
    for (const r of eventRows.rows) {
      const list = events.get(r.workflow_instance_id) ?? [];
      list.push({
        instanceId: r.workflow_instance_id,
        sequenceNumber: Number(r.seq),
        eventType: r.type,
        payload: r.payload,
        committedAt: r.committed_at,
      });
      events.set(r.workflow_instance_id, list);
    }

    const grants =
      settings[0]?.audit === true
        ? (
            await client.query(
              `SELECT execution_id, instance_id, fence_token, holder, ${committed("g")} AS committed_at FROM lease_grants g`,
            )
          ).rows.map(
            (r): LeaseGrant => ({
              executionId: r.execution_id,
              instanceId: r.instance_id,
              fenceToken: Number(r.fence_token),
              holder: r.holder,
              committedAt: r.committed_at,
            }),
          )
        : null;
    const appliedReplies = (
      await client.query(
        "SELECT idempotency_key, workflow_instance_id, sequence_number FROM report_keys WHERE idempotency_key LIKE 'kafka:%'",
      )
    ).rows.map(
      (r): AppliedReply => ({ key: r.idempotency_key, instanceId: r.workflow_instance_id, sequenceNumber: Number(r.sequence_number) }),
    );
    await client.query("COMMIT");
    return { instances, attempts, events, definitions, grants, appliedReplies, commitTimestamps };
  } finally {
    await client.end().catch(() => {});
  }
}
