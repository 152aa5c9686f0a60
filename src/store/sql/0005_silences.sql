-- Schema version 5: monitoring silences opened by runs.
-- A silence is recorded before Alertmanager is asked for it, so a runner that dies in between
-- leaves a row saying what may be open; `silence_id` is Alertmanager's id once it answered.
CREATE TABLE silences (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    step_run_id  INTEGER REFERENCES step_runs(id),
    domain       TEXT NOT NULL,
    url          TEXT NOT NULL,
    matchers     TEXT NOT NULL CHECK (json_valid(matchers)),
    silence_id   TEXT,
    -- pending: not created yet (Alertmanager did not answer, being retried); open: created;
    -- expired: ended by pilote; abandoned: no longer wanted before it could be created.
    state        TEXT NOT NULL CHECK (state IN ('pending', 'open', 'expired', 'abandoned')),
    created_at   INTEGER NOT NULL,
    ends_at      INTEGER NOT NULL,
    opened_at    INTEGER,
    closed_at    INTEGER,
    last_error   TEXT
) STRICT;
CREATE INDEX silences_by_run ON silences (run_id, state);
