-- Notifications: an outbox of webhook deliveries, filled from the audit trail.
--
-- The deliverer turns audit events past its cursor into one delivery per subscribed webhook
-- and posts them; the body is stored as it will be sent. The webhook's URL is never stored
-- (it is a secret, read from the config or the environment when sending).

CREATE TABLE notify_deliveries (
    id              INTEGER PRIMARY KEY,
    -- The audit event it comes from; NULL for `pilote notifications test`.
    audit_seq       INTEGER,
    webhook         TEXT NOT NULL,
    event           TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    -- The HTTP status of the last answer, if there was one.
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    UNIQUE (audit_seq, webhook, event)
) STRICT;

-- What is due, without reading the delivered history.
CREATE INDEX notify_due ON notify_deliveries (next_attempt_at) WHERE state = 'pending';

-- How far the deliverer has read the trail: one row, absent until webhooks are configured
-- (then set at the trail's head: history is never replayed).
CREATE TABLE notify_cursor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    audit_seq INTEGER NOT NULL
) STRICT;
