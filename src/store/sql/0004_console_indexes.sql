-- The console shows the last audit events of the picked request: found by subject, newest
-- first, without scanning the whole trail.
CREATE INDEX audit_by_subject ON audit_events (subject, seq);

-- Whether a deploy was rolled back (for promotion, asked for every request on screen each
-- second) is found from the rollback's side.
CREATE INDEX runs_by_rollback_of ON runs (rollback_of);

-- Delivery metrics read the deploys that ended in a window (dashboards, `pilote metrics`):
-- the index holds what they read, so a window of thousands of runs is one range scan.
CREATE INDEX runs_by_end ON runs (kind, finished_at, app, env, state, started_at, created_at,
                                  package_digest, request_id);

-- Whether a production deploy's package had passed pre-production (the escape rate).
CREATE INDEX runs_by_package ON runs (package_digest);

-- A request's deploys (lead time: was this its first success there?).
CREATE INDEX runs_by_request ON runs (request_id);
