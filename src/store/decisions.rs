//! Decisions in the chain: what the rules count is checked against the audit trail.
//!
//! Every decision that counts (an approval or a rejection, the voiding of approvals by a new
//! plan, a block or unblock, a gate answer or cancel, a step marked done) is written with its
//! audit event in one transaction, and its row carries the event's number. Whoever can write
//! the file can add a row, but not an event that holds in the chain: a decision counts only
//! when its event is sound and says what its row says. Where they disagree, the safe side
//! wins: an approval or a gate confirmation does not count; a rejection, a void, a block or a
//! stop does.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::core::lifecycle::Approval;

use super::audit::{AuditEvent, CHAINED_SELECT, Chained, chained, chained_at};
use super::db::{Store, StoreError};

/// A row of `approvals`.
struct ApprovalRecord {
    id: i64,
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
            id: r.get(0)?,
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
const COMMANDS: &[&str] = &["run.cancel", "run.confirm", "run.abort"];

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
) -> rusqlite::Result<Vec<Approval>> {
    let rows: HashMap<i64, ApprovalRecord> = approval_rows(conn, Some(id))?
        .into_iter()
        .filter_map(|a| Some((a.audit_seq?, a)))
        .collect();
    let void = void_point(conn, id)?;
    let mut latest: HashMap<(String, String, String), Approval> = HashMap::new();
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
            Approval {
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
    let mut out: Vec<Approval> = latest.into_values().collect();
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

/// What `verify_decisions` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DecisionCheck {
    /// Rows of approvals and rejections.
    pub approvals: usize,
    /// Voids of approvals by a new plan.
    pub voids: usize,
    /// Block and unblock events.
    pub blocks: usize,
    /// Gate answers and cancels.
    pub commands: usize,
    /// Steps marked done.
    pub marked_done: usize,
    /// One line per disagreement between a decision and the trail.
    pub problems: Vec<String>,
}

impl Store {
    /// Cross-checks every decision row with the trail, both ways: each row has its matching
    /// event, and each decision event its row.
    pub fn verify_decisions(&self) -> Result<DecisionCheck, StoreError> {
        check(&self.conn).map_err(|e| self.sql_error(e))
    }
}

fn check(conn: &Connection) -> rusqlite::Result<DecisionCheck> {
    let mut check = DecisionCheck::default();
    check_approvals(conn, &mut check)?;
    check_voids(conn, &mut check)?;
    check_blocks(conn, &mut check)?;
    check_commands(conn, &mut check)?;
    check_marked_done(conn, &mut check)?;
    Ok(check)
}

fn check_approvals(conn: &Connection, check: &mut DecisionCheck) -> rusqlite::Result<()> {
    let rows = approval_rows(conn, None)?;
    let events: HashMap<i64, Chained> = events(conn, DECISIONS, None)?
        .into_iter()
        .map(|c| (c.event.seq, c))
        .collect();
    let mut recorded = HashSet::new();
    for a in &rows {
        let what = format!(
            "approvals row {} ({} {} request #{} for {})",
            a.id, a.approver, a.decision, a.request, a.env
        );
        match a.audit_seq.and_then(|s| events.get(&s)) {
            Some(c) if records(&c.event, a) => {
                recorded.insert(c.event.seq);
                if !c.sound {
                    check.problems.push(format!(
                        "{what} matches audit event #{}, which does not hold in the chain: not counted",
                        c.event.seq
                    ));
                }
            }
            _ => check
                .problems
                .push(format!("{what} has no matching audit event: not counted")),
        }
    }
    let mut unrecorded: Vec<&Chained> = events
        .values()
        // An event that does not hold is named by the chain check already.
        .filter(|c| c.sound && !recorded.contains(&c.event.seq))
        .collect();
    unrecorded.sort_by_key(|c| c.event.seq);
    for c in unrecorded {
        let e = &c.event;
        check.problems.push(format!(
            "audit event #{} {} by {} has no approvals row: {}",
            e.seq,
            e.action,
            e.actor,
            if e.action == "request.rejected" {
                "the rejection stands"
            } else {
                "not counted"
            }
        ));
    }
    check.approvals = rows.len();
    Ok(())
}

fn check_voids(conn: &Connection, check: &mut DecisionCheck) -> rusqlite::Result<()> {
    let rows: Vec<(i64, i64, i64, Option<i64>)> = conn
        .prepare_cached(
            "SELECT id, request_id, voided_at, audit_seq FROM approval_voids ORDER BY id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let mut recorded = HashSet::new();
    for (id, request, at, seq) in &rows {
        let event = seq.map(|s| chained_at(conn, s)).transpose()?.flatten();
        match event {
            Some(c)
                if c.event.action == "request.replanned"
                    && c.event.subject == format!("request:{request}")
                    && c.event.at == *at =>
            {
                recorded.insert(c.event.seq);
            }
            _ => check.problems.push(format!(
                "approval_voids row {id} (request #{request}) has no matching audit event: applied anyway, a void only takes approvals away"
            )),
        }
    }
    for c in events(conn, &["request.replanned"], None)? {
        if c.sound && !recorded.contains(&c.event.seq) {
            check.problems.push(format!(
                "audit event #{} request.replanned by {} has no approval_voids row: applied anyway",
                c.event.seq, c.event.actor
            ));
        }
    }
    check.voids = rows.len();
    Ok(())
}

fn check_blocks(conn: &Connection, check: &mut DecisionCheck) -> rusqlite::Result<()> {
    // (request, blocked, blocked_seq, its last block or unblock event)
    type Columns = (i64, Option<String>, Option<i64>, Option<i64>);
    let rows: Vec<Columns> = conn
        .prepare_cached(&format!(
            "SELECT r.id, r.blocked, r.blocked_seq, {} FROM requests r ORDER BY r.id",
            last_block!()
        ))?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    for (id, column, column_seq, last) in rows {
        if let (_, Some(p)) = settle_block(conn, id, column, column_seq, last)? {
            check.problems.push(p);
        }
    }
    let blocks: i64 = conn.query_row(
        "SELECT count(*) FROM audit_events WHERE action IN ('request.blocked', 'request.unblocked')",
        [],
        |r| r.get(0),
    )?;
    check.blocks = usize::try_from(blocks).unwrap_or_default();
    Ok(())
}

fn check_commands(conn: &Connection, check: &mut DecisionCheck) -> rusqlite::Result<()> {
    let rows: Vec<CommandRecord> = conn
        .prepare_cached(&format!(
            "SELECT {} FROM run_commands ORDER BY id",
            CommandRecord::COLUMNS
        ))?
        .query_map([], CommandRecord::from_row)?
        .collect::<Result<_, _>>()?;
    let mut recorded = HashSet::new();
    for c in &rows {
        if c.in_chain(conn)? {
            recorded.extend(c.audit_seq);
            continue;
        }
        check.problems.push(format!(
            "run_commands row {} ({}'s {} of run #{}) has no matching audit event: {}",
            c.id,
            c.issued_by,
            c.command,
            c.run,
            if c.command == "confirm" {
                "not honoured"
            } else {
                "honoured anyway, stopping is safe"
            }
        ));
    }
    for c in events(conn, COMMANDS, None)? {
        if c.sound && !recorded.contains(&c.event.seq) {
            check.problems.push(format!(
                "audit event #{} {} by {} has no run_commands row",
                c.event.seq, c.event.action, c.event.actor
            ));
        }
    }
    check.commands = rows.len();
    Ok(())
}

fn check_marked_done(conn: &Connection, check: &mut DecisionCheck) -> rusqlite::Result<()> {
    let rows: Vec<(i64, i64, Option<String>, Option<i64>)> = conn
        .prepare_cached(
            "SELECT id, run_id, detail, done_seq FROM step_runs
             WHERE state = 'succeeded' AND (done_seq IS NOT NULL OR detail LIKE 'marked done by %')
             ORDER BY id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let marked: HashSet<i64> = rows.iter().map(|r| r.0).collect();
    for (id, run, detail, seq) in &rows {
        if !marked_in_chain(conn, *run, *id, detail.as_deref(), *seq)? {
            check.problems.push(format!(
                "step run {id} of run #{run} ({}) has no matching audit event: not treated as done",
                detail.as_deref().unwrap_or("marked done")
            ));
        }
    }
    // A step left unknown by an interruption that reads succeeded was only ever made so by
    // marking it done.
    for (step, seq) in unknown_at_interruption(conn, None)? {
        let state: Option<(i64, String)> = conn
            .prepare_cached("SELECT run_id, state FROM step_runs WHERE id = ?1")?
            .query_map([step], |r| Ok((r.get(0)?, r.get(1)?)))?
            .next()
            .transpose()?;
        if let Some((run, state)) = state
            && state == "succeeded"
            && !marked.contains(&step)
        {
            check.problems.push(format!(
                "step run {step} of run #{run} was unknown when audit event #{seq} interrupted the run, and reads succeeded with no run.marked_done event: not treated as done"
            ));
        }
    }
    for c in events(conn, &["run.marked_done"], None)? {
        let e = &c.event;
        let Some(list) = e.payload.get("step_runs").and_then(|l| l.as_array()) else {
            // Events before schema 7 do not list their steps.
            continue;
        };
        if !c.sound {
            continue;
        }
        for step in list.iter().filter_map(serde_json::Value::as_i64) {
            let done: Option<i64> = conn
                .prepare_cached("SELECT done_seq FROM step_runs WHERE id = ?1")?
                .query_map([step], |r| r.get(0))?
                .next()
                .transpose()?
                .flatten();
            if done != Some(e.seq) {
                check.problems.push(format!(
                    "audit event #{} run.marked_done by {} names step run {step}, which is not marked done with it",
                    e.seq, e.actor
                ));
            }
        }
    }
    check.marked_done = rows.len();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Actor;
    use crate::store::audit;
    use crate::store::migrations::MIGRATIONS;

    fn person(name: &str) -> Actor {
        Actor {
            uid: 1000,
            name: name.into(),
            uncertain: false,
        }
    }

    /// A store of schema 6 with what its code wrote (a decision given again overwrote its
    /// row), upgraded: each row gets its event, each decision event its row, and only the
    /// row written behind its back stays without one.
    #[test]
    fn the_upgrade_finds_each_decisions_event() {
        let mut conn = Connection::open_in_memory().expect("db");
        MIGRATIONS.to_version(&mut conn, 6).expect("v6");
        let tx = conn.transaction().expect("tx");
        let event = |at: i64, who: &str, action: &str, subject: &str, p: serde_json::Value| {
            audit::append(&tx, at, &person(who), action, subject, &p).expect("append")
        };
        tx.execute_batch(
            "INSERT INTO plans (id, app, body, digest, catalog_digest, created_at, created_by)
             VALUES (1, 'pets', '', 'p', '', 0, 'dev');
             INSERT INTO requests (id, app, version, lifecycle, plan_id, title, state, created_by,
                                   created_at, updated_at, blocked)
             VALUES (1, 'pets', '1.0', 'standard', 1, 't', 'submitted', 'dev', 0, 0, 'bob: cve');
             INSERT INTO runs (id, kind, app, env, state, started_by, created_at)
             VALUES (1, 'adhoc', 'pets', 'uat', 'interrupted', 'ops', 0);
             INSERT INTO step_runs (id, run_id, position, action_id, step_name, state, detail)
             VALUES (1, 1, 0, 'a0', 's', 'succeeded', 'marked done by ops');
             -- alice's approval, given again after a replan: one row, with the last time.
             INSERT INTO approvals (request_id, env, approver, decision, comment, bound_digest,
                                    decided_at)
             VALUES (1, 'preprod', 'alice', 'approved', 'ok', 'd', 300);
             -- bob's, written with sqlite3: no event.
             INSERT INTO approvals (request_id, env, approver, decision, comment, bound_digest,
                                    decided_at)
             VALUES (1, 'prod', 'bob', 'approved', '', 'd', 400);
             INSERT INTO run_commands (run_id, command, issued_by, issued_at)
             VALUES (1, 'confirm', 'alice', 600);",
        )
        .expect("rows");
        let said = serde_json::json!({ "env": "preprod", "comment": "ok", "bound_digest": "d" });
        let first = event(100, "alice", "request.approved", "request:1", said.clone());
        let replan = event(
            200,
            "dev",
            "request.replanned",
            "request:1",
            serde_json::json!({}),
        );
        let again = event(300, "alice", "request.approved", "request:1", said);
        let block = event(
            500,
            "bob",
            "request.blocked",
            "request:1",
            serde_json::json!({ "reason": "cve" }),
        );
        let confirm = event(600, "alice", "run.confirm", "run:1", serde_json::json!({}));
        let done = event(
            700,
            "ops",
            "run.marked_done",
            "run:1",
            serde_json::json!({ "steps": 1, "step_run": null }),
        );
        tx.commit().expect("commit");
        MIGRATIONS.to_latest(&mut conn).expect("upgrade");

        let rows: Vec<(i64, String, i64, Option<i64>)> = conn
            .prepare("SELECT id, approver, decided_at, audit_seq FROM approvals ORDER BY id")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows,
            [
                (1, "alice".into(), 300, Some(again)),
                (2, "bob".into(), 400, None),
                (3, "alice".into(), 100, Some(first)),
            ]
        );
        let one = |sql: &str| -> Option<i64> { conn.query_row(sql, [], |r| r.get(0)).expect(sql) };
        assert_eq!(one("SELECT audit_seq FROM approval_voids"), Some(replan));
        assert_eq!(one("SELECT blocked_seq FROM requests"), Some(block));
        assert_eq!(one("SELECT audit_seq FROM run_commands"), Some(confirm));
        assert_eq!(one("SELECT done_seq FROM step_runs"), Some(done));

        // alice's approval given after the replan stands; bob's does not count.
        let standing = standing(&conn, 1, "d").expect("standing");
        let who: Vec<(&str, bool)> = standing
            .iter()
            .map(|a| (a.approver.as_str(), a.current))
            .collect();
        assert_eq!(who, [("alice", true)]);
        assert_eq!(
            check(&conn).expect("check").problems,
            [
                "approvals row 2 (bob approved request #1 for prod) has no matching audit event: not counted"
            ]
        );
    }
}
