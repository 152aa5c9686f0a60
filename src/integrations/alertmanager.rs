//! Prometheus Alertmanager, through its v2 API: silences a run opens over its targets while it
//! deploys, and expires once it ends.
//!
//! The matchers are `core::silence`'s.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::silence::Matcher;

/// Giving up on an Alertmanager that does not answer: a run never waits longer for it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_secs(5);

/// A silence to create.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    /// RFC 3339.
    pub starts_at: String,
    pub ends_at: String,
    pub created_by: String,
    pub comment: String,
}

impl NewSilence {
    /// A silence from now for `duration`.
    pub fn new(
        matchers: Vec<Matcher>,
        duration: Duration,
        created_by: String,
        comment: String,
    ) -> Self {
        let now = jiff::Timestamp::now();
        let end = now
            .checked_add(
                jiff::SignedDuration::try_from(duration).unwrap_or(jiff::SignedDuration::ZERO),
            )
            .unwrap_or(now);
        Self {
            matchers,
            starts_at: now.to_string(),
            ends_at: end.to_string(),
            created_by,
            comment,
        }
    }
}

/// A client for one workspace's Alertmanagers; cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
}

impl Client {
    pub fn new() -> Result<Self, String> {
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .map(|http| Self { http })
            .map_err(|e| format!("cannot set up an HTTP client: {e}"))
    }

    /// Creates a silence; returns its id.
    pub async fn create(&self, base: &str, silence: &NewSilence) -> Result<String, String> {
        #[derive(Deserialize)]
        struct Created {
            #[serde(rename = "silenceID")]
            silence_id: String,
        }
        let url = format!("{}/api/v2/silences", base.trim_end_matches('/'));
        let response = self
            .http
            .post(&url)
            .json(silence)
            .send()
            .await
            .map_err(describe)?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("answered {status}: {}", body.trim()));
        }
        response
            .json::<Created>()
            .await
            .map(|c| c.silence_id)
            .map_err(|e| {
                format!(
                    "answered something that is not a silence id: {}",
                    describe(e)
                )
            })
    }

    /// Expires silence `id`. One Alertmanager no longer knows (restarted without its data, or
    /// cleaned up) counts as expired: there is nothing left to end.
    pub async fn expire(&self, base: &str, id: &str) -> Result<(), String> {
        let url = format!("{}/api/v2/silence/{id}", base.trim_end_matches('/'));
        let response = self.http.delete(&url).send().await.map_err(describe)?;
        let status = response.status();
        if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        // Both mean there is nothing left to end (Alertmanager answers 500 to either).
        let body = response.text().await.unwrap_or_default();
        if body.contains("not found") || body.contains("already expired") {
            return Ok(());
        }
        Err(format!("answered {status}: {}", body.trim()))
    }
}

impl Client {
    /// The ids of the silences not over yet whose comment contains `marker`.
    pub async fn active_with(&self, base: &str, marker: &str) -> Result<Vec<String>, String> {
        #[derive(Deserialize)]
        struct Status {
            state: String,
        }
        #[derive(Deserialize)]
        struct Listed {
            id: String,
            status: Status,
            #[serde(default)]
            comment: String,
        }
        let url = format!("{}/api/v2/silences", base.trim_end_matches('/'));
        let response = self.http.get(&url).send().await.map_err(describe)?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("answered {status}"));
        }
        let listed: Vec<Listed> = response.json().await.map_err(|e| {
            format!(
                "answered something that is not a list of silences: {}",
                describe(e)
            )
        })?;
        Ok(listed
            .into_iter()
            .filter(|s| s.status.state != "expired" && s.comment.contains(marker))
            .map(|s| s.id)
            .collect())
    }
}

/// A request error in a few words, without the URL (it is said once, by the caller).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    if e.is_connect() {
        return "cannot connect".to_string();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
