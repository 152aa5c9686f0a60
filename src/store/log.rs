//! A run's log a window at a time, for the console: a screen's worth around a point, with
//! filters and search done by SQLite, so a run of millions of lines is never loaded whole.

use rusqlite::{Transaction, params};
use serde::Serialize;

use super::db::{Store, StoreError};

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

impl Store {
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
}

pub(super) fn append_lines(
    tx: &Transaction<'_>,
    run: i64,
    lines: &[PendingLine],
) -> rusqlite::Result<()> {
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

/// Which lines of a run to show; `None` is "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub host: Option<String>,
    pub stream: Option<String>,
    /// A step of the plan (its position): its lines on every host.
    pub step: Option<i64>,
}

/// Where a window of lines sits in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogAnchor {
    /// The last lines: the tail a followed run shows.
    Tail,
    /// Lines just before this sequence number (scrolling back).
    Before(i64),
    /// Lines from this sequence number on, inclusive (scrolling forward, a search hit).
    From(i64),
}

/// Filter clauses shared by every query below, parameters ?2 (host), ?3 (stream), ?4 (step).
const FILTER: &str = "(?2 IS NULL OR host = ?2) AND (?3 IS NULL OR stream = ?3) \
                      AND (?4 IS NULL OR step_run_id IN \
                           (SELECT id FROM step_runs WHERE run_id = ?1 AND position = ?4))";

fn log_line(r: &rusqlite::Row<'_>) -> rusqlite::Result<LogLine> {
    Ok(LogLine {
        seq: r.get(0)?,
        at: r.get(1)?,
        step_run_id: r.get(2)?,
        stream: r.get(3)?,
        host: r.get(4)?,
        line: r.get(5)?,
    })
}

impl Store {
    /// Up to `limit` lines of run `run` at `anchor`, in log order. Each query walks the
    /// primary key (run, seq) from the anchor, so its cost is the window, not the log.
    pub fn log_window(
        &self,
        run: i64,
        filter: &LogFilter,
        anchor: LogAnchor,
        limit: i64,
    ) -> Result<Vec<LogLine>, StoreError> {
        let (bound, order, seq) = match anchor {
            LogAnchor::Tail => ("seq <= ?5", "DESC", i64::MAX),
            LogAnchor::Before(s) => ("seq < ?5", "DESC", s),
            LogAnchor::From(s) => ("seq >= ?5", "ASC", s),
        };
        let sql = format!(
            "SELECT seq, at, step_run_id, stream, host, line FROM log_lines
             WHERE run_id = ?1 AND {bound} AND {FILTER} ORDER BY seq {order} LIMIT ?6"
        );
        let mut lines = self.rows(
            &sql,
            params![run, filter.host, filter.stream, filter.step, seq, limit],
            log_line,
        )?;
        if order == "DESC" {
            lines.reverse();
        }
        Ok(lines)
    }

    /// The run's last line number (0 without output): one primary key lookup.
    pub fn log_last_seq(&self, run: i64) -> Result<i64, StoreError> {
        Ok(self
            .rows(
                "SELECT coalesce(max(seq), 0) FROM log_lines WHERE run_id = ?1",
                params![run],
                |r| r.get(0),
            )?
            .into_iter()
            .next()
            .unwrap_or(0))
    }

    /// The sequence number of the next line containing `needle` (any ASCII case) after
    /// `from` (or before it, `backward`), among the lines `filter` shows.
    pub fn log_find(
        &self,
        run: i64,
        filter: &LogFilter,
        needle: &str,
        from: i64,
        backward: bool,
    ) -> Result<Option<i64>, StoreError> {
        let (bound, order) = if backward {
            ("seq < ?5", "DESC")
        } else {
            ("seq > ?5", "ASC")
        };
        let sql = format!(
            "SELECT seq FROM log_lines WHERE run_id = ?1 AND {bound} AND {FILTER}
             AND instr(lower(line), lower(?6)) > 0 ORDER BY seq {order} LIMIT 1"
        );
        Ok(self
            .rows(
                &sql,
                params![run, filter.host, filter.stream, filter.step, from, needle],
                |r| r.get(0),
            )?
            .into_iter()
            .next())
    }
}

/// How far a run got, counted over its step runs (one per step and host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunProgress {
    pub steps: i64,
    pub done: i64,
    pub failed: i64,
    pub hosts: i64,
    pub hosts_failed: i64,
    /// The step running (or last started): "action/step on host".
    pub current: Option<String>,
    /// How long the last successful runs of the same plan (by digest) on the same env took,
    /// in ms; none when that plan never succeeded there. Another plan's runs say nothing of
    /// this one's length (a one-step check is not a forty-second deploy).
    pub typical_ms: Option<i64>,
}

impl Store {
    /// The progress of run `run`; `typical` also reads past durations (for an ETA).
    pub fn run_progress(&self, run: i64, typical: bool) -> Result<RunProgress, StoreError> {
        let counts = self.rows(
            "SELECT count(*), coalesce(sum(state IN ('succeeded', 'skipped')), 0),
                    coalesce(sum(state IN ('failed', 'timed_out', 'cancelled', 'unknown')), 0),
                    count(DISTINCT host),
                    count(DISTINCT CASE WHEN state IN ('failed', 'timed_out') THEN host END)
             FROM step_runs WHERE run_id = ?1",
            params![run],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let (steps, done, failed, hosts, hosts_failed) =
            counts.into_iter().next().unwrap_or_default();
        let current = self
            .rows(
                "SELECT action_id, step_name, host FROM step_runs WHERE run_id = ?1
                 ORDER BY (state = 'running') DESC, position DESC, id DESC LIMIT 1",
                params![run],
                |r| {
                    let (a, s, h): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
                    Ok(if h.is_empty() {
                        format!("{a}/{s}")
                    } else {
                        format!("{a}/{s} on {h}")
                    })
                },
            )?
            .into_iter()
            .next();
        let typical_ms = if typical {
            self.rows(
                // The env too: its hosts (how many, how far) make the length as much as
                // the plan does. (app, env) first, so the runs_by_app_env index narrows it.
                "SELECT CAST(avg(finished_at - started_at) AS INTEGER) FROM (
                   SELECT past.started_at, past.finished_at
                   FROM runs AS cur
                   JOIN plans AS cur_plan ON cur_plan.id = cur.plan_id
                   JOIN runs AS past ON past.app = cur.app AND past.env = cur.env
                   JOIN plans AS past_plan ON past_plan.id = past.plan_id
                   WHERE cur.id = ?1 AND past_plan.digest = cur_plan.digest
                     AND past.state = 'succeeded' AND past.id != ?1
                     AND past.started_at IS NOT NULL AND past.finished_at IS NOT NULL
                   ORDER BY past.id DESC LIMIT 5)",
                params![run],
                |r| r.get::<_, Option<i64>>(0),
            )?
            .into_iter()
            .next()
            .flatten()
        } else {
            None
        };
        Ok(RunProgress {
            steps,
            done,
            failed,
            hosts,
            hosts_failed,
            current,
            typical_ms,
        })
    }
}

#[cfg(test)]
impl Store {
    /// For tests: an ad-hoc run of `plan` on `env` of pets, by ops, as `pilote run` makes it.
    pub(crate) fn adhoc_run(&mut self, plan: &str, env: &str) -> i64 {
        self.create_run(&crate::store::NewRun {
            kind: crate::store::RunKind::Adhoc,
            app: "pets",
            env,
            plan_body: plan,
            plan_path: None,
            rollback_of: None,
            package_dir: None,
            package_digest: None,
            request_id: None,
            artifacts: &[],
            config: &crate::settings::ConfigSnapshot::default(),
            reason: None,
            actor: &crate::identity::Actor {
                uid: 1000,
                name: "ops".into(),
                uncertain: false,
            },
        })
        .expect("run")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PendingLine;

    /// A store with one run: 10 lines of step 0 on host a (stdout), then 10 of step 1000 on
    /// host b (odd ones on stderr), then one line of pilote's own.
    fn store_with_a_run() -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().expect("tmp");
        let mut store = Store::open(
            &dir.path().join("data"),
            &dir.path().join("config"),
            std::time::Duration::from_secs(1),
        )
        .expect("store");
        let run = store.adhoc_run("", "uat");
        let a = store
            .step_started(run, 0, "one", "first", "a", false)
            .expect("step");
        let b = store
            .step_started(run, 1000, "two", "second", "b", false)
            .expect("step");
        let mut lines = Vec::new();
        for i in 0..10 {
            lines.push(PendingLine {
                at: 0,
                step_run_id: Some(a),
                stream: "stdout",
                host: "a".into(),
                line: format!("a{i}"),
            });
        }
        for i in 0..10 {
            lines.push(PendingLine {
                at: 0,
                step_run_id: Some(b),
                stream: if i % 2 == 1 { "stderr" } else { "stdout" },
                host: "b".into(),
                line: format!("b{i} needle"),
            });
        }
        lines.push(PendingLine {
            at: 0,
            step_run_id: None,
            stream: "system",
            host: String::new(),
            line: "run succeeded".into(),
        });
        store.append_lines(run, &lines).expect("lines");
        (dir, store, run)
    }

    /// A succeeded run of `plan` on `env` that took `took_ms`.
    fn past_run(store: &mut Store, plan: &str, env: &str, took_ms: i64) -> i64 {
        let run = store.adhoc_run(plan, env);
        store
            .conn
            .execute(
                "UPDATE runs SET state = 'succeeded', started_at = 1000, finished_at = 1000 + ?2
                 WHERE id = ?1",
                params![run, took_ms],
            )
            .expect("finish");
        store
            .conn
            .execute("DELETE FROM locks WHERE run_id = ?1", [run])
            .expect("unlock");
        run
    }

    #[test]
    fn the_eta_comes_from_runs_of_the_same_plan_on_the_same_env() {
        let (_dir, mut store, first) = store_with_a_run();
        store
            .conn
            .execute("DELETE FROM locks WHERE run_id = ?1", [first])
            .expect("unlock");
        let deploy = "app = \"pets\"\n# deploy\n";
        past_run(&mut store, deploy, "uat", 40_000);
        past_run(&mut store, deploy, "uat", 44_000);
        // Newer, shorter, but of other plans or on another env: none of them counts.
        past_run(&mut store, "app = \"pets\"\n# check\n", "uat", 1_000);
        past_run(&mut store, deploy, "prod", 300_000);
        let live = store.adhoc_run(deploy, "uat");
        let typical = |store: &Store, run| store.run_progress(run, true).expect("p").typical_ms;
        assert_eq!(typical(&store, live), Some(42_000));
        store
            .conn
            .execute("DELETE FROM locks WHERE run_id = ?1", [live])
            .expect("unlock");
        // A plan never run before has no estimate (not another plan's).
        let fresh = store.adhoc_run("app = \"pets\"\n# new\n", "uat");
        assert_eq!(typical(&store, fresh), None);
    }

    fn text(lines: &[LogLine]) -> Vec<&str> {
        lines.iter().map(|l| l.line.as_str()).collect()
    }

    #[test]
    fn windows_come_in_log_order_from_their_anchor() {
        let (_dir, store, run) = store_with_a_run();
        let all = LogFilter::default();
        let tail = store
            .log_window(run, &all, LogAnchor::Tail, 3)
            .expect("tail");
        assert_eq!(text(&tail), ["b8 needle", "b9 needle", "run succeeded"]);
        let before = store
            .log_window(run, &all, LogAnchor::Before(tail[0].seq), 2)
            .expect("before");
        assert_eq!(text(&before), ["b6 needle", "b7 needle"]);
        let from = store
            .log_window(run, &all, LogAnchor::From(before[1].seq), 2)
            .expect("from");
        assert_eq!(text(&from), ["b7 needle", "b8 needle"]);
        assert!(
            store
                .log_window(run + 1, &all, LogAnchor::Tail, 3)
                .expect("other run")
                .is_empty()
        );
    }

    #[test]
    fn filters_and_search_are_done_by_the_store() {
        let (_dir, store, run) = store_with_a_run();
        let host_a = LogFilter {
            host: Some("a".into()),
            ..LogFilter::default()
        };
        let tail = store
            .log_window(run, &host_a, LogAnchor::Tail, 2)
            .expect("a");
        assert_eq!(text(&tail), ["a8", "a9"]);
        let step = LogFilter {
            step: Some(1000),
            stream: Some("stderr".into()),
            ..LogFilter::default()
        };
        let lines = store
            .log_window(run, &step, LogAnchor::From(0), 100)
            .expect("step");
        assert_eq!(
            text(&lines),
            [
                "b1 needle",
                "b3 needle",
                "b5 needle",
                "b7 needle",
                "b9 needle"
            ]
        );
        let first = store
            .log_find(run, &LogFilter::default(), "needle", 0, false)
            .expect("find")
            .expect("a hit");
        let next = store
            .log_find(run, &LogFilter::default(), "needle", first, false)
            .expect("find")
            .expect("a hit");
        assert_eq!(next, first + 1);
        assert_eq!(
            store
                .log_find(run, &LogFilter::default(), "needle", first, true)
                .expect("find"),
            None,
            "nothing before the first hit"
        );
        assert_eq!(
            store
                .log_find(run, &host_a, "needle", 0, false)
                .expect("find"),
            None,
            "the filter applies to the search"
        );
    }
}
