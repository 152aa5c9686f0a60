//! `pilote request` and `pilote deploy`: change requests, four-eyes approvals, and deploys
//! that follow the request's lifecycle.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use serde_json::json;

use super::plan::{checked, known_env, read_plan};
use super::runs::{finish_launch, launch, recover_stale, verified_package};
use super::table;
use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::settings::{Lifecycle, Workspace};
use crate::store::{NewRequest, NewRun, RequestRow, RunKind, Store};

/// What `pilote request new` was given.
pub struct Filing<'a> {
    pub app: &'a str,
    pub version: &'a str,
    pub plan: &'a Path,
    pub kind: &'a str,
    pub lifecycle: Option<&'a str>,
    pub title: Option<&'a str>,
}

/// `pilote request new`: binds a vault package, a checked plan and a lifecycle.
pub fn new(ws: &Workspace, store: &mut Store, f: &Filing<'_>) -> Result<()> {
    let Filing {
        app,
        version,
        plan: plan_file,
        kind,
        lifecycle,
        title,
    } = *f;
    let Some(app_def) = ws.inventory.app(app) else {
        return Err(Error::BadInput(format!("no app `{app}` in the inventory")));
    };
    // By rule: the first of the app's lifecycles that lists the kind, else its first one.
    let by_rule = app_def
        .lifecycles
        .iter()
        .find(|l| {
            ws.inventory
                .lifecycles
                .iter()
                .any(|x| &x.name == *l && x.kinds.iter().any(|k| k == kind))
        })
        .or_else(|| app_def.lifecycles.first())
        .cloned()
        .ok_or_else(|| Error::BadInput(format!("app `{app}` has no lifecycle")))?;
    let lifecycle = match lifecycle {
        Some(l) if app_def.lifecycles.iter().any(|x| x == l) => l.to_string(),
        Some(l) => {
            return Err(Error::BadInput(format!(
                "app `{app}` does not follow lifecycle `{l}`; expected one of: {}",
                app_def.lifecycles.join(", ")
            )));
        }
        None => by_rule.clone(),
    };
    let package = verified_package(ws, store, app, version)?;
    let source = read_plan(ws, plan_file)?;
    let (plan, diags) = checked(ws, &source, None);
    let Some(plan) = plan else {
        return Err(Error::Invalid(diags));
    };
    if plan.app != app {
        return Err(Error::BadInput(format!(
            "{} is a plan of app `{}`, not `{app}`",
            source.path.display(),
            plan.app
        )));
    }
    let path = source.path.display().to_string();
    let title = title.map_or_else(|| format!("{app} {version}"), str::to_string);
    let id = store.create_request(&NewRequest {
        app,
        version,
        package_digest: &package.digest,
        lifecycle: &lifecycle,
        kind,
        lifecycle_by_rule: &by_rule,
        title: &title,
        plan_body: &source.text,
        plan_path: Some(&path),
        actor: &Actor::current(),
    })?;
    outln!("{id}");
    eprintln!(
        "request #{id} filed ({app} {version}, lifecycle {lifecycle}); submit it with `pilote request submit {id}`"
    );
    Ok(())
}

fn find(store: &Store, id: i64) -> Result<RequestRow> {
    store
        .request(id)?
        .ok_or_else(|| Error::BadInput(format!("no request #{id}")))
}

fn lifecycle<'a>(ws: &'a Workspace, r: &RequestRow) -> Result<&'a Lifecycle> {
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

fn progress(ws: &Workspace, store: &Store, r: &RequestRow) -> Result<String> {
    Ok(crate::workflow::progress_line(&crate::workflow::stages(
        ws, store, r,
    )?))
}

pub fn list(ws: &Workspace, store: &Store, json: bool) -> Result<()> {
    let rows = store.requests(None)?;
    if json {
        outln!("{:#}", json!({ "requests": rows }));
        return Ok(());
    }
    let mut table_rows = Vec::new();
    for r in &rows {
        table_rows.push(vec![
            r.id.to_string(),
            r.app.clone(),
            r.version.clone(),
            r.state.clone(),
            progress(ws, store, r)?,
            r.created_by.clone(),
            r.title.clone(),
        ]);
    }
    outln!(
        "{}",
        table::render(
            &[
                "REQUEST",
                "APP",
                "VERSION",
                "STATE",
                "LIFECYCLE",
                "BY",
                "TITLE"
            ],
            &table_rows
        )
        .trim_end()
    );
    Ok(())
}

pub fn show(ws: &Workspace, store: &Store, id: i64, json: bool) -> Result<()> {
    let r = find(store, id)?;
    let approvals = store.approvals(id, &r.approval_digest(&ws.catalog_digest))?;
    if json {
        outln!("{:#}", json!({ "request": r, "approvals": approvals }));
        return Ok(());
    }
    outln!(
        "request #{} {}: {} {} ({})\nfiled by {} at {}; plan {} (sha256 {}), package sha256 {}\nlifecycle {}: {}",
        r.id,
        r.state,
        r.app,
        r.version,
        r.title,
        r.created_by,
        crate::clock::format_ms(r.created_at),
        r.plan_path.as_deref().unwrap_or("-"),
        r.plan_digest,
        r.package_digest,
        r.lifecycle,
        progress(ws, store, &r)?
    );
    if let Some(why) = &r.blocked {
        outln!("BLOCKED: {why}");
    }
    for (env, at) in store.schedule_of(id)? {
        outln!("  {env} planned for {}", crate::clock::format_ms(at));
    }
    for a in approvals {
        outln!(
            "  {} {} by {} at {}{}{}",
            a.env,
            a.decision,
            a.approver,
            crate::clock::format_ms(a.decided_at),
            if a.comment.is_empty() {
                String::new()
            } else {
                format!(": {}", a.comment)
            },
            if a.current {
                ""
            } else {
                " (void: given for an earlier plan)"
            }
        );
    }
    Ok(())
}

/// block (with a reason) / unblock.
pub fn block(store: &mut Store, id: i64, reason: Option<&str>) -> Result<()> {
    let r = find(store, id)?;
    if let Some(reason) = reason
        && reason.trim().is_empty()
    {
        return Err(Error::BadInput(
            "say why the request is blocked: --reason \"...\"".into(),
        ));
    }
    if reason.is_none() && r.blocked.is_none() {
        return Err(Error::BadInput(format!("request #{id} is not blocked")));
    }
    store.set_blocked(id, reason, &Actor::current())?;
    outln!(
        "request #{id} {}",
        if reason.is_some() {
            "blocked"
        } else {
            "unblocked"
        }
    );
    Ok(())
}

/// Plans the date of a request's deploy to one env of its lifecycle.
pub fn schedule(ws: &Workspace, store: &mut Store, id: i64, env: &str, at: &str) -> Result<()> {
    let r = find(store, id)?;
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
    store.schedule(id, env, when, &Actor::current())?;
    outln!(
        "request #{id}: {env} planned for {}",
        crate::clock::format_ms(when)
    );
    Ok(())
}

/// submit / cancel.
pub fn transition(store: &mut Store, id: i64, to: &str) -> Result<()> {
    let r = find(store, id)?;
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
    outln!("request #{id} {to}");
    Ok(())
}

/// approve / reject, for one env of the request's lifecycle. Never by the requester, nor by
/// whoever last replaced the plan (four eyes); refusals are audited too.
pub fn decide(
    ws: &Workspace,
    store: &mut Store,
    id: i64,
    env: &str,
    decision: &str,
    comment: &str,
) -> Result<()> {
    known_env(ws, env)?;
    let r = find(store, id)?;
    let me = Actor::current();
    let refuse = |store: &mut Store, why: String| -> Result<()> {
        store.audit_refusal(&format!("request:{id}"), "request.approval", &why, &me)?;
        Err(Error::BadInput(why))
    };
    if me.uncertain {
        return refuse(
            store,
            format!(
                "cannot tell who you are: SUDO_UID is set, but pilote was not started by sudo itself \
                 (run `sudo -u {} pilote ...` directly, not from a shell sudo opened)",
                me.name
            ),
        );
    }
    if me.name == r.created_by {
        return refuse(
            store,
            format!(
                "you ({}) filed request #{id}: someone else must approve it (four eyes)",
                me.name
            ),
        );
    }
    if me.name == r.plan_by {
        return refuse(
            store,
            format!(
                "you ({}) wrote the plan of request #{id}: someone else must approve it (four eyes)",
                me.name
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
        && !crate::workflow::is_member(ws, group, &me.name)
    {
        return refuse(
            store,
            format!(
                "only members of group `{group}` ({}) approve {env} in lifecycle `{}`; you are {}",
                crate::workflow::members(ws, group).join(", "),
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
    outln!("request #{id}: {decision} for {env} by {}", me.name);
    Ok(())
}

pub fn replan(ws: &Workspace, store: &mut Store, id: i64, plan_file: &Path) -> Result<()> {
    let r = find(store, id)?;
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
    outln!("request #{id}: plan replaced; {voided} approval(s) voided");
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
    let Some(pos) = l.stages.iter().position(|s| s.env == env) else {
        let envs: Vec<&str> = l.stages.iter().map(|s| s.env.as_str()).collect();
        return Ok(Some(format!(
            "`{env}` is not a stage of lifecycle `{}` ({})",
            r.lifecycle,
            envs.join(" → ")
        )));
    };
    let stage = &l.stages[pos];
    if pos > 0 && stage.require_previous_success {
        let prev = &l.stages[pos - 1].env;
        if !store.deployed_ok(&r.app, prev, &r.package_digest)? {
            return Ok(Some(format!(
                "{} {} has not succeeded on {prev} yet (lifecycle `{}`: {prev} before {env}, same package); \
                 deploy it there first: `pilote deploy {} --env {prev}`",
                r.app, r.version, r.lifecycle, r.id
            )));
        }
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
    let approvers = crate::workflow::approvers(ws, stage, &approvals);
    let needed = stage.approvals as usize;
    if approvers.len() < needed {
        let stale = approvals
            .iter()
            .filter(|a| !a.current && a.env == env)
            .count();
        return Ok(Some(format!(
            "{env} needs {needed} approval(s) of request #{}, it has {}{}; ask: `pilote request approve {} --env {env}`",
            r.id,
            approvers.len(),
            if stale > 0 {
                format!(
                    " ({stale} more were given for an earlier plan or automations and no longer count)"
                )
            } else {
                String::new()
            },
            r.id
        )));
    }
    Ok(None)
}

/// `pilote deploy`: the request's plan, on its verified package, once the lifecycle allows.
pub fn deploy(
    ws: Workspace,
    mut store: Store,
    id: i64,
    env: &str,
    override_freeze: Option<&str>,
    yes: bool,
    follow: bool,
) -> Result<()> {
    known_env(&ws, env)?;
    let r = find(&store, id)?;
    let me = Actor::current();
    let mut why = refusal(&ws, &store, &r, env)?;
    let freeze = ws
        .inventory
        .env(env)
        .and_then(|e| e.frozen_at(crate::clock::now_ms()));
    let override_reason = override_freeze.map(str::trim).filter(|r| !r.is_empty());
    if why.is_none()
        && let Some(f) = freeze
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
    let package = verified_package(&ws, &store, &r.app, &r.version)?;
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
    let (plan, diags) = checked(&ws, &source, Some(env));
    let Some(plan) = plan else {
        return Err(Error::Invalid(diags));
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::BadInput(
                "deploy needs a confirmation: run it in a terminal, or pass --yes".into(),
            ));
        }
        // What will run, and what a rollback would run: read before typing yes.
        let ctx = ws.plan_context();
        let both = crate::core::expand::expand(&plan, &ctx, env).and_then(|x| {
            crate::core::expand::expand(&crate::core::rollback::derive(&plan, None), &ctx, env)
                .map(|back| (x, back))
        });
        if let Ok((x, back)) = both {
            let mut text = String::new();
            super::plan::render(&mut text, "Deploy plan", &x);
            super::plan::render(&mut text, "Its rollback", &back);
            eprintln!("{}", text.trim_end());
        }
        eprint!(
            "Deploy request #{id} ({} {}, package sha256 {}) to {env}? Type `yes`: ",
            r.app, r.version, r.package_digest
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != "yes" {
            return Err(Error::BadInput("deploy not started".into()));
        }
    }
    // The answer may have taken minutes: a block, a rejection or a freeze may have come in
    // meanwhile. Check again just before the run is created.
    if !yes {
        let r = find(&store, id)?;
        let frozen = ws
            .inventory
            .env(env)
            .and_then(|e| e.frozen_at(crate::clock::now_ms()))
            .filter(|_| override_reason.is_none())
            .map(|f| format!("{env} is frozen ({}) since the question was asked", f.label));
        if let Some(why) = frozen.or(refusal(&ws, &store, &r, env)?) {
            store.audit_refusal(&format!("request:{id}"), "deploy", &why, &me)?;
            return Err(Error::BadInput(format!("deploy refused: {why}")));
        }
    }
    // Recorded once the deploy is decided, not when it was only asked about.
    if let (Some(f), Some(reason)) = (freeze, override_reason) {
        store.audit_override(
            &format!("request:{id}"),
            "deploy.freeze_overridden",
            &json!({ "env": env, "freeze": f.label, "reason": reason }),
            &me,
        )?;
    }
    recover_stale(&ws, &mut store, &r.app, env)?;
    let actor = me;
    let run = store.create_run(&NewRun {
        kind: RunKind::Deploy,
        app: &r.app,
        env,
        plan_body: &r.plan_body,
        plan_path: r.plan_path.as_deref(),
        rollback_of: None,
        package_dir: None,
        package_digest: Some(&package.digest),
        request_id: Some(id),
        artifacts: &package.artifacts,
        actor: &actor,
    })?;
    store.set_request_state(id, "deploying", &actor, &json!({ "env": env, "run": run }))?;
    launch(&ws, &mut store, run)?;
    finish_launch(ws, store, run, follow)
}
