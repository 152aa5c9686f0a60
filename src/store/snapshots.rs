//! Config snapshots: the texts a run was started with (see `settings::ConfigSnapshot`), and
//! the last sound config seen, which a console or a command falls back on when the config
//! on disk has errors.

use rusqlite::{OptionalExtension, Transaction, params};

use super::db::{Store, StoreError};
use crate::settings::ConfigSnapshot;

/// Stores `snapshot` under its digest unless it is there already; returns the digest.
pub(super) fn insert(tx: &Transaction<'_>, snapshot: &ConfigSnapshot) -> rusqlite::Result<String> {
    let body = snapshot.to_json();
    let digest = snapshot.digest();
    tx.execute(
        "INSERT INTO config_snapshots (digest, taken_at, body) VALUES (?1, ?2, ?3)
         ON CONFLICT (digest) DO NOTHING",
        params![digest, crate::clock::now_ms(), body],
    )?;
    Ok(digest)
}

impl Store {
    /// Remembers `snapshot` as the last sound config, if it changed since.
    pub fn record_config(&mut self, snapshot: &ConfigSnapshot) -> Result<(), StoreError> {
        let digest = snapshot.digest();
        if self.meta("config_digest")?.as_deref() == Some(digest.as_str()) {
            return Ok(());
        }
        self.write(|tx| {
            insert(tx, snapshot)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('config_digest', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [&digest],
            )?;
            Ok(())
        })
    }

    /// The last sound config this store saw, if any.
    pub fn last_config(&self) -> Result<Option<ConfigSnapshot>, StoreError> {
        match self.meta("config_digest")? {
            Some(d) => self.config_snapshot(&d),
            None => Ok(None),
        }
    }

    /// The config run `id` was started with; `None` for a run older than the record.
    pub fn run_config(&self, id: i64) -> Result<Option<ConfigSnapshot>, StoreError> {
        let digest: Option<String> = self
            .conn
            .query_row("SELECT config_digest FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.sql_error(e))?;
        match digest {
            Some(d) => self.config_snapshot(&d),
            None => Ok(None),
        }
    }

    fn config_snapshot(&self, digest: &str) -> Result<Option<ConfigSnapshot>, StoreError> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM config_snapshots WHERE digest = ?1",
                [digest],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_error(e))?;
        // A body this binary cannot read back is taken as none: the run falls back on the
        // workspace's config as it is now, which only a sound one gives.
        Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.sql_error(e))
    }
}
