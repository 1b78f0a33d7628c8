-- A step whose `when` condition does not hold is recorded SKIPPED: an attempt row written finished,
-- never leased (it has no task_leases row). The new check allows a superset of the old one, so the
-- existing rows need no rewrite.
ALTER TABLE task_executions DROP CONSTRAINT task_executions_state_check;
ALTER TABLE task_executions ADD CONSTRAINT task_executions_state_check
  CHECK (state IN ('PENDING', 'LEASED', 'COMPLETED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'SKIPPED')) NOT VALID;
ALTER TABLE task_executions VALIDATE CONSTRAINT task_executions_state_check;
