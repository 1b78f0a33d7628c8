-- A service's `as: worker` registration is remembered: which steps of which workflow it serves,
-- how it registered, and when Baton last heard from it (a registration, a poll of one of its
-- queues, a Kafka reply to one of its steps). Before, a registration was written as a worker poll
-- and was forgotten when the readiness window ran out. One row per service and workflow; the steps
-- a service registers are added to those it had.
CREATE TABLE service_registrations (
  namespace           text        NOT NULL,
  workflow_name       text        NOT NULL,
  service             text        NOT NULL,
  steps               text[]      NOT NULL,
  -- The steps' DO and UNDO queues when it last registered, so a poll of one counts as contact.
  queues              text[]      NOT NULL,
  transport           text        NOT NULL CHECK (transport IN ('http', 'kafka')),
  first_registered_at timestamptz NOT NULL DEFAULT now(),
  last_registered_at  timestamptz NOT NULL DEFAULT now(),
  last_contact_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (namespace, workflow_name, service)
);
-- A poll names its worker, not its workflow: contact is recorded by service name.
CREATE INDEX service_registrations_service_idx ON service_registrations (service);

-- Append-only: a service's first registration and every one that changed it (steps added, another
-- transport), with who asked. A repeated identical registration only moves last_registered_at.
CREATE TABLE service_registration_changes (
  change_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  namespace        text        NOT NULL,
  workflow_name    text        NOT NULL,
  service          text        NOT NULL,
  change           text        NOT NULL CHECK (change IN ('created', 'changed')),
  steps            text[]      NOT NULL,
  steps_added      text[]      NOT NULL,
  transport        text        NOT NULL,
  transport_before text,
  -- Who registered: the API key (null without one) and a name (the key's, or `kafka:<topic>`).
  by_key_id        text,
  by_name          text        NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX service_registration_changes_namespace_idx ON service_registration_changes (namespace, change_id);
