//! Control commands sent to a run's runner through the store (cancel, gate answers...).

use rusqlite::params;

use super::audit;
use super::db::{Store, StoreError};
use super::decisions::CommandRecord;
use crate::identity::Actor;

/// A command taken for a run's runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenCommand {
    /// `cancel`, `confirm` or `abort`.
    pub command: String,
    /// Its audit event is in the chain and says the same: a gate is confirmed only then.
    pub in_chain: bool,
}

impl Store {
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
