//! Where a request stands in its lifecycle, read from the store: the runs of each stage,
//! then the rules of `core::lifecycle`.

use crate::core::lifecycle::StageProgress;
use crate::settings::Workspace;
use crate::store::{RequestRow, Store, StoreError};

/// How many requests still have a way to go: not closed, cancelled or rejected, and not
/// deployed on every stage of their lifecycle (a request deployed to uat still waits for
/// prod; one whose package succeeded everywhere is done, though its state says `deployed`).
pub fn open_requests(ws: &Workspace, store: &Store) -> Result<i64, StoreError> {
    let mut open = 0;
    for r in store.requests(None)? {
        let done = match r.state.as_str() {
            "closed" | "cancelled" | "rejected" => true,
            "deployed" => {
                let stages = store.stage_progress(&ws.inventory, &r)?;
                !stages.is_empty() && stages.iter().all(StageProgress::done)
            }
            _ => false,
        };
        open += i64::from(!done);
    }
    Ok(open)
}

/// What the request waits for, in words (see [`crate::core::lifecycle::next_step`]).
pub fn next_step(
    ws: &Workspace,
    r: &RequestRow,
    stages: &[StageProgress<'_>],
    approvals: &[crate::core::lifecycle::Approval],
) -> String {
    crate::core::lifecycle::next_step(
        &ws.inventory,
        &r.state,
        r.blocked.is_some(),
        stages,
        approvals,
    )
}
