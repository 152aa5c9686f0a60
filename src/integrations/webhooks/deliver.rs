//! The deliverer (`pilote __notify`): reads the trail into the outbox, posts what is due,
//! retries with backoff, and exits once nothing is left to do. Webhooks are posted to
//! concurrently; each one gets its deliveries one at a time, oldest first (a delivery
//! waiting for its retry does not hold the next ones back).
//!
//! Posting: connect timeout 3 s (or the webhook's timeout if shorter), total `timeout`
//! (10 s by default), `TCP_NODELAY`, no redirects (a body must not follow a redirect to
//! another host). A connection error, a timeout, 408, 429 or 5xx is retried after 1, 2, 4,
//! 8... s (a 429's Retry-After, if longer, up to 5 min); another answer outside 2xx is final.
//! The URL never leaves memory: errors are stripped of it and show the masked form.
//!
//! URLs are read once, when the deliverer starts (see [`Reach`]): a webhook whose URL it
//! cannot read is not posted to, and its deliveries wait, saying why.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::kick::{Reach, take_lease};
use super::trail;
use crate::settings::{Webhook, Workspace};
use crate::store::{Attempt, Delivery, NewDelivery, Store, StoreError};

/// Deliveries posted at once, at most.
const IN_FLIGHT: usize = 16;
/// How often the trail is read for new events while deliveries wait for their retry.
const POLL: Duration = Duration::from_millis(200);
/// Events read from the trail per transaction.
const PAGE: i64 = 500;
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What one attempt came to.
#[derive(Debug)]
pub enum Sent {
    /// A 2xx answer, in that many ms.
    Delivered { status: u16, ms: u128, body: String },
    /// Worth trying again later; `after` is the receiver's own Retry-After.
    Retry {
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
    },
    /// Trying again would not help (a 4xx, a missing URL).
    Final { status: Option<u16>, error: String },
}

/// The deliverer's life: holds the lease while there is something to do, then lets go and
/// looks once more before exiting.
pub fn serve(ws: &Workspace, store: &mut Store) -> Result<(), StoreError> {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the deliverer's runtime: {e}");
            return Ok(());
        }
    };
    let mut clients = HashMap::new();
    for hook in &ws.settings.webhooks {
        match client(hook) {
            Ok(c) => {
                clients.insert(hook.name.clone(), c);
            }
            Err(e) => {
                eprintln!("cannot build the http client: {}", e.without_url());
                return Ok(());
            }
        }
    }
    super::kick::arm(ws, store)?;
    let reach = Reach::here(ws);
    let configured: Vec<&str> = ws
        .settings
        .webhooks
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    store.notify_forget(&configured)?;
    // For its whole life: the trail may be read across several passes.
    let mut said = trail::Said::default();
    loop {
        let lease = match take_lease(ws) {
            Ok(Some(l)) => l,
            // Another deliverer has it: it will see what we were kicked for.
            Ok(None) => return Ok(()),
            Err(e) => {
                eprintln!("cannot take the deliverer's lease: {e}");
                return Ok(());
            }
        };
        runtime.block_on(until_idle(ws, store, &clients, &reach, &mut said))?;
        drop(lease);
        // A kick that found the lease held just before it was released relies on this look.
        if !store.notify_backlog(&reach.names())? {
            return Ok(());
        }
    }
}

/// A client for one webhook: its timeouts are the client's.
fn client(hook: &Webhook) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(hook.timeout.min(CONNECT_TIMEOUT))
        .timeout(hook.timeout)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("pilote/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Reads the trail and posts deliveries until none it can post is pending and nothing new
/// came in. Deliveries to a webhook out of its reach are queued and left waiting.
async fn until_idle(
    ws: &Workspace,
    store: &mut Store,
    clients: &HashMap<String, reqwest::Client>,
    reach: &Reach,
    said: &mut trail::Said,
) -> Result<(), StoreError> {
    let hooks: HashMap<&str, (&Webhook, &reqwest::Client, &String)> = ws
        .settings
        .webhooks
        .iter()
        .filter_map(|h| {
            let url = reach.urls.get(&h.name)?;
            Some((h.name.as_str(), (h, clients.get(&h.name)?, url)))
        })
        .collect();
    let reachable = reach.names();
    let mut hold = true;
    let mut flying: JoinSet<(Delivery, Sent)> = JoinSet::new();
    // Webhooks with a post in flight: one at a time each, oldest first, so a channel reads
    // "started" before "succeeded"; different webhooks are posted to at once.
    let mut busy: HashMap<tokio::task::Id, String> = HashMap::new();
    loop {
        if read_trail(ws, store, said)? > 0 || hold {
            for (webhook, why) in &reach.unreachable {
                store.notify_hold(webhook, &held(ws, webhook, why))?;
            }
            hold = false;
        }
        let now = crate::clock::now_ms();
        for d in store.notify_due(now, 100, &reachable)? {
            if busy.len() >= IN_FLIGHT {
                break;
            }
            if busy.values().any(|w| *w == d.webhook) {
                continue;
            }
            let Some((hook, client, url)) = hooks.get(d.webhook.as_str()) else {
                continue;
            };
            let (client, hook, url) = ((*client).clone(), (*hook).clone(), (*url).clone());
            let webhook = d.webhook.clone();
            let task = flying.spawn(async move {
                let sent = post(&client, &hook, &url, &d.body).await;
                (d, sent)
            });
            busy.insert(task.id(), webhook);
        }
        if busy.is_empty() && store.notify_next_due(&reachable)?.is_none() {
            return Ok(());
        }
        tokio::select! {
            Some(done) = flying.join_next_with_id(), if !flying.is_empty() => match done {
                Ok((task, (d, sent))) => {
                    busy.remove(&task);
                    if let Some((hook, _, _)) = hooks.get(d.webhook.as_str()) {
                        record(store, hook, &d, &sent)?;
                    }
                }
                // A post that panicked stays pending and is tried again.
                Err(e) => {
                    busy.remove(&e.id());
                }
            },
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// What a delivery out of this deliverer's reach says while it waits.
fn held(ws: &Workspace, webhook: &str, why: &str) -> String {
    let var = ws
        .settings
        .webhooks
        .iter()
        .find(|h| h.name == webhook)
        .map_or_else(String::new, |h| h.target.shown());
    format!("waiting: {why} for the deliverer; `pilote notifications` run with {var} set sends it")
}

/// Turns the audit events past the cursor into deliveries for the webhooks that want them;
/// how many it queued.
fn read_trail(
    ws: &Workspace,
    store: &mut Store,
    said: &mut trail::Said,
) -> Result<usize, StoreError> {
    let mut count = 0;
    loop {
        let Some(cursor) = store.notify_cursor()? else {
            return Ok(count);
        };
        let events = store.audit_after(cursor, PAGE)?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(count);
        };
        let mut bodies = Vec::new();
        for e in &events {
            for n in trail::notices(ws, store, e, said)? {
                for hook in ws.settings.webhooks.iter().filter(|h| h.wants(&n.event)) {
                    bodies.push((
                        e.seq,
                        hook.name.clone(),
                        n.event.clone(),
                        n.body(hook.format),
                    ));
                }
            }
        }
        let queued: Vec<NewDelivery<'_>> = bodies
            .iter()
            .map(|(seq, hook, event, body)| NewDelivery {
                audit_seq: Some(*seq),
                webhook: hook,
                event,
                body,
            })
            .collect();
        store.notify_enqueue(last, &queued)?;
        count += queued.len();
        if events.len() < PAGE as usize {
            return Ok(count);
        }
    }
}

/// Records an attempt: delivered, retried later with backoff, or given up.
fn record(store: &mut Store, hook: &Webhook, d: &Delivery, sent: &Sent) -> Result<(), StoreError> {
    let now = crate::clock::now_ms();
    let attempt = d.attempts + 1;
    let url = hook.target.shown();
    let (state, status, error, next_at) = match sent {
        Sent::Delivered { status, .. } => {
            tracing::info!(webhook = %hook.name, %url, event = %d.event, status, attempt, "webhook delivered");
            ("delivered", Some(*status), None, now)
        }
        Sent::Final { status, error } => {
            tracing::warn!(webhook = %hook.name, %url, event = %d.event, attempt, %error, "webhook delivery failed for good");
            ("failed", *status, Some(error.as_str()), now)
        }
        Sent::Retry {
            status,
            error,
            after,
        } => {
            if attempt >= i64::from(hook.attempts) {
                tracing::warn!(webhook = %hook.name, %url, event = %d.event, attempt, %error, "webhook delivery given up");
                ("failed", *status, Some(error.as_str()), now)
            } else {
                let wait = backoff(attempt)
                    .max(after.unwrap_or_default())
                    .min(MAX_BACKOFF);
                tracing::info!(webhook = %hook.name, %url, event = %d.event, attempt, %error, retry_in_ms = wait.as_millis() as u64, "webhook delivery will be retried");
                let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                (
                    "pending",
                    *status,
                    Some(error.as_str()),
                    now.saturating_add(wait),
                )
            }
        }
    };
    store.notify_attempted(
        d.id,
        &Attempt {
            state,
            status,
            error,
            next_at,
        },
    )
}

/// The wait after the `attempt`-th failed attempt: 1, 2, 4, 8... s.
fn backoff(attempt: i64) -> Duration {
    let exp = u32::try_from(attempt.clamp(1, 20) - 1).unwrap_or(0);
    Duration::from_secs(1u64 << exp)
}

/// Posts `body` to the webhook at `url` once.
pub(super) async fn post(client: &reqwest::Client, hook: &Webhook, url: &str, body: &str) -> Sent {
    let started = Instant::now();
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await;
    let scrub = |text: String| scrub(&text, url);
    match response {
        Err(e) => Sent::Retry {
            status: None,
            error: scrub(describe(e.without_url(), hook.timeout)),
            after: None,
        },
        Ok(resp) => {
            let status = resp.status();
            let after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = scrub(answer(resp).await);
            let code = status.as_u16();
            if status.is_success() {
                return Sent::Delivered {
                    status: code,
                    ms: started.elapsed().as_millis(),
                    body: text,
                };
            }
            let error = if text.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {text}")
            };
            if status.is_server_error() || code == 429 || code == 408 {
                Sent::Retry {
                    status: Some(code),
                    error,
                    after,
                }
            } else {
                Sent::Final {
                    status: Some(code),
                    error: if status.is_redirection() {
                        format!("{error} (redirects are not followed: give the final URL)")
                    } else {
                        error
                    },
                }
            }
        }
    }
}

/// The first 200 characters of an answer, on one line: enough to read "invalid_payload"
/// or "no_service", never a whole error page.
async fn answer(mut resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= 4096 {
            break;
        }
    }
    String::from_utf8_lossy(&body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect::<String>()
        .trim()
        .to_string()
}

/// A receiver may echo the URL it was called at: its secret part goes before the text is
/// kept anywhere.
fn scrub(text: &str, url: &str) -> String {
    let masked = crate::core::url::mask(url);
    let mut out = text.replace(url, &masked);
    if let Some((_, rest)) = url.split_once("://")
        && let Some(slash) = rest.find(['/', '?'])
        && rest.len() - slash > 1
    {
        out = out.replace(&rest[slash..], "/…");
    }
    out
}

fn seconds(d: Duration) -> String {
    crate::core::duration::format(d)
}

/// A short reason for a failed request, the URL already gone from the error.
fn describe(e: reqwest::Error, timeout: Duration) -> String {
    use std::error::Error as _;
    if e.is_connect() && e.is_timeout() {
        return "connect timeout".into();
    }
    if e.is_timeout() {
        return format!("timed out after {}", seconds(timeout));
    }
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
                _ => {}
            }
        }
        source = err.source();
    }
    let mut cause: &dyn std::error::Error = &e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_connect() {
        format!("connection failed: {cause}")
    } else {
        format!("request failed: {cause}")
    }
}

/// `pilote notifications test NAME`: one test event posted now, recorded with its answer.
pub fn test(
    ws: &Workspace,
    store: &mut Store,
    hook: &Webhook,
    actor: &str,
) -> Result<Sent, StoreError> {
    let notice = trail::test_notice(ws, actor);
    let body = notice.body(hook.format);
    let sent = match (
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        client(hook),
        hook.target.resolve(),
    ) {
        (Ok(rt), Ok(client), Ok(url)) => rt.block_on(post(&client, hook, &url, &body)),
        (Err(e), _, _) => Sent::Final {
            status: None,
            error: format!("cannot start a runtime: {e}"),
        },
        (_, Err(e), _) => Sent::Final {
            status: None,
            error: format!("cannot build the http client: {}", e.without_url()),
        },
        (_, _, Err(error)) => Sent::Final {
            status: None,
            error,
        },
    };
    let now = crate::clock::now_ms();
    let (state, status, error) = match &sent {
        Sent::Delivered { status, .. } => ("delivered", Some(*status), None),
        Sent::Retry { status, error, .. } | Sent::Final { status, error } => {
            ("failed", *status, Some(error.as_str()))
        }
    };
    store.notify_record(
        &NewDelivery {
            audit_seq: None,
            webhook: &hook.name,
            event: &notice.event,
            body: &body,
        },
        &Attempt {
            state,
            status,
            error,
            next_at: now,
        },
    )?;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second() {
        let waits: Vec<u64> = (1..=7).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64]);
    }

    #[test]
    fn the_secret_part_of_an_echoed_url_is_scrubbed() {
        let url = "https://chat.example.com/hooks/abc123";
        assert_eq!(
            scrub(
                "no hook at https://chat.example.com/hooks/abc123 (/hooks/abc123)",
                url
            ),
            "no hook at https://chat.example.com/… (/…)"
        );
    }
}
