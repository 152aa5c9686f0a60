//! `pilote run|rollback|runs|logs|cancel|gate`, and the hidden `__runner`.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use super::plan::{checked, known_env, read_plan, render};
use super::table;
use crate::core::expand::expand;
use crate::core::rollback;
use crate::engine::runner::{self, runner_alive, spool_dir};
use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::settings::Workspace;
use crate::store::{NewRun, RunKind, Store, is_finished};

/// Where an ad-hoc run's artifacts come from, and what it may override.
pub struct RunSource<'a> {
    pub package: Option<&'a Path>,
    pub release: Option<&'a str>,
    pub override_freeze: Option<&'a str>,
}

pub fn run(
    ws: Workspace,
    mut store: Store,
    file: &Path,
    env: &str,
    source: &RunSource<'_>,
    follow: bool,
) -> Result<()> {
    let RunSource {
        package,
        release,
        override_freeze,
    } = *source;
    known_env(&ws, env)?;
    if ws.inventory.env(env).is_some_and(|e| e.protected) {
        return Err(Error::BadInput(format!(
            "`{env}` is protected: only an approved request deploys there \
             (`pilote request new ...`, then `pilote deploy REQUEST --env {env}`)"
        )));
    }
    if let Some(f) = ws
        .inventory
        .env(env)
        .and_then(|e| e.frozen_at(crate::clock::now_ms()))
    {
        match override_freeze.map(str::trim).filter(|r| !r.is_empty()) {
            Some(reason) => store.audit_override(
                &format!("env:{env}"),
                "run.freeze_overridden",
                &json!({ "env": env, "freeze": f.label, "reason": reason, "plan": file.display().to_string() }),
                &Actor::current(),
            )?,
            None => {
                return Err(Error::BadInput(format!(
                    "{env} is frozen ({}); to run anyway, give a reason: --override-freeze \"...\" (it is recorded)",
                    f.label
                )));
            }
        }
    }
    let source = read_plan(&ws, file)?;
    let (plan, diags) = checked(&ws, &source, Some(env));
    let Some(plan) = plan else {
        return Err(Error::Invalid(diags));
    };
    if !diags.is_empty() {
        eprintln!("{diags}");
    }
    let package = match package {
        Some(p) if !p.is_dir() => {
            return Err(Error::BadInput(format!(
                "--package {}: not a directory",
                p.display()
            )));
        }
        Some(p) => Some(
            std::fs::canonicalize(p)
                .map_err(Error::io(format!("cannot resolve {}", p.display())))?,
        ),
        None => None,
    };
    let (package_digest, artifacts) = match (&package, release) {
        (Some(dir), _) => (
            None,
            crate::vault::manifest(dir)
                .map_err(|e| Error::BadInput(format!("--package {}: {e}", dir.display())))?,
        ),
        (None, Some(version)) => {
            let p = verified_package(&ws, &store, &plan.app, version)?;
            (Some(p.digest), p.artifacts)
        }
        (None, None) => (None, Vec::new()),
    };
    recover_stale(&ws, &mut store, &plan.app, env)?;
    let path = source.path.display().to_string();
    let package_dir = package.as_ref().map(|p| p.display().to_string());
    let id = store.create_run(&NewRun {
        kind: RunKind::Adhoc,
        app: &plan.app,
        env,
        plan_body: &source.text,
        plan_path: Some(&path),
        rollback_of: None,
        package_dir: package_dir.as_deref(),
        package_digest: package_digest.as_deref(),
        request_id: None,
        artifacts: &artifacts,
        actor: &Actor::current(),
    })?;
    launch(&ws, &mut store, id)?;
    finish_launch(ws, store, id, follow)
}

pub fn rollback(
    ws: Workspace,
    mut store: Store,
    app: &str,
    env: &str,
    yes: bool,
    follow: bool,
) -> Result<()> {
    known_env(&ws, env)?;
    recover_stale(&ws, &mut store, app, env)?;
    let recent = store.runs(Some(app), Some(env), 50)?;
    let Some(last) = recent.iter().find(|r| r.kind != "rollback").cloned() else {
        return Err(Error::BadInput(format!(
            "no run of {app} on {env} to roll back"
        )));
    };
    if let Some(done) = recent
        .iter()
        .find(|r| r.rollback_of == Some(last.id) && r.state == "succeeded")
    {
        return Err(Error::BadInput(format!(
            "run #{} was already rolled back by run #{}; there is nothing left to undo on {env}",
            last.id, done.id
        )));
    }
    if !is_finished(&last.state) {
        return Err(Error::BadInput(format!(
            "run #{} is still {}; cancel it first (`pilote cancel {}`), then roll back",
            last.id, last.state, last.id
        )));
    }
    let (body, path) = store
        .run_plan(last.id)?
        .ok_or_else(|| Error::BadInput(format!("run #{} has no plan", last.id)))?;
    let source = crate::core::SourceFile::new(
        path.clone().unwrap_or_else(|| "plan.toml".into()),
        body.clone(),
    );
    let (plan, diags) = checked(&ws, &source, Some(env));
    let Some(plan) = plan else {
        return Err(Error::Invalid(diags));
    };
    let started = store.started_actions(last.id)?;
    let flags: Vec<bool> = plan
        .actions
        .iter()
        .map(|a| started.contains(&a.id))
        .collect();
    let back = rollback::derive(&plan, Some(&flags));
    let ctx = ws.plan_context();
    let expanded = expand(&back, &ctx, env).map_err(|e| {
        Error::BadInput(
            e.into_iter()
                .map(|e| e.message)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let mut text = format!(
        "Rollback of run #{} ({}, {}) of {app} on {env}\n",
        last.id, last.kind, last.state
    );
    render(&mut text, "Rollback plan", &expanded);
    eprintln!("{}", text.trim_end());
    if back.actions.is_empty() {
        return Err(Error::BadInput(format!(
            "run #{} started nothing that declares an undo: nothing to roll back",
            last.id
        )));
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::BadInput(
                "not on a terminal: pass --yes to start the rollback".into(),
            ));
        }
        eprint!("Start this rollback on {env}? Type `yes`: ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != "yes" {
            return Err(Error::BadInput("rollback not started".into()));
        }
    }
    // The same package, checked against the same digests, as the run rolled back.
    // A rollback is how an incident ends: a freeze does not stop it, but it is recorded.
    if let Some(f) = ws
        .inventory
        .env(env)
        .and_then(|e| e.frozen_at(crate::clock::now_ms()))
    {
        store.audit_override(
            &format!("run:{}", last.id),
            "rollback.during_freeze",
            &json!({ "env": env, "freeze": f.label }),
            &Actor::current(),
        )?;
    }
    let package = store.run_package(last.id)?;
    let package_digest = store.run_package_digest(last.id)?;
    let artifacts = store.run_artifacts(last.id)?;
    let request_id = store.run_request(last.id)?;
    let id = store.create_run(&NewRun {
        kind: RunKind::Rollback,
        app,
        env,
        plan_body: &body,
        plan_path: path.as_deref(),
        rollback_of: Some(last.id),
        package_dir: package.as_deref(),
        package_digest: package_digest.as_deref(),
        request_id,
        artifacts: &artifacts,
        actor: &Actor::current(),
    })?;
    launch(&ws, &mut store, id)?;
    finish_launch(ws, store, id, follow)
}

/// A vault package of `app`, every blob re-hashed: an altered package never starts a run.
pub fn verified_package(
    ws: &Workspace,
    store: &Store,
    app: &str,
    version: &str,
) -> Result<crate::store::PackageRow> {
    let p = store.package(app, version)?.ok_or_else(|| {
        Error::BadInput(format!(
            "no package {app} {version} in the vault; import it with `pilote vault import PATH --app {app} --version {version}`"
        ))
    })?;
    let vault = crate::vault::Vault::open(&ws.data_dir).map_err(Error::io(format!(
        "cannot open the vault in {}",
        ws.data_dir.display()
    )))?;
    let problems: Vec<String> = p
        .artifacts
        .iter()
        .filter_map(|a| vault.check(a).err())
        .collect();
    if !problems.is_empty() || crate::vault::package_digest(&p.artifacts) != p.digest {
        return Err(Error::BadInput(format!(
            "package {app} {version} does not match its digest, refusing to run it:\n  {}\n\
             Run `pilote vault verify`; importing a good copy of it again repairs the blobs.",
            if problems.is_empty() {
                "its manifest was altered".to_string()
            } else {
                problems.join("\n  ")
            }
        )));
    }
    Ok(p)
}

/// How long a new runner may take to take its lease.
const STARTUP: Duration = Duration::from_secs(10);

/// Whether an unfinished run has no runner: it lost its lease, or never took one although
/// created long ago (its runner failed to start).
fn runner_gone(ws: &Workspace, row: &crate::store::RunRow) -> bool {
    if is_finished(&row.state) || runner_alive(ws, row.id) {
        return false;
    }
    if row.runner_pid.is_some() {
        return true;
    }
    // Never started: judged from the last launch (the lease file is touched then), so a
    // resumed run is not declared dead for its age.
    let launched = std::fs::metadata(runner::lease_path(ws, row.id))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok());
    match launched {
        Some(since) => since > STARTUP * 3,
        None => {
            crate::clock::now_ms() - row.created_at
                > i64::try_from((STARTUP * 3).as_millis()).unwrap_or(i64::MAX)
        }
    }
}

/// A run holding the lock whose runner is gone becomes `interrupted`, so the person sees why
/// the env is locked and what to do, instead of waiting on a ghost.
pub(super) fn recover_stale(ws: &Workspace, store: &mut Store, app: &str, env: &str) -> Result<()> {
    if let Some(holder) = store.lock_holder(app, env)?
        && let Some(row) = store.run(holder)?
        && runner_gone(ws, &row)
    {
        store.mark_interrupted(holder, &Actor::current())?;
    }
    Ok(())
}

/// Starts the detached runner of run `id`: its own session (no controlling terminal, so no
/// SIGHUP when the SSH connection drops), stdin from /dev/null, stderr to the spool.
fn start(ws: &Workspace, id: i64) -> Result<()> {
    let spool = spool_dir(ws);
    std::fs::create_dir_all(&spool)
        .map_err(Error::io(format!("cannot create {}", spool.display())))?;
    let err_path = spool.join(format!("run-{id}.stderr"));
    let stderr = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&err_path)
        .map_err(Error::io(format!("cannot create {}", err_path.display())))?;
    let lease = runner::lease_path(ws, id);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lease)
        .and_then(|f| f.set_modified(std::time::SystemTime::now()))
        .map_err(Error::io(format!("cannot touch {}", lease.display())))?;
    let exe = std::env::current_exe().map_err(Error::io("cannot find the pilote binary"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--workspace")
        .arg(&ws.config_dir)
        .arg("__runner")
        .arg(id.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn().map_err(Error::io("cannot start the runner"))?;
    Ok(())
}

/// Starts the runner; if it cannot even be spawned, the run fails at once and frees its lock.
pub(super) fn launch(ws: &Workspace, store: &mut Store, id: i64) -> Result<()> {
    if let Err(e) = start(ws, id) {
        store.finish_run(id, "failed", &e.to_string(), &Actor::current())?;
        return Err(e);
    }
    Ok(())
}

pub(super) fn finish_launch(ws: Workspace, store: Store, id: i64, follow: bool) -> Result<()> {
    if follow {
        eprintln!("run #{id} started");
        return logs(&ws, store, id, true, None);
    }
    outln!("{id}");
    eprintln!("run #{id} started; follow it with `pilote logs {id} --follow`");
    Ok(())
}

pub fn resume(ws: Workspace, mut store: Store, id: i64, follow: bool) -> Result<()> {
    interrupted(&ws, &mut store, id)?;
    if !store.reopen_interrupted(id, &Actor::current())? {
        return Err(Error::BadInput(format!("run #{id} is not interrupted")));
    }
    launch(&ws, &mut store, id)?;
    finish_launch(ws, store, id, follow)
}

pub fn mark_done(ws: &Workspace, mut store: Store, id: i64, step: Option<i64>) -> Result<()> {
    interrupted(ws, &mut store, id)?;
    let n = store.mark_done(id, step, &Actor::current())?;
    if n == 0 {
        return Err(Error::BadInput(format!(
            "run #{id} has no unknown step{}",
            step.map(|s| format!(" #{s}")).unwrap_or_default()
        )));
    }
    eprintln!(
        "marked {n} step{} of run #{id} done; `pilote resume {id}` goes on after {}",
        if n == 1 { "" } else { "s" },
        if n == 1 { "it" } else { "them" }
    );
    Ok(())
}

/// Checks that run `id` is interrupted (marking it so if its runner is gone).
fn interrupted(ws: &Workspace, store: &mut Store, id: i64) -> Result<()> {
    let Some(row) = store.run(id)? else {
        return Err(Error::BadInput(format!("no run #{id}")));
    };
    if runner_gone(ws, &row) {
        store.mark_interrupted(id, &Actor::current())?;
        return Ok(());
    }
    if row.state != "interrupted" {
        return Err(Error::BadInput(format!(
            "run #{id} is {}, not interrupted",
            row.state
        )));
    }
    Ok(())
}

/// The hidden `__runner` command: executes the run, then exits.
pub fn runner(ws: Workspace, id: i64) -> Result<()> {
    match runner::execute(ws, id) {
        Ok(_) => Ok(()),
        Err(runner::RunnerError::Store(e)) => Err(Error::Store(e)),
        Err(runner::RunnerError::Setup(m)) => Err(Error::BadInput(m)),
    }
}

pub fn list(
    ws: &Workspace,
    store: &Store,
    app: Option<&str>,
    env: Option<&str>,
    limit: i64,
    json: bool,
) -> Result<()> {
    let mut rows = store.runs(app, env, limit)?;
    for r in &mut rows {
        // Show a dead runner's run as what it is, without writing from a read-only listing.
        if runner_gone(ws, r) {
            r.state = "interrupted".into();
        }
    }
    if json {
        outln!("{:#}", json!({ "runs": rows }));
        return Ok(());
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let duration = match (r.started_at, r.finished_at) {
                (Some(s), Some(f)) => {
                    crate::core::duration::format(Duration::from_millis((f - s).max(0) as u64))
                }
                (Some(_), None) => "…".into(),
                _ => "-".into(),
            };
            vec![
                r.id.to_string(),
                r.kind.clone(),
                r.app.clone(),
                r.env.clone(),
                r.state.clone(),
                r.started_by.clone(),
                crate::clock::format_ms(r.created_at),
                duration,
            ]
        })
        .collect();
    outln!(
        "{}",
        table::render(
            &[
                "RUN", "KIND", "APP", "ENV", "STATE", "BY", "CREATED", "DURATION"
            ],
            &table_rows
        )
        .trim_end()
    );
    Ok(())
}

pub fn logs(
    ws: &Workspace,
    mut store: Store,
    id: i64,
    follow: bool,
    host: Option<&str>,
) -> Result<()> {
    if store.run(id)?.is_none() {
        return Err(Error::BadInput(format!("no run #{id}")));
    }
    let mut last = 0;
    let launched = Instant::now();
    // A step may print a million lines: one write per page, the time formatted once a second.
    let mut text = String::new();
    let mut second = (i64::MIN, String::new());
    loop {
        let page = store.log_page(id, last, 2000)?;
        text.clear();
        for l in &page {
            last = l.seq;
            if host.is_some_and(|h| h != l.host) {
                continue;
            }
            if l.at.div_euclid(1000) != second.0 {
                let time = crate::clock::format_ms(l.at);
                second = (
                    l.at.div_euclid(1000),
                    time.get(11..).unwrap_or(&time).to_string(),
                );
            }
            let marker = match l.stream.as_str() {
                "stderr" => "!",
                "system" => "-",
                _ => "|",
            };
            let who = if l.host.is_empty() {
                "pilote"
            } else {
                l.host.as_str()
            };
            let _ = writeln!(
                text,
                "{} {who:<16} {marker} {}",
                second.1,
                sanitize(&l.line)
            );
        }
        if !text.is_empty() {
            crate::cli::write_stdout(&text);
        }
        if page.len() == 2000 {
            continue;
        }
        let row = store
            .run(id)?
            .ok_or_else(|| Error::BadInput(format!("no run #{id}")))?;
        if is_finished(&row.state) {
            // Lines committed just before the final state: read them too before stopping.
            if store.log_page(id, last, 1)?.is_empty() {
                return outcome(id, &row.state, follow);
            }
            continue;
        }
        if !follow {
            return Ok(());
        }
        if runner_gone(ws, &row) || (!runner_alive(ws, id) && launched.elapsed() > STARTUP) {
            store.mark_interrupted(id, &Actor::current())?;
            continue;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn outcome(id: i64, state: &str, follow: bool) -> Result<()> {
    if follow {
        eprintln!("run #{id} {state}");
        if state != "succeeded" {
            return Err(Error::RunEnded {
                run: id,
                state: state.to_string(),
            });
        }
    }
    Ok(())
}

/// Output is stored raw; escape sequences and other control characters are shown, not
/// obeyed, so a remote script cannot rewrite the operator's screen.
fn sanitize(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

pub fn command(ws: &Workspace, mut store: Store, id: i64, command: &str) -> Result<()> {
    let Some(row) = store.run(id)? else {
        return Err(Error::BadInput(format!("no run #{id}")));
    };
    if is_finished(&row.state) {
        return Err(Error::BadInput(format!(
            "run #{id} is already {}",
            row.state
        )));
    }
    if command != "cancel" && row.state != "waiting" {
        return Err(Error::BadInput(format!(
            "run #{id} is not waiting at a gate (it is {})",
            row.state
        )));
    }
    if runner_gone(ws, &row) {
        store.mark_interrupted(id, &Actor::current())?;
        return Err(Error::BadInput(format!(
            "run #{id} has no runner any more: it is now interrupted"
        )));
    }
    store.request_command(id, command, &Actor::current())?;
    eprintln!("asked run #{id} to {command}");
    Ok(())
}
