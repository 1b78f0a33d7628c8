-- 0006's deadline index named `state` in its predicate, so every change of an instance's state had
-- to touch the indexes and no instance update was HOT (measured: the completion's instance update
-- went from ~10 to ~65 µs per row). The deadline now leaves the run when it ends (the instance
-- write clears deadline_at then), so the predicate needs only the column itself.
UPDATE workflow_instances SET deadline_at = NULL
WHERE deadline_at IS NOT NULL AND state NOT IN ('RUNNING', 'PAUSED');
DROP INDEX workflow_instances_deadline_idx;
CREATE INDEX workflow_instances_deadline_idx ON workflow_instances (deadline_at) WHERE deadline_at IS NOT NULL;
