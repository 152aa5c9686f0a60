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
use tokio::task::JoinHandle;

use super::{Ctx, StepFailure, crash_point, lock};
use crate::core::expand::ExpandedAction;
use crate::integrations::alertmanager::{self, Client, Matcher, NewSilence, Targets};
use crate::settings::{Watch, Workspace};
use crate::store::{NewSilenceRow, SilenceRow};

/// Attempts at expiring a silence before leaving it to end by itself.
const EXPIRE_ATTEMPTS: u32 = 3;

/// The silence side of a run.
pub(super) struct Silences {
    client: Result<Client, String>,
    /// The run's env's Alertmanager; `None` without `[alertmanager]`.
    watch: Option<Watch>,
    /// Set when the run ends: retries stop.
    closing: watch::Sender<bool>,
    retries: Mutex<Vec<JoinHandle<()>>>,
}

impl Silences {
    pub(super) fn new(ws: &Workspace, env: &str) -> Self {
        Self {
            client: Client::new(),
            watch: ws
                .settings
                .alertmanager
                .as_ref()
                .map(|a| a.for_env(env).clone()),
            closing: watch::channel(false).0,
            retries: Mutex::new(Vec::new()),
        }
    }
}

/// What marks a silence as this run's in its comment.
fn marker(run: i64) -> String {
    format!("[pilote run #{run}:")
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
        .map(|m| alertmanager::fill(m, &targets))
        .collect::<Result<Vec<Matcher>, String>>()
        .map_err(fail)?;
    let comment = format!(
        "{comment} {} {} of {} on {env} by {}]",
        marker(ctx.run),
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
    let row = lock(&ctx.store)
        .silence_pending(&NewSilenceRow {
            run: ctx.run,
            step_run: Some(step_run),
            domain: &domain,
            url: &watch.url,
            matchers: &serde_json::to_string(&new.matchers).unwrap_or_default(),
            ends_at,
        })
        .map_err(|e| fail(e.to_string()))?;
    match client.create(&watch.url, &new).await {
        Ok(id) => {
            crash_point("silence_created");
            let _ = lock(&ctx.store).silence_opened(row, &id);
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
        Err(e) => {
            let _ = lock(&ctx.store).silence_failed(row, &e);
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
                let wanted = lock(&ctx.store).silence_opened(row, &id).unwrap_or(false);
                if wanted {
                    ctx.say(
                        Some(step_run),
                        "",
                        format!("silence {id} opened in {} at attempt {attempt}", now.url),
                    );
                } else if client.expire(&now.url, &id).await.is_ok() {
                    // The run ended or unsilenced while we were asking.
                    ctx.say(
                        Some(step_run),
                        "",
                        format!("silence {id} came too late and was expired at once"),
                    );
                }
                return;
            }
            Err(e) => {
                let _ = lock(&ctx.store).silence_failed(row, &e);
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
    let abandoned = lock(&ctx.store)
        .abandon_silences(ctx.run, domain)
        .unwrap_or(0);
    if abandoned > 0 {
        ctx.say(
            Some(step_run),
            "",
            format!("{abandoned} silence(s) never created are no longer asked for"),
        );
    }
    let open: Vec<SilenceRow> = lock(&ctx.store)
        .silences(ctx.run)
        .map_err(|e| ("failed", None, e.to_string()))?
        .into_iter()
        .filter(|s| s.state == "open" && domain.is_none_or(|d| d == s.domain))
        .collect();
    if open.is_empty() && abandoned == 0 {
        ctx.say(Some(step_run), "", "no silence of this run is open");
    }
    expire_rows(ctx, Some(step_run), open).await;
    Ok(())
}

/// Expires open silences, each with a few attempts; what cannot be expired is said, and ends
/// by itself at its end time.
async fn expire_rows(ctx: &Arc<Ctx>, step_run: Option<i64>, rows: Vec<SilenceRow>) {
    let Ok(client) = &ctx.silences.client else {
        return;
    };
    let tasks = rows.into_iter().map(|s| {
        let ctx = ctx.clone();
        let client = client.clone();
        async move {
            let Some(id) = s.silence_id.clone() else {
                return;
            };
            let mut last = String::new();
            for attempt in 1..=EXPIRE_ATTEMPTS {
                match client.expire(&s.url, &id).await {
                    Ok(()) => {
                        let _ = lock(&ctx.store).silence_expired(s.id);
                        ctx.say(step_run, "", format!("silence {id} expired in {}", s.url));
                        return;
                    }
                    Err(e) => last = e,
                }
                if attempt < EXPIRE_ATTEMPTS {
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
            }
            let _ = lock(&ctx.store).silence_failed(s.id, &last);
            ctx.say(
                step_run,
                "",
                format!(
                    "warning: silence {id} could not be expired in {} ({last}); it ends by itself at {}",
                    s.url,
                    crate::clock::format_ms(s.ends_at)
                ),
            );
        }
    });
    futures_join_all(tasks).await;
}

/// At the end of the run, however it ended: nothing pending is asked for any more, and every
/// open silence is expired.
pub(super) async fn close_all(ctx: &Arc<Ctx>) {
    let _ = lock(&ctx.store).abandon_silences(ctx.run, None);
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
    let open: Vec<SilenceRow> = lock(&ctx.store)
        .silences(ctx.run)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.state == "open")
        .collect();
    expire_rows(ctx, None, open).await;
}

/// Expires what the dead runner of `run` left: its open silences, and any silence carrying the
/// run's marker in an Alertmanager it asked (it may have died before recording the id).
pub(super) async fn expire_left_behind(ctx: &Arc<Ctx>, run: i64) {
    let rows = lock(&ctx.store).silences(run).unwrap_or_default();
    let mut urls: Vec<String> = rows
        .iter()
        .filter(|s| s.state == "open" || s.state == "pending")
        .map(|s| s.url.clone())
        .collect();
    urls.dedup();
    if urls.is_empty() {
        return;
    }
    let _ = lock(&ctx.store).abandon_silences(run, None);
    let Ok(client) = &ctx.silences.client else {
        return;
    };
    let mut found = Vec::new();
    for url in &urls {
        match client.active_with(url, &marker(run)).await {
            Ok(ids) => found.extend(ids.into_iter().map(|id| (url.clone(), id))),
            Err(e) => ctx.say(
                None,
                "",
                format!("warning: cannot list the silences of {url} ({e}); those run #{run} left open end by themselves"),
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

/// Awaits every future, concurrently.
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    tasks: impl Iterator<Item = F>,
) {
    let handles: Vec<JoinHandle<()>> = tasks.map(tokio::spawn).collect();
    for h in handles {
        let _ = h.await;
    }
}
