//! The runner: the detached process that executes one run and writes everything it does into
//! the store, so any console can follow it and a dropped terminal changes nothing.
//!
//! Order of writes: "step started" is committed before the step's process is spawned and
//! "step finished" after it ends; output lines are batched (every 50 ms or 10,000 lines).
//! Control (cancel, gate confirm/abort) arrives through `run_commands`, polled every 50 ms.
//!
//! A full disk (the store refuses a write with SQLITE_FULL) stops the run before its next
//! step: the steps running then finish (cancelling them would turn a known outcome into an
//! unknown one, half done on a host), their ends and the run's final state go into the room
//! the spare file held (see [`super::disk`]), and the run ends `interrupted` (disk full).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};

mod append;
mod check;
mod copy;
mod playbook;
mod silence;

use super::ansible;
use super::crash;
use super::disk::{self, Disk};
use super::process::{self, Outcome, Spec, Stream};
use super::redact::Redactor;
use super::ssh;
use crate::core::SourceFile;
use crate::core::automation::{StepAction, StepKind};
use crate::core::expand::{ExpandedAction, ExpandedStep, expand};
use crate::core::plan::{self, Plan};
use crate::core::rollback;
use crate::core::value::{SecretRef, Value};
use crate::identity::Actor;
use crate::integrations::webhooks;
use crate::settings::{Connection, Workspace};
use crate::spool;
use crate::store::{PendingLine, RunRow, Store, StoreError};

/// Why a runner could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Setup(String),
}

type SharedStore = Arc<Mutex<Store>>;

fn lock(store: &SharedStore) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a run's artifacts are read from.
enum Source {
    /// A `--package` dir: an artifact is the file at its path.
    Dir(PathBuf),
    /// A vault package: an artifact is the blob of its digest.
    Vault(crate::vault::Vault),
}

/// What every task of a run shares.
struct Ctx {
    store: SharedStore,
    run: i64,
    app: String,
    /// `deploy`, `rollback` or `adhoc`.
    kind: String,
    /// Who started the run.
    operator: String,
    /// The plan's `version` variable, for `${version}`.
    version: Option<String>,
    ws: Workspace,
    /// The inventory, catalog and `[vars]` the run was started with (see `ConfigSnapshot`):
    /// what its plan expands against and its hosts are looked up in, whatever the files say now.
    config: crate::settings::Recorded,
    package: Option<Source>,
    /// The package's files as recorded when the run was created.
    artifacts: Vec<crate::store::Artifact>,
    /// Gates waiting for an answer right now.
    gates_waiting: std::sync::atomic::AtomicUsize,
    /// (position, host) of the steps that already succeeded, when resuming.
    done: std::collections::HashSet<(i64, String)>,
    secrets: Vec<(String, String)>,
    /// Masks every form of the secrets' values in what is stored.
    redactor: Redactor,
    /// The run's ssh connections; why there are none if their socket dir is unusable.
    ssh: Result<ssh::Connections, String>,
    lines: mpsc::UnboundedSender<PendingLine>,
    /// Step output lines sent but not stored yet may not exceed [`BACKLOG`]: see `write_lines`.
    backlog: Arc<Semaphore>,
    /// Whether the disk filled: once it has, no step starts.
    disk: Arc<Disk>,
    cancel: watch::Receiver<bool>,
    gate: watch::Receiver<Option<bool>>,
    silences: silence::Silences,
}

impl Ctx {
    fn say(&self, step_run: Option<i64>, host: &str, line: impl Into<String>) {
        let _ = self.lines.send(PendingLine {
            at: crate::clock::now_ms(),
            step_run_id: step_run,
            stream: "system",
            host: host.to_string(),
            line: line.into(),
        });
    }

    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }
}

/// Executes run `run` to its end and returns its final state. Called in the runner process.
pub fn execute(ws: Workspace, run: i64) -> Result<String, RunnerError> {
    // The lease first: while we hold it, nobody marks this run interrupted. A console
    // checking liveness holds the lock for an instant: retry for a while before concluding
    // that another runner has it.
    crate::store::check_layout(&ws.data_dir)?;
    std::fs::create_dir_all(spool::dir(&ws)).map_err(|e| RunnerError::Setup(e.to_string()))?;
    let lease = spool::take(&spool::run_lease(&ws, run), Duration::from_secs(3))
        .map_err(|e| RunnerError::Setup(format!("cannot take the run's lease: {e}")))?
        .ok_or_else(|| RunnerError::Setup(format!("run #{run} already has a runner")))?;

    let mut store = Store::open(
        &ws.data_dir,
        &ws.config_dir,
        Duration::from_millis(ws.settings.busy_timeout_ms),
    )?;
    store.inject_faults_from_env();
    let row = store
        .run(run)?
        .ok_or_else(|| RunnerError::Setup(format!("no run #{run}")))?;
    // Only a run waiting for its runner gets one: never a finished run again, never a run
    // whose recorded runner still lives (its lease file deleted under it).
    if row.state != "pending" {
        return Err(RunnerError::Setup(format!(
            "run #{run} is {}, not waiting for a runner",
            row.state
        )));
    }
    let actor = Actor::current();
    // A crash test asking for a point that does not exist fails its run, never passes for
    // want of a crash.
    let prepared = crash::check().and_then(|()| prepare(&ws, &store, &row));
    let (plan, package, config) = match prepared {
        Ok(p) => p,
        Err(message) => {
            store.append_lines(run, &[PendingLine::system(&message)])?;
            store.finish_run(run, "failed", &message, &actor)?;
            crash::LOCK_RELEASED.pass();
            webhooks::kick(&ws, &store);
            return Ok("failed".into());
        }
    };
    let artifacts = store.run_artifacts(run)?;
    let secrets = read_secrets(&ws, &config, &plan, &row.env).and_then(|s| {
        let masks = Redactor::new(s.iter().map(|(_, v)| v.as_str()))?;
        Ok((s, masks))
    });
    let (secrets, redactor) = match secrets {
        Ok(s) => s,
        Err(message) => {
            store.append_lines(run, &[PendingLine::system(&message)])?;
            store.finish_run(run, "failed", &message, &actor)?;
            crash::LOCK_RELEASED.pass();
            webhooks::kick(&ws, &store);
            return Ok("failed".into());
        }
    };
    let done = store.succeeded_steps(run)?;
    let disk = match disk::spare_for(&ws, &mut store, &row) {
        Ok(disk) => Arc::new(disk),
        Err(outcome) => {
            let _ = store.append_lines(
                run,
                &[PendingLine::system(&format!(
                    "{outcome}; nothing was started"
                ))],
            );
            store.interrupt_run(run, &outcome, &actor)?;
            webhooks::kick(&ws, &store);
            return Ok("interrupted".into());
        }
    };
    match store.mark_running(run, std::process::id(), spool::own_start(), &actor) {
        Ok(true) => {}
        Ok(false) => {
            disk.release_spare();
            return Err(RunnerError::Setup(format!(
                "run #{run} is no longer pending"
            )));
        }
        Err(e) if e.is_disk_full() => {
            disk::end_on_full_disk(&mut store, &disk, &ws, run, "before its first step", &actor)?;
            webhooks::kick(&ws, &store);
            return Ok("interrupted".into());
        }
        Err(e) => return Err(e.into()),
    }
    crash::LOCK_TAKEN.pass();
    // Only a process is started: a slow webhook receiver can never slow the run.
    webhooks::kick(&ws, &store);
    let store_identity = store.identity()?;
    let store: SharedStore = Arc::new(Mutex::new(store));
    // The run's tasks own the workspace; the end of the run needs it again for the kick.
    let ws_after = ws.clone();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RunnerError::Setup(e.to_string()))?;
    let (state, outcome) = runtime.block_on(async {
        // A dropped SSH session sends SIGHUP: listening replaces the default action (exit).
        let _hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        let (line_tx, line_rx) = mpsc::unbounded_channel();
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let (gate_tx, gate_rx) = watch::channel(None);
        let backlog = Arc::new(Semaphore::new(BACKLOG));
        let writer = tokio::spawn(write_lines(
            store.clone(),
            run,
            line_rx,
            redactor.clone(),
            (backlog.clone(), disk.clone()),
        ));
        let control = tokio::spawn(poll_commands(
            store.clone(),
            run,
            (cancel_tx, gate_tx),
            disk.clone(),
        ));
        // Before any step: the executor that starts them as `[steps] run_as`. Without it, no
        // step runs (never as this account, which owns the store).
        let executor = super::executor::prepare(&ws.settings.steps).await;
        let protected = config.inventory.env(&row.env).is_some_and(|e| e.protected);
        let ssh = match &executor {
            Ok(e) => ssh::Connections::new(e.clone(), &ws.settings.ssh, run, protected).await,
            Err(why) => Err(why.clone()),
        };
        let silences = silence::Silences::new(&ws, &row.env, store_identity.clone());
        let ctx = Arc::new(Ctx {
            ssh,
            artifacts,
            store: store.clone(),
            run,
            app: row.app.clone(),
            kind: row.kind.clone(),
            operator: row.started_by.clone(),
            version: plan.vars.get("version").map(|v| match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            silences,
            ws,
            config,
            package,
            done,
            gates_waiting: std::sync::atomic::AtomicUsize::new(0),
            secrets,
            redactor,
            lines: line_tx,
            backlog,
            disk: disk.clone(),
            cancel: cancel_rx,
            gate: gate_rx,
        });
        // A resumed run, or the rollback of an interrupted one, first ends what the dead
        // runner left silenced: the resumed run's silence steps run again.
        silence::expire_left_behind(&ctx, run).await;
        if let Some(of) = row.rollback_of {
            silence::expire_left_behind(&ctx, of).await;
        }
        let result = match &executor {
            Ok(_) => run_plan(&ctx, &plan, &row.env).await,
            Err(why) => {
                ctx.say(None, "", why.clone());
                ("failed".to_string(), why.clone())
            }
        };
        silence::close_all(&ctx).await;
        if let Some(kb) = peak_rss_kb() {
            ctx.say(None, "", format!("runner peak memory: {} MB", kb / 1024));
        }
        if let Ok(ssh) = &ctx.ssh {
            ssh.close().await;
        }
        if let Ok(e) = executor {
            // It kills what is left of the steps and exits; reaped off the async threads.
            let _ = tokio::task::spawn_blocking(move || e.close()).await;
        }
        control.abort();
        let _ = control.await;
        // Dropping the last sender lets the writer store the final batch and stop.
        drop(ctx);
        let _ = writer.await;
        result
    });
    let mut store = lock(&store);
    // A cancel asked for is honoured even on a full disk: the person wanted the run over.
    // A run whose every step succeeded is over too: ended `interrupted`, it would invite a
    // rollback of a deploy that worked.
    let state = if disk.is_full() && state != "cancelled" && state != "succeeded" {
        disk::end_on_full_disk(
            &mut store,
            &disk,
            &ws_after,
            run,
            "before its next step",
            &actor,
        )?;
        "interrupted".to_string()
    } else {
        disk::finish(
            &mut store,
            &disk,
            &ws_after,
            run,
            (&state, &outcome),
            &actor,
        )?;
        state
    };
    // Spent on a full disk, or no longer needed: a run ended by its runner needs no spare.
    disk.release_spare();
    crash::LOCK_RELEASED.pass();
    drop(lease);
    webhooks::kick(&ws_after, &store);
    Ok(state)
}

/// `text` with the run's secrets masked, for what is stored outside the log (the audit trail,
/// a step's detail).
fn redacted(ctx: &Ctx, text: &str) -> String {
    ctx.redactor.redact(text)
}

/// The plan this run executes (a rollback run derives it from the run it rolls back), checked
/// against the config recorded with the run, the package dir its artifacts come from, and
/// that config.
fn prepare(
    ws: &Workspace,
    store: &Store,
    row: &RunRow,
) -> Result<(Plan, Option<Source>, crate::settings::Recorded), String> {
    ws.require_settings(&format!("run #{}", row.id))?;
    let (body, path) = store
        .run_plan(row.id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("run #{} has no plan", row.id))?;
    let recorded = store.run_config(row.id).map_err(|e| e.to_string())?;
    let (_, config) = ws.config_of_run(row.id, recorded)?;
    let ctx = config.plan_context();
    let file = SourceFile::new(path.clone().unwrap_or_else(|| "plan.toml".into()), body);
    let (plan, diags) = plan::check(&file, &ctx, Some(std::slice::from_ref(&row.env)));
    let plan =
        plan.ok_or_else(|| format!("the plan no longer checks against the workspace:\n{diags}"))?;
    let plan = match (row.kind.as_str(), row.rollback_of) {
        ("rollback", Some(of)) => {
            let started = store.started_actions(of).map_err(|e| e.to_string())?;
            let flags: Vec<bool> = plan
                .actions
                .iter()
                .map(|a| started.contains(&a.id))
                .collect();
            rollback::derive(&plan, Some(&flags))
        }
        _ => plan,
    };
    let dir = store.run_package(row.id).map_err(|e| e.to_string())?;
    let digest = store
        .run_package_digest(row.id)
        .map_err(|e| e.to_string())?;
    let package = match (dir, digest) {
        (Some(dir), _) => Some(Source::Dir(PathBuf::from(dir))),
        (None, Some(_)) => Some(Source::Vault(
            crate::vault::Vault::open(&ws.data_dir)
                .map_err(|e| format!("cannot open the vault: {e}"))?,
        )),
        (None, None) => None,
    };
    Ok((plan, package, config))
}

/// Reads every secret parameter's value now, from the environment or a file; the values are
/// only ever held in memory and masked in every stored line. One too short to be masked
/// (see [`crate::core::value::MIN_SECRET_CHARS`]) fails the run before its first step.
fn read_secrets(
    ws: &Workspace,
    config: &crate::settings::Recorded,
    plan: &Plan,
    env: &str,
) -> Result<Vec<(String, String)>, String> {
    let ctx = config.plan_context();
    let expanded = expand(plan, &ctx, env).map_err(|e| {
        e.into_iter()
            .map(|e| e.message)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let mut out = Vec::new();
    for a in expanded.batches.iter().flat_map(|b| &b.actions) {
        for p in &a.params {
            let Value::Secret(r) = &p.value else { continue };
            let (value, origin) = match r {
                SecretRef::Env(name) => (
                    std::env::var(name).map_err(|_| {
                        format!(
                            "secret `{}`: environment variable {name} is not set",
                            p.name
                        )
                    })?,
                    format!("environment variable {name}"),
                ),
                SecretRef::File(path) => {
                    if ws.settings.team.is_some() {
                        team_secret(ws, env, path)
                            .map_err(|why| format!("secret `{}`: {why}", p.name))?;
                    }
                    let value = crate::settings::read_secret_file(std::path::Path::new(path))
                        .map_err(|e| format!("secret `{}`: cannot read {path}: {e}", p.name))?;
                    (value, path.clone())
                }
            };
            if let Some(why) = crate::core::value::unusable_secret(&p.name, &origin, &value) {
                return Err(why);
            }
            out.push((format!("{}:{}", a.id, p.name), value));
        }
    }
    Ok(out)
}

/// A team's plans are its members': a secret of theirs is the admins' file, kept for the env
/// the run is on (`<config>/secrets/<env>/`), or any member's uat plan could hand prod's
/// database password to a step.
fn team_secret(ws: &Workspace, env: &str, path: &str) -> Result<(), String> {
    let kept = ws.config_dir.join("secrets").join(env);
    let file = std::path::Path::new(path);
    let inside = std::fs::canonicalize(file)
        .ok()
        .zip(std::fs::canonicalize(&kept).ok())
        .is_some_and(|(f, k)| f.starts_with(k));
    if !inside {
        return Err(format!(
            "{path} is not one of {env}'s secrets; a team keeps them in {}",
            kept.display()
        ));
    }
    crate::settings::admin_owned(file)
}

/// Runs the batches in order; returns (state, outcome text).
async fn run_plan(ctx: &Arc<Ctx>, plan: &Plan, env: &str) -> (String, String) {
    let cctx = ctx.config.plan_context();
    let expanded = match expand(plan, &cctx, env) {
        Ok(x) => x,
        Err(e) => {
            let m = e
                .into_iter()
                .map(|e| e.message)
                .collect::<Vec<_>>()
                .join("; ");
            ctx.say(None, "", format!("cannot expand the plan: {m}"));
            return ("failed".into(), m);
        }
    };
    ctx.say(
        None,
        "",
        format!(
            "run #{} of {} on {env}: {}",
            ctx.run,
            plan.app,
            crate::table::count(expanded.action_count(), "action")
        ),
    );
    let mut position = 0i64;
    for batch in &expanded.batches {
        let mut jobs = Vec::new();
        for action in &batch.actions {
            let base = position;
            position += 1000;
            jobs.push((base, action));
        }
        let results: Vec<Result<(), String>> = if batch.parallel {
            let handles: Vec<_> = jobs
                .into_iter()
                .map(|(base, action)| {
                    let ctx = ctx.clone();
                    let action = action.clone();
                    let env = env.to_string();
                    tokio::spawn(async move { run_action(&ctx, &action, base, &env).await })
                })
                .collect();
            let mut out = Vec::new();
            for h in handles {
                out.push(
                    h.await
                        .unwrap_or_else(|e| Err(format!("action task failed: {e}"))),
                );
            }
            out
        } else {
            let mut out = Vec::new();
            for (base, action) in jobs {
                let r = run_action(ctx, action, base, env).await;
                let failed = r.is_err();
                out.push(r);
                if failed {
                    break;
                }
            }
            out
        };
        // A cancel that came after the batch's last step succeeded does not undo its success.
        if ctx.cancelled() && (results.iter().any(Result::is_err) || !is_last(&expanded, batch)) {
            ctx.say(None, "", "run cancelled");
            return ("cancelled".into(), "cancelled by request".into());
        }
        // The steps that failed for it would only fail again: the run waits for room. A run
        // whose last batch all succeeded is done, full disk or not.
        if ctx.disk.is_full() && (results.iter().any(Result::is_err) || !is_last(&expanded, batch))
        {
            return ("interrupted".into(), "disk full".into());
        }
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            ctx.say(None, "", format!("run failed: {e}"));
            return ("failed".into(), e);
        }
    }
    ctx.say(None, "", "run succeeded");
    ("succeeded".into(), "all steps succeeded".into())
}

fn is_last(x: &crate::core::expand::Expanded, batch: &crate::core::expand::ExpandedBatch) -> bool {
    x.batches.last().is_some_and(|b| std::ptr::eq(b, batch))
}

/// Runs one action's steps in order.
async fn run_action(
    ctx: &Arc<Ctx>,
    action: &ExpandedAction,
    base: i64,
    env: &str,
) -> Result<(), String> {
    ctx.say(None, "", format!("action {}: {}", action.id, action.title));
    for (j, step) in action.steps.iter().enumerate() {
        if ctx.cancelled() {
            return Err("cancelled".into());
        }
        if ctx.disk.is_full() {
            return Err(NOT_STARTED.into());
        }
        let position = base + j as i64;
        let result = run_step(ctx, action, step, position, env).await;
        if let Err(e) = result {
            if step.step.continue_on_error {
                ctx.say(
                    None,
                    "",
                    format!(
                        "step `{}` failed ({e}); continuing as the automation allows",
                        step.name
                    ),
                );
                continue;
            }
            return Err(format!("action `{}`, step `{}`: {e}", action.id, step.name));
        }
    }
    Ok(())
}

/// Runs one step: once on the jump host, or on each target host with the step's parallelism
/// limit, stopping new hosts once more than `max_failures` have failed.
async fn run_step(
    ctx: &Arc<Ctx>,
    action: &ExpandedAction,
    step: &ExpandedStep,
    position: i64,
    env: &str,
) -> Result<(), String> {
    if step.hosts.is_empty() {
        return run_on(ctx, action, step, position, env, None).await;
    }
    let limit = match step.step.parallelism {
        0 => step.hosts.len(),
        n => n as usize,
    };
    let sem = Arc::new(Semaphore::new(limit.max(1)));
    let failures = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let max_failures = step.step.max_failures;
    let mut handles = Vec::new();
    for host in &step.hosts {
        let Ok(permit) = sem.clone().acquire_owned().await else {
            break;
        };
        if failures.load(std::sync::atomic::Ordering::SeqCst) > max_failures
            || ctx.cancelled()
            || ctx.disk.is_full()
        {
            break;
        }
        let (ctx, action, step, env, host, failures) = (
            ctx.clone(),
            action.clone(),
            step.clone(),
            env.to_string(),
            host.clone(),
            failures.clone(),
        );
        handles.push(tokio::spawn(async move {
            let r = run_on(&ctx, &action, &step, position, &env, Some(&host)).await;
            if r.is_err() {
                failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            drop(permit);
            r.map_err(|e| format!("{host}: {e}"))
        }));
    }
    let launched = handles.len();
    let mut errors = Vec::new();
    for h in handles {
        if let Err(e) = h
            .await
            .unwrap_or_else(|e| Err(format!("host task failed: {e}")))
        {
            errors.push(e);
        }
    }
    // Hosts left out for a cancel or a full disk are not done, so neither is the step.
    let left_out = step.hosts.len() - launched;
    if left_out > 0 && (ctx.cancelled() || ctx.disk.is_full()) {
        let why = if ctx.cancelled() {
            "cancelled"
        } else {
            NOT_STARTED
        };
        errors.push(format!("{left_out} host(s): {why}"));
        return Err(errors.join("; "));
    }
    let launched_all = errors.len() as u32 <= max_failures;
    if errors.is_empty() || (launched_all && !ctx.cancelled()) {
        if !errors.is_empty() {
            ctx.say(
                None,
                "",
                format!(
                    "step `{}`: {} host(s) failed, within max_failures = {max_failures}",
                    step.name,
                    errors.len()
                ),
            );
        }
        return Ok(());
    }
    Err(errors.join("; "))
}

/// Runs one step on one host (or on the jump host), with retries; records start and end.
async fn run_on(
    ctx: &Arc<Ctx>,
    action: &ExpandedAction,
    step: &ExpandedStep,
    position: i64,
    env: &str,
    host: Option<&str>,
) -> Result<(), String> {
    let host_name = host.unwrap_or("");
    // A resumed run does not repeat what already succeeded, but for silences: the ones its
    // first runner opened were expired when it was resumed.
    if ctx.done.contains(&(position, host_name.to_string()))
        && !matches!(step.kind, StepKind::Silence | StepKind::Unsilence)
    {
        ctx.say(
            None,
            host_name,
            format!("step `{}` already done", step.name),
        );
        return Ok(());
    }
    let durable = ctx
        .ws
        .catalog
        .get(&action.automation)
        .is_none_or(|a| a.changes_state);
    let mut attempt = 0;
    loop {
        attempt += 1;
        if ctx.disk.is_full() {
            return Err(NOT_STARTED.into());
        }
        let started = lock(&ctx.store).step_started(
            ctx.run, position, &action.id, &step.name, host_name, durable,
        );
        // Not recorded as started, so not started: the resume runs it.
        let step_run = match ctx.disk.note(started) {
            Ok(id) => id,
            Err(e) if e.is_disk_full() => return Err(NOT_STARTED.into()),
            Err(e) => return Err(e.to_string()),
        };
        crash::STEP_STARTED.pass();
        // A step's detail is stored and becomes the run's outcome (in the audit trail, so in
        // webhooks): masked like the log.
        let result = attempt_on(ctx, action, step, position, env, host, step_run)
            .await
            .map_err(|(state, code, detail)| (state, code, redacted(ctx, &detail)));
        crash::STEP_RAN.pass();
        let (state, code, detail) = match &result {
            Ok(()) => ("succeeded", Some(0), String::new()),
            Err((state, code, detail)) => (*state, *code, detail.clone()),
        };
        disk::write_or_make_room(&ctx.disk, &mut lock(&ctx.store), |s| {
            s.step_finished(step_run, state, code, &detail)
        })
        .map_err(|e| e.to_string())?;
        crash::STEP_FINISHED.pass();
        match result {
            Ok(()) => return Ok(()),
            Err((state, _, detail)) => {
                if state == "cancelled"
                    || attempt > step.step.retries
                    || ctx.cancelled()
                    || ctx.disk.is_full()
                {
                    return Err(detail);
                }
                let wait = step.step.backoff * attempt;
                ctx.say(
                    Some(step_run),
                    host_name,
                    format!(
                        "attempt {attempt} failed ({detail}); retrying in {}",
                        crate::core::duration::format(wait)
                    ),
                );
                let mut cancel = ctx.cancel.clone();
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = cancel.wait_for(|c| *c) => return Err("cancelled".into()),
                }
            }
        }
    }
}

type StepFailure = (&'static str, Option<i32>, String);

/// Why a step did not start once the disk filled.
const NOT_STARTED: &str = "not started: the disk is full";

async fn attempt_on(
    ctx: &Arc<Ctx>,
    action: &ExpandedAction,
    step: &ExpandedStep,
    position: i64,
    env: &str,
    host: Option<&str>,
    step_run: i64,
) -> Result<(), StepFailure> {
    let host_name = host.unwrap_or("");
    match &step.step.action {
        StepAction::Shell { script } | StepAction::Ssh { script } => {
            let (tx, forward) = output_to_log(ctx, step_run, host_name);
            let remote = host
                .and_then(|h| ctx.config.inventory.host(h))
                .filter(|h| h.connection == Connection::Ssh);
            let Some(h) = remote else {
                let spec = Spec {
                    program: "/bin/sh".into(),
                    args: vec![
                        "-c".into(),
                        script.into(),
                        format!("pilote:{}", step.name).into(),
                    ],
                    input: process::Input::Null,
                    env: script_env(ctx, action, env, host),
                    cwd: step_dir(&ctx.ws.data_dir),
                    timeout: step.step.timeout,
                    grace: Duration::from_secs(5),
                    leak_timeout: Duration::from_secs(2),
                    mask: ctx.redactor.clone(),
                };
                let outcome = process::run(&spec, tx, ctx.cancel.clone()).await;
                let _ = forward.await;
                return judge(ctx, step, step_run, host_name, outcome);
            };
            let ssh = ctx.ssh.as_ref().map_err(|e| ("failed", None, e.clone()))?;
            let target = ssh::Target::from(h);
            let (tx, forward) = connect(ctx, ssh, &target, tx, forward).await?;
            let vars = script_env(ctx, action, env, host);
            let left_out: Vec<&str> = vars
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| !ssh::exportable(k))
                .collect();
            if !left_out.is_empty() {
                ctx.say(
                    Some(step_run),
                    host_name,
                    format!(
                        "not passed to the remote shell (not a shell variable name there): {}",
                        left_out.join(", ")
                    ),
                );
            }
            let (mut spec, marker) =
                ssh.command(&target, &step.name, script, &vars, step.step.timeout);
            spec.mask = ctx.redactor.clone();
            let remote = ssh::run(&spec, &marker, tx, ctx.cancel.clone(), spec.leak_timeout).await;
            let _ = forward.await;
            let outcome = match remote {
                ssh::Remote::Exited(code) => Outcome::Exited { code },
                ssh::Remote::Leaked(code) => Outcome::Leaked { code },
                ssh::Remote::ConnectionLost => return Err(lost(ssh, &target, host_name).await),
                ssh::Remote::Other(o) => o,
            };
            judge(ctx, step, step_run, host_name, outcome)
        }
        StepAction::Copy {
            artifact,
            dest,
            mode,
        } => {
            copy::copy(
                ctx,
                action,
                step,
                (env, host, step_run),
                (artifact, dest, *mode),
            )
            .await
        }
        StepAction::Http { .. } => check::http_check(ctx, action, step, env, step_run).await,
        StepAction::Wait { duration } => {
            let mut cancel = ctx.cancel.clone();
            tokio::select! {
                () = tokio::time::sleep(*duration) => Ok(()),
                _ = cancel.wait_for(|c| *c) => Err(("cancelled", None, "cancelled".into())),
            }
        }
        StepAction::Gate { prompt } => {
            ctx.say(
                Some(step_run),
                host_name,
                format!(
                    "waiting for confirmation: {prompt} (pilote gate {} --confirm | --abort)",
                    ctx.run
                ),
            );
            // An answer given to an earlier gate must not open this one: only a value sent
            // after this point counts (the CLI accepts answers only once the run is waiting).
            let mut gate = ctx.gate.clone();
            gate.borrow_and_update();
            // Parallel actions may wait at gates together: the run waits while any does.
            if ctx
                .gates_waiting
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                == 0
            {
                let kick = {
                    let mut store = lock(&ctx.store);
                    // Refused for a full disk, the run is not shown waiting: nobody is asked,
                    // and the gate below gives up at once.
                    let _ = ctx.disk.note(store.wait_at_gate(
                        ctx.run,
                        &step.name,
                        &redacted(ctx, prompt),
                        &Actor::current(),
                    ));
                    webhooks::Kick::needed(&ctx.ws, &store)
                };
                // The store is let go first (the line writer waits for it) and the fork and
                // exec happen off the run's worker threads.
                if let Some(kick) = kick {
                    drop(tokio::task::spawn_blocking(move || kick.start()));
                }
            }
            let mut cancel = ctx.cancel.clone();
            // On a full disk the run stops after its running steps: nobody is kept waiting.
            let decision = tokio::select! {
                changed = gate.changed() => if changed.is_ok() { Ok(*gate.borrow()) } else { Ok(None) },
                _ = cancel.wait_for(|c| *c) => Ok(None),
                () = ctx.disk.wait_full() => Err(true),
                () = tokio::time::sleep(step.step.timeout) => Err(false),
            };
            if ctx
                .gates_waiting
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
                == 1
            {
                let _ = ctx.disk.note(lock(&ctx.store).gate_answered(ctx.run));
            }
            match decision {
                Ok(Some(true)) => Ok(()),
                Ok(Some(false)) => Err(("failed", None, "aborted at the gate".into())),
                Ok(None) => Err(("cancelled", None, "cancelled".into())),
                Err(true) => Err((
                    "cancelled",
                    None,
                    "not answered: the disk is full, the run stops".into(),
                )),
                Err(false) => Err((
                    "timed_out",
                    None,
                    format!(
                        "nobody answered within {}",
                        crate::core::duration::format(step.step.timeout)
                    ),
                )),
            }
        }
        StepAction::Silence { duration, comment } => {
            let comment =
                resolve(ctx, action, env, None, comment).map_err(|e| ("failed", None, e))?;
            silence::silence(ctx, action, env, step_run, *duration, &comment).await
        }
        StepAction::Unsilence => silence::unsilence(ctx, action, step_run).await,
        StepAction::Ansible { playbook, tags } => {
            let fields = (playbook.as_str(), tags.as_deref());
            playbook::ansible_step(ctx, action, step, position, env, step_run, fields).await
        }
    }
}

/// A channel for a step's output and the task that stores what comes through it, tagged
/// with the step and host. Wait for the task once the sender is gone.
fn output_to_log(
    ctx: &Arc<Ctx>,
    step_run: i64,
    host: &str,
) -> (mpsc::Sender<(Stream, String)>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let lines = ctx.lines.clone();
    let backlog = ctx.backlog.clone();
    let host = host.to_string();
    let forward = tokio::spawn(async move {
        while let Some((stream, line)) = rx.recv().await {
            // Released once the line is stored; waiting here stops the reading.
            if let Ok(permit) = backlog.acquire().await {
                permit.forget();
            }
            let _ = lines.send(PendingLine {
                at: crate::clock::now_ms(),
                step_run_id: Some(step_run),
                stream: match stream {
                    Stream::Stdout => "stdout",
                    Stream::Stderr => "stderr",
                },
                host: host.clone(),
                line,
            });
        }
    });
    (tx, forward)
}

/// Opens the host's master (its messages in the step's log). On failure the log is flushed
/// and the step fails, or is cancelled if that is why.
async fn connect(
    ctx: &Ctx,
    ssh: &ssh::Connections,
    target: &ssh::Target,
    tx: mpsc::Sender<(Stream, String)>,
    forward: tokio::task::JoinHandle<()>,
) -> Result<(mpsc::Sender<(Stream, String)>, tokio::task::JoinHandle<()>), StepFailure> {
    match ssh.connect(target, &tx, ctx.cancel.clone()).await {
        Ok(()) => Ok((tx, forward)),
        Err(e) => {
            drop(tx);
            let _ = forward.await;
            let state = if e == "cancelled" {
                "cancelled"
            } else {
                "failed"
            };
            Err((state, None, e))
        }
    }
}

/// ssh itself failed (exit 255): the master may be gone with the connection, so the next
/// step connects again.
async fn lost(ssh: &ssh::Connections, target: &ssh::Target, host: &str) -> StepFailure {
    ssh.forget(target).await;
    (
        "failed",
        Some(ssh::SSH_FAILED),
        format!("connection to {host} failed or was lost (ssh exited with 255)"),
    )
}

/// A step's outcome from its process's.
fn judge(
    ctx: &Ctx,
    step: &ExpandedStep,
    step_run: i64,
    host: &str,
    outcome: Outcome,
) -> Result<(), StepFailure> {
    match outcome {
        Outcome::Exited { code: 0 } => Ok(()),
        Outcome::Leaked { code: 0 } => {
            ctx.say(
                Some(step_run),
                host,
                "a process left running still held the output; stopped reading it",
            );
            Ok(())
        }
        Outcome::Exited { code } | Outcome::Leaked { code } => {
            Err(("failed", Some(code), format!("exited with code {code}")))
        }
        Outcome::Signalled { signal } => {
            Err(("failed", None, format!("killed by signal {signal}")))
        }
        Outcome::TimedOut => Err((
            "timed_out",
            None,
            format!(
                "timed out after {}",
                crate::core::duration::format(step.step.timeout)
            ),
        )),
        Outcome::Cancelled => Err(("cancelled", None, "cancelled".into())),
        Outcome::SpawnFailed { error } => {
            Err(("failed", None, format!("could not start: {error}")))
        }
    }
}

/// Where a step on the jump host starts: the data dir in a personal workspace (the demo's
/// sandbox is there); the executor account's home in a team's, which cannot enter it.
pub(crate) fn step_dir(data_dir: &std::path::Path) -> Option<PathBuf> {
    match super::executor::current() {
        Some(e) if e.other_account() => None,
        _ => data_dir.is_dir().then(|| data_dir.to_path_buf()),
    }
}

/// The environment of a script: the run's context, the host's vars, the parameters.
fn script_env(
    ctx: &Ctx,
    action: &ExpandedAction,
    env: &str,
    host: Option<&str>,
) -> Vec<(String, String)> {
    let mut out = vec![
        ("PILOTE_RUN".to_string(), ctx.run.to_string()),
        ("PILOTE_APP".to_string(), ctx.app.clone()),
        ("PILOTE_ENV".to_string(), env.to_string()),
        ("PILOTE_ACTION".to_string(), action.id.clone()),
        (
            "PILOTE_DATA_DIR".to_string(),
            ctx.ws.data_dir.display().to_string(),
        ),
    ];
    if let Some(d) = &action.domain {
        out.push(("PILOTE_DOMAIN".into(), d.clone()));
    }
    if let Some(h) = host.and_then(|h| ctx.config.inventory.host(h)) {
        out.extend(host_vars(h));
    }
    for p in &action.params {
        let value = match &p.value {
            Value::Secret(_) => secret_value(ctx, action, &p.name).unwrap_or_default(),
            v => v.to_string(),
        };
        out.push((p.env_var.clone(), value));
    }
    out
}

/// What tells a script which host it is about: `PILOTE_HOST`, `PILOTE_ADDRESS` and the
/// host's vars as `HOST_<NAME>`; steps and `pilote inventory check` give the same.
pub(crate) fn host_vars(h: &crate::settings::Host) -> Vec<(String, String)> {
    let mut out = vec![
        ("PILOTE_HOST".to_string(), h.name.clone()),
        ("PILOTE_ADDRESS".to_string(), h.address.clone()),
    ];
    for (k, v) in &h.vars {
        out.push((format!("HOST_{}", k.to_ascii_uppercase()), v.clone()));
    }
    out
}

/// The value of `action`'s secret parameter `name`, as read when the run started.
fn secret_value(ctx: &Ctx, action: &ExpandedAction, name: &str) -> Option<String> {
    let key = format!("{}:{name}", action.id);
    ctx.secrets
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.clone())
}

/// `text` with its `${...}` placeholders resolved: the run's context, then the parameters.
/// A secret parameter gives where it comes from (`<secret from env X>`), never its value.
fn resolve(
    ctx: &Ctx,
    action: &ExpandedAction,
    env: &str,
    host: Option<&str>,
    text: &str,
) -> Result<String, String> {
    fill(ctx, action, (env, host), text, false)
}

/// [`resolve`], but a secret parameter gives its value: for what only a request sees (an
/// `http` step's URL, headers and basic auth), never for what is shown or stored.
fn reveal(ctx: &Ctx, action: &ExpandedAction, env: &str, text: &str) -> Result<String, String> {
    fill(ctx, action, (env, None), text, true)
}

fn fill(
    ctx: &Ctx,
    action: &ExpandedAction,
    (env, host): (&str, Option<&str>),
    text: &str,
    secrets: bool,
) -> Result<String, String> {
    let h = host.and_then(|h| ctx.config.inventory.host(h));
    crate::core::value::interpolate(text, |name| match name {
        "app" => Some(ctx.app.clone()),
        "env" => Some(env.to_string()),
        "host" => host.map(str::to_string),
        "address" => h.map(|h| h.address.clone()),
        "domain" => action.domain.clone(),
        "data_dir" => Some(ctx.ws.data_dir.display().to_string()),
        "run" => Some(ctx.run.to_string()),
        "version" => ctx.version.clone(),
        _ => action
            .params
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| match &p.value {
                Value::Secret(_) if secrets => secret_value(ctx, action, name),
                v => Some(v.to_string()),
            }),
    })
    .map_err(|n| format!("cannot resolve `${{{n}}}` in `{text}`"))
}

/// The runner's peak resident memory (VmHWM), in KiB.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Step output lines in memory, not stored yet, at most: past it, steps' output stops being
/// read until the store catches up (the processes wait on their pipes, as on a slow terminal).
const BACKLOG: usize = 50_000;

/// Stores output lines in batches: whatever arrived within 50 ms, at most 10,000 at a time.
async fn write_lines(
    store: SharedStore,
    run: i64,
    mut rx: mpsc::UnboundedReceiver<PendingLine>,
    redactor: Redactor,
    (backlog, disk): (Arc<Semaphore>, Arc<Disk>),
) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let deadline = tokio::time::sleep(Duration::from_millis(50));
        tokio::pin!(deadline);
        while batch.len() < 10_000 {
            tokio::select! {
                l = rx.recv() => match l {
                    Some(l) => batch.push(l),
                    None => break,
                },
                () = &mut deadline => break,
            }
        }
        for l in &mut batch {
            redactor.redact_in_place(&mut l.line);
        }
        let lines = std::mem::take(&mut batch);
        let output = lines.iter().filter(|l| l.stream != "system").count();
        if disk.is_full() {
            // What room is left is for the run's last records, not for more output.
            disk.set_aside(lines);
            backlog.add_permits(output);
            continue;
        }
        let store = store.clone();
        let disk = disk.clone();
        let _ = tokio::task::spawn_blocking(move || {
            append::append_lines(&store, run, lines, &disk, &append::backoff);
        })
        .await;
        backlog.add_permits(output);
    }
}

/// Polls the run's commands every 50 ms and turns them into signals for the run's tasks.
/// A command the store had no room to mark taken is not acted on (it stays pending, and is
/// dropped if the run is resumed): the full disk stops the run instead.
async fn poll_commands(
    store: SharedStore,
    run: i64,
    (cancel, gate): (watch::Sender<bool>, watch::Sender<Option<bool>>),
    disk: Arc<Disk>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        let s = store.clone();
        let d = disk.clone();
        let cmds = tokio::task::spawn_blocking(move || {
            let mut store = lock(&s);
            let taken = d.note(store.take_commands(run))?;
            // A confirmation opens a gate only when a person's answer is on record: a row
            // written behind pilote's back is said so in the log, and the gate keeps waiting.
            // The note is best effort: the commands taken with it must still be acted on.
            if taken.iter().any(|c| c.command == "confirm" && !c.in_chain) {
                let line = PendingLine::system(
                    "a gate confirmation with no matching audit event was ignored (not given through pilote); `pilote audit verify` names it",
                );
                let _ = d.note(store.append_lines(run, &[line]));
            }
            Ok::<_, StoreError>(taken)
        })
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
        for c in cmds {
            match c.command.as_str() {
                // Stopping is always safe: a cancel or an abort is honoured even off the record.
                "cancel" => {
                    let _ = cancel.send(true);
                }
                "confirm" if c.in_chain => {
                    let _ = gate.send(Some(true));
                }
                "abort" => {
                    let _ = gate.send(Some(false));
                }
                _ => {}
            }
        }
    }
}
