-- The config a run was started with (inventory, lifecycles, automations, [vars]), by digest:
-- a rollback is derived from it, not from today's files, so a config broken or edited since
-- neither blocks the rollback nor changes what it runs. Runs share identical snapshots.
CREATE TABLE config_snapshots (
    digest   TEXT PRIMARY KEY,
    taken_at INTEGER NOT NULL,
    body     TEXT NOT NULL CHECK (json_valid(body))
) STRICT;
ALTER TABLE runs ADD COLUMN config_digest TEXT REFERENCES config_snapshots(digest);
-- Why a person rolled back (`pilote rollback --reason`): shown on the incident.
ALTER TABLE runs ADD COLUMN reason TEXT;
