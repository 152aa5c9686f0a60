//! Where a request stands in its lifecycle, as the CLI and the console both show it: which
//! stages its package succeeded on, whose approvals count, what comes next.

use crate::settings::{Stage, Workspace};
use crate::store::{ApprovalRow, RequestRow, Store, StoreError};

/// Each stage of the request's lifecycle, with whether its package succeeded there. Empty
/// when the lifecycle is no longer in the config.
pub fn stages<'a>(
    ws: &'a Workspace,
    store: &Store,
    r: &RequestRow,
) -> Result<Vec<(&'a Stage, bool)>, StoreError> {
    let Some(l) = ws
        .inventory
        .lifecycles
        .iter()
        .find(|l| l.name == r.lifecycle)
    else {
        return Ok(Vec::new());
    };
    l.stages
        .iter()
        .map(|s| Ok((s, store.deployed_ok(&r.app, &s.env, &r.package_digest)?)))
        .collect()
}

/// How many requests still have a way to go: not closed, cancelled or rejected, and not
/// deployed on every stage of their lifecycle (a request deployed to uat still waits for
/// prod; one whose package succeeded everywhere is done, though its state says `deployed`).
pub fn open_requests(ws: &Workspace, store: &Store) -> Result<i64, StoreError> {
    let mut open = 0;
    for r in store.requests(None)? {
        let done = match r.state.as_str() {
            "closed" | "cancelled" | "rejected" => true,
            "deployed" => {
                let stages = stages(ws, store, &r)?;
                !stages.is_empty() && stages.iter().all(|(_, ok)| *ok)
            }
            _ => false,
        };
        open += i64::from(!done);
    }
    Ok(open)
}

/// `uat ✓  preprod ·  prod ·`.
pub fn progress_line(stages: &[(&Stage, bool)]) -> String {
    stages
        .iter()
        .map(|(s, done)| format!("{} {}", s.env, if *done { "✓" } else { "·" }))
        .collect::<Vec<_>>()
        .join("  ")
}

/// The members of a group of `lifecycles.toml`.
pub fn members<'a>(ws: &'a Workspace, group: &str) -> Vec<&'a str> {
    ws.inventory
        .groups
        .iter()
        .find(|g| g.name == group)
        .map(|g| g.members.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

pub fn is_member(ws: &Workspace, group: &str, user: &str) -> bool {
    members(ws, group).contains(&user)
}

/// The distinct people whose approval of `stage` counts: current (bound to the request as
/// it is), and members of the stage's group as the group is now (someone removed from it no
/// longer counts).
pub fn approvers<'a>(ws: &Workspace, stage: &Stage, approvals: &'a [ApprovalRow]) -> Vec<&'a str> {
    let mut out: Vec<&str> = approvals
        .iter()
        .filter(|a| a.current && a.env == stage.env && a.decision == "approved")
        .filter(|a| {
            stage
                .approvers
                .as_ref()
                .is_none_or(|g| is_member(ws, g, &a.approver))
        })
        .map(|a| a.approver.as_str())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// What the request waits for, in words: "submit it", "preprod needs 1 approval(s), 0
/// given", "deploy to preprod".
pub fn next_step(
    ws: &Workspace,
    r: &RequestRow,
    stages: &[(&Stage, bool)],
    approvals: &[ApprovalRow],
) -> String {
    if r.state == "draft" {
        return "submit it".into();
    }
    if r.blocked.is_some() {
        return "unblock it first".into();
    }
    if matches!(r.state.as_str(), "cancelled" | "closed" | "rejected") {
        return format!("nothing: it is {}", r.state);
    }
    let Some((stage, _)) = stages.iter().find(|(_, done)| !done) else {
        return "done: every stage succeeded".into();
    };
    let given = approvers(ws, stage, approvals).len();
    let needed = stage.approvals as usize;
    if given < needed {
        format!("{} needs {needed} approval(s), {given} given", stage.env)
    } else {
        format!("deploy to {}", stage.env)
    }
}
