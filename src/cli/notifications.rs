//! `pilote notifications [test NAME]`: what was posted to the webhooks, and a test post.
//!
//! Listing also kicks the deliverer: deliveries waiting for a `url_env` URL the last
//! deliverer did not have are sent by listing them from a shell that has it.

use serde_json::json;

use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::integrations::webhooks::{self, Sent};
use crate::settings::Workspace;
use crate::store::Store;
use crate::table;

pub fn list(ws: &Workspace, store: &Store, limit: i64, json: bool) -> Result<()> {
    webhooks::kick(ws, store);
    let deliveries = store.notify_deliveries(limit)?;
    if json {
        outln!(
            "{:#}",
            json!({ "webhooks": ws.settings.webhooks, "deliveries": deliveries })
        );
        return Ok(());
    }
    if ws.settings.webhooks.is_empty() {
        errln!(
            "no webhook is configured: add a [webhooks.NAME] table to {} (see `pilote init`'s template)",
            ws.config_dir.join(crate::settings::SETTINGS_FILE).display()
        );
    }
    for hook in &ws.settings.webhooks {
        if let Err(why) = hook.target.resolve() {
            errln!(
                "webhook `{}`: {why} here: its deliveries wait for a pilote run with it set",
                hook.name
            );
        }
    }
    let now = crate::clock::now_ms();
    let rows: Vec<Vec<String>> = deliveries
        .iter()
        .map(|d| {
            let status = d.last_status.map(|s| format!("HTTP {s}"));
            let detail = match d.state.as_str() {
                "delivered" => status.unwrap_or_default(),
                // Why it waits, if it waits for more than its turn (a URL out of reach).
                "pending" if d.attempts == 0 => d
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not sent yet".into()),
                "pending" if d.next_attempt_at > now => format!(
                    "{}; next attempt in {}",
                    d.last_error.as_deref().unwrap_or(""),
                    crate::core::duration::human_ms(d.next_attempt_at - now)
                ),
                "pending" => d.last_error.clone().unwrap_or_default(),
                _ => d.last_error.clone().unwrap_or_default(),
            };
            vec![
                crate::clock::format_ms(d.created_at),
                d.event.clone(),
                d.webhook.clone(),
                d.state.clone(),
                d.attempts.to_string(),
                detail,
            ]
        })
        .collect();
    outln!(
        "{}",
        table::render(
            &["WHEN", "EVENT", "WEBHOOK", "STATE", "ATTEMPTS", "DETAIL"],
            &rows
        )
        .trim_end()
    );
    Ok(())
}

pub fn test(ws: &Workspace, store: &mut Store, name: &str) -> Result<()> {
    let Some(hook) = ws.settings.webhooks.iter().find(|h| h.name == name) else {
        let known: Vec<&str> = ws
            .settings
            .webhooks
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        return Err(Error::BadInput(if known.is_empty() {
            format!(
                "no webhook `{name}`: none is configured (add [webhooks.{name}] to {})",
                ws.config_dir.join(crate::settings::SETTINGS_FILE).display()
            )
        } else {
            format!("no webhook `{name}`; configured: {}", known.join(", "))
        }));
    };
    // Which variable, and where it points now: a variable set to the wrong hook is a
    // classic, and the masked form is enough to tell.
    let target = match (&hook.target, hook.target.resolve()) {
        (crate::settings::Target::Env(_), Ok(url)) => {
            format!("{} = {}", hook.target.shown(), crate::core::url::mask(&url))
        }
        (_, Err(why)) => {
            return Err(Error::BadInput(format!(
                "webhook `{name}`: {why} here; set it and try again"
            )));
        }
        _ => hook.target.shown(),
    };
    let shown = format!("{} ({target}, {})", hook.name, hook.format.as_str());
    match webhooks::test(ws, store, hook, &Actor::current().name)? {
        Sent::Delivered { status, ms, body } => {
            outln!(
                "{shown}: accepted, HTTP {status} in {ms} ms{}",
                if body.is_empty() {
                    String::new()
                } else {
                    format!(": {body}")
                }
            );
            Ok(())
        }
        Sent::Retry { error, .. } => Err(Error::CheckFailed(format!(
            "{shown} did not take the test event: {error} (deliveries of real events are retried)"
        ))),
        Sent::Final { error, .. } => Err(Error::CheckFailed(format!(
            "{shown} refused the test event: {error}"
        ))),
    }
}
