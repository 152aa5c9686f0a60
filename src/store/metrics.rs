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
    /// its package had passed pre-production first (looked up by package: without the
    /// index named, SQLite walks every earlier deploy for each one).
    pub fn deploy_records(&self, s: &Scope<'_>) -> Result<Vec<DeployRecord>, StoreError> {
        self.rows(
            "SELECT d.id, d.app, d.env, d.state, coalesce(d.started_at, d.created_at), d.finished_at,
                    (SELECT min(r.finished_at) FROM runs r
                      WHERE r.rollback_of = d.id AND +r.state = 'succeeded'),
                    d.env = ?6 AND ?5 IS NOT NULL AND d.package_digest IS NOT NULL AND EXISTS (
                      SELECT 1 FROM runs p INDEXED BY runs_by_package
                       WHERE p.app = d.app AND p.env = ?5
                       AND p.kind = 'deploy' AND +p.state = 'succeeded'
                       AND p.package_digest = d.package_digest AND p.finished_at <= d.created_at)
             FROM runs d
             WHERE d.kind = 'deploy' AND d.finished_at >= ?1 AND d.finished_at < ?2
               AND (?3 IS NULL OR d.app = ?3) AND (?4 IS NULL OR d.env = ?4)
             ORDER BY d.finished_at",
            params![s.since, s.until, s.app, s.env, s.preprod, s.production],
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

    /// Production deploys that ended in the window failed or were rolled back (judged changes
    /// only: as the change failure rate counts them), each with when service came back: the
    /// next successful deploy or rollback of that app on that env; and the reason its last
    /// rollback was given.
    pub fn incidents(&self, s: &Scope<'_>) -> Result<Vec<Incident>, StoreError> {
        self.rows(
            // The next successful deploy is found walking the (kind, finished_at) index from
            // the incident on: the first match is usually close, whatever the history holds.
            "SELECT d.id, d.app, d.env, d.finished_at,
                    (SELECT x.finished_at FROM runs x INDEXED BY runs_by_end
                      WHERE x.kind = 'deploy' AND x.finished_at > d.finished_at
                        AND x.app = d.app AND x.env = d.env AND +x.state = 'succeeded'
                      ORDER BY x.finished_at LIMIT 1),
                    (SELECT x.finished_at FROM runs x INDEXED BY runs_by_end
                      WHERE x.kind = 'rollback' AND x.finished_at > d.finished_at
                        AND x.app = d.app AND x.env = d.env AND +x.state = 'succeeded'
                      ORDER BY x.finished_at LIMIT 1),
                    (SELECT r.reason FROM runs r
                      WHERE r.rollback_of = d.id AND r.reason IS NOT NULL
                      ORDER BY r.id DESC LIMIT 1)
             FROM runs d
             WHERE d.kind = 'deploy' AND d.finished_at >= ?1 AND d.finished_at < ?2
               AND d.env = ?3 AND (?4 IS NULL OR d.app = ?4)
               AND d.state IN ('succeeded', 'failed')
               AND (d.state = 'failed' OR EXISTS (
                     SELECT 1 FROM runs r WHERE r.rollback_of = d.id AND +r.state = 'succeeded'))
             ORDER BY d.finished_at DESC",
            params![s.since, s.until, s.production, s.app],
            |r| {
                let next: Option<i64> = r.get(4)?;
                let rollback: Option<i64> = r.get(5)?;
                Ok(Incident {
                    run: r.get(0)?,
                    app: r.get(1)?,
                    env: r.get(2)?,
                    at: r.get(3)?,
                    restored_at: match (next, rollback) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    },
                    reason: r.get(6)?,
                })
            },
        )
    }

    /// For each request whose first successful production deploy ended in the window: the
    /// time from its creation to that deploy's end. Walks the window's deploys, not every
    /// request's history.
    pub fn lead_times(&self, s: &Scope<'_>) -> Result<Vec<(i64, i64)>, StoreError> {
        self.rows(
            "SELECT d.finished_at, d.finished_at - q.created_at FROM runs d INDEXED BY runs_by_end
               JOIN requests q ON q.id = d.request_id
             WHERE d.kind = 'deploy' AND d.finished_at >= ?1 AND d.finished_at < ?2
               AND d.env = ?3 AND +d.state = 'succeeded' AND (?4 IS NULL OR d.app = ?4)
               AND NOT EXISTS (SELECT 1 FROM runs e INDEXED BY runs_by_request
                                WHERE e.request_id = d.request_id AND e.kind = 'deploy'
                                  AND e.env = d.env AND +e.state = 'succeeded'
                                  AND e.finished_at < d.finished_at)",
            params![s.since, s.until, s.production, s.app],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Submitted → approved, for the approvals given in the window that stand (a person's
    /// latest, not voided since). A dashboard reads the rows as they are: what counts for a
    /// deploy is checked against the trail instead (`store/decisions.rs`).
    pub fn approval_waits(&self, s: &Scope<'_>) -> Result<Vec<i64>, StoreError> {
        self.rows(
            // From the submission the approval answered: a replanned request is submitted
            // again, and its new approvals wait from then.
            "SELECT a.decided_at - (SELECT max(e.at) FROM audit_events e
                                    WHERE e.subject = 'request:' || a.request_id
                                      AND e.action = 'request.submitted'
                                      AND e.at <= a.decided_at)
             FROM approvals a JOIN requests q ON q.id = a.request_id
             WHERE a.decision = 'approved'
               AND NOT EXISTS (SELECT 1 FROM approval_voids v
                               WHERE v.request_id = a.request_id AND v.audit_seq > a.audit_seq)
               AND NOT EXISTS (SELECT 1 FROM approvals b
                               WHERE b.request_id = a.request_id AND b.env = a.env
                                 AND b.approver = a.approver AND b.bound_digest = a.bound_digest
                                 AND b.id > a.id)
               AND a.decided_at >= ?1 AND a.decided_at < ?2
               AND (?3 IS NULL OR q.app = ?3) AND (?4 IS NULL OR a.env = ?4)",
            params![s.since, s.until, s.app, s.env],
            |r| r.get::<_, Option<i64>>(0),
        )
        // A request never submitted on record (made before the trail) has no wait.
        .map(|waits| waits.into_iter().flatten().collect())
    }

    /// Deploys that ended in the window per app domain (a deploy counts once per domain it
    /// ran a step in). `domains` maps (app, env, host) to its domain, from the inventory; it
    /// goes into a temporary table so SQLite counts, instead of sending every step run here.
    pub fn deploys_per_domain(
        &self,
        s: &Scope<'_>,
        domains: &[(String, String, String, String)],
    ) -> Result<Vec<(String, usize)>, StoreError> {
        let fill = || -> rusqlite::Result<()> {
            self.conn.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS host_domains (
                   app TEXT, env TEXT, host TEXT, domain TEXT, PRIMARY KEY (app, env, host, domain)
                 ) WITHOUT ROWID;
                 DELETE FROM temp.host_domains;",
            )?;
            let mut insert = self.conn.prepare_cached(
                "INSERT OR IGNORE INTO temp.host_domains (app, env, host, domain) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (app, env, host, domain) in domains {
                insert.execute(params![app, env, host, domain])?;
            }
            Ok(())
        };
        fill().map_err(|e| self.sql_error(e))?;
        self.rows(
            "SELECT hd.domain, count(DISTINCT d.id) FROM runs d INDEXED BY runs_by_end
               JOIN step_runs st ON st.run_id = d.id
               JOIN temp.host_domains hd ON hd.app = d.app AND hd.env = d.env AND hd.host = st.host
             WHERE d.kind = 'deploy' AND d.finished_at >= ?1 AND d.finished_at < ?2
               AND (?3 IS NULL OR d.app = ?3) AND (?4 IS NULL OR d.env = ?4)
             GROUP BY hd.domain",
            params![s.since, s.until, s.app, s.env],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.unsigned_abs() as usize)),
        )
    }
}
