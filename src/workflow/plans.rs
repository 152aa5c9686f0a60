//! Plans as the CLI and the console both handle them: read from a file, checked against the
//! workspace, listed step by step.

use std::path::{Path, PathBuf};

use crate::core::SourceFile;
use crate::core::diagnostic::Diagnostics;
use crate::core::expand::Expanded;
use crate::core::plan::{self, Plan};
use crate::error::{Error, Result};
use crate::settings::{self, Workspace};

/// Reads a plan file; a relative path missing from the current dir is looked up in the
/// workspace's config dir (`plans/...` works from anywhere).
///
/// A team's workspace runs as its service account, which may read the store: a path a
/// person names is never opened. The person's own pilote handed the file over (see
/// `settings::handover`), or it is a plan of the team's config dir.
pub fn read_plan(ws: &Workspace, path: &Path) -> Result<SourceFile> {
    let mut diags = Diagnostics::default();
    if let Some(bytes) = settings::handover::get(path) {
        return match settings::text_of(path, bytes.to_vec(), &mut diags) {
            Some(text) => Ok(SourceFile::new(path.to_path_buf(), text)),
            None => Err(Error::Invalid(diags)),
        };
    }
    if ws.settings.team.is_some() {
        return read_team_plan(ws, path);
    }
    let candidates: Vec<PathBuf> = if path.is_relative() && !path.exists() {
        vec![ws.config_dir.join(path)]
    } else {
        vec![path.to_path_buf()]
    };
    let path = candidates
        .into_iter()
        .next()
        .unwrap_or_else(|| path.to_path_buf());
    match settings::read_path(&path, &mut diags) {
        Some(text) => Ok(SourceFile::new(path, text)),
        None => Err(Error::Invalid(diags)),
    }
}

/// A plan of a team's config dir: a relative path inside it, the admins' own file.
fn read_team_plan(ws: &Workspace, path: &Path) -> Result<SourceFile> {
    let outside = || {
        Error::BadInput(format!(
            "{}: not a plan of the team's workspace ({}); a file of your own is read by your own \
             pilote before it goes through sudo, so give a path you can read",
            path.display(),
            ws.config_dir.display()
        ))
    };
    if !path.is_relative()
        || path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(outside());
    }
    let full = ws.config_dir.join(path);
    if !full.exists() {
        return Err(outside());
    }
    settings::admin_owned(&full).map_err(Error::BadInput)?;
    let mut diags = Diagnostics::default();
    match settings::read_path(&full, &mut diags) {
        Some(text) => Ok(SourceFile::new(full, text)),
        None => Err(Error::Invalid(diags)),
    }
}

/// A plan's `version` (what `${version}` says in paths and scripts) must be the release's:
/// otherwise a plan could name other files than its package's, or other places.
pub fn same_version(plan: &Plan, release: &str) -> Result<()> {
    match plan.vars.get("version") {
        Some(toml::Value::String(v)) if v != release => Err(Error::BadInput(format!(
            "the plan says version = \"{v}\", but the release is {release}: `${{version}}` would \
             name another release's files; set the plan's version to {release}"
        ))),
        Some(v) if !v.is_str() => Err(Error::BadInput(format!(
            "the plan's version is {v}, not a string: write version = \"{release}\""
        ))),
        _ => Ok(()),
    }
}

pub fn known_env(ws: &Workspace, env: &str) -> Result<()> {
    if ws.inventory.env(env).is_some() {
        return Ok(());
    }
    let known: Vec<&str> = ws.inventory.envs.iter().map(|e| e.name.as_str()).collect();
    Err(Error::BadInput(format!(
        "unknown environment `{env}`; expected one of: {}",
        known.join(", ")
    )))
}

/// Checks a plan; returns it with its diagnostics, or the error to exit with.
pub fn checked(
    ws: &Workspace,
    file: &SourceFile,
    env: Option<&str>,
) -> (Option<Plan>, Diagnostics) {
    let envs: Option<Vec<String>> = env.map(|e| vec![e.to_string()]);
    plan::check(file, &ws.plan_context(), envs.as_deref())
}

/// The human listing of an expanded plan: batches, numbered actions, their steps and hosts.
pub fn render(out: &mut String, title: &str, x: &Expanded) {
    let steps: usize = x
        .batches
        .iter()
        .flat_map(|b| &b.actions)
        .map(|a| a.steps.len())
        .sum();
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    out.push_str(&format!(
        "\n{title}: {}, {}\n",
        count(x.action_count(), "action"),
        count(steps, "step")
    ));
    let mut n = 0;
    for batch in &x.batches {
        if let Some(phase) = &batch.phase {
            out.push_str(&format!(
                "\n  phase {phase}{}\n",
                if batch.parallel && batch.actions.len() > 1 {
                    " (actions run in parallel)"
                } else {
                    ""
                }
            ));
        }
        for a in &batch.actions {
            n += 1;
            out.push_str(&format!("  {n}. {}  [{}]\n", a.title, a.id));
            let target = match &a.domain {
                Some(d) if a.hosts.is_empty() => format!(" on {d}"),
                Some(d) => format!(" on {d}: {}", a.hosts.join(", ")),
                None => " on the jump host".to_string(),
            };
            out.push_str(&format!("     {}{target}\n", a.automation));
            for p in &a.params {
                out.push_str(&format!("     {} = {}  ({})\n", p.name, p.value, p.source));
            }
            let rows: Vec<Vec<String>> = a
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    vec![
                        format!("     {n}.{}", i + 1),
                        s.kind.as_str().to_string(),
                        s.name.clone(),
                        s.detail.clone(),
                    ]
                })
                .collect();
            let t = crate::table::render(&["", "", "", ""], &rows);
            for line in t.lines().skip(1) {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if x.batches.is_empty() {
        out.push_str("  (nothing to undo)\n");
    }
}
