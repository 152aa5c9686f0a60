-- Schema version 7: decisions in the chain.
--
-- A decision that counts (an approval or a rejection, the voiding of approvals by a new plan,
-- a block or unblock, a gate answer or cancel, a step marked done) carries the number of the
-- audit event that recorded it, written in the same transaction. The rules count a decision
-- only when that event is in the chain and says the same, so a row written behind pilote's
-- back (sqlite3 on the file) counts for nothing. Approvals become append-only like the trail:
-- a new decision is a new row (a person's latest one stands), and voids are rows of their own.

CREATE TABLE approvals_v7 (
    id           INTEGER PRIMARY KEY,
    request_id   INTEGER NOT NULL REFERENCES requests(id),
    env          TEXT NOT NULL,
    approver     TEXT NOT NULL,
    decision     TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
    comment      TEXT NOT NULL DEFAULT '',
    bound_digest TEXT NOT NULL,
    decided_at   INTEGER NOT NULL,
    -- The decision's audit event; NULL for a row no event recorded.
    audit_seq    INTEGER
) STRICT;

-- Each row with the event that recorded exactly it (same person, time and content).
INSERT INTO approvals_v7 (id, request_id, env, approver, decision, comment, bound_digest,
                          decided_at, audit_seq)
SELECT a.id, a.request_id, a.env, a.approver, a.decision, a.comment, a.bound_digest,
       a.decided_at,
       (SELECT max(e.seq) FROM audit_events e
         WHERE e.subject = 'request:' || a.request_id AND e.action = 'request.' || a.decision
           AND e.actor = a.approver AND e.at = a.decided_at
           AND json_extract(e.payload, '$.env') = a.env
           AND json_extract(e.payload, '$.bound_digest') = a.bound_digest
           AND coalesce(json_extract(e.payload, '$.comment'), '') = a.comment)
FROM approvals a;

-- A decision given again used to overwrite its row: the earlier ones are only in the trail.
-- They get their row back, so each decision event has one.
INSERT INTO approvals_v7 (request_id, env, approver, decision, comment, bound_digest,
                          decided_at, audit_seq)
SELECT CAST(substr(e.subject, 9) AS INTEGER), json_extract(e.payload, '$.env'), e.actor,
       substr(e.action, 9), coalesce(json_extract(e.payload, '$.comment'), ''),
       json_extract(e.payload, '$.bound_digest'), e.at, e.seq
FROM audit_events e
WHERE e.action IN ('request.approved', 'request.rejected') AND e.subject LIKE 'request:%'
  AND json_type(e.payload, '$.env') = 'text'
  AND json_type(e.payload, '$.bound_digest') = 'text'
  AND coalesce(json_type(e.payload, '$.comment'), 'text') = 'text'
  AND EXISTS (SELECT 1 FROM requests q WHERE q.id = CAST(substr(e.subject, 9) AS INTEGER))
  AND NOT EXISTS (SELECT 1 FROM approvals_v7 a WHERE a.audit_seq = e.seq)
ORDER BY e.seq;

DROP TABLE approvals;
ALTER TABLE approvals_v7 RENAME TO approvals;
CREATE INDEX approvals_by_request ON approvals (request_id, env, approver, bound_digest);
-- One row per event: a copy of a real decision's row adds nothing.
CREATE UNIQUE INDEX approvals_by_event ON approvals (audit_seq);

-- A new plan voids the decisions given before it (they were about the old one): each
-- `request.replanned` event is a void.
CREATE TABLE approval_voids (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests(id),
    voided_at  INTEGER NOT NULL,
    audit_seq  INTEGER
) STRICT;
CREATE INDEX approval_voids_by_request ON approval_voids (request_id, audit_seq);
CREATE UNIQUE INDEX approval_voids_by_event ON approval_voids (audit_seq);

INSERT INTO approval_voids (request_id, voided_at, audit_seq)
SELECT CAST(substr(e.subject, 9) AS INTEGER), e.at, e.seq
FROM audit_events e
WHERE e.action = 'request.replanned' AND e.subject LIKE 'request:%'
  AND EXISTS (SELECT 1 FROM requests q WHERE q.id = CAST(substr(e.subject, 9) AS INTEGER))
ORDER BY e.seq;

CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals
BEGIN
    SELECT RAISE(ABORT, 'approvals are append-only');
END;

CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals
BEGIN
    SELECT RAISE(ABORT, 'approvals are append-only');
END;

CREATE TRIGGER approval_voids_no_update BEFORE UPDATE ON approval_voids
BEGIN
    SELECT RAISE(ABORT, 'approval voids are append-only');
END;

CREATE TRIGGER approval_voids_no_delete BEFORE DELETE ON approval_voids
BEGIN
    SELECT RAISE(ABORT, 'approval voids are append-only');
END;

-- The block or unblock event the request's `blocked` column comes from.
ALTER TABLE requests ADD COLUMN blocked_seq INTEGER;
UPDATE requests SET blocked_seq =
    (SELECT max(e.seq) FROM audit_events e
      WHERE e.subject = 'request:' || requests.id
        AND e.action IN ('request.blocked', 'request.unblocked'));

-- The event of a gate answer or cancel.
ALTER TABLE run_commands ADD COLUMN audit_seq INTEGER;
UPDATE run_commands SET audit_seq =
    (SELECT max(e.seq) FROM audit_events e
      WHERE e.subject = 'run:' || run_commands.run_id
        AND e.action = 'run.' || run_commands.command
        AND e.actor = run_commands.issued_by AND e.at = run_commands.issued_at);

-- The `run.marked_done` event of a step someone marked done.
ALTER TABLE step_runs ADD COLUMN done_seq INTEGER;
UPDATE step_runs SET done_seq =
    (SELECT max(e.seq) FROM audit_events e
      WHERE e.subject = 'run:' || step_runs.run_id AND e.action = 'run.marked_done'
        AND 'marked done by ' || e.actor = step_runs.detail
        AND coalesce(json_extract(e.payload, '$.step_run'), step_runs.id) = step_runs.id)
WHERE state = 'succeeded' AND detail LIKE 'marked done by %';
