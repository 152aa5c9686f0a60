//! `pilote run|rollback|runs|logs|cancel|gate`, and the hidden `__runner`.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::core::printable::escape_controls;
use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::settings::Workspace;
use crate::spool::{Liveness, runner_liveness};
use crate::store::{NewRun, RunKind, Store, is_finished};
use crate::table;
use crate::workflow::{
    self, STARTUP, checked, known_env, launch, read_plan, recover_stale, runner_gone,
    verified_package,
};

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
            Some(reason) => {
                workflow::require_person(
                    &ws,
                    &mut store,
                    &Actor::current(),
                    &format!("env:{env}"),
                    "run.freeze_override",
                )?;
                let plan = file.display().to_string();
                store.audit_override(
                    &format!("env:{env}"),
                    "run.freeze_overridden",
                    &json!({ "env": env, "freeze": f.label, "reason": reason, "plan": plan }),
                    &Actor::current(),
                )?;
            }
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
        errln!("{diags}");
    }
    let package = match package {
        // The runner would read DIR as the service account, which can read the store.
        Some(p) if ws.settings.team.is_some() => {
            return Err(Error::BadInput(format!(
                "--package {}: a team's runs take their packages from the vault (--release VERSION)",
                p.display()
            )));
        }
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
            workflow::same_version(&plan, version)?;
            let p = verified_package(&ws, &store, &plan.app, version)?;
            (Some(p.digest), p.artifacts)
        }
        (None, None) => (None, Vec::new()),
    };
    recover_stale(&ws, &mut store, &plan.app, env)?;
    workflow::enough_space(&ws)?;
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
        config: &ws.snapshot,
        reason: None,
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
    reason: Option<&str>,
    follow: bool,
) -> Result<()> {
    let preview = workflow::prepare_rollback(&ws, &mut store, app, env)?;
    errln!("{}", preview.text.trim_end());
    if preview.actions == 0 {
        return Err(Error::BadInput(format!(
            "run #{} started nothing that declares an undo: nothing to roll back",
            preview.of.id
        )));
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::BadInput(
                "not on a terminal: pass --yes to start the rollback".into(),
            ));
        }
        super::output::write_stderr(&format!("Start this rollback on {env}? Type `yes`: "));
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != "yes" {
            return Err(Error::BadInput("rollback not started".into()));
        }
    }
    // A rollback is how an incident ends: short of space it still starts (warned), and if
    // the disk does fill, it stops cleanly and resumes once there is room.
    if let Err(why) = crate::engine::disk::preflight(&ws) {
        errln!("warning: {why}; the rollback starts anyway");
    }
    let id = workflow::start_rollback(&ws, &mut store, &preview, reason)?;
    finish_launch(ws, store, id, follow)
}

pub(super) fn finish_launch(ws: Workspace, store: Store, id: i64, follow: bool) -> Result<()> {
    if follow {
        errln!("run #{id} started");
        return logs(&ws, store, id, true, None);
    }
    outln!("{id}");
    errln!("run #{id} started; follow it with `pilote logs {id} --follow`");
    Ok(())
}

pub fn resume(ws: Workspace, mut store: Store, id: i64, follow: bool) -> Result<()> {
    workflow::resume(&ws, &mut store, id)?;
    finish_launch(ws, store, id, follow)
}

pub fn mark_done(ws: &Workspace, mut store: Store, id: i64, step: Option<i64>) -> Result<()> {
    // Saying a step happened is a decision: a resume then skips it.
    workflow::require_person(
        ws,
        &mut store,
        &Actor::current(),
        &format!("run:{id}"),
        "mark_done",
    )?;
    workflow::interrupted(ws, &mut store, id)?;
    let n = store.mark_done(id, step, &Actor::current())?;
    if n == 0 {
        return Err(Error::BadInput(format!(
            "run #{id} has no unknown step{}",
            step.map(|s| format!(" #{s}")).unwrap_or_default()
        )));
    }
    errln!(
        "marked {n} step{} of run #{id} done; `pilote resume {id}` goes on after {}",
        if n == 1 { "" } else { "s" },
        if n == 1 { "it" } else { "them" }
    );
    Ok(())
}

/// The hidden `__runner` command: executes the run, then exits.
pub fn runner(ws: Workspace, id: i64) -> Result<()> {
    match crate::engine::runner::execute(ws, id) {
        Ok(_) => Ok(()),
        Err(crate::engine::runner::RunnerError::Store(e)) => Err(Error::Store(e)),
        Err(crate::engine::runner::RunnerError::Setup(m)) => Err(Error::BadInput(m)),
    }
}

/// The silences still open or pending (`pilote silences`), or every one of a run.
pub fn silences(store: &Store, run: Option<i64>, json: bool) -> Result<()> {
    let rows = match run {
        Some(id) => store.silences(id)?,
        None => store.unfinished_silences()?,
    };
    if json {
        outln!("{:#}", json!({ "silences": rows }));
        return Ok(());
    }
    if rows.is_empty() {
        outln!(
            "{}",
            match run {
                Some(id) => format!("run #{id} opened no silence"),
                None => "no silence of pilote's is open".to_string(),
            }
        );
        return Ok(());
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            vec![
                s.run_id.to_string(),
                s.domain.clone(),
                s.state.clone(),
                crate::clock::format_ms(s.ends_at),
                s.silence_id.clone().unwrap_or_else(|| "-".into()),
                s.url.clone(),
                s.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    outln!(
        "{}",
        table::render(
            &[
                "RUN",
                "DOMAIN",
                "STATE",
                "ENDS",
                "SILENCE",
                "ALERTMANAGER",
                "LAST ERROR"
            ],
            &table_rows
        )
    );
    Ok(())
}

/// A run's state as the run list shows it: a full disk is named, it is what to fix.
fn state_label(r: &crate::store::RunRow) -> String {
    match r.outcome.as_deref() {
        Some(o) if r.state == "interrupted" && o.starts_with("disk full") => {
            "interrupted (disk full)".into()
        }
        _ => r.state.clone(),
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
        // Each finished run carries the audit trail's head as of its end, to anchor outside.
        let mut listed = Vec::with_capacity(rows.len());
        for r in &rows {
            let head = if is_finished(&r.state) {
                store.run_audit_head(r.id)?
            } else {
                None
            };
            let mut v = json!(r);
            v["audit_head"] = json!(head);
            listed.push(v);
        }
        outln!("{:#}", json!({ "runs": listed }));
        return Ok(());
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let duration = match (r.started_at, r.finished_at) {
                (Some(s), Some(f)) => crate::core::duration::human_ms(f - s),
                (Some(_), None) => "…".into(),
                _ => "-".into(),
            };
            vec![
                r.id.to_string(),
                r.kind.clone(),
                r.app.clone(),
                r.env.clone(),
                state_label(r),
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
    if follow {
        catch_interrupt();
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
                escape_controls(&l.line, &['\t'])
            );
        }
        if !text.is_empty() {
            super::output::write_stdout(&text);
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
                return outcome(&store, &row, follow);
            }
            continue;
        }
        if !follow {
            return Ok(());
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Err(Error::Detached { run: id });
        }
        if runner_gone(ws, &row)
            || (runner_liveness(ws, &row) == Liveness::Gone && launched.elapsed() > STARTUP)
        {
            store.mark_interrupted(id, &Actor::current())?;
            crate::integrations::webhooks::kick(ws, &store);
            continue;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Set by Ctrl-C while a run is followed.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C ends the follow, not the process at once: the follow loop says the run goes on
/// (it is its runner's, in its own session, which the terminal's SIGINT does not reach)
/// and how to stop it, within the 100 ms it sleeps between reads.
fn catch_interrupt() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
    // sigaction struct is zeroed (empty mask) before the fields set here.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_interrupt as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&raw mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &raw const action, std::ptr::null_mut());
    }
}

fn outcome(store: &Store, row: &crate::store::RunRow, follow: bool) -> Result<()> {
    let (id, state) = (row.id, row.state.as_str());
    if follow {
        // Why it stopped is what the person needs next: a dead runner, a full disk.
        match row.outcome.as_deref().filter(|_| state == "interrupted") {
            Some(why) => errln!("run #{id} {state} ({why})"),
            None => errln!("run #{id} {state}"),
        }
        // The head as of the run's end, for the operator to paste into the change ticket:
        // `pilote audit verify` later proves the trail up to it was not rewritten.
        if let Some(head) = store.run_audit_head(id)? {
            errln!(
                "audit trail head at its end: event #{} {}",
                head.seq,
                head.hash
            );
        }
        if state != "succeeded" {
            return Err(Error::RunEnded {
                run: id,
                state: state.to_string(),
            });
        }
    }
    Ok(())
}

pub fn command(ws: &Workspace, mut store: Store, id: i64, command: &str) -> Result<()> {
    workflow::send_command(ws, &mut store, id, command)?;
    errln!("asked run #{id} to {command}");
    Ok(())
}
