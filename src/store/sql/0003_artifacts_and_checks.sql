-- Schema version 3: packages recorded with runs, http check results, blocked requests.
-- The digest of every artifact of a run's package, taken when the run is created: copy steps
-- refuse a file that no longer matches, and check the copy on the target against it.
CREATE TABLE run_artifacts (
    run_id  INTEGER NOT NULL REFERENCES runs(id),
    path    TEXT NOT NULL,
    sha256  TEXT NOT NULL,
    size    INTEGER NOT NULL,
    PRIMARY KEY (run_id, path)
) STRICT, WITHOUT ROWID;

-- What an http step measured: its probes' latency percentiles and availability.
CREATE TABLE http_checks (
    step_run_id   INTEGER PRIMARY KEY REFERENCES step_runs(id),
    url           TEXT NOT NULL,
    probes        INTEGER NOT NULL,
    ok            INTEGER NOT NULL,
    p50_ms        INTEGER NOT NULL,
    p95_ms        INTEGER NOT NULL,
    availability  REAL NOT NULL
) STRICT;

-- A run of a vault package (instead of a --package dir) copies that package's blobs.
ALTER TABLE runs ADD COLUMN package_digest TEXT REFERENCES packages(digest);

-- A request blocked from progressing, and why ("who: reason"); NULL when it is not.
ALTER TABLE requests ADD COLUMN blocked TEXT;
