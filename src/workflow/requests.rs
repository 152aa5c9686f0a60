//! Requests as both faces move them on: submit and cancel, four-eyes decisions, and deploys
//! that follow the request's lifecycle (checked, shown, then started).

use serde_json::json;

use super::plans::{checked, known_env, read_plan, render};
use super::runs::{launch, recover_stale, verified_package};
use std::path::Path;

use crate::core::expand::expand;
use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::integrations::webhooks;
use crate::settings::{Lifecycle, Workspace};
use crate::store::{NewRun, PackageRow, RequestRow, RunKind, Store};

/// A deploy that the lifecycle allows, as it is shown before anyone confirms it.
#[derive(Debug, Clone)]
pub struct DeployPreview {
    pub request: RequestRow,
    pub env: String,
    /// The vault package, every blob re-hashed, whose digest is the request's.
    pub package: PackageRow,
    /// The expanded plan for the env, then its derived rollback, listed step by step.
    pub text: String,
    /// The freeze in force on the env, overridden by the reason given.
    pub freeze: Option<String>,
}

/// Checks that request `id` may be deployed to `env` now and lists what would run. A
/// refusal is audited and says why, in words for 3 a.m.; a frozen env needs
/// `override_freeze`, a reason that is recorded when the deploy starts.
pub fn prepare_deploy(
    ws: &Workspace,
    store: &mut Store,
    id: i64,
    env: &str,
    override_freeze: Option<&str>,
) -> Result<DeployPreview> {
    ws.require_sound("a deploy").map_err(Error::BadInput)?;
    known_env(ws, env)?;
    let r = find_request(store, id)?;
    let me = Actor::current();
    if ws.inventory.env(env).is_some_and(|e| e.protected) {
        super::require_person(ws, store, &me, &format!("request:{id}"), "deploy")?;
    }
    let mut why = refusal(ws, store, &r, env)?;
    let freeze = ws
        .inventory
        .env(env)
        .and_then(|e| e.frozen_at(crate::clock::now_ms()));
    let override_reason = override_freeze.map(str::trim).filter(|r| !r.is_empty());
    if why.is_none()
        && let Some(f) = &freeze
        && override_reason.is_none()
    {
        why = Some(format!(
            "{env} is frozen ({}); to deploy anyway, give a reason: --override-freeze \"...\" (it is recorded)",
            f.label
        ));
    }
    if let Some(why) = why {
        store.audit_refusal(&format!("request:{id}"), "deploy", &why, &me)?;
        return Err(Error::BadInput(format!("deploy refused: {why}")));
    }
    if freeze.is_some() {
        super::require_person(
            ws,
            store,
            &me,
            &format!("request:{id}"),
            "deploy.freeze_override",
        )?;
    }
    let package = verified_package(ws, store, &r.app, &r.version)?;
    if package.digest != r.package_digest {
        let why = format!(
            "the vault's {} {} (sha256 {}) is not the package request #{id} was filed with (sha256 {})",
            r.app, r.version, package.digest, r.package_digest
        );
        store.audit_refusal(&format!("request:{id}"), "deploy", &why, &me)?;
        return Err(Error::BadInput(format!("deploy refused: {why}")));
    }
    let source = crate::core::SourceFile::new(
        r.plan_path.clone().unwrap_or_else(|| "plan.toml".into()),
        r.plan_body.clone(),
    );
    let (plan, diags) = checked(ws, &source, Some(env));
    let Some(plan) = plan else {
        return Err(Error::Invalid(diags));
    };
    super::plans::same_version(&plan, &r.version)?;
    // What will run, and what a rollback would run: read before confirming.
    let ctx = ws.plan_context();
    let both = expand(&plan, &ctx, env).and_then(|x| {
        expand(&crate::core::rollback::derive(&plan, None), &ctx, env).map(|back| (x, back))
    });
    let mut text = String::new();
    if let Ok((x, back)) = both {
        render(&mut text, "Deploy plan", &x);
        render(&mut text, "Its rollback", &back);
    }
    Ok(DeployPreview {
        request: r,
        env: env.to_string(),
        package,
        text,
        freeze: freeze.map(|f| f.label.clone()),
    })
}

/// Starts the deploy `shown` to the person; returns the run's id. The confirmation may
/// have taken minutes: a block, a rejection, a new plan or a freeze that came in meanwhile
/// refuses it.
pub fn start_deploy(
    ws: &Workspace,
    store: &mut Store,
    shown: &DeployPreview,
    override_freeze: Option<&str>,
) -> Result<i64> {
    let id = shown.request.id;
    let env = shown.env.as_str();
    let me = Actor::current();
    let now = prepare_deploy(ws, store, id, env, override_freeze)?;
    if now.request.approval_digest(&ws.catalog_digest)
        != shown.request.approval_digest(&ws.catalog_digest)
        || now.package.digest != shown.package.digest
    {
        let why = format!("request #{id} changed since the deploy was shown; look again");
        store.audit_refusal(&format!("request:{id}"), "deploy", &why, &me)?;
        return Err(Error::BadInput(format!("deploy refused: {why}")));
    }
    let r = &now.request;
    // Recorded once the deploy is decided, not when it was only asked about.
    if let (Some(label), Some(reason)) = (
        &now.freeze,
        override_freeze.map(str::trim).filter(|r| !r.is_empty()),
    ) {
        store.audit_override(
            &format!("request:{id}"),
            "deploy.freeze_overridden",
            &json!({ "env": env, "freeze": label, "reason": reason }),
            &me,
        )?;
    }
    recover_stale(ws, store, &r.app, env)?;
    super::runs::enough_space(ws)?;
    let run = store.create_run(&NewRun {
        kind: RunKind::Deploy,
        app: &r.app,
        env,
        plan_body: &r.plan_body,
        plan_path: r.plan_path.as_deref(),
        rollback_of: None,
        package_dir: None,
        package_digest: Some(&now.package.digest),
        request_id: Some(id),
        artifacts: &now.package.artifacts,
        config: &ws.snapshot,
        reason: None,
        actor: &me,
    })?;
    store.set_request_state(id, "deploying", &me, &json!({ "env": env, "run": run }))?;
    launch(ws, store, run)?;
    Ok(run)
}

pub fn find_request(store: &Store, id: i64) -> Result<RequestRow> {
    store
        .request(id)?
        .ok_or_else(|| Error::BadInput(format!("no request #{id}")))
}

pub fn lifecycle<'a>(ws: &'a Workspace, r: &RequestRow) -> Result<&'a Lifecycle> {
    ws.inventory
        .lifecycles
        .iter()
        .find(|l| l.name == r.lifecycle)
        .ok_or_else(|| {
            Error::BadInput(format!(
                "request #{}: lifecycle `{}` is no longer in lifecycles.toml",
                r.id, r.lifecycle
            ))
        })
}

/// Submits (`submitted`) or cancels (`cancelled`) request `id`.
pub fn transition(ws: &Workspace, store: &mut Store, id: i64, to: &str) -> Result<()> {
    ws.require_sound(&format!("moving request #{id} to {to}"))
        .map_err(Error::BadInput)?;
    let r = find_request(store, id)?;
    let allowed = match to {
        "submitted" => r.state == "draft",
        "cancelled" => !matches!(r.state.as_str(), "deploying" | "cancelled" | "closed"),
        _ => false,
    };
    if !allowed {
        return Err(Error::BadInput(format!(
            "request #{id} is {}; it cannot become {to}",
            r.state
        )));
    }
    store.set_request_state(id, to, &Actor::current(), &json!({ "from": r.state }))?;
    webhooks::kick(ws, store);
    Ok(())
}

/// approve / reject (`shown`: the approval digest of what the person was shown, if known), for one env of the request's lifecycle. Never by the requester, nor by
/// whoever last replaced the plan (four eyes); refusals are audited too.
pub fn decide(
    ws: &Workspace,
    store: &mut Store,
    id: i64,
    env: &str,
    decision: &str,
    comment: &str,
    shown: Option<&str>,
) -> Result<()> {
    ws.require_sound("an approval or rejection")
        .map_err(Error::BadInput)?;
    known_env(ws, env)?;
    let r = find_request(store, id)?;
    let me = Actor::current();
    let refuse = |store: &mut Store, why: String| -> Result<()> {
        store.audit_refusal(&format!("request:{id}"), "request.approval", &why, &me)?;
        Err(Error::BadInput(why))
    };
    // A decision is about what the person read: if the plan, the package or the
    // automations changed while they read and typed, it would count for something unread.
    if shown.is_some_and(|d| d != r.approval_digest(&ws.catalog_digest)) {
        return refuse(
            store,
            format!(
                "request #{id} changed since it was shown (its plan, package or automations); \
                 look at it again, then decide"
            ),
        );
    }
    super::require_person(ws, store, &me, &format!("request:{id}"), "request.approval")?;
    if me.name == r.created_by {
        return refuse(
            store,
            format!(
                "you ({}) filed request #{id}: someone else must {} (four eyes)",
                me.name,
                if decision == "approved" {
                    "approve it"
                } else {
                    "decide on it"
                }
            ),
        );
    }
    if me.name == r.plan_by {
        return refuse(
            store,
            format!(
                "you ({}) wrote the plan of request #{id}: someone else must {} (four eyes)",
                me.name,
                if decision == "approved" {
                    "approve it"
                } else {
                    "decide on it"
                }
            ),
        );
    }
    if let Some(why) = state_refusal(store, &r, "approved")? {
        return Err(Error::BadInput(why));
    }
    let l = lifecycle(ws, &r)?;
    let Some(stage) = l.stages.iter().find(|s| s.env == env) else {
        let envs: Vec<&str> = l.stages.iter().map(|s| s.env.as_str()).collect();
        return Err(Error::BadInput(format!(
            "`{env}` is not a stage of lifecycle `{}` ({})",
            r.lifecycle,
            envs.join(" → ")
        )));
    };
    if let Some(group) = &stage.approvers
        && !crate::core::lifecycle::is_member(&ws.inventory, group, &me.name)
    {
        return refuse(
            store,
            format!(
                "only members of group `{group}` ({}) approve {env} in lifecycle `{}`; you are {}",
                crate::core::lifecycle::members(&ws.inventory, group).join(", "),
                r.lifecycle,
                me.name
            ),
        );
    }
    store.decide(
        id,
        env,
        decision,
        comment,
        &r.approval_digest(&ws.catalog_digest),
        &me,
    )?;
    webhooks::kick(ws, store);
    Ok(())
}

/// Why a request in its current state cannot be `what` (approved, deployed), and what to
/// do instead; `None` when its state allows it.
fn state_refusal(store: &Store, r: &RequestRow, what: &str) -> Result<Option<String>> {
    let id = r.id;
    Ok(match r.state.as_str() {
        "submitted" | "deployed" | "failed" | "rolled_back" => None,
        "draft" => Some(format!(
            "request #{id} is a draft; submit it first: `pilote request submit {id}`"
        )),
        "deploying" => {
            // Name the run, whatever became of it: running, or interrupted and waiting for
            // someone to resume it or roll it back.
            let run = store
                .runs(Some(&r.app), None, 200)?
                .into_iter()
                .find(|run| store.run_request(run.id).ok().flatten() == Some(id));
            Some(match run {
                Some(run) if run.state == "interrupted" => format!(
                    "request #{id} is being deployed by run #{}, which was interrupted: \
                     `pilote resume {}` or `pilote rollback {} --env {}` first",
                    run.id, run.id, r.app, run.env
                ),
                Some(run) => format!(
                    "request #{id} is being deployed by run #{} on {} ({}); `pilote logs {} --follow`",
                    run.id, run.env, run.state, run.id
                ),
                None => format!("request #{id} is being deployed"),
            })
        }
        other => Some(format!(
            "request #{id} is {other}: it cannot be {what} any more; file a new request"
        )),
    })
}

/// Why a request may not be deployed to `env` now, in words for 3 a.m.; `None` if it may.
fn refusal(ws: &Workspace, store: &Store, r: &RequestRow, env: &str) -> Result<Option<String>> {
    if let Some(why) = &r.blocked {
        return Ok(Some(format!(
            "request #{} is blocked ({why}); `pilote request unblock {}` lets it go on",
            r.id, r.id
        )));
    }
    if let Some(why) = state_refusal(store, r, "deployed")? {
        return Ok(Some(why));
    }
    let l = lifecycle(ws, r)?;
    if !l.stages.iter().any(|s| s.env == env) {
        let envs: Vec<&str> = l.stages.iter().map(|s| s.env.as_str()).collect();
        return Ok(Some(format!(
            "`{env}` is not a stage of lifecycle `{}` ({})",
            r.lifecycle,
            envs.join(" → ")
        )));
    };
    let progress = store.stage_progress(&ws.inventory, r)?;
    let Some(stage) = progress.iter().find(|s| s.env == env) else {
        return Ok(None);
    };
    if let Some(prev) = crate::core::lifecycle::waiting_for(&progress, env) {
        return Ok(Some(format!(
            "request #{} has not succeeded on {prev} yet: its plan (sha256 {}) and package must pass {prev} before {env} (lifecycle `{}`); \
             deploy it there first: `pilote deploy {} --env {prev}`",
            r.id,
            short(&r.plan_digest),
            r.lifecycle,
            r.id
        )));
    }
    let approvals = store.approvals(r.id, &r.approval_digest(&ws.catalog_digest))?;
    if let Some(no) = approvals
        .iter()
        .find(|a| a.current && a.env == env && a.decision == "rejected")
    {
        return Ok(Some(format!(
            "{} rejected request #{} for {env}{}",
            no.approver,
            r.id,
            if no.comment.is_empty() {
                String::new()
            } else {
                format!(": {}", no.comment)
            }
        )));
    }
    let approvers = crate::core::lifecycle::approvers(&ws.inventory, stage, &approvals);
    let needed = stage.stage.approvals as usize;
    if approvers.len() < needed {
        let mine = |a: &&crate::core::lifecycle::Approval| a.env == env && a.decision == "approved";
        let stale = approvals.iter().filter(mine).filter(|a| !a.current).count();
        let spent = approvals
            .iter()
            .filter(mine)
            .filter(|a| a.current && crate::core::lifecycle::spent(stage, a))
            .count();
        let mut notes = Vec::new();
        if stale > 0 {
            notes.push(format!(
                "{stale} more were given for an earlier plan or automations and no longer count"
            ));
        }
        if spent > 0 {
            notes.push(format!(
                "{spent} given before the last failed deploy or rollback on {env} are spent: approve again"
            ));
        }
        return Ok(Some(format!(
            "{env} needs {needed} approval(s) of request #{}, it has {}{}; ask: `pilote request approve {} --env {env}`",
            r.id,
            approvers.len(),
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            },
            r.id
        )));
    }
    Ok(None)
}

/// The first 12 hex digits of a digest: enough to tell plans apart in a sentence.
fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// Plans the date of request `id`'s deploy to `env` (local time, "YYYY-MM-DD[ HH:MM]");
/// returns it in ms.
pub fn schedule(ws: &Workspace, store: &mut Store, id: i64, env: &str, at: &str) -> Result<i64> {
    ws.require_sound("scheduling a deploy")
        .map_err(Error::BadInput)?;
    let r = find_request(store, id)?;
    let l = lifecycle(ws, &r)?;
    if !l.stages.iter().any(|s| s.env == env) {
        return Err(Error::BadInput(format!(
            "`{env}` is not a stage of lifecycle `{}`",
            r.lifecycle
        )));
    }
    let when = crate::clock::parse_local(at).ok_or_else(|| {
        Error::BadInput(format!(
            "`{at}` is not a date; expected \"YYYY-MM-DD\" or \"YYYY-MM-DD HH:MM\" (local time)"
        ))
    })?;
    // A date alone means that day: today is not the past yet.
    let day = if at.trim().len() <= 10 { 86_400_000 } else { 0 };
    if when + day < crate::clock::now_ms() {
        return Err(Error::BadInput(format!(
            "{} is in the past; give a date to come",
            crate::clock::format_ms(when)
        )));
    }
    store.schedule(id, env, when, &Actor::current())?;
    Ok(when)
}

/// Replaces the plan of request `id` with `plan_file`; returns the approvals voided.
pub fn replan(ws: &Workspace, store: &mut Store, id: i64, plan_file: &Path) -> Result<usize> {
    ws.require_sound("a new plan").map_err(Error::BadInput)?;
    let r = find_request(store, id)?;
    let source = read_plan(ws, plan_file)?;
    let (plan, diags) = checked(ws, &source, None);
    let Some(plan) = plan else {
        return Err(Error::Invalid(diags));
    };
    if plan.app != r.app {
        return Err(Error::BadInput(format!(
            "{} is a plan of app `{}`, not `{}`",
            source.path.display(),
            plan.app,
            r.app
        )));
    }
    let path = source.path.display().to_string();
    let voided = store.replace_plan(id, &source.text, Some(&path), &r.app, &Actor::current())?;
    webhooks::kick(ws, store);
    Ok(voided)
}
