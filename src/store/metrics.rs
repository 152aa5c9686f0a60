//! What the delivery metrics read: one query per kind of record, over the runs that ended in
//! a window (an index on (kind, finished_at) keeps each query to the window, whatever the
//! history holds).

use rusqlite::params;

use super::db::{Store, StoreError};
use crate::core::metrics::{DeployRecord, Incident};

/// The window and scope of a metrics read.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub since: i64,
    pub until: i64,
    pub app: Option<&'a str>,
    pub env: Option<&'a str>,
    pub production: &'a str,
    /// The env before production (for the escape rate), if any.
    pub preprod: Option<&'a str>,
}

impl Store {
    /// Deploy runs that ended in the window, with whether each was rolled back and whether
    /// its package had passed pre-production first.
    pub fn deploy_records(&self, s: &Scope<'_>) -> Result<Vec<DeployRecord>, StoreError> {
        self.rows(
            "SELECT d.id, d.app, d.env, d.state, coalesce(d.started_at, d.created_at), d.finished_at,
                    (SELECT min(r.finished_at) FROM runs r
                      WHERE r.rollback_of = d.id AND +r.state = 'succeeded'),
                    ?5 IS NOT NULL AND d.package_digest IS NOT NULL AND EXISTS (
                      SELECT 1 FROM runs p WHERE p.app = d.app AND p.env = ?5
                       AND p.kind = 'deploy' AND +p.state = 'succeeded'
                       AND p.package_digest = d.package_digest AND p.finished_at <= d.created_at)
             FROM runs d
             WHERE d.kind = 'deploy' AND d.finished_at >= ?1 AND d.finished_at < ?2
               AND (?3 IS NULL OR d.app = ?3) AND (?4 IS NULL OR d.env = ?4)
             ORDER BY d.finished_at",
            params![s.since, s.until, s.app, s.env, s.preprod],
            |r| {
                Ok(DeployRecord {
                    run: r.get(0)?,
                    app: r.get(1)?,
                    env: r.get(2)?,
                    state: r.get(3)?,
                    started_at: r.get(4)?,
                    finished_at: r.get(5)?,
                    rolled_back_at: r.get(6)?,
                    passed_preprod: r.get(7)?,
                })
            },
        )
    }

    /// Production deploys that ended in the window failed or were rolled back, each with when
    /// service came back (next successful deploy there, or its rollback completing).
    pub fn incidents(&self, s: &Scope<'_>) -> Result<Vec<Incident>, StoreError> {
        self.rows(
            "SELECT d.id, d.app, d.env, d.finished_at,
                    (SELECT min(x.finished_at) FROM runs x
                      WHERE x.app = d.app AND x.env = d.env AND +x.state = 'succeeded'
                        AND x.finished_at > d.finished_at
                        AND (x.kind = 'deploy' OR x.rollback_of = d.id))
             FROM runs d
             WHERE d.kind = 'deploy' AND d.finished_at >= ?1 AND d.finished_at < ?2
               AND d.env = ?3 AND (?4 IS NULL OR d.app = ?4)
               AND (d.state = 'failed' OR EXISTS (
                     SELECT 1 FROM runs r WHERE r.rollback_of = d.id AND +r.state = 'succeeded'))
             ORDER BY d.finished_at DESC",
            params![s.since, s.until, s.production, s.app],
            |r| {
                Ok(Incident {
                    run: r.get(0)?,
                    app: r.get(1)?,
                    env: r.get(2)?,
                    at: r.get(3)?,
                    restored_at: r.get(4)?,
                })
            },
        )
    }

    /// For each request whose first successful production deploy ended in the window: the
    /// time from its creation to that deploy's end.
    pub fn lead_times(&self, s: &Scope<'_>) -> Result<Vec<i64>, StoreError> {
        self.rows(
            "SELECT first - q.created_at FROM (
               SELECT d.request_id AS rid, min(d.finished_at) AS first FROM runs d
                WHERE d.kind = 'deploy' AND d.env = ?3 AND +d.state = 'succeeded'
                  AND d.request_id IS NOT NULL AND (?4 IS NULL OR d.app = ?4)
                GROUP BY d.request_id)
             JOIN requests q ON q.id = rid
             WHERE first >= ?1 AND first < ?2",
            params![s.since, s.until, s.production, s.app],
            |r| r.get(0),
        )
    }

    /// Submitted → approved, for the approvals given in the window.
    pub fn approval_waits(&self, s: &Scope<'_>) -> Result<Vec<i64>, StoreError> {
        self.rows(
            "SELECT a.decided_at - (SELECT min(e.at) FROM audit_events e
                                    WHERE e.subject = 'request:' || a.request_id
                                      AND e.action = 'request.submitted')
             FROM approvals a JOIN requests q ON q.id = a.request_id
             WHERE a.decision = 'approved' AND a.decided_at >= ?1 AND a.decided_at < ?2
               AND (?3 IS NULL OR q.app = ?3) AND (?4 IS NULL OR a.env = ?4)
               AND EXISTS (SELECT 1 FROM audit_events e WHERE e.subject = 'request:' || a.request_id
                           AND e.action = 'request.submitted')",
            params![s.since, s.until, s.app, s.env],
            |r| r.get(0),
        )
    }

    /// (deploy run, host) for each host a deploy that ended in the window ran a step on.
    pub fn deploy_hosts(
        &self,
        s: &Scope<'_>,
    ) -> Result<Vec<(i64, String, String, String)>, StoreError> {
        self.rows(
            "SELECT DISTINCT d.id, d.app, d.env, st.host FROM runs d
               JOIN step_runs st ON st.run_id = d.id AND st.host != ''
             WHERE d.kind = 'deploy' AND d.finished_at >= ?1 AND d.finished_at < ?2
               AND (?3 IS NULL OR d.app = ?3) AND (?4 IS NULL OR d.env = ?4)",
            params![s.since, s.until, s.app, s.env],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
    }
}
