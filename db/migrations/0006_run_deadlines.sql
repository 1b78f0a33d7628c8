-- A workflow's `timeoutMs` bounds its whole run: the start sets deadline_at, and a background pass
-- compensates runs still RUNNING or PAUSED past it. The index holds only those runs (a run leaves
-- it when it moves on), so the pass reads just the ones due.
ALTER TABLE workflow_instances ADD COLUMN deadline_at timestamptz;
CREATE INDEX workflow_instances_deadline_idx ON workflow_instances (deadline_at)
  WHERE deadline_at IS NOT NULL AND state IN ('RUNNING', 'PAUSED');
