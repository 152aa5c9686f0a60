//! `[webhooks.NAME]` checked: where run and request events are posted, in which format.
//!
//! A webhook URL is a secret (a Slack or Mattermost hook's path is its credential): it is
//! never shown whole. Its `Debug` and `Serialize` forms keep the scheme, host and port only,
//! and a diagnostic about it gives the position without echoing the line.

use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;
use toml::Spanned;

use super::files::WebhookDef;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::notify::{EVENTS, Format};

/// Attempts of a delivery unless `attempts` says otherwise: 1 + 6 retries backing off
/// 1, 2, 4, 8, 16, 32 s, about a minute of a receiver being down.
pub const DEFAULT_ATTEMPTS: u32 = 7;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One webhook, checked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Webhook {
    pub name: String,
    pub target: Target,
    pub format: Format,
    /// The events it receives (all of [`EVENTS`] unless `events` chose).
    pub events: Vec<String>,
    #[serde(serialize_with = "crate::core::duration::serialize")]
    pub timeout: Duration,
    pub attempts: u32,
}

impl Webhook {
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

/// Where a webhook's URL comes from.
#[derive(Clone)]
pub enum Target {
    Url(String),
    /// An environment variable, read by each process that would post (see `Reach`).
    Env(String),
}

impl Target {
    /// The URL to post to, now; why there is none in words.
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            Self::Url(u) => Ok(u.clone()),
            Self::Env(name) => {
                let url = std::env::var(name)
                    .map_err(|_| format!("environment variable {name} (url_env) is not set"))?;
                check_url(&url).map_err(|why| format!("{name} {why}"))?;
                Ok(url)
            }
        }
    }

    /// What may be shown of it: `https://chat.example.com/…`, or `$NAME`.
    pub fn shown(&self) -> String {
        match self {
            Self::Url(u) => crate::core::url::mask(u),
            Self::Env(name) => format!("${name}"),
        }
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

impl serde::Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.shown())
    }
}

/// Why a text is not a URL a webhook can post to; the URL itself is never in the reason.
pub fn check_url(text: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(text.trim())
        .map_err(|e| format!("is not a URL ({e}); expected \"https://host/path\""))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "has scheme `{}`; webhooks are posted over http or https only",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("names no host".into());
    }
    Ok(())
}

/// Checks every `[webhooks.NAME]`, adding each problem to `diags`; the webhooks without one.
pub(super) fn check(
    defs: &IndexMap<Spanned<String>, WebhookDef>,
    path: &Path,
    src: &str,
    diags: &mut Diagnostics,
) -> Vec<Webhook> {
    let mut out = Vec::new();
    let error = |span: std::ops::Range<usize>, message: String, expected: &str| {
        let mut d = Diagnostic::at(path, src, span, message).expected(expected);
        d.line = d.line.max(1);
        d
    };
    for (name, def) in defs {
        let n = name.get_ref();
        let mut problems = Vec::new();
        if !crate::core::automation::is_name(n) {
            problems.push(error(
                name.span(),
                format!("invalid webhook name `{n}`"),
                "lowercase letters, digits, `-` or `_`",
            ));
        }
        let target = match (&def.url, &def.url_env) {
            (Some(u), None) => match check_url(u.get_ref()) {
                Ok(()) => Some(Target::Url(u.get_ref().trim().to_string())),
                Err(why) => {
                    // The line holds the secret: the position is enough to find it.
                    problems.push(
                        error(
                            u.span(),
                            format!("`url` of webhook `{n}` {why}"),
                            "an http or https URL",
                        )
                        .without_snippet(),
                    );
                    None
                }
            },
            (None, Some(e)) => {
                let var = e.get_ref();
                let ok = var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if ok {
                    Some(Target::Env(var.clone()))
                } else {
                    problems.push(error(
                        e.span(),
                        format!("`{var}` is not an environment variable name"),
                        "letters, digits and `_`, like \"PILOTE_CHAT_WEBHOOK\"",
                    ));
                    None
                }
            }
            (Some(_), Some(e)) => {
                problems.push(error(
                    e.span(),
                    format!("webhook `{n}` has both `url` and `url_env`"),
                    "one of them: `url_env` keeps the secret URL out of the file",
                ));
                None
            }
            (None, None) => {
                problems.push(error(
                    name.span(),
                    format!("webhook `{n}` has no `url` or `url_env`"),
                    "`url_env = \"PILOTE_CHAT_WEBHOOK\"` (an environment variable holding the URL) or `url = \"https://...\"`",
                ));
                None
            }
        };
        let events = match &def.events {
            None => EVENTS.iter().map(|e| (*e).to_string()).collect(),
            Some(list) => {
                if list.get_ref().is_empty() {
                    problems.push(error(
                        list.span(),
                        format!("webhook `{n}` lists no event"),
                        "some of the events, or no `events` key for all of them",
                    ));
                }
                let mut events = Vec::new();
                for e in list.get_ref() {
                    if EVENTS.contains(&e.get_ref().as_str()) {
                        events.push(e.get_ref().clone());
                    } else {
                        problems.push(error(
                            e.span(),
                            format!("`{}` is not an event", e.get_ref()),
                            &format!("one of {}", EVENTS.join(", ")),
                        ));
                    }
                }
                events
            }
        };
        let timeout = match &def.timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) => match crate::core::duration::parse(t.get_ref()) {
                Ok(d) if d >= Duration::from_millis(100) && d <= Duration::from_secs(300) => d,
                _ => {
                    problems.push(error(
                        t.span(),
                        format!("`{}` is not a webhook timeout", t.get_ref()),
                        "a duration from 100ms to 5m, like \"10s\"",
                    ));
                    DEFAULT_TIMEOUT
                }
            },
        };
        let attempts = match &def.attempts {
            None => DEFAULT_ATTEMPTS,
            Some(a) if (1..=20).contains(a.get_ref()) => *a.get_ref(),
            Some(a) => {
                problems.push(error(
                    a.span(),
                    format!("{} attempts", a.get_ref()),
                    "from 1 to 20",
                ));
                DEFAULT_ATTEMPTS
            }
        };
        let failed = !problems.is_empty();
        for d in problems {
            diags.push(d);
        }
        if let (false, Some(target)) = (failed, target) {
            out.push(Webhook {
                name: n.clone(),
                target,
                format: def.format,
                events,
                timeout,
                attempts,
            });
        }
    }
    out
}
