import type { ColumnType, Generated } from "kysely";

/** JSON stored in a jsonb column; written as a JSON string, read back parsed. */
export type Json = ColumnType<unknown, string, string>;
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type BigIntColumn = ColumnType<string | number | bigint, number | bigint | string, number | bigint | string>;

export interface WorkflowDefinitionsTable {
  namespace: string;
  name: string;
  version: number;
  definition: Json;
  created_at: Generated<Date>;
}

export interface WorkflowInstancesTable {
  instance_id: string;
  namespace: string;
  workflow_name: string;
  workflow_version: number;
  run_id: string;
  state: string;
  input: Json;
  output: ColumnType<unknown, string | null | undefined, string | null>;
  error: ColumnType<unknown, string | null | undefined, string | null>;
  compensate_from: string | null;
  sequence_number: BigIntColumn;
  /** When a run with a `timeoutMs` is compensated if it is still RUNNING or PAUSED. */
  deadline_at: ColumnType<Date | null, never, never>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface TaskExecutionsTable {
  execution_id: string;
  workflow_instance_id: string;
  task_id: string;
  kind: string;
  queue: string;
  attempt_number: number;
  max_attempts: number;
  state: string;
  input: Json;
  output: ColumnType<unknown, string | null | undefined, string | null>;
  error: ColumnType<unknown, string | null | undefined, string | null>;
  lease_ms: number;
  lease_holder: string | null;
  lease_expires_at: Date | null;
  fence_token: ColumnType<string | number | bigint | null, never, never>;
  available_at: Timestamp;
  created_at: Timestamp;
  started_at: Date | null;
  finished_at: Date | null;
}

/** The open (PENDING or LEASED) attempts: what the lease cycle reads and writes. */
export interface TaskLeasesTable {
  execution_id: string;
  workflow_instance_id: string;
  queue: string;
  state: string;
  available_at: Timestamp;
  lease_ms: number;
  lease_holder: string | null;
  lease_expires_at: Date | null;
  fence_token: ColumnType<string | number | bigint | null, never, never>;
  started_at: Date | null;
}

export interface ExecutionLeasesTable {
  lease_key: string;
  holder_id: string;
  expires_at: Date;
  fence_token: BigIntColumn;
  cursor: ColumnType<unknown, string | null | undefined, string | null>;
}

export interface EventsTable {
  workflow_instance_id: string;
  /** The first event's number; the row holds `entries.length` events numbered on from it. */
  sequence_number: BigIntColumn;
  /** The commit's events in order: `[{type, payload}, ...]`. */
  entries: Json;
  created_at: Timestamp;
  position: ColumnType<string | number | bigint, never, never>;
}

export interface ReportKeysTable {
  idempotency_key: string;
  workflow_instance_id: string;
  sequence_number: BigIntColumn;
}

export interface WorkerHeartbeatsTable {
  worker_id: string;
  queue: string;
  last_seen_at: Timestamp;
}

/** A service's remembered `as: worker` registration for one workflow (migration 0008). */
export interface ServiceRegistrationsTable {
  namespace: string;
  workflow_name: string;
  service: string;
  steps: string[];
  queues: string[];
  transport: string;
  first_registered_at: Timestamp;
  last_registered_at: Timestamp;
  last_contact_at: Timestamp;
}

/** The audit trail of registrations: a service's first one, and each that changed it. */
export interface ServiceRegistrationChangesTable {
  change_id: ColumnType<string | number | bigint, never, never>;
  namespace: string;
  workflow_name: string;
  service: string;
  change: string;
  steps: string[];
  steps_added: string[];
  transport: string;
  transport_before: string | null;
  by_key_id: string | null;
  by_name: string;
  created_at: Timestamp;
}

export interface ApiKeysTable {
  key_id: string;
  name: string;
  role: string;
  namespaces: string[];
  queues: ColumnType<string[], string[] | undefined, string[]>;
  secret_hash: string;
  created_at: Generated<Date>;
  revoked_at: Date | null;
}

export interface QueueOwnersTable {
  queue: string;
  namespace: string;
  claimed_at: Generated<Date>;
}

export interface BatonMigrationsTable {
  name: string;
  checksum: string;
  applied_at: Generated<Date>;
}

/** The Kysely view of Baton's tables (db/migrations is the source of truth). */
export interface Schema {
  workflow_definitions: WorkflowDefinitionsTable;
  workflow_instances: WorkflowInstancesTable;
  task_executions: TaskExecutionsTable;
  task_leases: TaskLeasesTable;
  execution_leases: ExecutionLeasesTable;
  events: EventsTable;
  report_keys: ReportKeysTable;
  worker_heartbeats: WorkerHeartbeatsTable;
  service_registrations: ServiceRegistrationsTable;
  service_registration_changes: ServiceRegistrationChangesTable;
  api_keys: ApiKeysTable;
  queue_owners: QueueOwnersTable;
  baton_migrations: BatonMigrationsTable;
}
