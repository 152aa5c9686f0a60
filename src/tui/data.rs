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
        requests.push(RequestLine {
            progress: crate::workflow::progress(ws, store, &r)?,
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
