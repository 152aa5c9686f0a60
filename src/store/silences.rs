//! Monitoring silences opened by runs: what was asked of Alertmanager, and what is still open.

use rusqlite::params;
use serde::Serialize;

use super::db::{Store, StoreError};

/// One silence of a run.
#[derive(Debug, Clone, Serialize)]
pub struct SilenceRow {
    pub id: i64,
    pub run_id: i64,
    pub domain: String,
    /// The Alertmanager's base URL.
    pub url: String,
    /// The matchers as sent (JSON, the v2 API's shape).
    pub matchers: String,
    /// Alertmanager's id, once it created the silence.
    pub silence_id: Option<String>,
    pub state: String,
    pub ends_at: i64,
    pub last_error: Option<String>,
}

/// A silence about to be asked for.
pub struct NewSilenceRow<'a> {
    pub run: i64,
    pub step_run: Option<i64>,
    pub domain: &'a str,
    pub url: &'a str,
    pub matchers: &'a str,
    pub ends_at: i64,
}

const COLUMNS: &str = "id, run_id, domain, url, matchers, silence_id, state, ends_at, last_error";

fn silence_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SilenceRow> {
    Ok(SilenceRow {
        id: r.get(0)?,
        run_id: r.get(1)?,
        domain: r.get(2)?,
        url: r.get(3)?,
        matchers: r.get(4)?,
        silence_id: r.get(5)?,
        state: r.get(6)?,
        ends_at: r.get(7)?,
        last_error: r.get(8)?,
    })
}

impl Store {
    /// Records a silence as pending, before Alertmanager is asked; returns its row id.
    pub fn silence_pending(&mut self, s: &NewSilenceRow<'_>) -> Result<i64, StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO silences (run_id, step_run_id, domain, url, matchers, state, created_at, ends_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)",
                params![s.run, s.step_run, s.domain, s.url, s.matchers, now, s.ends_at],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// A pending silence was created as `silence_id`; false if it is no longer wanted (it was
    /// abandoned meanwhile), and then the caller expires it at once.
    pub fn silence_opened(&mut self, id: i64, silence_id: &str) -> Result<bool, StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            tx.execute(
                "UPDATE silences SET state = 'open', silence_id = ?2, opened_at = ?3, last_error = NULL
                 WHERE id = ?1 AND state = 'pending'",
                params![id, silence_id, now],
            )
            .map(|n| n == 1)
        })
    }

    /// Why the last attempt at creating or expiring a silence failed.
    pub fn silence_failed(&mut self, id: i64, error: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE silences SET last_error = ?2 WHERE id = ?1",
                params![id, error],
            )
            .map(drop)
        })
    }

    /// An open silence was expired in Alertmanager.
    pub fn silence_expired(&mut self, id: i64) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            tx.execute(
                "UPDATE silences SET state = 'expired', closed_at = ?2, last_error = NULL
                 WHERE id = ?1 AND state = 'open'",
                params![id, now],
            )
            .map(drop)
        })
    }

    /// Pending silence `id` is no longer wanted; false if it was not pending. A retry that
    /// creates it afterwards sees it and expires it.
    pub fn abandon_silence(&mut self, id: i64) -> Result<bool, StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            tx.execute(
                "UPDATE silences SET state = 'abandoned', closed_at = ?2
                 WHERE id = ?1 AND state = 'pending'",
                params![id, now],
            )
            .map(|n| n == 1)
        })
    }

    /// The pending silences `run` asked of Alertmanager `url` are no longer wanted: a recovery
    /// that looked for them there has expired what it found.
    pub fn abandon_silences_at(&mut self, run: i64, url: &str) -> Result<usize, StoreError> {
        let now = crate::clock::now_ms();
        self.write(|tx| {
            tx.execute(
                "UPDATE silences SET state = 'abandoned', closed_at = ?3
                 WHERE run_id = ?1 AND state = 'pending' AND url = ?2",
                params![run, url, now],
            )
        })
    }

    /// An open silence whose end time has passed: over, nothing to ask Alertmanager.
    pub fn silence_over(&mut self, id: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE silences SET state = 'expired', closed_at = ends_at, last_error = NULL
                 WHERE id = ?1 AND state = 'open'",
                [id],
            )
            .map(drop)
        })
    }

    /// The silences of `run`, oldest first.
    pub fn silences(&self, run: i64) -> Result<Vec<SilenceRow>, StoreError> {
        self.rows(
            &format!("SELECT {COLUMNS} FROM silences WHERE run_id = ?1 ORDER BY id"),
            [run],
            silence_row,
        )
    }

    /// Silences open or still being asked for, of every run, oldest first; one past its end
    /// time is over whatever its row says.
    pub fn unfinished_silences(&self) -> Result<Vec<SilenceRow>, StoreError> {
        self.rows(
            &format!(
                "SELECT {COLUMNS} FROM silences
                 WHERE state IN ('pending', 'open') AND ends_at > ?1 ORDER BY id"
            ),
            [crate::clock::now_ms()],
            silence_row,
        )
    }

    pub fn silence(&self, id: i64) -> Result<Option<SilenceRow>, StoreError> {
        Ok(self
            .rows(
                &format!("SELECT {COLUMNS} FROM silences WHERE id = ?1"),
                [id],
                silence_row,
            )?
            .pop())
    }
}
