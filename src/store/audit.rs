//! The audit trail: append-only (triggers refuse UPDATE and DELETE) and hash-chained, so an
//! edit, deletion or reordering of past events is detectable by recomputing the chain.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::identity::Actor;

/// The hash the first event chains from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One recorded state change.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: i64,
    pub actor_uid: u32,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub payload: serde_json::Value,
}

/// Appends one event inside the caller's (immediate) transaction, so the event and the change it
/// records commit together or not at all.
pub(crate) fn append(
    tx: &Transaction<'_>,
    at: i64,
    actor: &Actor,
    action: &str,
    subject: &str,
    payload: &serde_json::Value,
) -> rusqlite::Result<i64> {
    let prev: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match prev {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_string()),
    };
    let event = AuditEvent {
        seq,
        at,
        actor_uid: actor.uid,
        actor: actor.name.clone(),
        action: action.to_string(),
        subject: subject.to_string(),
        payload: payload.clone(),
    };
    let hash = chain_hash(&prev_hash, &event);
    tx.execute(
        "INSERT INTO audit_events (seq, at, actor_uid, actor, action, subject, payload, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            seq,
            at,
            actor.uid,
            event.actor,
            event.action,
            event.subject,
            event.payload.to_string(),
            prev_hash,
            hash
        ],
    )?;
    // The head, in the same transaction: rows cut off the end of the trail are noticed.
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('audit_head', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [format!("{seq}:{hash}")],
    )?;
    Ok(seq)
}

/// SHA-256 over the previous hash and the event's canonical JSON (fields in declaration order,
/// payload keys sorted by serde_json's map).
pub(crate) fn chain_hash(prev_hash: &str, event: &AuditEvent) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    // Serialising a struct of plain fields cannot fail.
    h.update(serde_json::to_vec(event).unwrap_or_default());
    hex::encode(h.finalize())
}

/// An event's columns with what its neighbours say of it, for [`chained`]: the hash of the
/// event before it, the `prev_hash` of the one after it, and the head recorded with the last.
pub(crate) const CHAINED_SELECT: &str =
    "SELECT e.seq, e.at, e.actor_uid, e.actor, e.action, e.subject, e.payload, e.prev_hash, e.hash,
            (SELECT p.hash FROM audit_events p WHERE p.seq = e.seq - 1),
            (SELECT n.prev_hash FROM audit_events n WHERE n.seq = e.seq + 1),
            (SELECT value FROM meta WHERE key = 'audit_head')
     FROM audit_events e";

/// An event a rule may rely on, and whether it holds where it stands in the chain.
#[derive(Debug, Clone)]
pub(crate) struct Chained {
    pub event: AuditEvent,
    /// Its hash recomputes from its content, it chains from the event before it, and the
    /// event after it (or the recorded head) chains from it: an event edited in place, even
    /// with its own hash recomputed, is not sound.
    pub sound: bool,
}

/// Maps a row of [`CHAINED_SELECT`].
pub(crate) fn chained(r: &rusqlite::Row<'_>) -> rusqlite::Result<Chained> {
    let stored = stored_event(r)?;
    let text: String = r.get(6)?;
    let before: Option<String> = r.get(9)?;
    let after: Option<String> = r.get(10)?;
    let head: Option<String> = r.get(11)?;
    let seq = stored.event.seq;
    // The same canonical-text rule as `verify_audit`: a duplicate key reads differently in SQL.
    let canonical = serde_json::to_string(&stored.event.payload).unwrap_or_default();
    let own = chain_hash(&stored.prev_hash, &stored.event) == stored.hash && text == canonical;
    let follows = match before {
        Some(hash) => hash == stored.prev_hash,
        None => seq == 1 && stored.prev_hash == GENESIS,
    };
    let followed = match after {
        Some(prev) => prev == stored.hash,
        None => head.as_deref() == Some(format!("{seq}:{}", stored.hash).as_str()),
    };
    Ok(Chained {
        event: stored.event,
        sound: own && follows && followed,
    })
}

/// Event `seq`, checked against its neighbours; `None` if there is no such event.
pub(crate) fn chained_at(conn: &Connection, seq: i64) -> rusqlite::Result<Option<Chained>> {
    conn.prepare_cached(&format!("{CHAINED_SELECT} WHERE e.seq = ?1"))?
        .query_row([seq], chained)
        .optional()
}

/// What `verify_audit` found.
#[derive(Debug, Clone, Serialize)]
pub struct AuditCheck {
    /// Events read.
    pub events: i64,
    /// The first event that breaks the chain, and why; `None` when the chain holds.
    pub first_bad: Option<(i64, String)>,
}

/// A point of the chain: an event's number and hash. Exported with each run's summary so the
/// trail can be anchored outside pilote (a chain alone is rewritable by whoever can write the
/// file; a head hash kept elsewhere is not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

/// One stored event with its chain hashes.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

impl super::db::Store {
    /// The last `limit` events, oldest first.
    pub fn audit_events(&self, limit: i64) -> Result<Vec<StoredEvent>, super::StoreError> {
        self.rows(
            "SELECT seq, at, actor_uid, actor, action, subject, payload, prev_hash, hash FROM
                 (SELECT * FROM audit_events ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
            [limit],
            stored_event,
        )
    }

    /// The last `limit` events about `subject` ("request:3"), newest first.
    pub fn audit_of(
        &self,
        subject: &str,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, super::StoreError> {
        Ok(self
            .rows(
                "SELECT seq, at, actor_uid, actor, action, subject, payload, prev_hash, hash
                 FROM audit_events WHERE subject = ?1 ORDER BY seq DESC LIMIT ?2",
                rusqlite::params![subject, limit],
                stored_event,
            )?
            .into_iter()
            .map(|e| e.event)
            .collect())
    }

    /// Up to `limit` events after `seq`, oldest first: the notification deliverer reads the
    /// trail with this.
    pub fn audit_after(&self, seq: i64, limit: i64) -> Result<Vec<AuditEvent>, super::StoreError> {
        Ok(self
            .rows(
                "SELECT seq, at, actor_uid, actor, action, subject, payload, prev_hash, hash
                 FROM audit_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                rusqlite::params![seq, limit],
                stored_event,
            )?
            .into_iter()
            .map(|e| e.event)
            .collect())
    }

    /// The hash of event `seq`, if there is one.
    pub fn audit_hash(&self, seq: i64) -> Result<Option<String>, super::StoreError> {
        Ok(self
            .rows("SELECT hash FROM audit_events WHERE seq = ?1", [seq], |r| {
                r.get(0)
            })?
            .pop())
    }

    /// The trail's head as of run `run`'s end: the event that recorded the end (written in
    /// the same transaction as the final state, so nothing can come between), or the one
    /// that declared it interrupted. Meaningful once the run is finished; callers check.
    pub fn run_audit_head(&self, run: i64) -> Result<Option<AuditHead>, super::StoreError> {
        Ok(self
            .rows(
                "SELECT seq, hash FROM audit_events
                 WHERE subject = ?1 AND action IN ('run.finished', 'run.interrupted')
                 ORDER BY seq DESC LIMIT 1",
                [format!("run:{run}")],
                |r| {
                    Ok(AuditHead {
                        seq: r.get(0)?,
                        hash: r.get(1)?,
                    })
                },
            )?
            .pop())
    }

    /// Recomputes the whole chain: every event must carry the next sequence number, chain
    /// from the hash before it, and hash to what it says; the last one must be the head
    /// recorded with it (so rows cut off the end are noticed too).
    pub fn verify_audit(&self) -> Result<AuditCheck, super::StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, at, actor_uid, actor, action, subject, payload, prev_hash, hash
                 FROM audit_events ORDER BY seq",
            )
            .map_err(|e| self.sql_error(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.sql_error(e))?;
        let mut expected = 1;
        let mut prev = GENESIS.to_string();
        let mut events = 0;
        let bad = |seq: i64, why: String| {
            Ok(AuditCheck {
                events: seq - 1,
                first_bad: Some((seq, why)),
            })
        };
        while let Some(row) = rows.next().map_err(|e| self.sql_error(e))? {
            let e = stored_event(row).map_err(|e| self.sql_error(e))?;
            let text: String = row.get(6).map_err(|e| self.sql_error(e))?;
            let seq = e.event.seq;
            if seq != expected {
                return bad(
                    expected,
                    format!("event #{expected} is missing (the next one is #{seq}): deleted"),
                );
            }
            if e.prev_hash != prev {
                return bad(
                    seq,
                    format!(
                        "event #{seq} does not follow event #{}: deleted, replaced or reordered",
                        seq - 1
                    ),
                );
            }
            // The stored text must be the canonical form that was hashed: another text that
            // parses to the same value (a duplicate key, say) reads differently in SQL.
            let canonical = serde_json::to_string(&e.event.payload).unwrap_or_default();
            if chain_hash(&e.prev_hash, &e.event) != e.hash || text != canonical {
                return bad(
                    seq,
                    format!("event #{seq} was altered: its content no longer matches its hash"),
                );
            }
            prev = e.hash;
            expected += 1;
            events += 1;
        }
        let head: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'audit_head'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.sql_error(e))?;
        if events > 0 && head.is_none() {
            return Ok(AuditCheck {
                events,
                first_bad: Some((
                    events,
                    format!(
                        "the record of the last event is gone (event #{events} may not be the last): truncated"
                    ),
                )),
            });
        }
        if let Some(head) = head
            && head != format!("{events}:{prev}")
        {
            let (seq, _) = head.split_once(':').unwrap_or((&head, ""));
            return Ok(AuditCheck {
                events,
                first_bad: Some((
                    events + 1,
                    format!(
                        "the trail ends at event #{events}, but event #{seq} was recorded: truncated"
                    ),
                )),
            });
        }
        Ok(AuditCheck {
            events,
            first_bad: None,
        })
    }
}

fn stored_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    let payload: String = r.get(6)?;
    Ok(StoredEvent {
        event: AuditEvent {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor_uid: r.get(2)?,
            actor: r.get(3)?,
            action: r.get(4)?,
            subject: r.get(5)?,
            // Unparseable text hashes as null: the altered event is then reported.
            payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        },
        prev_hash: r.get(7)?,
        hash: r.get(8)?,
    })
}
