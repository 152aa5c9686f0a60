//! A run's steps: each step on each host as it starts and ends, gates, marking one done.

use rusqlite::{Transaction, params};
use serde::Serialize;

use super::audit;
use super::db::{Store, StoreError};
use super::decisions::{self};
use crate::identity::Actor;

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

impl Store {
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

    /// Ids of the actions of a run that started at least one step: what its rollback undoes.
    pub fn started_actions(&self, run: i64) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT DISTINCT action_id FROM step_runs WHERE run_id = ?1",
            [run],
            |r| r.get(0),
        )
    }
}
