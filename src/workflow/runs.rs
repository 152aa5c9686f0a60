//! Runs as both faces start and steer them: launching the detached runner, noticing a dead
//! one, deriving and starting a rollback, resuming, and commands sent through the store.

use std::time::Duration;

use serde_json::json;

use super::plans::{known_env, render};
use crate::core::expand::expand;
use crate::core::rollback;
use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::integrations::webhooks;
use crate::settings::{ConfigSnapshot, Workspace};
use crate::spool::{self, Liveness, spawn_detached};
use crate::store::{NewRun, RunKind, RunRow, Store, is_finished};

/// How long a new runner may take to take its lease.
pub const STARTUP: Duration = Duration::from_secs(10);

/// What a rollback of an app on an env would do, shown before anyone confirms it.
#[derive(Debug, Clone)]
pub struct RollbackPreview {
    /// The run being undone: the last one of the app on the env that is not a rollback.
    pub of: RunRow,
    pub app: String,
    pub env: String,
    /// The derived rollback plan, listed action by action with its steps and hosts.
    pub text: String,
    /// Actions the rollback would run; zero when nothing that ran declares an undo.
    pub actions: usize,
    /// The config the rollback runs with: the one recorded with the run it undoes.
    pub config: ConfigSnapshot,
}

/// Derives the rollback of the last run of `app` on `env`: the undo of each action that
/// started, in reverse order, expanded against the config that run was started with (its
/// hosts, its automations), not today's files: a config broken or edited since changes
/// nothing, and the preview says when it was edited. Refuses what cannot be rolled back.
pub fn prepare_rollback(
    ws: &Workspace,
    store: &mut Store,
    app: &str,
    env: &str,
) -> Result<RollbackPreview> {
    if ws.broken.is_none() {
        known_env(ws, env)?;
    }
    recover_stale(ws, store, app, env)?;
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
    let (snapshot, config) = ws
        .config_of_run(last.id, store.run_config(last.id)?)
        .map_err(Error::BadInput)?;
    let ctx = config.plan_context();
    let source = crate::core::SourceFile::new(path.unwrap_or_else(|| "plan.toml".into()), body);
    let (plan, diags) = crate::core::plan::check(&source, &ctx, Some(&[env.to_string()]));
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
    // The files as they are now, read once for both notes below.
    let disk = ConfigSnapshot::on_disk(&ws.config_dir);
    let changed = snapshot.changed_files(&disk);
    if !changed.is_empty() {
        text.push_str(&format!(
            "The config changed since run #{} started ({}): this rollback runs with the \
             hosts and automations recorded then.\n",
            last.id,
            changed.join(", ")
        ));
    }
    let lost = snapshot.lost_credentials(&disk);
    if !lost.is_empty() {
        text.push_str(&format!(
            "warning: {} changed since, and the credentials of its URLs are not kept with \
             runs: steps using them will not authenticate (give them as secret parameters).\n",
            lost.join(", ")
        ));
    }
    render(&mut text, "Rollback plan", &expanded);
    Ok(RollbackPreview {
        of: last,
        app: app.to_string(),
        env: env.to_string(),
        text,
        actions: back.actions.len(),
        config: snapshot,
    })
}

/// Starts the rollback `shown` to the person; returns the new run's id. The rollback is
/// derived again first: if another console rolled back or deployed meanwhile, what was
/// confirmed is no longer what would run, and it is refused. `reason`, when the person gave
/// one, is recorded with the run and in the audit trail.
pub fn start_rollback(
    ws: &Workspace,
    store: &mut Store,
    shown: &RollbackPreview,
    reason: Option<&str>,
) -> Result<i64> {
    ws.require_settings("a rollback").map_err(Error::BadInput)?;
    let now = prepare_rollback(ws, store, &shown.app, &shown.env)?;
    // The same run undone with the same recorded config and the same started actions gives
    // the same rollback; the preview's prose (which files changed since) may differ.
    if now.of.id != shown.of.id
        || now.config.digest() != shown.config.digest()
        || now.actions != shown.actions
    {
        let why = format!(
            "{} on {} changed since the rollback was shown (it now undoes run #{}); look again",
            shown.app, shown.env, now.of.id
        );
        store.audit_refusal(
            &format!("run:{}", shown.of.id),
            "rollback",
            &why,
            &Actor::current(),
        )?;
        return Err(Error::BadInput(why));
    }
    if now.actions == 0 {
        return Err(Error::BadInput(format!(
            "run #{} started nothing that declares an undo: nothing to roll back",
            now.of.id
        )));
    }
    let (app, env, last) = (&now.app, &now.env, &now.of);
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
    // The same plan, package and digests as the run rolled back.
    let (body, path) = store
        .run_plan(last.id)?
        .ok_or_else(|| Error::BadInput(format!("run #{} has no plan", last.id)))?;
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
        config: &now.config,
        reason: reason.map(str::trim).filter(|r| !r.is_empty()),
        actor: &Actor::current(),
    })?;
    launch(ws, store, id)?;
    Ok(id)
}

/// Refuses to start a run (or resume one) on a data dir short of free space: it would stop
/// for a full disk soon after. Exit code 1: nothing is wrong with the input.
pub fn enough_space(ws: &Workspace) -> Result<()> {
    crate::engine::disk::preflight(ws).map_err(|why| {
        Error::CheckFailed(format!(
            "not started: {why}; free space there, then try again"
        ))
    })
}

/// Starts a new runner for interrupted run `id`, from its first step not known done.
pub fn resume(ws: &Workspace, store: &mut Store, id: i64) -> Result<()> {
    interrupted(ws, store, id)?;
    enough_space(ws)?;
    // What the runner will need, checked before the run is reopened: refused now, it stays
    // interrupted and resumable once the config is fixed, instead of failing in its runner.
    ws.require_settings(&format!("resuming run #{id}"))
        .map_err(Error::BadInput)?;
    ws.config_of_run(id, store.run_config(id)?)
        .map_err(Error::BadInput)?;
    if !store.reopen_interrupted(id, &Actor::current())? {
        return Err(Error::BadInput(format!("run #{id} is not interrupted")));
    }
    launch(ws, store, id)
}

/// Asks the runner of run `id` to `cancel`, or to `confirm` / `abort` the gate it waits
/// at. The runner reads it from the store, so any console can steer any run.
pub fn send_command(ws: &Workspace, store: &mut Store, id: i64, command: &str) -> Result<()> {
    let Some(row) = store.run(id)? else {
        return Err(Error::BadInput(format!("no run #{id}")));
    };
    if is_finished(&row.state) {
        return Err(Error::BadInput(format!("run #{id} already {}", row.state)));
    }
    // With a broken config and no sound one recorded, the env is unknown: as protected.
    let protected = ws
        .inventory
        .env(&row.env)
        .map_or(ws.broken.is_some(), |e| e.protected);
    if command != "cancel" && protected {
        // Stopping is always allowed; letting a protected deploy go on is a decision.
        super::require_person(ws, store, &Actor::current(), &format!("run:{id}"), "gate")?;
    }
    if command != "cancel" && row.state != "waiting" {
        return Err(Error::BadInput(format!(
            "run #{id} is not waiting at a gate (it is {})",
            row.state
        )));
    }
    match runner_status(ws, &row) {
        Liveness::Gone => {
            store.mark_interrupted(id, &Actor::current())?;
            webhooks::kick(ws, store);
            return Err(Error::BadInput(format!(
                "run #{id} has no runner any more: it is now interrupted"
            )));
        }
        // A runner that may live reads the command if it does; one that is gone never will.
        Liveness::Unknown(_) | Liveness::Alive => {}
    }
    store.request_command(id, command, &Actor::current())?;
    Ok(())
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

/// Whether an unfinished run has no runner: it lost its lease, or never took one although
/// created long ago (its runner failed to start). Fails closed: a runner that cannot be
/// seen for sure (see [`runner_status`]) is not gone.
pub fn runner_gone(ws: &Workspace, row: &crate::store::RunRow) -> bool {
    runner_status(ws, row) == Liveness::Gone
}

/// Whether the runner of an unfinished run lives: [`spool::runner_liveness`], and for a run
/// whose runner never started, the time since its last launch.
pub fn runner_status(ws: &Workspace, row: &crate::store::RunRow) -> Liveness {
    if is_finished(&row.state) {
        return Liveness::Alive;
    }
    let status = spool::runner_liveness(ws, row);
    if status != Liveness::Gone || row.runner_pid.is_some() {
        return status;
    }
    // Never started: judged from the last launch (the lease file is touched then), so a
    // resumed run is not declared dead for its age.
    let launched = std::fs::metadata(spool::run_lease(ws, row.id))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok());
    let starting = match launched {
        Some(since) => since <= STARTUP * 3,
        None => {
            crate::clock::now_ms() - row.created_at
                <= i64::try_from((STARTUP * 3).as_millis()).unwrap_or(i64::MAX)
        }
    };
    if starting {
        Liveness::Alive
    } else {
        Liveness::Gone
    }
}

/// A run holding the lock whose runner is gone becomes `interrupted`, so the person sees why
/// the env is locked and what to do, instead of waiting on a ghost.
pub fn recover_stale(ws: &Workspace, store: &mut Store, app: &str, env: &str) -> Result<()> {
    if let Some(holder) = store.lock_holder(app, env)?
        && let Some(row) = store.run(holder)?
        && runner_gone(ws, &row)
    {
        store.mark_interrupted(holder, &Actor::current())?;
        webhooks::kick(ws, store);
    }
    Ok(())
}

/// Starts the detached runner of run `id` (see `spawn_detached`), its lease touched first so
/// it counts as starting until it takes it.
fn start(ws: &Workspace, id: i64) -> Result<()> {
    let spool = spool::dir(ws);
    std::fs::create_dir_all(&spool)
        .map_err(Error::io(format!("cannot create {}", spool.display())))?;
    let lease = spool::run_lease(ws, id);
    spool::touch(&lease).map_err(Error::io(format!("cannot touch {}", lease.display())))?;
    spawn_detached(
        &ws.config_dir,
        "runner",
        ["__runner".to_string(), id.to_string()],
        &spool::runner_stderr(ws, id),
    )?;
    Ok(())
}

/// Starts the runner; if it cannot even be spawned, the run fails at once and frees its lock.
pub fn launch(ws: &Workspace, store: &mut Store, id: i64) -> Result<()> {
    // On success, the runner kicks the deliverer once the run is running.
    if let Err(e) = start(ws, id) {
        store.finish_run(id, "failed", &e.to_string(), &Actor::current())?;
        webhooks::kick(ws, store);
        return Err(e);
    }
    Ok(())
}

/// Why nothing is done to a run whose runner cannot be seen: resuming it, or marking it
/// interrupted, could start a second runner of a run whose first still works.
pub fn unknown_runner(row: &crate::store::RunRow, why: &str) -> Error {
    Error::BadInput(format!(
        "cannot tell whether run #{} still has a runner ({why}), so it is left {}: \
         nothing is resumed or declared interrupted while a runner may live. \
         Fix the lease's ownership, or wait for the runner to end",
        row.id, row.state
    ))
}

/// Checks that run `id` is interrupted (marking it so if its runner is gone).
pub fn interrupted(ws: &Workspace, store: &mut Store, id: i64) -> Result<()> {
    let Some(row) = store.run(id)? else {
        return Err(Error::BadInput(format!("no run #{id}")));
    };
    match runner_status(ws, &row) {
        Liveness::Gone => {
            store.mark_interrupted(id, &Actor::current())?;
            webhooks::kick(ws, store);
            return Ok(());
        }
        Liveness::Unknown(why) => return Err(unknown_runner(&row, &why)),
        Liveness::Alive => {}
    }
    if row.state != "interrupted" {
        return Err(Error::BadInput(format!(
            "run #{id} is {}, not interrupted",
            row.state
        )));
    }
    Ok(())
}
