//! `silence` and `unsilence` steps: the run's targets silenced in Alertmanager while it deploys.
//!
//! Monitoring is never a reason for a deployment to stop: an Alertmanager that is down or slow
//! gets a warning in the log, the run goes on, and the silence is retried in the background
//! until it is created or no longer wanted. Every silence a run opened is expired when the run
//! ends, however it ends; one its runner left open when it died is expired by the runner that
//! resumes or rolls back that run (found by the marker in its comment, even if the dead runner
//! never learnt its id). A silence is bounded in time anyway, so a run nobody recovers cannot
//! keep alerts quiet for long.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::{Ctx, StepFailure, lock};
use crate::core::expand::ExpandedAction;
use crate::core::silence::{self, Matcher, Targets};
use crate::engine::crash;
use crate::integrations::alertmanager::{Client, NewSilence};
use crate::settings::{Watch, Workspace};
use crate::store::{NewSilenceRow, SilenceRow};

/// Attempts at expiring a silence before leaving it to end by itself.
const EXPIRE_ATTEMPTS: u32 = 3;

/// The silence side of a run.
pub(super) struct Silences {
    client: Result<Client, String>,
    /// The run's env's Alertmanager; `None` without `[alertmanager]`.
    watch: Option<Watch>,
    /// The store's identity, in every marker: run numbers of two workspaces that share an
    /// Alertmanager clash, their stores do not.
    store: String,
    /// Rows this runner asked for: only these are its own to give up (a dead runner's pending
    /// rows wait for the recovery that looks for them in Alertmanager).
    mine: Mutex<Vec<i64>>,
    /// Set when the run ends: retries stop.
    closing: watch::Sender<bool>,
    retries: Mutex<Vec<JoinHandle<()>>>,
}

impl Silences {
    pub(super) fn new(ws: &Workspace, env: &str, store: String) -> Self {
        Self {
            client: Client::new(),
            watch: ws
                .settings
                .alertmanager
                .as_ref()
                .map(|a| a.for_env(env).clone()),
            store,
            mine: Mutex::new(Vec::new()),
            closing: watch::channel(false).0,
            retries: Mutex::new(Vec::new()),
        }
    }

    /// What marks a silence as run `run`'s, of this store, in its comment.
    fn marker(&self, run: i64) -> String {
        format!("[pilote run #{run} of {}:", self.store)
    }

    fn mine(&self) -> Vec<i64> {
        self.mine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Opens a silence over the hosts of the action's domain for `duration`.
pub(super) async fn silence(
    ctx: &Arc<Ctx>,
    action: &ExpandedAction,
    env: &str,
    step_run: i64,
    duration: Duration,
    comment: &str,
) -> Result<(), StepFailure> {
    let fail = |m: String| ("failed", None, m);
    let Some(watch) = &ctx.silences.watch else {
        ctx.say(
            Some(step_run),
            "",
            "warning: pilote.toml has no [alertmanager]: no alert is silenced",
        );
        return Ok(());
    };
    let client = ctx.silences.client.as_ref().map_err(|e| fail(e.clone()))?;
    let domain = action.domain.clone().unwrap_or_default();
    let hosts = &action.hosts;
    let addresses: Vec<String> = hosts
        .iter()
        .map(|h| {
            ctx.ws
                .inventory
                .host(h)
                .map_or_else(|| h.clone(), |h| h.address.clone())
        })
        .collect();
    let targets = Targets {
        hosts,
        addresses: &addresses,
        app: &ctx.app,
        env,
        domain: &domain,
        run: ctx.run,
    };
    let matchers = watch
        .matchers
        .iter()
        .map(|m| silence::fill(m, &targets))
        .collect::<Result<Vec<Matcher>, String>>()
        .map_err(fail)?;
    let comment = format!(
        "{comment} {} {} of {} on {env} by {}]",
        ctx.silences.marker(ctx.run),
        ctx.kind,
        ctx.app,
        ctx.operator
    );
    let new = NewSilence::new(
        matchers,
        duration,
        format!("pilote ({})", ctx.operator),
        comment,
    );
    let ends_at = crate::clock::now_ms() + i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    let shown = new
        .matchers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let pending = lock(&ctx.store).silence_pending(&NewSilenceRow {
        run: ctx.run,
        step_run: Some(step_run),
        domain: &domain,
        url: &watch.url,
        matchers: &serde_json::to_string(&new.matchers).unwrap_or_default(),
        ends_at,
    });
    let row = ctx.disk.note(pending).map_err(|e| fail(e.to_string()))?;
    ctx.silences
        .mine
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(row);
    match client.create(&watch.url, &new).await {
        Ok(id) => {
            crash::SILENCE_OPENED.pass();
            if record_opened(ctx, row, &id, &watch.url, step_run).await {
                ctx.say(
                    Some(step_run),
                    "",
                    format!(
                        "silenced alerts matching {shown} until {} (silence {id} in {})",
                        crate::clock::format_ms(ends_at),
                        watch.url
                    ),
                );
            }
        }
        Err(e) => {
            let _ = ctx.disk.note(lock(&ctx.store).silence_failed(row, &e));
            ctx.say(
                Some(step_run),
                "",
                format!(
                    "warning: Alertmanager {} did not take the silence ({e}); the deployment goes on with alerts not silenced, and pilote keeps trying",
                    watch.url
                ),
            );
            let task = tokio::spawn(retry(ctx.clone(), row, step_run, new, ends_at));
            ctx.silences
                .retries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(task);
        }
    }
    Ok(())
}

/// Records that silence `id` exists for row `row`; true if it is wanted. When it is not (the
/// run ended or unsilenced meanwhile) or cannot be recorded, it is expired at once: a silence
/// the store does not know of would be nobody's to end.
async fn record_opened(ctx: &Arc<Ctx>, row: i64, id: &str, url: &str, step_run: i64) -> bool {
    let recorded = ctx.disk.note(lock(&ctx.store).silence_opened(row, id));
    if let Ok(true) = recorded {
        return true;
    }
    let why = match recorded {
        Err(e) => format!("it could not be recorded ({e})"),
        _ => "it came when no longer wanted".to_string(),
    };
    let expired = match &ctx.silences.client {
        Ok(client) => client.expire(url, id).await,
        Err(e) => Err(e.clone()),
    };
    let line = match expired {
        Ok(()) => format!("silence {id} expired at once: {why}"),
        Err(e) => format!(
            "warning: silence {id} in {url} could not be expired ({e}) although {why}; it ends by itself"
        ),
    };
    ctx.say(Some(step_run), "", line);
    false
}

/// Tries again to create a pending silence, with a growing pause, until it is created, it is
/// no longer wanted, or it would be over anyway.
async fn retry(ctx: Arc<Ctx>, row: i64, step_run: i64, mut new: NewSilence, ends_at: i64) {
    let Ok(client) = &ctx.silences.client else {
        return;
    };
    let mut closing = ctx.silences.closing.subscribe();
    let mut pause = Duration::from_secs(1);
    for attempt in 2u32.. {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = closing.wait_for(|c| *c) => return,
        }
        pause = (pause * 2).min(Duration::from_secs(30));
        let Ok(Some(now)) = lock(&ctx.store).silence(row) else {
            return;
        };
        if now.state != "pending" || crate::clock::now_ms() >= ends_at {
            return;
        }
        new.starts_at = jiff::Timestamp::now().to_string();
        match client.create(&now.url, &new).await {
            Ok(id) => {
                if record_opened(&ctx, row, &id, &now.url, step_run).await {
                    ctx.say(
                        Some(step_run),
                        "",
                        format!("silence {id} opened in {} at attempt {attempt}", now.url),
                    );
                }
                return;
            }
            Err(e) => {
                let _ = ctx.disk.note(lock(&ctx.store).silence_failed(row, &e));
            }
        }
    }
}

/// Ends the silences the run opened for the action's domain.
pub(super) async fn unsilence(
    ctx: &Arc<Ctx>,
    action: &ExpandedAction,
    step_run: i64,
) -> Result<(), StepFailure> {
    let domain = action.domain.as_deref();
    let rows: Vec<SilenceRow> = lock(&ctx.store)
        .silences(ctx.run)
        .map_err(|e| ("failed", None, e.to_string()))?
        .into_iter()
        .filter(|s| domain.is_none_or(|d| d == s.domain))
        .collect();
    let mine = ctx.silences.mine();
    let mut abandoned = 0;
    for s in rows
        .iter()
        .filter(|s| s.state == "pending" && mine.contains(&s.id))
    {
        if ctx
            .disk
            .note(lock(&ctx.store).abandon_silence(s.id))
            .unwrap_or(false)
        {
            abandoned += 1;
        }
    }
    if abandoned > 0 {
        ctx.say(
            Some(step_run),
            "",
            format!("{abandoned} silence(s) Alertmanager never took are no longer asked for"),
        );
    }
    let open: Vec<SilenceRow> = rows.into_iter().filter(|s| s.state == "open").collect();
    if open.is_empty() && abandoned == 0 {
        ctx.say(Some(step_run), "", "no silence of this run is open");
    }
    expire_rows(ctx, Some(step_run), open).await;
    Ok(())
}

/// Expires open silences, each with a few attempts; what cannot be expired is said, and ends
/// by itself at its end time. One already over is only recorded as such.
async fn expire_rows(ctx: &Arc<Ctx>, step_run: Option<i64>, rows: Vec<SilenceRow>) {
    let Ok(client) = &ctx.silences.client else {
        return;
    };
    let mut tasks = JoinSet::new();
    for s in rows {
        let ctx = ctx.clone();
        let client = client.clone();
        tasks.spawn(async move {
            let Some(id) = s.silence_id.clone() else {
                return;
            };
            if s.ends_at <= crate::clock::now_ms() {
                let _ = ctx.disk.note(lock(&ctx.store).silence_over(s.id));
                return;
            }
            let mut last = String::new();
            for attempt in 1..=EXPIRE_ATTEMPTS {
                match client.expire(&s.url, &id).await {
                    Ok(()) => {
                        crash::SILENCE_EXPIRED.pass();
                        let _ = ctx.disk.note(lock(&ctx.store).silence_expired(s.id));
                        ctx.say(step_run, "", format!("silence {id} expired in {}", s.url));
                        return;
                    }
                    Err(e) => last = e,
                }
                if attempt < EXPIRE_ATTEMPTS {
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
            }
            let _ = ctx.disk.note(lock(&ctx.store).silence_failed(s.id, &last));
            ctx.say(
                step_run,
                "",
                format!(
                    "warning: silence {id} could not be expired in {} ({last}); it ends by itself at {}",
                    s.url,
                    crate::clock::format_ms(s.ends_at)
                ),
            );
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// At the end of the run, however it ended: nothing this runner still asks for is wanted any
/// more, every open silence is expired, and a dead runner's silences a recovery could not
/// look for at the start are looked for again.
pub(super) async fn close_all(ctx: &Arc<Ctx>) {
    for row in ctx.silences.mine() {
        let _ = ctx.disk.note(lock(&ctx.store).abandon_silence(row));
    }
    ctx.silences.closing.send_replace(true);
    let retries = std::mem::take(
        &mut *ctx
            .silences
            .retries
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    for r in retries {
        let _ = r.await;
    }
    let rows = lock(&ctx.store).silences(ctx.run).unwrap_or_default();
    let open: Vec<SilenceRow> = rows.iter().filter(|s| s.state == "open").cloned().collect();
    expire_rows(ctx, None, open).await;
    if rows.iter().any(|s| s.state == "pending") {
        expire_left_behind(ctx, ctx.run).await;
    }
}

/// Expires what the dead runner of `run` left: its open silences, and any silence carrying the
/// run's marker in an Alertmanager it asked (it may have died before recording the id). Its
/// pending rows are given up only for the Alertmanagers that could be searched.
pub(super) async fn expire_left_behind(ctx: &Arc<Ctx>, run: i64) {
    let rows = lock(&ctx.store).silences(run).unwrap_or_default();
    let mut urls: Vec<String> = rows
        .iter()
        .filter(|s| s.state == "open" || s.state == "pending")
        .map(|s| s.url.clone())
        .collect();
    urls.sort();
    urls.dedup();
    if urls.is_empty() {
        return;
    }
    let Ok(client) = &ctx.silences.client else {
        return;
    };
    let marker = ctx.silences.marker(run);
    let mut found = Vec::new();
    for url in &urls {
        match client.active_with(url, &marker).await {
            Ok(ids) => {
                let _ = ctx.disk.note(lock(&ctx.store).abandon_silences_at(run, url));
                found.extend(ids.into_iter().map(|id| (url.clone(), id)));
            }
            Err(e) => ctx.say(
                None,
                "",
                format!(
                    "warning: cannot list the silences of {url} ({e}); those run #{run} left open are looked for again when this run ends"
                ),
            ),
        }
    }
    let open: Vec<SilenceRow> = rows.into_iter().filter(|s| s.state == "open").collect();
    let known: Vec<&str> = open
        .iter()
        .filter_map(|s| s.silence_id.as_deref())
        .collect();
    let strays: Vec<(String, String)> = found
        .iter()
        .filter(|(_, id)| !known.contains(&id.as_str()))
        .cloned()
        .collect();
    if open.is_empty() && strays.is_empty() {
        return;
    }
    ctx.say(
        None,
        "",
        format!(
            "run #{run} left {} silence(s) open: expiring them",
            open.len() + strays.len()
        ),
    );
    expire_rows(ctx, None, open).await;
    for (url, id) in strays {
        match client.expire(&url, &id).await {
            Ok(()) => ctx.say(None, "", format!("silence {id} expired in {url}")),
            Err(e) => ctx.say(
                None,
                "",
                format!("warning: silence {id} could not be expired in {url} ({e})"),
            ),
        }
    }
}
