//! The apps/envs snapshot: what the inventory looked like, kept so history stays readable and
//! so SQL (metrics, per-domain counts) can join on apps and envs.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::audit;
use super::db::{Store, StoreError};
use crate::identity::Actor;
use crate::settings::Inventory;

impl Store {
    /// Records the inventory if it changed since the last snapshot; returns whether it did.
    pub fn sync_inventory(&mut self, inv: &Inventory, actor: &Actor) -> Result<bool, StoreError> {
        let body = serde_json::to_string(inv).unwrap_or_default();
        let digest = hex::encode(Sha256::digest(body.as_bytes()));
        let now = crate::clock::now_ms();
        self.write(|tx| {
            let latest: Option<String> = tx
                .query_row(
                    "SELECT value FROM meta WHERE key = 'inventory_digest'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            if latest.as_deref() == Some(digest.as_str()) {
                return Ok(false);
            }
            // A previous snapshot with the same content (an edit reverted) is reused.
            tx.execute(
                "INSERT INTO inventory_snapshots (digest, taken_at, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (digest) DO NOTHING",
                params![digest, now, body],
            )?;
            let snapshot: i64 = tx.query_row(
                "SELECT id FROM inventory_snapshots WHERE digest = ?1",
                [&digest],
                |r| r.get(0),
            )?;
            tx.execute("DELETE FROM app_domains", [])?;
            tx.execute("DELETE FROM apps", [])?;
            tx.execute("DELETE FROM envs", [])?;
            for app in &inv.apps {
                tx.execute(
                    "INSERT INTO apps (name, description, snapshot_id) VALUES (?1, ?2, ?3)",
                    params![app.name, app.description, snapshot],
                )?;
                for d in &app.domains {
                    tx.execute(
                        "INSERT INTO app_domains (app, domain) VALUES (?1, ?2)",
                        params![app.name, d.name],
                    )?;
                }
            }
            for (position, env) in inv.envs.iter().enumerate() {
                tx.execute(
                    "INSERT INTO envs (name, description, protected, position, snapshot_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        env.name,
                        env.description,
                        env.protected,
                        position as i64,
                        snapshot
                    ],
                )?;
            }
            // The current snapshot is named in meta: after A -> B -> A the newest row is B's,
            // but A is current again.
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('inventory_digest', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [&digest],
            )?;
            audit::append(
                tx,
                now,
                actor,
                "inventory.changed",
                "inventory",
                &serde_json::json!({ "digest": digest, "snapshot": snapshot }),
            )?;
            Ok(true)
        })
    }

    /// The digest of the newest inventory snapshot, if any.
    pub fn inventory_digest(&self) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'inventory_digest'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_error(e))
    }
}
