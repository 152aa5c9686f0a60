-- The console shows the last audit events of the picked request: found by subject, newest
-- first, without scanning the whole trail.
CREATE INDEX audit_by_subject ON audit_events (subject, seq);
