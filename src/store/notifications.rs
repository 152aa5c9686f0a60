//! The notification outbox: deliveries made from the audit trail, and the cursor saying how
//! far the trail was read. Only the deliverer writes deliveries; it holds a lease, so there
//! is one writer of the cursor at a time.
//!
//! Bookkeeping commits are relaxed (see [`Store::write_relaxed`]): a power loss can at
//! worst make the deliverer read a few events again, and the `(audit_seq, webhook, event)`
//! key stops those from being delivered twice.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::db::{Store, StoreError};

/// A delivery to make.
pub struct NewDelivery<'a> {
    pub audit_seq: Option<i64>,
    pub webhook: &'a str,
    pub event: &'a str,
    pub body: &'a str,
}

/// A delivery as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub audit_seq: Option<i64>,
    pub webhook: String,
    pub event: String,
    /// pending, delivered or failed.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    /// The last failure, kept once delivered: "delivered at the 3rd attempt, after a 500".
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    /// What is posted, exactly.
    #[serde(skip)]
    pub body: String,
}

/// How one attempt went.
pub struct Attempt<'a> {
    /// pending (to retry at `next_at`), delivered or failed (given up).
    pub state: &'a str,
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    pub next_at: i64,
}

const COLUMNS: &str = "id, audit_seq, webhook, event, state, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at, body";

fn delivery(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        audit_seq: r.get(1)?,
        webhook: r.get(2)?,
        event: r.get(3)?,
        state: r.get(4)?,
        attempts: r.get(5)?,
        next_attempt_at: r.get(6)?,
        last_status: r.get(7)?,
        last_error: r.get(8)?,
        created_at: r.get(9)?,
        delivered_at: r.get(10)?,
        body: r.get(11)?,
    })
}

/// Webhook names as a JSON array, for `IN (SELECT value FROM json_each(?))`.
fn names(webhooks: &[&str]) -> String {
    serde_json::Value::from(webhooks.to_vec()).to_string()
}

impl Store {
    /// Where the deliverer stopped reading the trail; `None` while notifications are off.
    pub fn notify_cursor(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row("SELECT audit_seq FROM notify_cursor", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.sql_error(e))
    }

    /// Turns notifications on from now: the cursor is set at the trail's head if there is
    /// none, so what happened before webhooks were configured is never posted.
    pub fn notify_arm(&mut self) -> Result<(), StoreError> {
        if self.notify_cursor()?.is_some() {
            return Ok(());
        }
        self.write_relaxed(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO notify_cursor (id, audit_seq)
                 SELECT 1, coalesce(max(seq), 0) FROM audit_events",
                [],
            )
            .map(drop)
        })
    }

    /// Turns notifications off: once webhooks are configured again, they start from then,
    /// not from where they were left. What was still to send is given up, saying why.
    pub fn notify_disarm(&mut self) -> Result<(), StoreError> {
        if self.notify_cursor()?.is_none() {
            return Ok(());
        }
        self.write_relaxed(|tx| {
            tx.execute(
                "UPDATE notify_deliveries SET state = 'failed',
                    last_error = 'not sent: no webhook is configured any more'
                 WHERE state = 'pending'",
                [],
            )?;
            tx.execute("DELETE FROM notify_cursor", []).map(drop)
        })
    }

    /// Whether a deliverer that can post to `webhooks` has something to do: events past
    /// the cursor, or deliveries to them not settled yet. Deliveries to a webhook whose
    /// URL it cannot read are no work of its own.
    pub fn notify_backlog(&self, webhooks: &[&str]) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT (SELECT coalesce(max(seq), 0) FROM audit_events)
                        > (SELECT audit_seq FROM notify_cursor)
                     OR EXISTS (SELECT 1 FROM notify_deliveries WHERE state = 'pending'
                                AND webhook IN (SELECT value FROM json_each(?1)))",
                [names(webhooks)],
                |r| r.get::<_, Option<bool>>(0),
            )
            .map(|b| b.unwrap_or(false))
            .map_err(|e| self.sql_error(e))
    }

    /// Queues `deliveries` and moves the cursor to `upto`, in one transaction: an event is
    /// either read and queued, or neither.
    pub fn notify_enqueue(
        &mut self,
        upto: i64,
        deliveries: &[NewDelivery<'_>],
    ) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write_relaxed(|tx| {
            for d in deliveries {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO notify_deliveries
                     (audit_seq, webhook, event, body, state, next_attempt_at, created_at)
                     VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
                )?
                .execute(params![d.audit_seq, d.webhook, d.event, d.body, now])?;
            }
            tx.execute(
                "INSERT INTO notify_cursor (id, audit_seq) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET audit_seq = max(audit_seq, excluded.audit_seq)",
                [upto],
            )
            .map(drop)
        })
    }

    /// Pending deliveries to `webhooks` due at `now`, oldest first.
    pub fn notify_due(
        &self,
        now: i64,
        limit: i64,
        webhooks: &[&str],
    ) -> Result<Vec<Delivery>, StoreError> {
        self.rows(
            &format!(
                "SELECT {COLUMNS} FROM notify_deliveries
                 WHERE state = 'pending' AND next_attempt_at <= ?1
                   AND webhook IN (SELECT value FROM json_each(?3))
                 ORDER BY id LIMIT ?2"
            ),
            params![now, limit, names(webhooks)],
            delivery,
        )
    }

    /// When the next pending delivery to `webhooks` is due, if any is pending.
    pub fn notify_next_due(&self, webhooks: &[&str]) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT min(next_attempt_at) FROM notify_deliveries WHERE state = 'pending'
                   AND webhook IN (SELECT value FROM json_each(?1))",
                [names(webhooks)],
                |r| r.get(0),
            )
            .map_err(|e| self.sql_error(e))
    }

    /// Says why the pending deliveries to `webhook` wait, without counting an attempt: the
    /// deliverer cannot read its URL. Written only when it changes.
    pub fn notify_hold(&mut self, webhook: &str, why: &str) -> Result<(), StoreError> {
        let waiting: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM notify_deliveries WHERE state = 'pending'
                   AND webhook = ?1 AND last_error IS NOT ?2)",
                params![webhook, why],
                |r| r.get(0),
            )
            .map_err(|e| self.sql_error(e))?;
        if !waiting {
            return Ok(());
        }
        self.write_relaxed(|tx| {
            tx.execute(
                "UPDATE notify_deliveries SET last_error = ?2
                 WHERE state = 'pending' AND webhook = ?1 AND last_error IS NOT ?2",
                params![webhook, why],
            )
            .map(drop)
        })
    }

    /// Gives up the pending deliveries to webhooks no longer configured (not in `webhooks`).
    pub fn notify_forget(&mut self, webhooks: &[&str]) -> Result<(), StoreError> {
        self.write_relaxed(|tx| {
            tx.execute(
                "UPDATE notify_deliveries SET state = 'failed',
                    last_error = 'not sent: this webhook is no longer in pilote.toml'
                 WHERE state = 'pending' AND webhook NOT IN (SELECT value FROM json_each(?1))",
                [names(webhooks)],
            )
            .map(drop)
        })
    }

    /// Records one attempt of delivery `id`.
    pub fn notify_attempted(&mut self, id: i64, a: &Attempt<'_>) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        self.write_relaxed(|tx| {
            tx.execute(
                "UPDATE notify_deliveries SET attempts = attempts + 1, state = ?2,
                    last_status = ?3, last_error = coalesce(?4, last_error), next_attempt_at = ?5,
                    delivered_at = CASE WHEN ?2 = 'delivered' THEN ?6 END
                 WHERE id = ?1",
                params![id, a.state, a.status, a.error, a.next_at, now],
            )
            .map(drop)
        })
    }

    /// A delivery made at once (a test), with how its one attempt went.
    pub fn notify_record(
        &mut self,
        d: &NewDelivery<'_>,
        a: &Attempt<'_>,
    ) -> Result<i64, StoreError> {
        let now = crate::clock::now_ms();
        self.write_relaxed(|tx| {
            tx.execute(
                "INSERT INTO notify_deliveries
                 (audit_seq, webhook, event, body, state, attempts, next_attempt_at, last_status,
                  last_error, created_at, delivered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?6, CASE WHEN ?5 = 'delivered' THEN ?6 END)",
                params![d.audit_seq, d.webhook, d.event, d.body, a.state, now, a.status, a.error],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// The latest `limit` deliveries, newest first.
    pub fn notify_deliveries(&self, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        self.rows(
            &format!("SELECT {COLUMNS} FROM notify_deliveries ORDER BY id DESC LIMIT ?1"),
            [limit],
            delivery,
        )
    }
}
