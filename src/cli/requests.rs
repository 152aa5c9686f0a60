//! `pilote request` and `pilote deploy`: change requests, four-eyes approvals, and deploys
//! that follow the request's lifecycle.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use serde_json::json;

use super::runs::finish_launch;
use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::settings::Workspace;
use crate::store::{NewRequest, RequestRow, Store};
use crate::table;
use crate::workflow::{self, checked, find_request, read_plan, verified_package};

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
    crate::workflow::same_version(&plan, version)?;
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
    errln!(
        "request #{id} filed ({app} {version}, lifecycle {lifecycle}); submit it with `pilote request submit {id}`"
    );
    Ok(())
}

fn progress(ws: &Workspace, store: &Store, r: &RequestRow) -> Result<String> {
    Ok(crate::core::lifecycle::progress_line(
        &store.stage_progress(&ws.inventory, r)?,
    ))
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
    let r = find_request(store, id)?;
    let approvals = store.approvals(id, &r.approval_digest(&ws.catalog_digest))?;
    let stages = store.stage_progress(&ws.inventory, &r)?;
    if json {
        // What the console shows: each stage's runs and approvals, and the next step.
        let progress: Vec<serde_json::Value> = stages
            .iter()
            .map(|s| {
                let mut v = json!(s);
                v["passed"] = json!(s.done());
                v["approvals_needed"] = json!(s.stage.approvals);
                v["approvals_given"] =
                    json!(crate::core::lifecycle::approvers(&ws.inventory, s, &approvals).len());
                v["waiting_for"] = json!(crate::core::lifecycle::waiting_for(&stages, &s.env));
                v
            })
            .collect();
        let notes: Vec<serde_json::Value> = approvals
            .iter()
            .map(|a| {
                let mut v = json!(a);
                v["note"] = json!(
                    crate::core::lifecycle::approval_note(&stages, a)
                        .trim()
                        .trim_matches(['(', ')'])
                );
                v
            })
            .collect();
        outln!(
            "{:#}",
            json!({
                "request": r,
                "approvals": notes,
                "progress": progress,
                "next": crate::workflow::next_step(ws, &r, &stages, &approvals),
            })
        );
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
        crate::core::lifecycle::progress_line(&stages)
    );
    if let Some(why) = &r.blocked {
        outln!("BLOCKED: {why}");
    }
    for (env, at) in store.schedule_of(id)? {
        outln!("  {env} planned for {}", crate::clock::format_ms(at));
    }
    for a in &approvals {
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
            crate::core::lifecycle::approval_note(&stages, a)
        );
    }
    for s in &stages {
        if let (None, Some((run, other))) = (s.runs.own, s.runs.same) {
            outln!(
                "  {} passed by run #{run}{}: the same plan (sha256 {}) and package",
                s.env,
                other
                    .map(|o| format!(" of request #{o}"))
                    .unwrap_or_default(),
                r.plan_digest
            );
        }
    }
    outln!(
        "next: {}",
        crate::workflow::next_step(ws, &r, &stages, &approvals)
    );
    Ok(())
}

/// block (with a reason) / unblock.
pub fn block(ws: &Workspace, store: &mut Store, id: i64, reason: Option<&str>) -> Result<()> {
    let r = find_request(store, id)?;
    crate::workflow::require_person(
        ws,
        store,
        &Actor::current(),
        &format!("request:{id}"),
        if reason.is_some() {
            "request.block"
        } else {
            "request.unblock"
        },
    )?;
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

/// `pilote request schedule`.
pub fn schedule(ws: &Workspace, store: &mut Store, id: i64, env: &str, at: &str) -> Result<()> {
    let when = workflow::schedule(ws, store, id, env, at)?;
    outln!(
        "request #{id}: {env} planned for {}",
        crate::clock::format_ms(when)
    );
    Ok(())
}

pub fn replan(ws: &Workspace, store: &mut Store, id: i64, plan_file: &Path) -> Result<()> {
    let voided = workflow::replan(ws, store, id, plan_file)?;
    outln!("request #{id}: plan replaced; {voided} approval(s) voided");
    Ok(())
}

/// What `pilote deploy` was given.
pub struct Deploy<'a> {
    pub id: i64,
    pub env: &'a str,
    pub override_freeze: Option<&'a str>,
    pub yes: bool,
    /// The env's name typed again (`--confirm-env`), which a protected env needs with `--yes`.
    pub confirm_env: Option<&'a str>,
}

/// `pilote deploy`: the request's plan, on its verified package, once the lifecycle allows.
/// A protected env takes more than a yes: its name, typed (or `--confirm-env` for scripts).
pub fn deploy(ws: Workspace, mut store: Store, d: &Deploy<'_>, follow: bool) -> Result<()> {
    let Deploy {
        id,
        env,
        override_freeze,
        yes,
        confirm_env,
    } = *d;
    let protected = ws.inventory.env(env).is_some_and(|e| e.protected);
    match confirm_env {
        Some(c) if c != env => {
            return Err(Error::BadInput(format!(
                "--confirm-env {c} does not name the env deployed to (--env {env}); nothing started"
            )));
        }
        None if yes && protected => {
            return Err(Error::BadInput(format!(
                "{env} is protected: --yes deploys there only with --confirm-env {env}"
            )));
        }
        _ => {}
    }
    let preview = workflow::prepare_deploy(&ws, &mut store, id, env, override_freeze)?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::BadInput(if protected {
                format!(
                    "deploy needs a confirmation: run it in a terminal, or pass --yes --confirm-env {env}"
                )
            } else {
                "deploy needs a confirmation: run it in a terminal, or pass --yes".into()
            }));
        }
        errln!("{}", preview.text.trim_end());
        let r = &preview.request;
        // Production is told apart by its name, typed: a `yes` comes out of habit.
        let expected = if protected { env } else { "yes" };
        super::output::write_stderr(&format!(
            "Deploy request #{id} ({} {}, package sha256 {}) to {env}? Type `{expected}`{}: ",
            r.app,
            r.version,
            r.package_digest,
            if protected { " (the env's name)" } else { "" }
        ));
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != expected {
            return Err(Error::BadInput("deploy not started".into()));
        }
    }
    let run = workflow::start_deploy(&ws, &mut store, &preview, override_freeze)?;
    finish_launch(ws, store, run, follow)
}

/// `pilote request submit|cancel`.
pub fn transition(ws: &Workspace, store: &mut Store, id: i64, to: &str) -> Result<()> {
    workflow::transition(ws, store, id, to)?;
    outln!("request #{id} {to}");
    Ok(())
}

/// `pilote request approve|reject`.
pub fn decide(
    ws: &Workspace,
    store: &mut Store,
    id: i64,
    env: &str,
    decision: &str,
    comment: &str,
) -> Result<()> {
    workflow::decide(ws, store, id, env, decision, comment, None)?;
    outln!(
        "request #{id}: {decision} for {env} by {}",
        Actor::current().name
    );
    Ok(())
}
