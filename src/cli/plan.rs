//! `pilote plan check|show` and `pilote automation list|show`.

use std::path::Path;

use serde_json::json;

use super::args::{AutomationCommand, PlanCommand};
use crate::core::automation::Automation;
use crate::core::expand::expand;
use crate::core::plan;
use crate::core::rollback;
use crate::error::{Error, Result};
use crate::settings::Workspace;
use crate::table;
use crate::workflow::{checked, known_env, read_plan, render};

pub fn plan(ws: &Workspace, command: PlanCommand) -> Result<()> {
    match command {
        PlanCommand::Check {
            file,
            env,
            strict,
            json,
        } => check(ws, &file, env.as_deref(), strict, json),
        PlanCommand::Show { file, env, json } => show(ws, &file, &env, json),
    }
}

fn check(ws: &Workspace, path: &Path, env: Option<&str>, strict: bool, json: bool) -> Result<()> {
    if let Some(e) = env {
        known_env(ws, e)?;
    }
    let file = read_plan(ws, path)?;
    let (plan, diags) = checked(ws, &file, env);
    let envs = match (&plan, env) {
        (_, Some(e)) => vec![e.to_string()],
        (Some(p), None) => plan::lifecycle_envs(p, &ws.inventory),
        (None, None) => Vec::new(),
    };
    let rollback_len = plan
        .as_ref()
        .map(|p| rollback::derive(p, None).actions.len());
    if json && plan.is_some() && !(strict && diags.warning_count() > 0) {
        outln!(
            "{:#}",
            json!({
                "ok": true,
                "file": file.path,
                "envs": envs,
                "actions": plan.as_ref().map(|p| p.actions.len()),
                "rollback_actions": rollback_len,
                "errors": diags.error_count(),
                "warnings": diags.warning_count(),
                "diagnostics": diags,
            })
        );
    }
    match plan {
        None => Err(Error::Invalid(diags)),
        Some(_) if strict && diags.warning_count() > 0 => Err(Error::Warnings(diags)),
        Some(p) => {
            if !json {
                if !diags.is_empty() {
                    errln!("{diags}");
                }
                outln!(
                    "{}: ok, {} action{} and a rollback of {}, checked for {}",
                    file.path.display(),
                    p.actions.len(),
                    if p.actions.len() == 1 { "" } else { "s" },
                    rollback_len.unwrap_or(0),
                    if envs.is_empty() {
                        "no environment".to_string()
                    } else {
                        envs.join(", ")
                    }
                );
            }
            Ok(())
        }
    }
}

fn show(ws: &Workspace, path: &Path, env: &str, json: bool) -> Result<()> {
    known_env(ws, env)?;
    let file = read_plan(ws, path)?;
    let (plan, diags) = checked(ws, &file, Some(env));
    let Some(plan) = plan else {
        return Err(Error::Invalid(diags));
    };
    if !diags.is_empty() {
        errln!("{diags}");
    }
    let ctx = ws.plan_context();
    let rollback_plan = rollback::derive(&plan, None);
    // Both were expanded by the check above, so these succeed; map defensively all the same.
    let fail = |_| Error::BadInput(format!("plan cannot be expanded on `{env}`"));
    let forward = expand(&plan, &ctx, env).map_err(fail)?;
    let backward = expand(&rollback_plan, &ctx, env).map_err(fail)?;
    if json {
        outln!(
            "{:#}",
            json!({ "app": plan.app, "env": env, "description": plan.description, "plan": forward, "rollback": backward })
        );
        return Ok(());
    }
    let mut out = String::new();
    out.push_str(&format!(
        "{} — app {} on {env}{}\n",
        if plan.description.is_empty() {
            file.path.display().to_string()
        } else {
            plan.description.clone()
        },
        plan.app,
        plan.lifecycle
            .as_ref()
            .map(|l| format!(" ({l} lifecycle)"))
            .unwrap_or_default()
    ));
    render(&mut out, "Plan", &forward);
    render(&mut out, "Rollback plan", &backward);
    outln!("{}", out.trim_end());
    Ok(())
}

pub fn automation(ws: &Workspace, command: AutomationCommand) -> Result<()> {
    match command {
        AutomationCommand::List { json } => {
            let cat = &ws.catalog;
            if json {
                outln!("{:#}", json!({ "automations": cat.automations }));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = cat
                .automations
                .iter()
                .map(|a| {
                    vec![
                        a.name.clone(),
                        a.domain.clone().unwrap_or_else(|| "-".into()),
                        a.steps.len().to_string(),
                        if a.changes_state {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                        a.description.clone(),
                    ]
                })
                .collect();
            outln!(
                "{}",
                table::render(
                    &["NAME", "DOMAIN", "STEPS", "CHANGES", "DESCRIPTION"],
                    &rows
                )
                .trim_end()
            );
            Ok(())
        }
        AutomationCommand::Show { name, json } => {
            let Some(a) = ws.catalog.get(&name) else {
                let known: Vec<&str> = ws.catalog.names().collect();
                return Err(Error::BadInput(format!(
                    "unknown automation `{name}`; the catalog has: {}",
                    known.join(", ")
                )));
            };
            if json {
                outln!("{:#}", serde_json::to_value(a).unwrap_or_default());
            } else {
                outln!("{}", describe(a).trim_end());
            }
            Ok(())
        }
    }
}

fn describe(a: &Automation) -> String {
    let mut out = format!(
        "{} — {}\n  domain: {}\n  changes state: {}\n  defined at: {}\n",
        a.name,
        a.description,
        a.domain
            .as_deref()
            .unwrap_or("none (runs on the jump host)"),
        if a.changes_state { "yes" } else { "no" },
        a.defined_at
    );
    if !a.params.is_empty() {
        out.push_str("\nParameters (environment variable, type, default):\n");
        for p in &a.params {
            out.push_str(&format!(
                "  {:<14} ${:<14} {:<9} {}{}\n",
                p.name,
                p.env_name(),
                p.ty.as_str(),
                p.default
                    .as_ref()
                    .map_or_else(|| "required".to_string(), |d| d.to_string()),
                if p.description.is_empty() {
                    String::new()
                } else {
                    format!("  — {}", p.description)
                }
            ));
        }
    }
    out.push_str("\nSteps:\n");
    for (i, s) in a.steps.iter().enumerate() {
        out.push_str(&format!(
            "  {}. {} ({}, timeout {}{}{})\n",
            i + 1,
            s.name,
            s.action.kind().as_str(),
            crate::core::duration::format(s.timeout),
            if s.retries > 0 {
                format!(", {} retries", s.retries)
            } else {
                String::new()
            },
            if s.parallelism > 0 {
                format!(
                    ", {} host{} at a time",
                    s.parallelism,
                    if s.parallelism == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            },
        ));
    }
    out
}
