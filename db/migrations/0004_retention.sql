-- Retention deletes finished instances; their report keys go by the foreign key's cascade, which
-- looks them up by instance once per deleted instance: without this index each lookup reads the
-- whole table.
CREATE INDEX report_keys_instance_idx ON report_keys (workflow_instance_id);
