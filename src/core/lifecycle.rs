//! Lifecycle rules: where a request stands in its lifecycle — which stages its own plan and
//! package passed, whose approvals count, what comes next. Plain data in, words out; the
//! workflow reads the runs and approvals from the store and asks here.
//!
//! A request's progress is its own: a stage is passed when this request's plan and package
//! succeeded there (or an identical plan, by digest, with the same package, which is said),
//! never because another request deployed the same package with another plan.

use serde::Serialize;

use super::inventory::{Inventory, Stage};

/// What a request's runs did on one stage (the store reads them: `Store::stage_runs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StageRuns {
    /// Its own deploy that succeeded there with its plan and package.
    pub own: Option<i64>,
    /// Else, a deploy of an identical plan (same digest) and the same package, and the
    /// request it belonged to.
    pub same: Option<(i64, Option<i64>)>,
    /// Its last run there.
    pub last: Option<LastRun>,
    /// When its last failed deploy there (one that started a step) ended or its last
    /// rollback there started.
    pub spent_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRun {
    pub id: i64,
    pub kind: String,
    pub state: String,
}

/// One decision on a request for an env that stands: a person's latest for the env and what
/// it was bound to, recorded in the audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    pub env: String,
    pub approver: String,
    pub decision: String,
    pub comment: String,
    pub decided_at: i64,
    /// Whether it is bound to the request as it is now (not to an earlier plan).
    pub current: bool,
    /// The audit event that recorded it.
    pub audit_seq: i64,
}

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
    pub fn mark(&self) -> &'static str {
        match (&self.runs.own, &self.runs.same) {
            (Some(_), _) => "✓",
            (None, Some(_)) => "✓=",
            _ => "·",
        }
    }
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
pub fn members<'a>(inventory: &'a Inventory, group: &str) -> Vec<&'a str> {
    inventory
        .groups
        .iter()
        .find(|g| g.name == group)
        .map(|g| g.members.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

pub fn is_member(inventory: &Inventory, group: &str, user: &str) -> bool {
    members(inventory, group).contains(&user)
}

/// Whether approval `a` was spent by a failed deploy or a rollback on its stage since.
pub fn spent(stage: &StageProgress<'_>, a: &Approval) -> bool {
    stage.spent_at().is_some_and(|t| a.decided_at <= t)
}

/// The distinct people whose approval of `stage` counts: current (bound to the request as
/// it is), not spent, and members of the stage's group as the group is now (someone
/// removed from it no longer counts).
pub fn approvers<'a>(
    inventory: &Inventory,
    stage: &StageProgress<'_>,
    approvals: &'a [Approval],
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
                .is_none_or(|g| is_member(inventory, g, &a.approver))
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
    inventory: &Inventory,
    state: &str,
    blocked: bool,
    stages: &[StageProgress<'_>],
    approvals: &[Approval],
) -> String {
    if state == "draft" {
        return "submit it".into();
    }
    if blocked {
        return "unblock it first".into();
    }
    if matches!(state, "cancelled" | "closed" | "rejected") {
        return format!("nothing: it is {state}");
    }
    let Some(stage) = stages.iter().find(|s| !s.done()) else {
        return "done: every stage succeeded".into();
    };
    let given = approvers(inventory, stage, approvals).len();
    let needed = stage.stage.approvals as usize;
    if given < needed {
        format!("{} needs {needed} approval(s), {given} given", stage.env)
    } else {
        format!("deploy to {}", stage.env)
    }
}

/// How an approval reads next to the request: spent, waiting for an earlier stage, or void.
pub fn approval_note(stages: &[StageProgress<'_>], a: &Approval) -> String {
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
