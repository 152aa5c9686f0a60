//! Where a request stands in its lifecycle, as the CLI and the console both show it: which
//! stages its own plan and package passed, whose approvals count, what comes next.
//!
//! A request's progress is its own: a stage is passed when this request's plan and package
//! succeeded there (or an identical plan, by digest, with the same package, which is said),
//! never because another request deployed the same package with another plan.

use serde::Serialize;

use crate::settings::{Stage, Workspace};
use crate::store::{ApprovalRow, RequestRow, StageRuns, Store, StoreError};

/// One stage of a request's lifecycle, and what the request's runs did there.
#[derive(Debug, Clone, Serialize)]
pub struct StageProgress<'a> {
    #[serde(skip)]
    pub stage: &'a Stage,
    pub env: String,
    #[serde(flatten)]
    pub runs: StageRuns,
}

impl StageProgress<'_> {
    /// The stage counts as passed for the next one.
    pub fn done(&self) -> bool {
        self.runs.own.is_some() || self.runs.same.is_some()
    }

    /// Approvals decided at or before this are spent: a deploy failed or was rolled back
    /// there since (when the stage asks for fresh approvals then).
    pub fn spent_at(&self) -> Option<i64> {
        self.runs
            .spent_at
            .filter(|_| self.stage.reapprove_after_failure && self.stage.approvals > 0)
    }

    /// `preprod ✓`; `preprod ✓=` when passed by an identical plan of another request.
    fn mark(&self) -> &'static str {
        match (&self.runs.own, &self.runs.same) {
            (Some(_), _) => "✓",
            (None, Some(_)) => "✓=",
            _ => "·",
        }
    }
}

/// Each stage of the request's lifecycle, with what its runs did there. Empty when the
/// lifecycle is no longer in the config.
pub fn stages<'a>(
    ws: &'a Workspace,
    store: &Store,
    r: &RequestRow,
) -> Result<Vec<StageProgress<'a>>, StoreError> {
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
        .map(|s| {
            Ok(StageProgress {
                stage: s,
                env: s.env.clone(),
                runs: store.stage_runs(r, &s.env)?,
            })
        })
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
                !stages.is_empty() && stages.iter().all(StageProgress::done)
            }
            _ => false,
        };
        open += i64::from(!done);
    }
    Ok(open)
}

/// `uat ✓  preprod ·  prod ·`.
pub fn progress_line(stages: &[StageProgress<'_>]) -> String {
    stages
        .iter()
        .map(|s| format!("{} {}", s.env, s.mark()))
        .collect::<Vec<_>>()
        .join("  ")
}

/// The stage before `env`'s that must be passed first, when it is not yet: an approval for
/// `env` given now is "waiting for" it.
pub fn waiting_for<'a>(stages: &'a [StageProgress<'_>], env: &str) -> Option<&'a str> {
    let pos = stages.iter().position(|s| s.env == env)?;
    let stage = &stages[pos];
    (pos > 0 && !stage.done() && stage.stage.require_previous_success && !stages[pos - 1].done())
        .then(|| stages[pos - 1].env.as_str())
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

/// Whether approval `a` was spent by a failed deploy or a rollback on its stage since.
pub fn spent(stage: &StageProgress<'_>, a: &ApprovalRow) -> bool {
    stage.spent_at().is_some_and(|t| a.decided_at <= t)
}

/// The distinct people whose approval of `stage` counts: current (bound to the request as
/// it is), not spent, and members of the stage's group as the group is now (someone
/// removed from it no longer counts).
pub fn approvers<'a>(
    ws: &Workspace,
    stage: &StageProgress<'_>,
    approvals: &'a [ApprovalRow],
) -> Vec<&'a str> {
    let mut out: Vec<&str> = approvals
        .iter()
        .filter(|a| a.current && a.env == stage.env && a.decision == "approved")
        .filter(|a| !spent(stage, a))
        .filter(|a| {
            stage
                .stage
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
    stages: &[StageProgress<'_>],
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
    let Some(stage) = stages.iter().find(|s| !s.done()) else {
        return "done: every stage succeeded".into();
    };
    let given = approvers(ws, stage, approvals).len();
    let needed = stage.stage.approvals as usize;
    if given < needed {
        format!("{} needs {needed} approval(s), {given} given", stage.env)
    } else {
        format!("deploy to {}", stage.env)
    }
}

/// How an approval reads next to the request: spent, waiting for an earlier stage, or void.
pub fn approval_note(stages: &[StageProgress<'_>], a: &ApprovalRow) -> String {
    if !a.current {
        return " (void: given for an earlier plan)".into();
    }
    let Some(stage) = stages.iter().find(|s| s.env == a.env) else {
        return String::new();
    };
    if a.decision != "approved" {
        return String::new();
    }
    if spent(stage, a) {
        return " (spent: a deploy failed or was rolled back there since)".into();
    }
    match waiting_for(stages, &a.env) {
        Some(prev) if !stage.done() => format!(" (waiting for {prev})"),
        _ => String::new(),
    }
}
