-- Who may do what: API keys with a role and a namespace scope, and queues that belong to one
-- namespace each.
--
-- A key is shown once, when it is created; only its scrypt hash is kept. `namespaces` lists the
-- namespaces the key acts in ('*' = every one); `queues` the queue patterns a worker key may
-- work ('*' matches any run of characters).
CREATE TABLE api_keys (
  key_id       text        PRIMARY KEY,
  name         text        NOT NULL,
  role         text        NOT NULL CHECK (role IN ('admin', 'operator', 'starter', 'worker')),
  namespaces   text[]      NOT NULL,
  queues       text[]      NOT NULL DEFAULT '{}',
  secret_hash  text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz
);

-- A queue is claimed by the first namespace whose definition names it; a definition of another
-- namespace naming it is refused, so one tenant cannot route its input to another's workers.
CREATE TABLE queue_owners (
  queue      text        PRIMARY KEY,
  namespace  text        NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now()
);

-- Existing definitions claim their queues (DO and UNDO), oldest definition first: where two
-- namespaces already share a queue, the one that registered it first keeps it.
INSERT INTO queue_owners (queue, namespace, claimed_at)
SELECT DISTINCT ON (q.queue) q.queue, d.namespace, d.created_at
FROM workflow_definitions d
CROSS JOIN LATERAL (
  SELECT s ->> 'queue' AS queue FROM jsonb_array_elements(d.definition -> 'steps') s
  UNION ALL
  SELECT s -> 'undo' ->> 'queue' FROM jsonb_array_elements(d.definition -> 'steps') s WHERE jsonb_typeof(s -> 'undo') = 'object'
) q
WHERE q.queue IS NOT NULL
ORDER BY q.queue, d.created_at, d.namespace
ON CONFLICT (queue) DO NOTHING;
