//! Runs, their step runs, log lines, locks and control commands.
//!
//! A run and its (app, env) lock are created in one immediate transaction, so of two
//! operators starting a run on the same env at once exactly one wins.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::audit;
use super::db::{Store, StoreError};
use crate::identity::Actor;

/// What a run executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Deploy,
    Rollback,
    Adhoc,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Rollback => "rollback",
            Self::Adhoc => "adhoc",
        }
    }
}

/// A run to create.
pub struct NewRun<'a> {
    pub kind: RunKind,
    pub app: &'a str,
    pub env: &'a str,
    pub plan_body: &'a str,
    pub plan_path: Option<&'a str>,
    pub rollback_of: Option<i64>,
    /// Where copy steps take artifacts from (until runs take packages from the vault).
    pub package_dir: Option<&'a str>,
    /// A vault package whose blobs copy steps send (instead of a dir).
    pub package_digest: Option<&'a str>,
    /// The request a deploy (or the rollback of one) belongs to.
    pub request_id: Option<i64>,
    /// The package's files as they were when the run was created.
    pub artifacts: &'a [Artifact],
    /// The config the run's plan is expanded against: the workspace's as it is now, or for a
    /// rollback the one the undone run was started with.
    pub config: &'a crate::settings::ConfigSnapshot,
    /// Why a person started it (`rollback --reason`).
    pub reason: Option<&'a str>,
    pub actor: &'a Actor,
}

/// One file of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Artifact {
    /// Relative to the package dir, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub size: i64,
}

/// What an http step measured.
#[derive(Debug, Clone, Serialize)]
pub struct HttpCheck {
    pub url: String,
    pub probes: u32,
    pub ok: u32,
    pub p50_ms: i64,
    pub p95_ms: i64,
    pub availability: f64,
}

/// A run as stored.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub kind: String,
    pub app: String,
    pub env: String,
    pub state: String,
    pub started_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub runner_pid: Option<i64>,
    pub rollback_of: Option<i64>,
    pub outcome: Option<String>,
    pub last_seq: i64,
    /// When the runner with `runner_pid` started (clock ticks after boot): a later process
    /// with the same pid is not the runner.
    pub runner_start: Option<u64>,
    /// Why it was started (`rollback --reason`), when a person said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

const RUN_COLUMNS: &str = "id, kind, app, env, state, started_by, created_at, started_at, finished_at, runner_pid, rollback_of, outcome, last_seq, runner_start, reason";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        app: r.get(2)?,
        env: r.get(3)?,
        state: r.get(4)?,
        started_by: r.get(5)?,
        created_at: r.get(6)?,
        started_at: r.get(7)?,
        finished_at: r.get(8)?,
        runner_pid: r.get(9)?,
        rollback_of: r.get(10)?,
        outcome: r.get(11)?,
        last_seq: r.get(12)?,
        runner_start: r
            .get::<_, Option<i64>>(13)?
            .and_then(|t| u64::try_from(t).ok()),
        reason: r.get(14)?,
    })
}

/// Whether a run state is final.
pub fn is_finished(state: &str) -> bool {
    matches!(state, "succeeded" | "failed" | "cancelled" | "interrupted")
}

impl Store {
    /// Creates a run and takes its (app, env) lock in one transaction.
    pub fn create_run(&mut self, new: &NewRun<'_>) -> Result<i64, StoreError> {
        let now = crate::clock::now_ms();
        let digest = hex::encode(Sha256::digest(new.plan_body.as_bytes()));
        let held = self.write(|tx| {
            let held: Option<(i64, String, i64)> = tx
                .query_row(
                    "SELECT run_id, taken_by, taken_at FROM locks WHERE app = ?1 AND env = ?2",
                    params![new.app, new.env],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some(h) = held {
                // Rolling back an interrupted run takes its lock over; anything else waits.
                let interrupted: bool = tx.query_row(
                    "SELECT state = 'interrupted' FROM runs WHERE id = ?1",
                    [h.0],
                    |r| r.get(0),
                )?;
                if !(interrupted && new.rollback_of == Some(h.0)) {
                    return Ok(Err((h, interrupted)));
                }
                tx.execute("DELETE FROM locks WHERE run_id = ?1", [h.0])?;
            }
            tx.execute(
                "INSERT INTO plans (app, source_path, body, digest, catalog_digest, created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, '', ?5, ?6)",
                params![new.app, new.plan_path, new.plan_body, digest, now, new.actor.name],
            )?;
            let plan_id = tx.last_insert_rowid();
            let config = super::snapshots::insert(tx, new.config)?;
            tx.execute(
                "INSERT INTO runs (kind, app, env, plan_id, rollback_of, state, started_by, created_at, package_dir, package_digest, request_id, config_digest, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![new.kind.as_str(), new.app, new.env, plan_id, new.rollback_of, new.actor.name, now, new.package_dir, new.package_digest, new.request_id, config, new.reason],
            )?;
            let run = tx.last_insert_rowid();
            for a in new.artifacts {
                tx.execute(
                    "INSERT INTO run_artifacts (run_id, path, sha256, size) VALUES (?1, ?2, ?3, ?4)",
                    params![run, a.path, a.sha256, a.size],
                )?;
            }
            tx.execute(
                "INSERT INTO locks (app, env, run_id, taken_by, taken_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![new.app, new.env, run, new.actor.name, now],
            )?;
            audit::append(
                tx,
                now,
                new.actor,
                "run.created",
                &format!("run:{run}"),
                &serde_json::json!({
                    "kind": new.kind.as_str(), "app": new.app, "env": new.env,
                    "plan_digest": digest, "rollback_of": new.rollback_of,
                    "config_digest": config, "reason": new.reason,
                }),
            )?;
            Ok(Ok(run))
        })?;
        held.map_err(|((run, by, since), interrupted)| StoreError::Locked {
            app: new.app.to_string(),
            env: new.env.to_string(),
            run,
            by,
            since,
            interrupted,
        })
    }

    pub fn run(&self, id: i64) -> Result<Option<RunRow>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [id],
                run_row,
            )
            .optional()
            .map_err(|e| self.sql_error(e))
    }

    /// The plan text a run executes, and where it was read from.
    pub fn run_plan(&self, id: i64) -> Result<Option<(String, Option<String>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT p.body, p.source_path FROM runs r JOIN plans p ON p.id = r.plan_id WHERE r.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sql_error(e))
    }

    /// The artifacts recorded with a run's package, by path.
    pub fn run_artifacts(&self, id: i64) -> Result<Vec<Artifact>, StoreError> {
        self.rows(
            "SELECT path, sha256, size FROM run_artifacts WHERE run_id = ?1 ORDER BY path",
            [id],
            |r| {
                Ok(Artifact {
                    path: r.get(0)?,
                    sha256: r.get(1)?,
                    size: r.get(2)?,
                })
            },
        )
    }

    /// Records what an http step measured.
    pub fn record_http_check(&mut self, step_run: i64, c: &HttpCheck) -> Result<(), StoreError> {
        self.write_relaxed(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO http_checks (step_run_id, url, probes, ok, p50_ms, p95_ms, availability)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![step_run, c.url, c.probes, c.ok, c.p50_ms, c.p95_ms, c.availability],
            )
            .map(drop)
        })
    }

    /// The request a run belongs to, if any.
    pub fn run_request(&self, id: i64) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row("SELECT request_id FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.sql_error(e))
    }

    /// The vault package of a run, if it has one.
    pub fn run_package_digest(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT package_digest FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.sql_error(e))
    }

    /// The package dir of a run, if it has one.
    pub fn run_package(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT package_dir FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.sql_error(e))
    }

    /// Lets an interrupted run be resumed: back to `pending` for a new runner, with the
    /// commands its last runner left untaken dropped.
    pub fn reopen_interrupted(&mut self, id: i64, actor: &Actor) -> Result<bool, StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE runs SET state = 'pending', runner_pid = NULL, runner_start = NULL, outcome = NULL WHERE id = ?1 AND state = 'interrupted'",
                [id],
            )?;
            if n == 1 {
                // Commands the gone runner never took (it had no room to, or died first) were
                // meant for it: a stale cancel or gate answer must not steer the resumed run.
                tx.execute(
                    "UPDATE run_commands SET handled_at = ?2 WHERE run_id = ?1 AND handled_at IS NULL",
                    params![id, now],
                )?;
                audit::append(tx, now, actor, "run.resumed", &format!("run:{id}"), &serde_json::json!({}))?;
            }
            Ok(n == 1)
        })
    }

    /// Runs, newest first, optionally for one app and/or env.
    pub fn runs(
        &self,
        app: Option<&str>,
        env: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRow>, StoreError> {
        self.rows(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs
                 WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR env = ?2)
                 ORDER BY id DESC LIMIT ?3"
            ),
            params![app, env, limit],
            run_row,
        )
    }

    /// Runs not finished yet (pending, running, waiting at a gate), oldest first.
    pub fn unfinished_runs(&self) -> Result<Vec<RunRow>, StoreError> {
        self.rows(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs
                 WHERE state IN ('pending', 'running', 'waiting') ORDER BY id"
            ),
            [],
            run_row,
        )
    }

    /// A pending run becomes running under runner `pid`; false if it was not pending (a
    /// console already declared it interrupted, for instance).
    /// Audited as `run.started` (again when a resumed run starts: `resumed` says so).
    pub fn mark_running(
        &mut self,
        id: i64,
        pid: u32,
        start: Option<u64>,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let start = start.and_then(|s| i64::try_from(s).ok());
        let now = crate::clock::now_ms();
        self.write(|tx| {
            let resumed: bool = tx
                .query_row(
                    "SELECT started_at IS NOT NULL FROM runs WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(false);
            let n = tx.execute(
                "UPDATE runs SET state = 'running', started_at = coalesce(started_at, ?2), runner_pid = ?3,
                 runner_start = ?4 WHERE id = ?1 AND state = 'pending'",
                params![id, now, pid, start],
            )?;
            if n == 1 {
                audit::append(
                    tx,
                    now,
                    actor,
                    "run.started",
                    &format!("run:{id}"),
                    &serde_json::json!({ "runner_pid": pid, "resumed": resumed }),
                )?;
            }
            Ok(n == 1)
        })
    }

    /// The run holding the (app, env) lock, if any.
    pub fn lock_holder(&self, app: &str, env: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT run_id FROM locks WHERE app = ?1 AND env = ?2",
                params![app, env],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_error(e))
    }

    /// Ends a run: its final state, and its lock released in the same transaction.
    pub fn finish_run(
        &mut self,
        id: i64,
        state: &str,
        outcome: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            // A finished run stays as it ended: nothing rewrites its outcome (a runner started
            // again for it, by mistake or on purpose).
            let changed = tx.execute(
                "UPDATE runs SET state = ?2, finished_at = ?3, outcome = ?4
                 WHERE id = ?1 AND state IN ('pending', 'running', 'waiting', 'interrupted')",
                params![id, state, now, outcome],
            )?;
            if changed == 0 {
                return Ok(());
            }
            tx.execute("DELETE FROM locks WHERE run_id = ?1", [id])?;
            let request_state = |tx: &Transaction<'_>| {
                tx.query_row(
                    "SELECT q.id, q.state FROM requests q JOIN runs r ON r.request_id = q.id
                     WHERE r.id = ?1",
                    [id],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()
            };
            let before = request_state(tx)?;
            // The request a deploy belongs to follows it: deployed or failed; a rollback that
            // succeeded leaves it rolled back.
            tx.execute(
                "UPDATE requests SET updated_at = ?3, state = (
                    SELECT CASE
                        WHEN r.kind = 'rollback' AND ?2 = 'succeeded' THEN 'rolled_back'
                        WHEN r.kind = 'rollback' THEN requests.state
                        WHEN ?2 = 'succeeded' THEN 'deployed'
                        ELSE 'failed' END
                    FROM runs r WHERE r.id = ?1)
                 WHERE id = (SELECT request_id FROM runs WHERE id = ?1)",
                params![id, state, now],
            )?;
            // The request's own trail says so too, not only the run's.
            if let Some((request, now_state)) = request_state(tx)?
                && before.as_ref().is_some_and(|(_, was)| *was != now_state)
            {
                audit::append(
                    tx,
                    now,
                    actor,
                    &format!("request.{now_state}"),
                    &format!("request:{request}"),
                    &serde_json::json!({ "run": id, "run_state": state }),
                )?;
            }
            audit::append(
                tx,
                now,
                actor,
                "run.finished",
                &format!("run:{id}"),
                &serde_json::json!({ "state": state, "outcome": outcome }),
            )
            .map(drop)
        })
    }

    /// Marks a run whose runner is gone as interrupted: the steps that had started and not
    /// finished are `unknown`, and the lock stays held until someone resumes or rolls back.
    pub fn mark_interrupted(&mut self, id: i64, actor: &Actor) -> Result<(), StoreError> {
        self.interrupt(id, "runner gone", serde_json::json!({}), actor)
    }

    /// A runner ends its own run as interrupted, saying why (`disk full; ...`): as after a
    /// crash, the steps that had started and not finished are `unknown` and the lock stays
    /// held, so a resume (or a rollback) goes on from there.
    pub fn interrupt_run(
        &mut self,
        id: i64,
        outcome: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let payload = serde_json::json!({ "outcome": outcome });
        self.interrupt(id, outcome, payload, actor)
    }

    fn interrupt(
        &mut self,
        id: i64,
        outcome: &str,
        payload: serde_json::Value,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE runs SET state = 'interrupted', outcome = ?2 WHERE id = ?1 AND state IN ('pending', 'running', 'waiting')",
                params![id, outcome],
            )?;
            if changed == 0 {
                return Ok(());
            }
            let unknown: Vec<i64> = tx
                .prepare_cached("SELECT id FROM step_runs WHERE run_id = ?1 AND state = 'running' ORDER BY id")?
                .query_map([id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            tx.execute(
                "UPDATE step_runs SET state = 'unknown', finished_at = ?2 WHERE run_id = ?1 AND state = 'running'",
                params![id, now],
            )?;
            // Named in the trail: a step that reads succeeded later was marked done on
            // record, or it is not done (the step_runs table itself is not chained).
            let mut payload = payload;
            if let Some(fields) = payload.as_object_mut() {
                fields.insert("unknown_steps".into(), serde_json::json!(unknown));
            }
            audit::append(tx, now, actor, "run.interrupted", &format!("run:{id}"), &payload)
                .map(drop)
        })
    }
}
