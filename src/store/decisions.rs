//! Decisions in the chain: what the rules count is checked against the audit trail.
//!
//! Every decision that counts (an approval or a rejection, the voiding of approvals by a new
//! plan, a block or unblock, a gate answer or cancel, a step marked done) is written with its
//! audit event in one transaction, and its row carries the event's number. Whoever can write
//! the file can add a row, but not an event that holds in the chain: a decision counts only
//! when its event is sound and says what its row says. Where they disagree, the safe side
//! wins: an approval or a gate confirmation does not count; a rejection, a void, a block or a
//! stop does.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::audit::{AuditEvent, CHAINED_SELECT, Chained, chained, chained_at};
use super::requests::ApprovalRow;

/// A row of `approvals`.
struct ApprovalRecord {
    request: i64,
    env: String,
    approver: String,
    decision: String,
    comment: String,
    bound_digest: String,
    decided_at: i64,
    audit_seq: Option<i64>,
}

/// What a `request.approved` / `request.rejected` event says was decided.
struct Said<'a> {
    env: &'a str,
    decision: &'a str,
    comment: &'a str,
    bound_digest: &'a str,
}

fn said(e: &AuditEvent) -> Option<Said<'_>> {
    let decision = e
        .action
        .strip_prefix("request.")
        .filter(|d| matches!(*d, "approved" | "rejected"))?;
    let p = &e.payload;
    // Events before schema 7 say the decision by their action only.
    if p.get("decision")
        .is_some_and(|d| d.as_str() != Some(decision))
    {
        return None;
    }
    Some(Said {
        env: p.get("env")?.as_str()?,
        decision,
        comment: p.get("comment").map_or(Some(""), |c| c.as_str())?,
        bound_digest: p.get("bound_digest")?.as_str()?,
    })
}

/// Whether `e` is the event that recorded exactly row `a`.
fn records(e: &AuditEvent, a: &ApprovalRecord) -> bool {
    a.audit_seq == Some(e.seq)
        && e.subject == format!("request:{}", a.request)
        && e.actor == a.approver
        && e.at == a.decided_at
        && said(e).is_some_and(|s| {
            s.env == a.env
                && s.decision == a.decision
                && s.comment == a.comment
                && s.bound_digest == a.bound_digest
        })
}

fn approval_rows(conn: &Connection, request: Option<i64>) -> rusqlite::Result<Vec<ApprovalRecord>> {
    let sql = "SELECT id, request_id, env, approver, decision, comment, bound_digest, decided_at,
                      audit_seq FROM approvals";
    let map = |r: &rusqlite::Row<'_>| {
        Ok(ApprovalRecord {
            request: r.get(1)?,
            env: r.get(2)?,
            approver: r.get(3)?,
            decision: r.get(4)?,
            comment: r.get(5)?,
            bound_digest: r.get(6)?,
            decided_at: r.get(7)?,
            audit_seq: r.get(8)?,
        })
    };
    match request {
        Some(id) => conn
            .prepare_cached(&format!("{sql} WHERE request_id = ?1 ORDER BY id"))?
            .query_map([id], map)?
            .collect(),
        None => conn
            .prepare_cached(&format!("{sql} ORDER BY id"))?
            .query_map([], map)?
            .collect(),
    }
}

/// The events of `actions` (about `subject`, if given), oldest first, each checked in the
/// chain.
fn events(
    conn: &Connection,
    actions: &[&str],
    subject: Option<&str>,
) -> rusqlite::Result<Vec<Chained>> {
    let list = actions
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ");
    match subject {
        Some(s) => conn
            .prepare_cached(&format!(
                "{CHAINED_SELECT} WHERE e.subject = ?1 AND e.action IN ({list}) ORDER BY e.seq"
            ))?
            .query_map([s], chained)?
            .collect(),
        None => conn
            .prepare_cached(&format!(
                "{CHAINED_SELECT} WHERE e.action IN ({list}) ORDER BY e.seq"
            ))?
            .query_map([], chained)?
            .collect(),
    }
}

/// The last block or unblock event of request `r`: an SQL expression, a macro so that
/// `concat!` can put it into the requests' query.
macro_rules! last_block {
    () => {
        "(SELECT max(e.seq) FROM audit_events e
          WHERE e.subject = 'request:' || r.id
            AND e.action IN ('request.blocked', 'request.unblocked'))"
    };
}
pub(super) use last_block;

const DECISIONS: &[&str] = &["request.approved", "request.rejected"];

/// The last void of request `id`'s decisions: decisions before it are void. A void row or a
/// `request.replanned` event is enough (either only takes approvals away).
fn void_point(conn: &Connection, id: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT max(coalesce((SELECT max(audit_seq) FROM approval_voids WHERE request_id = ?1), 0),
                    coalesce((SELECT max(seq) FROM audit_events
                              WHERE subject = ?2 AND action = 'request.replanned'), 0))",
    )?
    .query_row(params![id, format!("request:{id}")], |r| r.get(0))
}

/// The decisions that stand on request `id`: each person's latest one (by audit event) for
/// an env and a bound digest, among those whose event is sound and has its row (a rejection
/// stands without its row), oldest first; `current` when bound to `current_digest` and given
/// after the last void.
pub(super) fn standing(
    conn: &Connection,
    id: i64,
    current_digest: &str,
) -> rusqlite::Result<Vec<ApprovalRow>> {
    let rows: HashMap<i64, ApprovalRecord> = approval_rows(conn, Some(id))?
        .into_iter()
        .filter_map(|a| Some((a.audit_seq?, a)))
        .collect();
    let void = void_point(conn, id)?;
    let mut latest: HashMap<(String, String, String), ApprovalRow> = HashMap::new();
    for c in events(conn, DECISIONS, Some(&format!("request:{id}")))? {
        let e = &c.event;
        let Some(s) = said(e).filter(|_| c.sound) else {
            continue;
        };
        let has_row = rows.get(&e.seq).is_some_and(|a| records(e, a));
        if !has_row && s.decision == "approved" {
            continue;
        }
        let key = (
            e.actor.clone(),
            s.env.to_string(),
            s.bound_digest.to_string(),
        );
        latest.insert(
            key,
            ApprovalRow {
                env: s.env.to_string(),
                approver: e.actor.clone(),
                decision: s.decision.to_string(),
                comment: s.comment.to_string(),
                decided_at: e.at,
                current: s.bound_digest == current_digest && e.seq > void,
                audit_seq: e.seq,
            },
        );
    }
    let mut out: Vec<ApprovalRow> = latest.into_values().collect();
    out.sort_by_key(|a| (a.decided_at, a.audit_seq));
    Ok(out)
}

/// How many decisions on request `id` are not void yet (what a new plan voids).
pub(super) fn unvoided(conn: &Connection, id: i64) -> rusqlite::Result<usize> {
    let void = void_point(conn, id)?;
    Ok(standing(conn, id, "")?
        .iter()
        .filter(|a| a.audit_seq > void)
        .count())
}

/// Whether request `id` is blocked: as its `blocked` column says when the column, the event
/// it names (`column_seq`) and the request's last block or unblock event (`last_seq`) agree;
/// blocked otherwise (fail closed), with the disagreement in words.
pub(super) fn settle_block(
    conn: &Connection,
    id: i64,
    column: Option<String>,
    column_seq: Option<i64>,
    last_seq: Option<i64>,
) -> rusqlite::Result<(Option<String>, Option<String>)> {
    let disputed = "the request and its audit trail disagree; see `pilote audit verify`";
    let reads = |column: &Option<String>| match column {
        Some(why) => format!("is blocked ({why})"),
        None => "is not blocked".to_string(),
    };
    let Some(last) = last_seq else {
        return Ok(match (&column, column_seq) {
            (None, None) => (None, None),
            (_, Some(seq)) => (
                Some(column.clone().unwrap_or_else(|| disputed.into())),
                Some(format!(
                    "request #{id} {} after audit event #{seq}, which is no block or unblock event of it: treated as blocked",
                    reads(&column)
                )),
            ),
            (Some(why), None) => (
                column.clone(),
                Some(format!(
                    "request #{id} is blocked ({why}) with no block event in the audit trail: it stays blocked"
                )),
            ),
        });
    };
    let Some(c) = chained_at(conn, last)? else {
        return Ok((column, None));
    };
    let e = &c.event;
    let said = (e.action == "request.blocked").then(|| {
        format!(
            "{}: {}",
            e.actor,
            e.payload["reason"].as_str().unwrap_or_default()
        )
    });
    let problem = if !c.sound {
        Some(format!(
            "request #{id}: its last block or unblock event #{last} does not hold in the chain: treated as blocked"
        ))
    } else if column_seq != Some(last) {
        Some(format!(
            "request #{id} {}, but its last block or unblock event is #{last} ({} by {}): treated as blocked",
            reads(&column),
            e.action,
            e.actor
        ))
    } else if said != column {
        Some(format!(
            "request #{id} {}, but its audit event #{last} says {}: treated as blocked",
            reads(&column),
            match &said {
                Some(why) => format!("blocked ({why})"),
                None => "unblocked".into(),
            }
        ))
    } else {
        None
    };
    Ok(match problem {
        None => (column, None),
        Some(p) => (
            Some(column.or(said).unwrap_or_else(|| disputed.into())),
            Some(p),
        ),
    })
}

/// A row of `run_commands`.
pub(super) struct CommandRecord {
    pub id: i64,
    pub run: i64,
    pub command: String,
    pub issued_by: String,
    pub issued_at: i64,
    pub audit_seq: Option<i64>,
}

impl CommandRecord {
    pub const COLUMNS: &str = "id, run_id, command, issued_by, issued_at, audit_seq";

    pub fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            run: r.get(1)?,
            command: r.get(2)?,
            issued_by: r.get(3)?,
            issued_at: r.get(4)?,
            audit_seq: r.get(5)?,
        })
    }

    /// Whether its `run.<command>` event is sound and says the same.
    pub fn in_chain(&self, conn: &Connection) -> rusqlite::Result<bool> {
        let Some(c) = self
            .audit_seq
            .map(|s| chained_at(conn, s))
            .transpose()?
            .flatten()
        else {
            return Ok(false);
        };
        let e = &c.event;
        Ok(c.sound
            && e.action == format!("run.{}", self.command)
            && e.subject == format!("run:{}", self.run)
            && e.actor == self.issued_by
            && e.at == self.issued_at)
    }
}

/// Whether step run `step` of run `run`, marked done (`detail`, `done_seq`), has its sound
/// `run.marked_done` event naming it, by the person its detail names.
pub(super) fn marked_in_chain(
    conn: &Connection,
    run: i64,
    step: i64,
    detail: Option<&str>,
    done_seq: Option<i64>,
) -> rusqlite::Result<bool> {
    let Some(c) = done_seq.map(|s| chained_at(conn, s)).transpose()?.flatten() else {
        return Ok(false);
    };
    let e = &c.event;
    let names = match e.payload.get("step_runs") {
        Some(list) => list
            .as_array()
            .is_some_and(|l| l.iter().any(|v| v.as_i64() == Some(step))),
        // Events before schema 7 name one step run, or none for all unknown ones.
        None => e
            .payload
            .get("step_run")
            .is_none_or(|s| s.is_null() || s.as_i64() == Some(step)),
    };
    Ok(c.sound
        && names
        && e.action == "run.marked_done"
        && e.subject == format!("run:{run}")
        && detail == Some(format!("marked done by {}", e.actor).as_str()))
}

/// The step runs of run `run` (all runs if `None`) that were unknown when the run was
/// interrupted, as its `run.interrupted` events list them: (step run, event).
pub(super) fn unknown_at_interruption(
    conn: &Connection,
    run: Option<i64>,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    let sql = "SELECT j.value, e.seq FROM audit_events e, json_each(e.payload, '$.unknown_steps') j
               WHERE e.action = 'run.interrupted'";
    let map = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
    match run {
        Some(run) => conn
            .prepare_cached(&format!("{sql} AND e.subject = ?1"))?
            .query_map([format!("run:{run}")], map)?
            .collect(),
        None => conn.prepare_cached(sql)?.query_map([], map)?.collect(),
    }
}
