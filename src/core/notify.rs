//! Notifications: the events people are told about, and the bodies a webhook receives.
//!
//! Pure: the deliverer (`integrations::webhooks`) finds the facts in the store and sends
//! the bodies built here. The generic JSON body is an API: its field names are frozen, and
//! every field is always present (null when it does not apply), so a receiver can rely on
//! the shape without knowing the event.

use serde::Serialize;

/// The events a webhook can subscribe to, in the order they are documented.
pub const EVENTS: &[&str] = &[
    "run.started",
    "run.waiting",
    "run.succeeded",
    "run.failed",
    "run.cancelled",
    "run.interrupted",
    "run.rolled_back",
    "request.approval_needed",
];

/// Sent by `pilote notifications test`; never subscribed to, always accepted.
pub const TEST_EVENT: &str = "test";

/// One event with the facts a person needs to act on it.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// One of [`EVENTS`], or [`TEST_EVENT`].
    pub event: String,
    /// When it happened, RFC 3339 UTC.
    pub at: String,
    /// The audit event it comes from: the same number on a retried delivery, so a receiver
    /// that sees it twice can tell.
    pub audit_seq: Option<i64>,
    /// That audit event's hash: the trail's head when it was recorded (for a run's end, in
    /// the same transaction), so a receiver can anchor the trail outside pilote and
    /// `pilote audit verify` be checked against it later.
    pub audit_hash: Option<String>,
    pub workspace: String,
    pub app: Option<String>,
    pub env: Option<String>,
    pub run: Option<RunFacts>,
    pub request: Option<RequestFacts>,
    /// Who made the change (the OS user).
    pub actor: String,
    /// For `run.waiting`: what the gate asks and how to answer it.
    pub gate: Option<GateFacts>,
    /// For `request.approval_needed`: which env waits for whom.
    pub approval: Option<ApprovalFacts>,
    /// The one-line message for people; filled by [`Notice::with_text`].
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunFacts {
    pub id: i64,
    /// deploy, rollback or adhoc.
    pub kind: String,
    pub state: String,
    pub outcome: Option<String>,
    /// The run a rollback undoes.
    pub rollback_of: Option<i64>,
    pub started_by: String,
    /// From start to end, once it ended.
    pub duration_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestFacts {
    pub id: i64,
    pub version: String,
    pub title: String,
    pub state: String,
    pub lifecycle: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GateFacts {
    pub prompt: String,
    /// The commands that answer it.
    pub confirm: String,
    pub abort: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApprovalFacts {
    pub env: String,
    pub needed: u32,
    pub given: u32,
    /// needed - given: how many more people must approve.
    pub missing: u32,
    /// The group the approvers must belong to, and its members; anyone but the requester
    /// and the plan's author when unset.
    pub group: Option<String>,
    pub members: Vec<String>,
    /// The command an approver types.
    pub command: String,
}

/// How a webhook wants its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A Slack (or Mattermost) incoming webhook: `text`, `username`, a coloured attachment.
    Slack,
    /// The [`Notice`] itself.
    #[default]
    Json,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Json => "json",
        }
    }
}

/// RFC 3339 UTC, to the second, for a stored time in ms.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

impl Notice {
    /// The notice with its one-line message written.
    pub fn with_text(mut self) -> Self {
        self.text = self.message();
        self
    }

    /// The body to POST in `format`. Text rather than a JSON value: the generic body keeps
    /// its fields in the documented order.
    pub fn body(&self, format: Format) -> String {
        match format {
            // Serialising plain fields cannot fail.
            Format::Json => serde_json::to_string(self).unwrap_or_default(),
            Format::Slack => serde_json::to_string(&self.slack()).unwrap_or_default(),
        }
    }

    /// "pets on preprod" / "pets" / "" as far as the facts go.
    fn place(&self) -> String {
        match (&self.app, &self.env) {
            (Some(app), Some(env)) => format!("{app} on {env}"),
            (Some(app), None) => app.clone(),
            (None, Some(env)) => env.clone(),
            (None, None) => String::new(),
        }
    }

    fn run_label(&self) -> String {
        match &self.run {
            Some(r) => format!("run #{} ({})", r.id, r.kind),
            None => "a run".into(),
        }
    }

    fn request_label(&self) -> String {
        match &self.request {
            Some(r) => format!(
                " for request #{} ({} {})",
                r.id,
                self.app_or_blank(),
                r.version
            ),
            None => String::new(),
        }
    }

    fn app_or_blank(&self) -> &str {
        self.app.as_deref().unwrap_or("")
    }

    /// The message people read first, in words for 3 a.m.: what happened, where, and the
    /// command that deals with it.
    fn message(&self) -> String {
        let ws = &self.workspace;
        let place = self.place();
        let run = self.run_label();
        let request = self.request_label();
        let outcome = self
            .run
            .as_ref()
            .and_then(|r| r.outcome.clone())
            .filter(|o| !o.is_empty());
        let id = self.run.as_ref().map_or(0, |r| r.id);
        let took = self
            .run
            .as_ref()
            .and_then(|r| r.duration_ms)
            .map(|ms| format!(" in {}", crate::core::duration::human_ms(ms)))
            .unwrap_or_default();
        let what = match self.event.as_str() {
            "run.started" => format!("{run} of {place} started by {}{request}", self.actor),
            "run.waiting" => {
                let prompt = self.gate.as_ref().map_or("", |g| g.prompt.as_str());
                format!(
                    "{run} of {place} waits at a gate: {prompt} (`pilote gate {id} --confirm` or `--abort`)"
                )
            }
            "run.succeeded" => format!("{run} of {place} succeeded{took}{request}"),
            "run.failed" => format!(
                "{run} of {place} FAILED{took}{request}: {}; `pilote logs {id}`",
                outcome.as_deref().unwrap_or("no reason recorded")
            ),
            "run.cancelled" => format!("{run} of {place} was cancelled by {}", self.actor),
            "run.interrupted" => format!(
                "{run} of {place} was INTERRUPTED (its runner is gone): `pilote resume {id}`, or `pilote rollback {} --env {}`",
                self.app_or_blank(),
                self.env.as_deref().unwrap_or("")
            ),
            "run.rolled_back" => format!(
                "{place} rolled back{took}: {run} undid {}{request}",
                self.run
                    .as_ref()
                    .and_then(|r| r.rollback_of)
                    .map_or_else(|| "the last run".to_string(), |of| format!("run #{of}"))
            ),
            "request.approval_needed" => match (&self.request, &self.approval) {
                (Some(r), Some(a)) => format!(
                    "request #{} ({} {}) needs {} more approval(s) for {}{}: `{}`",
                    r.id,
                    self.app_or_blank(),
                    r.version,
                    a.missing,
                    a.env,
                    a.group
                        .as_ref()
                        .map(|g| format!(" from {g} ({})", a.members.join(", ")))
                        .unwrap_or_default(),
                    a.command
                ),
                _ => "a request needs approvals".into(),
            },
            TEST_EVENT => format!(
                "test notification sent by {}: this webhook receives pilote's events",
                self.actor
            ),
            other => format!("{other} on {place}"),
        };
        format!("[{ws}] {what}")
    }

    /// Slack's incoming-webhook body, which Mattermost also accepts: the message, and an
    /// attachment coloured by outcome with the facts as short fields.
    fn slack(&self) -> SlackBody {
        let color = match self.event.as_str() {
            "run.succeeded" | "run.rolled_back" => "#2eb67d",
            "run.failed" | "run.interrupted" => "#e01e5a",
            "run.waiting" | "request.approval_needed" => "#ecb22e",
            _ => "#439fe0",
        };
        let mut fields = Vec::new();
        let mut field = |title: &'static str, value: String| {
            fields.push(SlackField {
                title,
                value: slack_escape(&value),
                short: true,
            });
        };
        if let Some(app) = &self.app {
            field("app", app.clone());
        }
        if let Some(env) = &self.env {
            field("env", env.clone());
        }
        if let Some(r) = &self.run {
            field("run", format!("#{} {} ({})", r.id, r.kind, r.state));
        }
        if let Some(r) = &self.request {
            field("request", format!("#{} {}", r.id, r.version));
        }
        field("by", self.actor.clone());
        let text = slack_escape(&self.text);
        SlackBody {
            attachments: vec![SlackAttachment {
                color,
                fallback: text.clone(),
                fields,
            }],
            text,
            username: "pilote",
        }
    }
}

/// Slack's incoming-webhook message, fields in the order its documentation shows them.
#[derive(Serialize)]
struct SlackBody {
    text: String,
    username: &'static str,
    attachments: Vec<SlackAttachment>,
}

#[derive(Serialize)]
struct SlackAttachment {
    color: &'static str,
    fallback: String,
    fields: Vec<SlackField>,
}

#[derive(Serialize)]
struct SlackField {
    title: &'static str,
    value: String,
    short: bool,
}

/// Slack reads `<...>` as links and mentions (`<!channel>`): a request title or a gate
/// prompt must not ping a whole channel. Its format escapes exactly these three.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> Notice {
        Notice {
            event: "run.failed".into(),
            at: rfc3339(1_790_000_000_000),
            audit_seq: Some(12),
            audit_hash: Some("ab".repeat(32)),
            workspace: "demo".into(),
            app: Some("pets".into()),
            env: Some("preprod".into()),
            run: Some(RunFacts {
                id: 3,
                kind: "deploy".into(),
                state: "failed".into(),
                outcome: Some("step `stop` exited with code 7".into()),
                rollback_of: None,
                started_by: "ops".into(),
                duration_ms: Some(61_200),
            }),
            request: Some(RequestFacts {
                id: 1,
                version: "1.4.0".into(),
                title: "<!channel> pets & co".into(),
                state: "failed".into(),
                lifecycle: "standard".into(),
            }),
            actor: "ops".into(),
            gate: None,
            approval: None,
            text: String::new(),
        }
        .with_text()
    }

    #[test]
    fn the_message_says_what_where_and_what_to_type() {
        let n = failed();
        assert_eq!(
            n.text,
            "[demo] run #3 (deploy) of pets on preprod FAILED in 1m01s for request #1 (pets 1.4.0): \
             step `stop` exited with code 7; `pilote logs 3`"
        );
        assert_eq!(n.at, "2026-09-21T14:13:20Z");
    }

    #[test]
    fn the_json_body_keeps_every_field_even_empty_ones() {
        let body = failed().body(Format::Json);
        let keys: Vec<&str> = body
            .match_indices("\":")
            .filter_map(|(i, _)| body[..i].rsplit_once('"').map(|(_, k)| k))
            .collect();
        let top = [
            "event",
            "at",
            "audit_seq",
            "audit_hash",
            "workspace",
            "app",
            "env",
            "run",
            "request",
            "actor",
            "gate",
            "approval",
            "text",
        ];
        // Nested objects' keys come in between: the top level ones appear in this order.
        let mut at = 0;
        for k in top {
            at += keys[at..].iter().position(|x| *x == k).expect(k);
        }
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert!(v["gate"].is_null() && v["approval"].is_null());
    }

    #[test]
    fn slack_text_cannot_mention_a_channel() {
        let mut n = failed();
        n.text = "<!channel> & <https://evil|click>".into();
        let body: serde_json::Value = serde_json::from_str(&n.body(Format::Slack)).expect("json");
        assert_eq!(
            body["text"],
            "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"
        );
        assert_eq!(body["attachments"][0]["color"], "#e01e5a");
    }
}
