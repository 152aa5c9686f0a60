//! The audit trail: append-only (triggers refuse UPDATE and DELETE) and hash-chained, so an
//! edit, deletion or reordering of past events is detectable by recomputing the chain.

use rusqlite::{OptionalExtension, Transaction, params};
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
