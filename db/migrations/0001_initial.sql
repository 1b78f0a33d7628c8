-- Baton's initial schema. Times come from the database clock only (now()).

-- One sequence for every fence token: tokens increase strictly across attempts, retries, restarts
-- and replicas, so a downstream service may keep the highest token it has seen and reject lower ones.
CREATE SEQUENCE fence_token_seq AS bigint;

CREATE TABLE workflow_definitions (
  namespace   text        NOT NULL,
  name        text        NOT NULL,
  version     integer     NOT NULL CHECK (version > 0),
  definition  jsonb       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (namespace, name, version)
);

CREATE TABLE workflow_instances (
  instance_id       uuid        PRIMARY KEY,
  namespace         text        NOT NULL,
  workflow_name     text        NOT NULL,
  workflow_version  integer     NOT NULL,
  run_id            text        NOT NULL,
  state             text        NOT NULL CHECK (state IN ('RUNNING', 'PAUSED', 'COMPLETED', 'CANCELLED',
                      'COMPENSATING', 'COMPENSATED', 'COMPENSATION_FAILED', 'FAILED')),
  input             jsonb       NOT NULL,
  output            jsonb,
  error             jsonb,
  -- Set while compensating by hand from one step: only that step and what it depends on are undone.
  compensate_from   text,
  -- Optimistic-lock version: always the number of events of the instance.
  sequence_number   bigint      NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (namespace, workflow_name, run_id),
  FOREIGN KEY (namespace, workflow_name, workflow_version)
    REFERENCES workflow_definitions (namespace, name, version)
);

CREATE INDEX workflow_instances_list_idx
  ON workflow_instances (namespace, workflow_name, state, created_at, instance_id);
CREATE INDEX workflow_instances_created_idx ON workflow_instances (created_at, instance_id);

-- One row per attempt of a step's DO or UNDO. A row is leased at most once: a retry is a new row.
CREATE TABLE task_executions (
  execution_id          uuid        PRIMARY KEY,
  workflow_instance_id  uuid        NOT NULL REFERENCES workflow_instances (instance_id) ON DELETE CASCADE,
  task_id               text        NOT NULL,
  kind                  text        NOT NULL CHECK (kind IN ('DO', 'UNDO')),
  queue                 text        NOT NULL,
  idempotency_key       text        NOT NULL UNIQUE, -- instance:task:kind:attempt
  attempt_number        integer     NOT NULL CHECK (attempt_number > 0),
  -- The attempt number at which retries are exhausted (a manual retry grants a fresh budget).
  max_attempts          integer     NOT NULL CHECK (max_attempts >= attempt_number),
  state                 text        NOT NULL CHECK (state IN ('PENDING', 'LEASED', 'COMPLETED', 'FAILED',
                          'TIMED_OUT', 'CANCELLED')),
  input                 jsonb       NOT NULL,
  output                jsonb,
  error                 jsonb,
  lease_ms              integer     NOT NULL CHECK (lease_ms > 0),
  lease_holder          text,
  lease_expires_at      timestamptz,
  fence_token           bigint,
  available_at          timestamptz NOT NULL DEFAULT now(),
  created_at            timestamptz NOT NULL DEFAULT now(),
  started_at            timestamptz,
  finished_at           timestamptz
);

-- The acquire path: pending tasks by queue in availability order. The acquire orders by exactly
-- these columns so the planner always walks this index.
CREATE INDEX task_executions_pending_idx
  ON task_executions (queue, available_at, execution_id) WHERE state = 'PENDING';
-- The reaper's path: leases by expiry.
CREATE INDEX task_executions_leased_idx
  ON task_executions (lease_expires_at) WHERE state = 'LEASED';
CREATE INDEX task_executions_instance_idx ON task_executions (workflow_instance_id);
-- Invariant I1, enforced by the database: one accepted completion per (instance, step, kind).
CREATE UNIQUE INDEX task_executions_one_completion_idx
  ON task_executions (workflow_instance_id, task_id, kind) WHERE state = 'COMPLETED';

-- Named leases for engine singletons across replicas (e.g. the Kafka events relay).
CREATE TABLE execution_leases (
  lease_key    text        PRIMARY KEY,
  holder_id    text        NOT NULL,
  expires_at   timestamptz NOT NULL,
  fence_token  bigint      NOT NULL,
  -- Singleton-specific progress (e.g. the relay's cursor), written only with the current fence.
  cursor       jsonb
);

-- Append-only history: every state change of an instance or its tasks, numbered 1..n per instance.
CREATE TABLE events (
  event_id              uuid        PRIMARY KEY,
  workflow_instance_id  uuid        NOT NULL REFERENCES workflow_instances (instance_id) ON DELETE CASCADE,
  sequence_number       bigint      NOT NULL,
  event_type            text        NOT NULL,
  payload               jsonb       NOT NULL,
  idempotency_key       text        NOT NULL UNIQUE,
  created_at            timestamptz NOT NULL DEFAULT now(),
  -- Global commit order for relays that read the table as a log.
  position              bigserial   NOT NULL,
  UNIQUE (workflow_instance_id, sequence_number)
);
CREATE INDEX events_position_idx ON events (position);

-- Which worker last polled which queue: a step is ready while a worker polled its queue recently.
CREATE TABLE worker_heartbeats (
  worker_id     text        NOT NULL,
  queue         text        NOT NULL,
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (worker_id, queue)
);
