//! Runs, their step runs, log lines, locks and control commands.
//!
//! A run and its (app, env) lock are created in one immediate transaction, so of two
//! operators starting a run on the same env at once exactly one wins.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::audit;
use super::db::{Store, StoreError};
use super::decisions::{self, CommandRecord};
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

/// One stored output line.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub seq: i64,
    pub at: i64,
    pub step_run_id: Option<i64>,
    pub stream: String,
    pub host: String,
    pub line: String,
}

/// A line waiting to be written; the store assigns its sequence number.
#[derive(Debug, Clone)]
pub struct PendingLine {
    pub at: i64,
    pub step_run_id: Option<i64>,
    pub stream: &'static str,
    pub host: String,
    pub line: String,
}

impl PendingLine {
    /// A line pilote itself says about the run (not a step's output), now.
    pub fn system(message: &str) -> Self {
        Self {
            at: crate::clock::now_ms(),
            step_run_id: None,
            stream: "system",
            host: String::new(),
            line: message.to_string(),
        }
    }
}

/// One step on one host, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct StepRunRow {
    pub id: i64,
    pub position: i64,
    pub action_id: String,
    pub step_name: String,
    pub host: String,
    pub state: String,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub exit_code: Option<i64>,
    pub detail: Option<String>,
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

/// A command taken for a run's runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenCommand {
    /// `cancel`, `confirm` or `abort`.
    pub command: String,
    /// Its audit event is in the chain and says the same: a gate is confirmed only then.
    pub in_chain: bool,
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

    /// Ids of the actions of a run that started at least one step: what its rollback undoes.
    pub fn started_actions(&self, run: i64) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT DISTINCT action_id FROM step_runs WHERE run_id = ?1",
            [run],
            |r| r.get(0),
        )
    }

    /// (position, host) of every step of a run that succeeded: a resumed run skips them. A
    /// step that was unknown when the run was interrupted, or reads marked done, is done only
    /// if its `run.marked_done` event is in the chain: otherwise it stays unknown, and runs
    /// again.
    pub fn succeeded_steps(
        &self,
        run: i64,
    ) -> Result<std::collections::HashSet<(i64, String)>, StoreError> {
        let read = || -> rusqlite::Result<std::collections::HashSet<(i64, String)>> {
            let unknown: std::collections::HashSet<i64> =
                decisions::unknown_at_interruption(&self.conn, Some(run))?
                    .into_iter()
                    .map(|(step, _)| step)
                    .collect();
            // (step run, (position, host), detail, done_seq)
            type Succeeded = (i64, (i64, String), Option<String>, Option<i64>);
            let rows: Vec<Succeeded> = self
                .conn
                .prepare_cached(
                    "SELECT id, position, host, detail, done_seq FROM step_runs
                     WHERE run_id = ?1 AND state = 'succeeded'",
                )?
                .query_map([run], |r| {
                    Ok((r.get(0)?, (r.get(1)?, r.get(2)?), r.get(3)?, r.get(4)?))
                })?
                .collect::<Result<_, _>>()?;
            let mut done = std::collections::HashSet::new();
            for (id, step, detail, done_seq) in rows {
                let marked = done_seq.is_some()
                    || detail
                        .as_deref()
                        .is_some_and(|d| d.starts_with("marked done by "));
                if (marked || unknown.contains(&id))
                    && !decisions::marked_in_chain(
                        &self.conn,
                        run,
                        id,
                        detail.as_deref(),
                        done_seq,
                    )?
                {
                    continue;
                }
                done.insert(step);
            }
            Ok(done)
        };
        read().map_err(|e| self.sql_error(e))
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

    /// Marks the `unknown` steps of an interrupted run (or one of them) as done: the person
    /// checked that their side effect happened, so a resume goes on after them.
    pub fn mark_done(
        &mut self,
        run: i64,
        step_run: Option<i64>,
        actor: &Actor,
    ) -> Result<usize, StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            let steps: Vec<i64> = tx
                .prepare(
                    "SELECT id FROM step_runs
                     WHERE run_id = ?1 AND state = 'unknown' AND (?2 IS NULL OR id = ?2) ORDER BY id",
                )?
                .query_map(params![run, step_run], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            if steps.is_empty() {
                return Ok(0);
            }
            // The event names each step, and each step its event: resume trusts only that.
            let seq = audit::append(
                tx,
                now,
                actor,
                "run.marked_done",
                &format!("run:{run}"),
                &serde_json::json!({
                    "steps": steps.len(), "step_run": step_run, "step_runs": steps,
                }),
            )?;
            let mut mark = tx.prepare(
                "UPDATE step_runs SET state = 'succeeded', detail = 'marked done by ' || ?2,
                 done_seq = ?3 WHERE id = ?1",
            )?;
            for id in &steps {
                mark.execute(params![id, actor.name, seq])?;
            }
            Ok(steps.len())
        })
    }

    /// `running` -> `waiting` at a gate asking `prompt`, with an audit event: a person must
    /// now answer, and whoever is told needs the question.
    pub fn wait_at_gate(
        &mut self,
        id: i64,
        step: &str,
        prompt: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE runs SET state = 'waiting' WHERE id = ?1 AND state = 'running'",
                [id],
            )?;
            if n == 1 {
                audit::append(
                    tx,
                    now,
                    actor,
                    "run.waiting",
                    &format!("run:{id}"),
                    &serde_json::json!({ "step": step, "prompt": prompt }),
                )?;
            }
            Ok(())
        })
    }

    /// `waiting` -> `running`: the gate was answered (the answer is audited as a command).
    pub fn gate_answered(&mut self, id: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE runs SET state = 'running' WHERE id = ?1 AND state = 'waiting'",
                [id],
            )
            .map(drop)
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

    /// Records that a step is about to start on a host; committed before the side effect.
    /// `durable`: the commit waits for the disk, so that even a power loss cannot make a step
    /// that changed something read as never started. Steps of automations that change nothing
    /// skip that wait: re-running them is harmless.
    pub fn step_started(
        &mut self,
        run: i64,
        position: i64,
        action_id: &str,
        step_name: &str,
        host: &str,
        durable: bool,
    ) -> Result<i64, StoreError> {
        let now = crate::clock::now_ms();
        let record = |tx: &Transaction<'_>| {
            // Cached statements: this runs once per step and host.
            let attempt: i64 = tx
                .prepare_cached(
                    "SELECT coalesce(max(attempt), 0) + 1 FROM step_runs WHERE run_id = ?1 AND position = ?2 AND host = ?3",
                )?
                .query_row(params![run, position, host], |r| r.get(0))?;
            tx.prepare_cached(
                "INSERT INTO step_runs (run_id, position, action_id, step_name, host, attempt, state, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7)",
            )?
            .execute(params![run, position, action_id, step_name, host, attempt, now])?;
            Ok(tx.last_insert_rowid())
        };
        if durable {
            self.write(record)
        } else {
            self.write_relaxed(record)
        }
    }

    /// Records how a step ended on a host.
    pub fn step_finished(
        &mut self,
        step_run: i64,
        state: &str,
        exit_code: Option<i32>,
        detail: &str,
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write_relaxed(|tx| {
            tx.prepare_cached(
                "UPDATE step_runs SET state = ?2, finished_at = ?3, exit_code = ?4, detail = ?5 WHERE id = ?1",
            )?
            .execute(params![step_run, state, now, exit_code, detail])
            .map(drop)
        })
    }

    /// Records that one step started on each of `hosts` at once (a playbook runs them all):
    /// one transaction, so fifty hosts cost one commit. Returns their step run ids in order.
    #[allow(clippy::too_many_arguments)] // The same fields as `step_started`, for many hosts.
    pub fn steps_started(
        &mut self,
        run: i64,
        position: i64,
        action_id: &str,
        step_name: &str,
        hosts: &[String],
        durable: bool,
    ) -> Result<Vec<i64>, StoreError> {
        let now = crate::clock::now_ms();
        let record = |tx: &Transaction<'_>| {
            let mut attempt = tx.prepare_cached(
                "SELECT coalesce(max(attempt), 0) + 1 FROM step_runs WHERE run_id = ?1 AND position = ?2 AND host = ?3",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO step_runs (run_id, position, action_id, step_name, host, attempt, state, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7)",
            )?;
            let mut ids = Vec::with_capacity(hosts.len());
            for host in hosts {
                let n: i64 = attempt.query_row(params![run, position, host], |r| r.get(0))?;
                insert.execute(params![run, position, action_id, step_name, host, n, now])?;
                ids.push(tx.last_insert_rowid());
            }
            Ok(ids)
        };
        if durable {
            self.write(record)
        } else {
            self.write_relaxed(record)
        }
    }

    /// Records how a step ended on many hosts at once: (step run, state, detail).
    pub fn steps_finished(&mut self, ends: &[(i64, &str, String)]) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write_relaxed(|tx| {
            let mut update = tx.prepare_cached(
                "UPDATE step_runs SET state = ?2, finished_at = ?3, detail = ?4 WHERE id = ?1",
            )?;
            for (id, state, detail) in ends {
                update.execute(params![id, state, now, detail])?;
            }
            Ok(())
        })
    }

    pub fn step_runs(&self, run: i64) -> Result<Vec<StepRunRow>, StoreError> {
        self.rows(
            "SELECT id, position, action_id, step_name, host, state, started_at, finished_at, exit_code, detail
                 FROM step_runs WHERE run_id = ?1 ORDER BY id",
            [run],
            |r| {
                Ok(StepRunRow {
                    id: r.get(0)?,
                    position: r.get(1)?,
                    action_id: r.get(2)?,
                    step_name: r.get(3)?,
                    host: r.get(4)?,
                    state: r.get(5)?,
                    started_at: r.get(6)?,
                    finished_at: r.get(7)?,
                    exit_code: r.get(8)?,
                    detail: r.get(9)?,
                })
            },
        )
    }

    /// Appends lines in one transaction, numbering them after the run's last sequence number.
    pub fn append_lines(&mut self, run: i64, lines: &[PendingLine]) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        // The lines reference the run and step rows their runner wrote itself: checking both
        // foreign keys on every line was a third of the cost of storing output.
        self.without_foreign_keys(|store| store.write_relaxed(|tx| append_lines(tx, run, lines)))
    }

    /// Up to `limit` lines of a run after sequence number `after`.
    pub fn log_page(&self, run: i64, after: i64, limit: i64) -> Result<Vec<LogLine>, StoreError> {
        self.rows(
            "SELECT seq, at, step_run_id, stream, host, line FROM log_lines
                 WHERE run_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            params![run, after, limit],
            |r| {
                Ok(LogLine {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    step_run_id: r.get(2)?,
                    stream: r.get(3)?,
                    host: r.get(4)?,
                    line: r.get(5)?,
                })
            },
        )
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

    /// Asks a run's runner to do something (`cancel`, `confirm`, `abort`); any console may.
    pub fn request_command(
        &mut self,
        run: i64,
        command: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            let seq = audit::append(tx, now, actor, &format!("run.{command}"), &format!("run:{run}"), &serde_json::json!({}))?;
            tx.execute(
                "INSERT INTO run_commands (run_id, command, issued_by, issued_at, audit_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run, command, actor.name, now, seq],
            )
            .map(drop)
        })
    }

    /// Commands not yet handled for a run, oldest first, each with whether its audit event is
    /// in the chain and matches; they are marked handled.
    pub fn take_commands(&mut self, run: i64) -> Result<Vec<TakenCommand>, StoreError> {
        // Polled every 50 ms: look before taking the write lock, which log batches need.
        let pending: bool = self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM run_commands WHERE run_id = ?1 AND handled_at IS NULL)",
            )
            .and_then(|mut s| s.query_row([run], |r| r.get(0)))
            .map_err(|e| self.sql_error(e))?;
        if !pending {
            return Ok(Vec::new());
        }
        let now = crate::clock::now_ms();
        self.write_relaxed(|tx| {
            let cmds: Vec<CommandRecord> = {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {} FROM run_commands WHERE run_id = ?1 AND handled_at IS NULL ORDER BY id",
                    CommandRecord::COLUMNS
                ))?;
                stmt.query_map([run], CommandRecord::from_row)?
                    .collect::<Result<_, _>>()?
            };
            let mut taken = Vec::with_capacity(cmds.len());
            for c in cmds {
                tx.execute("UPDATE run_commands SET handled_at = ?2 WHERE id = ?1", params![c.id, now])?;
                taken.push(TakenCommand {
                    in_chain: c.in_chain(tx)?,
                    command: c.command,
                });
            }
            Ok(taken)
        })
    }
}

fn append_lines(tx: &Transaction<'_>, run: i64, lines: &[PendingLine]) -> rusqlite::Result<()> {
    /// Rows per INSERT: one statement per line spent more time stepping than inserting.
    const ROWS: usize = 64;
    let last: i64 = tx
        .prepare_cached("SELECT last_seq FROM runs WHERE id = ?1")?
        .query_row([run], |r| r.get(0))?;
    let sql = |rows: usize| {
        let mut sql = String::from(
            "INSERT INTO log_lines (run_id, seq, step_run_id, at, stream, host, line) VALUES ",
        );
        for i in 0..rows {
            sql.push_str(if i == 0 {
                "(?,?,?,?,?,?,?)"
            } else {
                ",(?,?,?,?,?,?,?)"
            });
        }
        sql
    };
    let (many, one) = (sql(ROWS), sql(1));
    let mut seq = last;
    for chunk in lines.chunks(ROWS) {
        let mut stmt = tx.prepare_cached(if chunk.len() == ROWS { &many } else { &one })?;
        for group in chunk.chunks(if chunk.len() == ROWS { ROWS } else { 1 }) {
            for (i, l) in group.iter().enumerate() {
                seq += 1;
                let at = i * 7 + 1;
                stmt.raw_bind_parameter(at, run)?;
                stmt.raw_bind_parameter(at + 1, seq)?;
                stmt.raw_bind_parameter(at + 2, l.step_run_id)?;
                stmt.raw_bind_parameter(at + 3, l.at)?;
                stmt.raw_bind_parameter(at + 4, l.stream)?;
                stmt.raw_bind_parameter(at + 5, &l.host)?;
                stmt.raw_bind_parameter(at + 6, &l.line)?;
            }
            stmt.raw_execute()?;
        }
    }
    tx.prepare_cached("UPDATE runs SET last_seq = ?2 WHERE id = ?1")?
        .execute(params![run, seq])?;
    Ok(())
}
