//! What the console shows from the store, read a page at a time (never whole tables).

use crate::settings::Workspace;
use crate::store::{RunRow, Store, StoreError};

/// Rows per list: a screen's worth, whatever the history holds.
const PAGE: i64 = 100;

/// One request as the Requests pane lists it.
#[derive(Debug, Clone)]
pub struct RequestLine {
    pub id: i64,
    pub app: String,
    pub version: String,
    pub state: String,
    pub progress: String,
    pub by: String,
    pub updated_at: i64,
    pub lifecycle: String,
    pub package_digest: String,
    pub plan_path: Option<String>,
    pub blocked: Option<String>,
    /// Decisions that still count, as "env: approved by alice (comment)".
    pub approvals: Vec<String>,
    /// What comes next, in words: "deploy to preprod", "preprod needs 1 approval (0 given)".
    pub next: String,
}

/// The store's part of the screen.
#[derive(Debug, Clone, Default)]
pub struct Data {
    pub requests: Vec<RequestLine>,
    pub runs: Vec<RunRow>,
}

pub fn load(ws: &Workspace, store: &Store) -> Result<Data, StoreError> {
    let mut requests = Vec::new();
    for r in store.requests(None)?.into_iter().take(PAGE as usize) {
        let current: Vec<_> = store
            .approvals(r.id, &r.approval_digest(&ws.catalog_digest))?
            .into_iter()
            .filter(|a| a.current)
            .collect();
        // One read of the stages for both the progress line and the next step.
        let stages = crate::workflow::stages(ws, store, &r)?;
        let next = crate::workflow::next_step(ws, &r, &stages, &current);
        requests.push(RequestLine {
            progress: crate::workflow::progress_line(&stages),
            lifecycle: r.lifecycle.clone(),
            package_digest: r.package_digest.clone(),
            plan_path: r.plan_path.clone(),
            blocked: r.blocked.clone(),
            approvals: current
                .iter()
                .map(|a| {
                    format!(
                        "{}: {} by {}{}",
                        a.env,
                        a.decision,
                        a.approver,
                        if a.comment.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", a.comment)
                        }
                    )
                })
                .collect(),
            next,
            id: r.id,
            // Blocked says more than the state it is stuck in.
            state: if r.blocked.is_some() {
                "blocked".to_string()
            } else {
                r.state
            },
            app: r.app,
            version: r.version,
            by: r.created_by,
            updated_at: r.updated_at,
        });
    }
    Ok(Data {
        requests,
        runs: store.runs(None, None, PAGE)?,
    })
}
