//! Writing a made-up past into the store, for the demo's dashboards (`pilote demo
//! --history N`): requests, approvals and finished runs with their own timestamps, in one
//! transaction, each change on the audit trail (marked as seeded) so `audit verify` holds.

use rusqlite::params;
use serde_json::json;

use super::audit;
use super::db::{Store, StoreError};
use super::requests::approval_digest;
use crate::identity::Actor;

/// A request of the made-up past.
#[derive(Debug, Clone)]
pub struct PastRequest {
    pub version: String,
    pub lifecycle: String,
    pub created_at: i64,
    pub submitted_at: i64,
    pub state: String,
    /// (env, approver, when).
    pub approvals: Vec<(String, String, i64)>,
}

/// A finished run of the made-up past.
#[derive(Debug, Clone)]
pub struct PastRun {
    pub kind: &'static str,
    pub env: String,
    pub state: &'static str,
    /// Index into the requests.
    pub request: Option<usize>,
    /// Index into the runs (earlier ones only).
    pub rollback_of: Option<usize>,
    pub started_at: i64,
    pub finished_at: i64,
    pub package_digest: String,
    pub hosts: Vec<String>,
}

impl Store {
    /// Whether a made-up past was written already.
    pub fn has_seeded_history(&self) -> Result<bool, StoreError> {
        Ok(self
            .rows(
                "SELECT EXISTS (SELECT 1 FROM plans WHERE digest = 'seeded')",
                [],
                |r| r.get::<_, bool>(0),
            )?
            .into_iter()
            .next()
            .unwrap_or(false))
    }

    /// What was made in this store beyond a made-up past, by people: (requests, runs).
    /// The past is told apart by its plan, which only `seed_history` writes.
    pub fn made_here(&self) -> Result<(i64, i64), StoreError> {
        Ok(self
            .rows(
                "SELECT (SELECT count(*) FROM requests WHERE coalesce(plan_id, -1) NOT IN (SELECT id FROM plans WHERE digest = 'seeded')),
                        (SELECT count(*) FROM runs WHERE coalesce(plan_id, -1) NOT IN (SELECT id FROM plans WHERE digest = 'seeded'))",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .into_iter()
            .next()
            .unwrap_or((0, 0)))
    }

    /// Writes `requests` and `runs` of `app`, whose plan is `plan_body`. The approvals are
    /// bound to their requests as they are (plan, package, automations of `catalog_digest`),
    /// so the console shows them as given, not as stale.
    pub fn seed_history(
        &mut self,
        app: &str,
        plan_body: &str,
        requests: &[PastRequest],
        runs: &[PastRun],
        catalog_digest: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        // The packages are made up: their digests name no vault blob.
        self.without_foreign_keys(|store| {
            store.write(|tx| {
                let seeded = json!({ "seeded": true });
                tx.execute(
                    "INSERT INTO plans (app, source_path, body, digest, catalog_digest, created_at, created_by)
                     VALUES (?1, NULL, ?2, 'seeded', '', 0, ?3)",
                    params![app, plan_body, actor.name],
                )?;
                let plan = tx.last_insert_rowid();
                let mut request_ids = Vec::new();
                for r in requests {
                    tx.execute(
                        "INSERT INTO requests (app, version, package_digest, lifecycle, plan_id, title,
                                               state, created_by, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'dev', ?8, ?8)",
                        params![
                            app,
                            r.version,
                            format!("seeded-{}", r.version),
                            r.lifecycle,
                            plan,
                            format!("{app} {}", r.version),
                            r.state,
                            r.created_at
                        ],
                    )?;
                    let id = tx.last_insert_rowid();
                    request_ids.push(id);
                    let subject = format!("request:{id}");
                    audit::append(tx, r.created_at, actor, "request.created", &subject, &seeded)?;
                    audit::append(tx, r.submitted_at, actor, "request.submitted", &subject, &seeded)?;
                    let package = format!("seeded-{}", r.version);
                    let digest = approval_digest(id, "seeded", &package, catalog_digest);
                    for (env, who, at) in &r.approvals {
                        // Recorded as the made-up approver decided it (under the uid of whoever
                        // seeded it), so it counts like any decision in the chain.
                        let approver = Actor {
                            name: who.clone(),
                            ..actor.clone()
                        };
                        let seq = audit::append(
                            tx,
                            *at,
                            &approver,
                            "request.approved",
                            &subject,
                            &json!({
                                "env": env, "decision": "approved", "comment": "",
                                "bound_digest": digest, "seeded": true,
                            }),
                        )?;
                        tx.execute(
                            "INSERT INTO approvals (request_id, env, approver, decision, bound_digest, decided_at, audit_seq)
                             VALUES (?1, ?2, ?3, 'approved', ?4, ?5, ?6)",
                            params![id, env, who, digest, at, seq],
                        )?;
                    }
                }
                let mut run_ids: Vec<i64> = Vec::new();
                for r in runs {
                    tx.execute(
                        "INSERT INTO runs (kind, app, env, request_id, plan_id, rollback_of, state,
                                           started_by, created_at, started_at, finished_at,
                                           package_digest, outcome)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'ops', ?8, ?8, ?9, ?10, 'seeded')",
                        params![
                            r.kind,
                            app,
                            r.env,
                            r.request.and_then(|i| request_ids.get(i)),
                            plan,
                            r.rollback_of.and_then(|i| run_ids.get(i)),
                            r.state,
                            r.started_at,
                            r.finished_at,
                            r.package_digest
                        ],
                    )?;
                    let id = tx.last_insert_rowid();
                    run_ids.push(id);
                    for (i, host) in r.hosts.iter().enumerate() {
                        tx.execute(
                            "INSERT INTO step_runs (run_id, position, action_id, step_name, host, state,
                                                    started_at, finished_at)
                             VALUES (?1, ?2, 'deploy', 'deploy', ?3, ?4, ?5, ?6)",
                            params![id, i64::try_from(i).unwrap_or(0), host, r.state, r.started_at, r.finished_at],
                        )?;
                    }
                    audit::append(
                        tx,
                        r.finished_at,
                        actor,
                        "run.finished",
                        &format!("run:{id}"),
                        &json!({ "state": r.state, "seeded": true }),
                    )?;
                }
                Ok(())
            })
        })
    }
}
