-- pilote store, schema version 1.
-- Times are UTC milliseconds since the epoch (INTEGER). Digests are lowercase hex SHA-256.
-- Every table is STRICT so a wrong type is an error, not a silent conversion.

-- Facts about the store itself (which workspace owns it, when it was created).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Inventory as it was when it last changed: runs and requests refer to the snapshot they used,
-- so history stays readable after the inventory file is edited.
CREATE TABLE inventory_snapshots (
    id       INTEGER PRIMARY KEY,
    digest   TEXT NOT NULL UNIQUE,
    taken_at INTEGER NOT NULL,
    body     TEXT NOT NULL CHECK (json_valid(body))
) STRICT;

CREATE TABLE apps (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    snapshot_id INTEGER NOT NULL REFERENCES inventory_snapshots(id)
) STRICT;

CREATE TABLE app_domains (
    app    TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    PRIMARY KEY (app, domain)
) STRICT;

CREATE TABLE envs (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    protected   INTEGER NOT NULL CHECK (protected IN (0, 1)),
    position    INTEGER NOT NULL,
    snapshot_id INTEGER NOT NULL REFERENCES inventory_snapshots(id)
) STRICT;

-- Release vault: one row per immutable package, named by the digest of its manifest.
CREATE TABLE packages (
    digest      TEXT PRIMARY KEY,
    app         TEXT NOT NULL,
    version     TEXT NOT NULL,
    manifest    TEXT NOT NULL CHECK (json_valid(manifest)),
    size_bytes  INTEGER NOT NULL,
    imported_at INTEGER NOT NULL,
    imported_by TEXT NOT NULL,
    UNIQUE (app, version)
) STRICT;

-- Plans as submitted: the text is kept whole so an approval can be bound to its digest.
CREATE TABLE plans (
    id              INTEGER PRIMARY KEY,
    app             TEXT NOT NULL,
    source_path     TEXT,
    body            TEXT NOT NULL,
    digest          TEXT NOT NULL,
    catalog_digest  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    created_by      TEXT NOT NULL
) STRICT;

-- Deployment requests (RFCs) and their lifecycle state.
CREATE TABLE requests (
    id             INTEGER PRIMARY KEY,
    app            TEXT NOT NULL,
    version        TEXT NOT NULL,
    package_digest TEXT REFERENCES packages(digest),
    lifecycle      TEXT NOT NULL,
    plan_id        INTEGER REFERENCES plans(id),
    title          TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL CHECK (state IN
                     ('draft', 'submitted', 'approved', 'rejected', 'deploying',
                      'deployed', 'failed', 'rolled_back', 'cancelled', 'closed')),
    created_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX requests_by_app ON requests (app, state);

-- Planned dates of a request, env by env.
CREATE TABLE request_schedule (
    request_id INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    env        TEXT NOT NULL,
    planned_at INTEGER NOT NULL,
    PRIMARY KEY (request_id, env)
) STRICT;

-- Approvals bind to the digest of request + plan + package; editing any of them voids them.
CREATE TABLE approvals (
    id           INTEGER PRIMARY KEY,
    request_id   INTEGER NOT NULL REFERENCES requests(id),
    env          TEXT NOT NULL,
    approver     TEXT NOT NULL,
    decision     TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
    comment      TEXT NOT NULL DEFAULT '',
    bound_digest TEXT NOT NULL,
    decided_at   INTEGER NOT NULL,
    voided_at    INTEGER,
    UNIQUE (request_id, env, approver, bound_digest)
) STRICT;

-- One execution of a plan (deploy, ad-hoc) or of a rollback, on one env.
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback', 'adhoc')),
    app           TEXT NOT NULL,
    env           TEXT NOT NULL,
    request_id    INTEGER REFERENCES requests(id),
    plan_id       INTEGER REFERENCES plans(id),
    rollback_of   INTEGER REFERENCES runs(id),
    state         TEXT NOT NULL CHECK (state IN
                    ('pending', 'running', 'waiting', 'succeeded', 'failed',
                     'cancelled', 'interrupted')),
    started_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    runner_pid    INTEGER,
    -- Last engine event sequence written for this run; consoles tail from here.
    last_seq      INTEGER NOT NULL DEFAULT 0,
    outcome       TEXT
) STRICT;
CREATE INDEX runs_by_app_env ON runs (app, env, created_at);
CREATE INDEX runs_by_state ON runs (state);

-- One step of one action on one host (a local step has host = '').
CREATE TABLE step_runs (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    position     INTEGER NOT NULL,
    action_id    TEXT NOT NULL,
    step_name    TEXT NOT NULL,
    host         TEXT NOT NULL DEFAULT '',
    attempt      INTEGER NOT NULL DEFAULT 1,
    state        TEXT NOT NULL CHECK (state IN
                   ('pending', 'running', 'succeeded', 'failed', 'skipped',
                    'cancelled', 'timed_out', 'unknown')),
    started_at   INTEGER,
    finished_at  INTEGER,
    exit_code    INTEGER,
    detail       TEXT,
    UNIQUE (run_id, position, host, attempt)
) STRICT;

-- Output of steps, redacted before insert. Paged by (run_id, seq), never loaded whole.
CREATE TABLE log_lines (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    seq         INTEGER NOT NULL,
    step_run_id INTEGER REFERENCES step_runs(id),
    at          INTEGER NOT NULL,
    stream      TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    host        TEXT NOT NULL DEFAULT '',
    line        TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

-- Control of a run from any console: cancel, confirm or abort a gate, resume.
CREATE TABLE run_commands (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    command     TEXT NOT NULL CHECK (command IN ('cancel', 'confirm', 'abort', 'resume', 'mark_done')),
    issued_by   TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    handled_at  INTEGER
) STRICT;

-- One active run per (app, env): the primary key is the lock.
CREATE TABLE locks (
    app      TEXT NOT NULL,
    env      TEXT NOT NULL,
    run_id   INTEGER NOT NULL UNIQUE REFERENCES runs(id),
    taken_by TEXT NOT NULL,
    taken_at INTEGER NOT NULL,
    PRIMARY KEY (app, env)
) STRICT;

-- Append-only, hash-chained record of every state change: hash = SHA-256(prev_hash || payload).
CREATE TABLE audit_events (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor_uid  INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    payload    TEXT NOT NULL CHECK (json_valid(payload)),
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE
) STRICT;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
