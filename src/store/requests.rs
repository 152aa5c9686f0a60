//! Deployment requests (change requests) and their approvals.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::audit;
use super::db::{Store, StoreError};
use super::decisions;
use crate::core::inventory::Inventory;
use crate::core::lifecycle::{Approval, LastRun, StageProgress, StageRuns};
use crate::identity::Actor;

/// A request to file.
pub struct NewRequest<'a> {
    pub app: &'a str,
    pub version: &'a str,
    pub package_digest: &'a str,
    pub lifecycle: &'a str,
    /// The release kind, and the lifecycle the rules chose for it (recorded when it differs
    /// from `lifecycle`: an override).
    pub kind: &'a str,
    pub lifecycle_by_rule: &'a str,
    pub title: &'a str,
    pub plan_body: &'a str,
    pub plan_path: Option<&'a str>,
    pub actor: &'a Actor,
}

/// A request as stored, with its plan.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRow {
    pub id: i64,
    pub app: String,
    pub version: String,
    pub package_digest: String,
    pub lifecycle: String,
    pub title: String,
    pub state: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub plan_digest: String,
    pub plan_path: Option<String>,
    /// Why the request may not progress ("who: reason"), if it is blocked.
    pub blocked: Option<String>,
    /// Who last replaced the plan: like the requester, they may not approve it.
    pub plan_by: String,
    #[serde(skip)]
    pub plan_body: String,
}

impl RequestRow {
    /// What an approval is bound to: this request, its plan, its package, and the
    /// automations the plan uses as they are now (`catalog_digest`). Replacing the plan or
    /// editing an automation changes it, so earlier approvals no longer count.
    pub fn approval_digest(&self, catalog_digest: &str) -> String {
        approval_digest(
            self.id,
            &self.plan_digest,
            &self.package_digest,
            catalog_digest,
        )
    }
}

/// [`RequestRow::approval_digest`] from its parts (the demo's made-up past binds to it too).
pub(super) fn approval_digest(id: i64, plan: &str, package: &str, catalog: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "request {id}\nplan {plan}\npackage {package}\ncatalog {catalog}\n"
    ));
    hex::encode(h.finalize())
}

impl Store {
    pub fn create_request(&mut self, new: &NewRequest<'_>) -> Result<i64, StoreError> {
        let now = crate::clock::now_ms();
        let digest = hex::encode(Sha256::digest(new.plan_body.as_bytes()));
        self.write(|tx| {
            tx.execute(
                "INSERT INTO plans (app, source_path, body, digest, catalog_digest, created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, '', ?5, ?6)",
                params![new.app, new.plan_path, new.plan_body, digest, now, new.actor.name],
            )?;
            let plan_id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO requests (app, version, package_digest, lifecycle, plan_id, title, state, created_by, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'draft', ?7, ?8, ?8)",
                params![new.app, new.version, new.package_digest, new.lifecycle, plan_id, new.title, new.actor.name, now],
            )?;
            let id = tx.last_insert_rowid();
            audit::append(
                tx,
                now,
                new.actor,
                "request.created",
                &format!("request:{id}"),
                &serde_json::json!({
                    "app": new.app, "version": new.version, "package": new.package_digest,
                    "lifecycle": new.lifecycle, "plan_digest": digest, "kind": new.kind,
                    "lifecycle_by_rule": new.lifecycle_by_rule,
                    "lifecycle_overridden": new.lifecycle != new.lifecycle_by_rule,
                }),
            )?;
            Ok(id)
        })
    }

    pub fn request(&self, id: i64) -> Result<Option<RequestRow>, StoreError> {
        let row = self
            .conn
            .query_row(
                &format!("{REQUEST_SELECT} WHERE r.id = ?1"),
                [id],
                request_row,
            )
            .optional()
            .map_err(|e| self.sql_error(e))?;
        row.map(|r| self.settled(r)).transpose()
    }

    /// A request row with its block as the trail has it (see [`decisions::settle_block`]).
    fn settled(&self, (mut r, column_seq, last): Unsettled) -> Result<RequestRow, StoreError> {
        if column_seq.is_some() || last.is_some() || r.blocked.is_some() {
            r.blocked = decisions::settle_block(&self.conn, r.id, r.blocked, column_seq, last)
                .map_err(|e| self.sql_error(e))?
                .0;
        }
        Ok(r)
    }

    pub fn requests(&self, app: Option<&str>) -> Result<Vec<RequestRow>, StoreError> {
        self.requests_page(app, i64::MAX)
    }

    /// The newest `limit` requests (of `app`).
    pub fn requests_page(
        &self,
        app: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RequestRow>, StoreError> {
        self.rows(
            &format!("{REQUEST_SELECT} WHERE ?1 IS NULL OR r.app = ?1 ORDER BY r.id DESC LIMIT ?2"),
            params![app, limit],
            request_row,
        )?
        .into_iter()
        .map(|r| self.settled(r))
        .collect()
    }

    /// Moves a request to `state`, with an audit event saying why.
    pub fn set_request_state(
        &mut self,
        id: i64,
        state: &str,
        actor: &Actor,
        payload: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            tx.execute(
                "UPDATE requests SET state = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, state, now],
            )?;
            audit::append(
                tx,
                now,
                actor,
                &format!("request.{state}"),
                &format!("request:{id}"),
                payload,
            )
            .map(drop)
        })
    }

    /// Blocks a request from progressing (`reason`), or lets it go on again (`None`).
    pub fn set_blocked(
        &mut self,
        id: i64,
        reason: Option<&str>,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        let blocked = reason.map(|r| format!("{}: {r}", actor.name));
        self.write(|tx| {
            let seq = audit::append(
                tx,
                now,
                actor,
                if reason.is_some() {
                    "request.blocked"
                } else {
                    "request.unblocked"
                },
                &format!("request:{id}"),
                &serde_json::json!({ "reason": reason }),
            )?;
            tx.execute(
                "UPDATE requests SET blocked = ?2, blocked_seq = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, blocked, seq, now],
            )
            .map(drop)
        })
    }

    /// Plans a request's deploy to `env` at `at` (UTC ms), replacing an earlier date.
    pub fn schedule(
        &mut self,
        id: i64,
        env: &str,
        at: i64,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO request_schedule (request_id, env, planned_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (request_id, env) DO UPDATE SET planned_at = excluded.planned_at",
                params![id, env, at],
            )?;
            audit::append(
                tx,
                now,
                actor,
                "request.scheduled",
                &format!("request:{id}"),
                &serde_json::json!({ "env": env, "planned_at": at }),
            )
            .map(drop)
        })
    }

    /// (env, planned time) of a request, by time.
    pub fn schedule_of(&self, id: i64) -> Result<Vec<(String, i64)>, StoreError> {
        self.rows(
            "SELECT env, planned_at FROM request_schedule WHERE request_id = ?1 ORDER BY planned_at",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Records something done against a rule, with the reason given (a freeze overridden).
    pub fn audit_override(
        &mut self,
        subject: &str,
        action: &str,
        payload: &serde_json::Value,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| audit::append(tx, now, actor, action, subject, payload).map(drop))
    }

    /// Replaces a request's plan; approvals given so far are voided (they were bound to the
    /// old plan), and the request goes back to `submitted` if it was further.
    pub fn replace_plan(
        &mut self,
        id: i64,
        body: &str,
        path: Option<&str>,
        app: &str,
        actor: &Actor,
    ) -> Result<usize, StoreError> {
        let now = crate::clock::now_ms();
        let digest = hex::encode(Sha256::digest(body.as_bytes()));
        self.write(|tx| {
            tx.execute(
                "INSERT INTO plans (app, source_path, body, digest, catalog_digest, created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, '', ?5, ?6)",
                params![app, path, body, digest, now, actor.name],
            )?;
            let plan_id = tx.last_insert_rowid();
            tx.execute(
                "UPDATE requests SET plan_id = ?2, updated_at = ?3,
                 state = CASE WHEN state = 'approved' THEN 'submitted' ELSE state END WHERE id = ?1",
                params![id, plan_id, now],
            )?;
            let voided = decisions::unvoided(tx, id)?;
            let seq = audit::append(
                tx,
                now,
                actor,
                "request.replanned",
                &format!("request:{id}"),
                &serde_json::json!({ "plan_digest": digest, "approvals_voided": voided }),
            )?;
            // Every new plan is a void, the decisions before it were about another one.
            tx.execute(
                "INSERT INTO approval_voids (request_id, voided_at, audit_seq) VALUES (?1, ?2, ?3)",
                params![id, now, seq],
            )?;
            Ok(voided)
        })
    }

    /// Records a decision, bound to `bound_digest`: a new row each time (the latest of a
    /// person stands), with the number of its audit event.
    pub fn decide(
        &mut self,
        id: i64,
        env: &str,
        decision: &str,
        comment: &str,
        bound_digest: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            let seq = audit::append(
                tx,
                now,
                actor,
                &format!("request.{decision}"),
                &format!("request:{id}"),
                &serde_json::json!({
                    "env": env, "decision": decision, "comment": comment,
                    "bound_digest": bound_digest,
                }),
            )?;
            tx.execute(
                "INSERT INTO approvals (request_id, env, approver, decision, comment, bound_digest, decided_at, audit_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id, env, actor.name, decision, comment, bound_digest, now, seq],
            )
            .map(drop)
        })
    }

    /// Records an attempt that was refused (self-approval...), so it shows in the trail.
    pub fn audit_refusal(
        &mut self,
        subject: &str,
        action: &str,
        reason: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            audit::append(
                tx,
                now,
                actor,
                &format!("{action}.refused"),
                subject,
                &serde_json::json!({ "reason": reason }),
            )
            .map(drop)
        })
    }

    /// The decisions that stand on request `id`, oldest first; `current` when bound to
    /// `current_digest` and not voided since. Only decisions recorded in the audit trail
    /// count: a row written behind pilote's back is not among them.
    pub fn approvals(&self, id: i64, current_digest: &str) -> Result<Vec<Approval>, StoreError> {
        decisions::standing(&self.conn, id, current_digest).map_err(|e| self.sql_error(e))
    }

    /// Each stage of the request's lifecycle, with what its runs did there. Empty when the
    /// lifecycle is no longer in the inventory.
    pub fn stage_progress<'a>(
        &self,
        inventory: &'a Inventory,
        r: &RequestRow,
    ) -> Result<Vec<StageProgress<'a>>, StoreError> {
        let Some(l) = inventory.lifecycles.iter().find(|l| l.name == r.lifecycle) else {
            return Ok(Vec::new());
        };
        l.stages
            .iter()
            .map(|s| {
                Ok(StageProgress {
                    stage: s,
                    env: s.env.clone(),
                    runs: self.stage_runs(r, &s.env)?,
                })
            })
            .collect()
    }

    /// What request `r`'s runs did on `env`: whether its plan and package succeeded there
    /// (or, failing that, an identical plan with the same package, from another request),
    /// its last run there, and when a failed deploy or a rollback there last happened.
    pub fn stage_runs(&self, r: &RequestRow, env: &str) -> Result<StageRuns, StoreError> {
        // A succeeded deploy of this plan and package on `env`, not undone since. `+state`:
        // the state index would make this a scan of every succeeded run (SQLite has no
        // statistics to know better); (app, env) and rollback_of are the narrow ones.
        let passed = |own: bool| -> Result<Option<(i64, Option<i64>)>, StoreError> {
            self.conn
                .query_row(
                    &format!(
                        "SELECT d.id, d.request_id FROM runs AS d JOIN plans AS p ON p.id = d.plan_id
                         WHERE d.kind = 'deploy' AND d.app = ?1 AND d.env = ?2
                         AND d.package_digest = ?3 AND p.digest = ?4 AND +d.state = 'succeeded'
                         AND {}
                         AND NOT EXISTS (SELECT 1 FROM runs AS r
                                         WHERE r.rollback_of = d.id AND +r.state = 'succeeded')
                         ORDER BY d.id DESC LIMIT 1",
                        if own { "d.request_id = ?5" } else { "d.request_id IS NOT ?5" }
                    ),
                    params![r.app, env, r.package_digest, r.plan_digest, r.id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(|e| self.sql_error(e))
        };
        let own = passed(true)?.map(|(run, _)| run);
        let same = match own {
            Some(_) => None,
            None => passed(false)?,
        };
        // Its last run there (if any), and when it last failed there or was rolled back.
        let (last, spent_at) = self
            .conn
            .query_row(
                "SELECT l.id, l.kind, l.state,
                        (SELECT MAX(CASE WHEN kind = 'rollback' THEN created_at
                                         WHEN kind = 'deploy' AND state = 'failed'
                                              AND EXISTS (SELECT 1 FROM step_runs AS s
                                                          WHERE s.run_id = runs.id)
                                         THEN finished_at
                                    END)
                         FROM runs WHERE request_id = ?1 AND env = ?2)
                 FROM (SELECT 1)
                 LEFT JOIN (SELECT id, kind, state FROM runs
                            WHERE request_id = ?1 AND env = ?2 ORDER BY id DESC LIMIT 1) AS l",
                params![r.id, env],
                |row| {
                    let last = match row.get::<_, Option<i64>>(0)? {
                        Some(id) => Some(LastRun {
                            id,
                            kind: row.get(1)?,
                            state: row.get(2)?,
                        }),
                        None => None,
                    };
                    Ok((last, row.get(3)?))
                },
            )
            .map_err(|e| self.sql_error(e))?;
        Ok(StageRuns {
            own,
            same,
            last,
            spent_at,
        })
    }
}

const REQUEST_SELECT: &str = concat!(
    "SELECT r.id, r.app, r.version, r.package_digest, r.lifecycle, r.title,
    r.state, r.created_by, r.created_at, r.updated_at, p.digest, p.source_path, p.created_by, p.body,
    r.blocked, r.blocked_seq, ",
    decisions::last_block!(),
    " FROM requests r JOIN plans p ON p.id = r.plan_id"
);

/// A request row, with the block event its column names and its last block or unblock event.
type Unsettled = (RequestRow, Option<i64>, Option<i64>);

fn request_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Unsettled> {
    let row = RequestRow {
        id: r.get(0)?,
        app: r.get(1)?,
        version: r.get(2)?,
        package_digest: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        lifecycle: r.get(4)?,
        title: r.get(5)?,
        state: r.get(6)?,
        created_by: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        plan_digest: r.get(10)?,
        plan_path: r.get(11)?,
        plan_by: r.get(12)?,
        plan_body: r.get(13)?,
        blocked: r.get(14)?,
    };
    Ok((row, r.get(15)?, r.get(16)?))
}
