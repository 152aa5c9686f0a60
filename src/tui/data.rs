//! What the console shows from the store, read a page at a time (never whole tables) by a
//! worker, then handed to the loop as one [`Data`].

use crate::settings::Workspace;
use crate::store::{RunProgress, RunRow, Store, StoreError, Summary};

/// Rows per list: a screen's worth, whatever the history holds.
const PAGE: i64 = 100;

/// One request as the Requests pane lists it.
#[derive(Debug, Clone)]
pub struct RequestLine {
    pub id: i64,
    pub app: String,
    pub version: String,
    pub title: String,
    pub state: String,
    /// The lifecycle's envs, each with whether this package succeeded there.
    pub stages: Vec<(String, bool)>,
    pub by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub lifecycle: String,
    pub package_digest: String,
    /// What an approval is bound to (plan, package, automations): a decision taken on
    /// this line is refused if it changed since.
    pub digest: String,
    pub plan_path: Option<String>,
    pub blocked: Option<String>,
    /// Decisions that still count, as "uat: approved by alice at 2026-11-23 17:10 (comment)".
    pub approvals: Vec<String>,
    /// What comes next, in words: "deploy to preprod", "preprod needs 1 approval (0 given)".
    pub next: String,
}

impl RequestLine {
    /// `uat ✓  preprod ·  prod ·`.
    pub fn progress(&self) -> String {
        self.stages
            .iter()
            .map(|(env, done)| format!("{env} {}", if *done { "✓" } else { "·" }))
            .collect::<Vec<_>>()
            .join("  ")
    }

    /// The first env of the lifecycle this package has not succeeded on: where deploy and
    /// approve act.
    pub fn next_env(&self) -> Option<&str> {
        self.stages
            .iter()
            .find(|(_, done)| !done)
            .map(|(env, _)| env.as_str())
    }
}

/// One run as the Runs pane lists it.
#[derive(Debug, Clone)]
pub struct RunLine {
    pub row: RunRow,
    pub progress: RunProgress,
}

/// What is read for the picked request only: too costly for every line of the list.
#[derive(Debug, Clone, Default)]
pub struct RequestDetail {
    pub id: i64,
    /// The plan's actions, in order, as "id: automation".
    pub plan: Vec<String>,
    /// The last audit events about the request, newest first.
    pub audit: Vec<String>,
    /// Planned deploy dates, as "prod: 2030-01-15 22:00:00".
    pub schedule: Vec<String>,
}

/// The store's part of the screen.
#[derive(Debug, Clone, Default)]
pub struct Data {
    pub requests: Vec<RequestLine>,
    pub detail: Option<RequestDetail>,
    pub runs: Vec<RunLine>,
    /// The plan files of the workspace (`plans/*.toml`), for the palette.
    pub plans: Vec<String>,
    /// The step runs of the run picked in the Runs pane.
    pub steps: Option<(i64, Vec<crate::store::StepRunRow>)>,
    pub summary: Summary,
}

/// Reads the lists, and the details of request `picked`.
pub fn load(ws: &Workspace, store: &Store, picked: Option<i64>) -> Result<Data, StoreError> {
    let mut requests = Vec::new();
    for r in store.requests_page(None, PAGE)? {
        let current: Vec<_> = store
            .approvals(r.id, &r.approval_digest(&ws.catalog_digest))?
            .into_iter()
            .filter(|a| a.current)
            .collect();
        // One read of the stages for both the progress line and the next step.
        let stages = store.stage_progress(&ws.inventory, &r)?;
        let next = crate::workflow::next_step(ws, &r, &stages, &current);
        requests.push(RequestLine {
            stages: stages.iter().map(|s| (s.env.clone(), s.done())).collect(),
            lifecycle: r.lifecycle.clone(),
            package_digest: r.package_digest.clone(),
            digest: r.approval_digest(&ws.catalog_digest),
            plan_path: r.plan_path.clone(),
            blocked: r.blocked.clone(),
            approvals: current
                .iter()
                .map(|a| {
                    format!(
                        "{}: {} by {} at {}{}",
                        a.env,
                        a.decision,
                        a.approver,
                        crate::clock::format_ms(a.decided_at)
                            .get(..16)
                            .unwrap_or_default(),
                        if a.comment.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", a.comment)
                        }
                    ) + &crate::core::lifecycle::approval_note(&stages, a)
                })
                .collect(),
            next,
            id: r.id,
            title: r.title.clone(),
            // Blocked says more than the state it is stuck in.
            state: if r.blocked.is_some() {
                "blocked".to_string()
            } else {
                r.state
            },
            app: r.app,
            version: r.version,
            by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        });
    }
    let mut runs = Vec::new();
    for mut row in store.runs(None, None, PAGE)? {
        // A run whose runner is gone is shown as what it is (as `pilote runs` does), without
        // writing from a read: resuming or rolling back records it.
        if crate::workflow::runner_gone(ws, &row) {
            row.state = "interrupted".into();
        }
        // Past durations only matter for a run still going (its ETA).
        let live = !crate::store::is_finished(&row.state);
        let progress = store.run_progress(row.id, live)?;
        runs.push(RunLine { row, progress });
    }
    let detail = match picked.and_then(|id| store.request(id).transpose()) {
        Some(r) => Some(detail(ws, store, &r?)?),
        None => None,
    };
    Ok(Data {
        requests,
        detail,
        runs,
        plans: plan_files(ws),
        steps: None,
        summary: store.summary()?,
    })
}

fn detail(
    ws: &Workspace,
    store: &Store,
    r: &crate::store::RequestRow,
) -> Result<RequestDetail, StoreError> {
    let source = crate::core::SourceFile::new(
        r.plan_path.clone().unwrap_or_else(|| "plan.toml".into()),
        r.plan_body.clone(),
    );
    let plan = crate::core::plan::check(&source, &ws.plan_context(), None)
        .0
        .map(|p| {
            p.actions
                .iter()
                .map(|a| format!("{}: {}", a.id, a.uses))
                .collect()
        })
        .unwrap_or_default();
    let audit = store
        .audit_of(&format!("request:{}", r.id), 5)?
        .into_iter()
        .map(|e| {
            format!(
                "{}  {:<22} {}",
                crate::clock::format_ms(e.at),
                e.action,
                e.actor
            )
        })
        .collect();
    let schedule = store
        .schedule_of(r.id)?
        .into_iter()
        .map(|(env, at)| format!("{env}: {}", crate::clock::format_ms(at)))
        .collect();
    Ok(RequestDetail {
        id: r.id,
        plan,
        audit,
        schedule,
    })
}

/// `plans/*.toml` of the config dir, sorted (a missing dir is no plan).
fn plan_files(ws: &Workspace) -> Vec<String> {
    let mut plans: Vec<String> = std::fs::read_dir(ws.config_dir.join("plans"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".toml"))
                .map(|n| format!("plans/{n}"))
                .collect()
        })
        .unwrap_or_default();
    plans.sort();
    plans
}
