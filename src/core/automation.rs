//! The automation catalog: reusable technical processes, each a list of typed steps.
//!
//! A catalog file maps automation names to definitions:
//!
//! ```toml
//! [jboss-stop]
//! description = "Stop the JBoss instances"
//! domain = "war"
//! [jboss-stop.params.grace]
//! type = "duration"
//! default = "30s"
//! [[jboss-stop.steps]]
//! name = "stop"
//! kind = "ssh"
//! script = "jboss-cli.sh --connect command=:shutdown(timeout=$GRACE)"
//! ```

use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::diagnostic::Diagnostics;
use super::duration;
use super::source::SourceFile;
use super::value::{self, ParamType, Value};

/// Names available to `${...}` in step fields besides the automation's own parameters.
pub const BUILTINS: &[&str] = &[
    "app", "env", "host", "address", "domain", "version", "data_dir", "run",
];

/// How long a `silence` step may silence alerts.
const MIN_SILENCE: Duration = Duration::from_secs(60);
const MAX_SILENCE: Duration = Duration::from_secs(24 * 3600);

/// Environment variable names a parameter may not take: they would change how scripts run.
const RESERVED_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "SHELL", "IFS", "PWD", "LANG", "TERM", "ENV", "CDPATH", "TMPDIR",
];

/// One automation, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Automation {
    pub name: String,
    pub description: String,
    /// The domain whose hosts host-bound steps run on; `None` for automations that only run
    /// on the jump host.
    pub domain: Option<String>,
    /// Whether running it changes something on the targets, so a plan must say how to undo it.
    pub changes_state: bool,
    pub params: Vec<Param>,
    pub steps: Vec<Step>,
    /// Where it is defined (`file:line`), for listings.
    pub defined_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Param {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    pub default: Option<Value>,
    pub description: String,
}

impl Param {
    /// The environment variable a script reads this parameter from.
    pub fn env_name(&self) -> String {
        self.name.to_ascii_uppercase()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    Shell,
    Ssh,
    Copy,
    Http,
    Wait,
    Gate,
    Silence,
    Unsilence,
    Ansible,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shell => "shell",
            Self::Ssh => "ssh",
            Self::Copy => "copy",
            Self::Http => "http",
            Self::Wait => "wait",
            Self::Gate => "gate",
            Self::Silence => "silence",
            Self::Unsilence => "unsilence",
            Self::Ansible => "ansible",
        }
    }

    /// "a `shell`", "an `ssh`": the kind as a sentence names it (by how it is said).
    pub fn with_article(self) -> String {
        let article = match self {
            Self::Ssh | Self::Http | Self::Unsilence | Self::Ansible => "an",
            _ => "a",
        };
        format!("{article} `{}`", self.as_str())
    }

    /// Whether the step runs once per target host (else once, on the jump host).
    pub fn per_host(self) -> bool {
        matches!(self, Self::Ssh | Self::Copy)
    }

    /// Whether the step needs the automation to name a domain.
    fn needs_domain(self) -> bool {
        matches!(
            self,
            Self::Ssh | Self::Copy | Self::Ansible | Self::Silence | Self::Unsilence
        )
    }

    fn default_timeout(self) -> Duration {
        match self {
            Self::Http => Duration::from_secs(30),
            Self::Gate => Duration::from_secs(24 * 3600),
            Self::Silence | Self::Unsilence => Duration::from_secs(30),
            _ => Duration::from_secs(600),
        }
    }

    /// The kind-specific fields: (field, required).
    fn fields(self) -> &'static [(&'static str, bool)] {
        match self {
            Self::Shell | Self::Ssh => &[("script", true)],
            Self::Copy => &[("artifact", true), ("dest", true), ("mode", false)],
            Self::Http => &[
                ("url", true),
                ("method", false),
                ("expect_status", false),
                ("expect_body", false),
                ("max_latency", false),
                ("probes", false),
                ("headers", false),
                ("basic_auth", false),
            ],
            Self::Wait => &[("duration", true)],
            Self::Gate => &[("prompt", true)],
            Self::Silence => &[("duration", false), ("comment", false)],
            Self::Unsilence => &[],
            Self::Ansible => &[("playbook", true), ("tags", false)],
        }
    }
}

/// What one step does, with its kind-specific settings.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StepAction {
    Shell {
        script: String,
    },
    Ssh {
        script: String,
    },
    /// Copies the artifact named by parameter `artifact` to `dest` on each host.
    Copy {
        artifact: String,
        dest: String,
        /// The mode of the copy on the target (octal; default 0644): not the vault blob's.
        #[serde(serialize_with = "ser_mode")]
        mode: u32,
    },
    Http {
        method: String,
        /// Shown with its credentials masked (see [`super::url::mask_credentials`]).
        #[serde(serialize_with = "ser_url")]
        url: String,
        expect_status: u16,
        expect_body: Option<String>,
        #[serde(serialize_with = "ser_opt_duration")]
        max_latency: Option<Duration>,
        probes: u32,
        /// Sent with every probe. In these and in `basic_auth`, as in `url`, a secret
        /// parameter's `${...}` gives its value (which only the request sees).
        headers: IndexMap<String, String>,
        basic_auth: Option<BasicAuth>,
    },
    Wait {
        #[serde(serialize_with = "duration::serialize")]
        duration: Duration,
    },
    Gate {
        prompt: String,
    },
    Silence {
        #[serde(serialize_with = "duration::serialize")]
        duration: Duration,
        comment: String,
    },
    Unsilence,
    /// Runs `playbook` (relative to the config dir) over the domain's hosts.
    Ansible {
        playbook: String,
        /// Given to `--tags`: only the tasks so tagged run.
        tags: Option<String>,
    },
}

/// An `http` step's `basic_auth = { user = "...", password = "${secret}" }`.
#[derive(Debug, Clone, Serialize)]
pub struct BasicAuth {
    pub user: String,
    pub password: String,
}

fn ser_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&super::url::mask_credentials(url))
}

fn ser_mode<S: serde::Serializer>(m: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{m:04o}"))
}

/// What a copy is given on the target when its step names no `mode`: readable by the
/// application server's account, whoever that is.
pub const DEFAULT_COPY_MODE: u32 = 0o644;

fn ser_opt_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&duration::format(*d)),
        None => s.serialize_none(),
    }
}

impl StepAction {
    pub fn kind(&self) -> StepKind {
        match self {
            Self::Shell { .. } => StepKind::Shell,
            Self::Ssh { .. } => StepKind::Ssh,
            Self::Copy { .. } => StepKind::Copy,
            Self::Http { .. } => StepKind::Http,
            Self::Wait { .. } => StepKind::Wait,
            Self::Gate { .. } => StepKind::Gate,
            Self::Silence { .. } => StepKind::Silence,
            Self::Unsilence => StepKind::Unsilence,
            Self::Ansible { .. } => StepKind::Ansible,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    #[serde(flatten)]
    pub action: StepAction,
    #[serde(serialize_with = "duration::serialize")]
    pub timeout: Duration,
    pub retries: u32,
    #[serde(serialize_with = "duration::serialize")]
    pub backoff: Duration,
    pub continue_on_error: bool,
    /// How many hosts at once; 0 = all.
    pub parallelism: u32,
    /// How many host failures are tolerated before the step fails and stops launching hosts.
    pub max_failures: u32,
}

/// All automations of a workspace, by name.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalog {
    pub automations: Vec<Automation>,
}

impl Catalog {
    pub fn get(&self, name: &str) -> Option<&Automation> {
        self.automations.iter().find(|a| a.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.automations.iter().map(|a| a.name.as_str())
    }
}

// ---- file shapes ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AutomationDef {
    #[serde(default)]
    description: String,
    domain: Option<Spanned<String>>,
    #[serde(default = "yes")]
    changes_state: bool,
    #[serde(default)]
    params: IndexMap<Spanned<String>, ParamDef>,
    steps: Spanned<Vec<StepDef>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamDef {
    #[serde(rename = "type")]
    ty: ParamType,
    default: Option<Spanned<toml::Value>>,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepDef {
    name: Spanned<String>,
    kind: Spanned<StepKind>,
    script: Option<Spanned<String>>,
    artifact: Option<Spanned<String>>,
    dest: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    method: Option<Spanned<String>>,
    expect_status: Option<Spanned<u16>>,
    expect_body: Option<Spanned<String>>,
    max_latency: Option<Spanned<String>>,
    probes: Option<Spanned<u32>>,
    headers: Option<Spanned<IndexMap<Spanned<String>, Spanned<String>>>>,
    basic_auth: Option<Spanned<BasicAuthDef>>,
    duration: Option<Spanned<String>>,
    prompt: Option<Spanned<String>>,
    comment: Option<Spanned<String>>,
    playbook: Option<Spanned<String>>,
    tags: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    retries: u32,
    backoff: Option<Spanned<String>>,
    #[serde(default)]
    continue_on_error: bool,
    #[serde(default)]
    parallelism: u32,
    #[serde(default)]
    max_failures: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BasicAuthDef {
    user: Spanned<String>,
    password: Spanned<String>,
}

impl StepDef {
    /// The span of a kind-specific field if it was written.
    fn field_span(&self, field: &str) -> Option<std::ops::Range<usize>> {
        let s = |v: &Option<Spanned<String>>| v.as_ref().map(Spanned::span);
        match field {
            "script" => s(&self.script),
            "artifact" => s(&self.artifact),
            "dest" => s(&self.dest),
            "mode" => s(&self.mode),
            "url" => s(&self.url),
            "method" => s(&self.method),
            "expect_status" => self.expect_status.as_ref().map(Spanned::span),
            "expect_body" => s(&self.expect_body),
            "max_latency" => s(&self.max_latency),
            "probes" => self.probes.as_ref().map(Spanned::span),
            "headers" => self.headers.as_ref().map(Spanned::span),
            "basic_auth" => self.basic_auth.as_ref().map(Spanned::span),
            "duration" => s(&self.duration),
            "prompt" => s(&self.prompt),
            "comment" => s(&self.comment),
            "playbook" => s(&self.playbook),
            "tags" => s(&self.tags),
            _ => None,
        }
    }
}

const KIND_FIELDS: &[&str] = &[
    "script",
    "artifact",
    "dest",
    "mode",
    "url",
    "method",
    "expect_status",
    "expect_body",
    "max_latency",
    "probes",
    "headers",
    "basic_auth",
    "duration",
    "prompt",
    "comment",
    "playbook",
    "tags",
];

// ---- parsing and checks --------------------------------------------------------------------

/// Parses and checks catalog files; every problem of every file is reported. Automations with
/// errors are left out of the catalog.
pub fn parse_catalog(files: &[SourceFile], diags: &mut Diagnostics) -> Catalog {
    let mut catalog = Catalog::default();
    let mut defined: IndexMap<String, String> = IndexMap::new();
    for file in files {
        let defs: IndexMap<Spanned<String>, AutomationDef> = match toml::from_str(&file.text) {
            Ok(d) => d,
            Err(e) => {
                diags.push(super::diagnostic::Diagnostic::from_toml(
                    file.path(),
                    &file.text,
                    &e,
                ));
                continue;
            }
        };
        for (name, def) in &defs {
            let at = format!(
                "{}:{}",
                file.path.display(),
                file.line_of(name.span().start)
            );
            if let Some(first) = defined.get(name.get_ref()) {
                diags.push(file.at(
                    name,
                    format!(
                        "automation `{}` is already defined at {first}",
                        name.get_ref()
                    ),
                ));
                continue;
            }
            defined.insert(name.get_ref().clone(), at.clone());
            if let Some(a) = check_automation(file, name, def, at, diags) {
                catalog.automations.push(a);
            }
        }
    }
    catalog
}

fn check_automation(
    file: &SourceFile,
    name: &Spanned<String>,
    def: &AutomationDef,
    defined_at: String,
    diags: &mut Diagnostics,
) -> Option<Automation> {
    let errors_before = diags.error_count();
    let n = name.get_ref();
    if n == "none" || !is_name(n) {
        diags.push(
            file.at(name, format!("invalid automation name `{n}`"))
                .expected("lowercase letters, digits, `-` or `_`, and not `none`"),
        );
    }
    let mut params = Vec::new();
    for (pname, pdef) in &def.params {
        let p = pname.get_ref();
        let env = p.to_ascii_uppercase();
        if !p.starts_with(|c: char| c.is_ascii_lowercase())
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            diags.push(
                file.at(pname, format!("invalid parameter name `{p}`"))
                    .expected("lowercase letters, digits and `_`, starting with a letter (scripts read it as an upper-case environment variable)"),
            );
        } else if RESERVED_ENV.contains(&env.as_str()) || env.starts_with("PILOTE_") {
            diags.push(file.at(
                pname,
                format!(
                    "parameter `{p}` would set ${env}, which scripts rely on; choose another name"
                ),
            ));
        }
        let default = match &pdef.default {
            Some(v) => match value::typed(pdef.ty, v.get_ref()) {
                Ok(v) => Some(v),
                Err(m) => {
                    diags.push(
                        file.at(v, format!("default of `{p}`: {}", m.message))
                            .expected(m.expected),
                    );
                    None
                }
            },
            None => None,
        };
        params.push(Param {
            name: p.clone(),
            ty: pdef.ty,
            default,
            description: pdef.description.clone(),
        });
    }
    if def.steps.get_ref().is_empty() {
        diags.push(file.at(&def.steps, format!("automation `{n}` has no step")));
    }
    let mut steps = Vec::new();
    for s in def.steps.get_ref() {
        if let Some(step) = check_step(file, def, &params, s, diags) {
            steps.push(step);
        }
    }
    (diags.error_count() == errors_before).then(|| Automation {
        name: n.clone(),
        description: def.description.clone(),
        domain: def.domain.as_ref().map(|d| d.get_ref().clone()),
        changes_state: def.changes_state,
        params,
        steps,
        defined_at,
    })
}

fn check_step(
    file: &SourceFile,
    def: &AutomationDef,
    params: &[Param],
    s: &StepDef,
    diags: &mut Diagnostics,
) -> Option<Step> {
    let errors_before = diags.error_count();
    let kind = *s.kind.get_ref();
    let allowed = kind.fields();
    for field in KIND_FIELDS {
        let Some(span) = s.field_span(field) else {
            continue;
        };
        if !allowed.iter().any(|(f, _)| f == field) {
            let fits: Vec<String> = allowed.iter().map(|(f, _)| format!("`{f}`")).collect();
            let mut d = file.at_span(
                span,
                format!("`{field}` does not apply to {} step", kind.with_article()),
            );
            if !fits.is_empty() {
                d = d.expected(format!("one of {}", fits.join(", ")));
            }
            diags.push(d);
        }
    }
    for (field, required) in allowed {
        if *required && s.field_span(field).is_none() {
            diags.push(file.at(
                &s.kind,
                format!("{} step needs `{field}`", kind.with_article()),
            ));
        }
    }
    if kind.needs_domain() && def.domain.is_none() {
        diags.push(file.at(
            &s.kind,
            format!(
                "{} step targets hosts, so its automation needs `domain = \"...\"`",
                kind.with_article()
            ),
        ));
    }
    // Placeholders in non-script fields must name a parameter or a built-in.
    for field in [
        "dest",
        "url",
        "prompt",
        "comment",
        "playbook",
        "tags",
        "expect_body",
    ] {
        let text = match field {
            "dest" => &s.dest,
            "url" => &s.url,
            "prompt" => &s.prompt,
            "comment" => &s.comment,
            "playbook" => &s.playbook,
            "tags" => &s.tags,
            _ => &s.expect_body,
        };
        if let Some(t) = text {
            check_placeholders(file, t, params, kind, diags);
        }
    }
    if kind == StepKind::Http {
        check_http_credentials(file, s, params, diags);
    }
    // Scripts are never interpolated by pilote: `${x}` in a script is the shell's own
    // expansion, and parameters arrive as environment variables.
    let dur = |v: &Option<Spanned<String>>, default: Duration, diags: &mut Diagnostics| match v {
        Some(t) => duration::parse(t.get_ref()).unwrap_or_else(|e| {
            diags.push(file.at(t, e).expected(duration::EXPECTED));
            default
        }),
        None => default,
    };
    let text =
        |v: &Option<Spanned<String>>| v.as_ref().map(|t| t.get_ref().clone()).unwrap_or_default();
    let action = match kind {
        StepKind::Shell => StepAction::Shell {
            script: text(&s.script),
        },
        StepKind::Ssh => StepAction::Ssh {
            script: text(&s.script),
        },
        StepKind::Copy => {
            if let Some(a) = &s.artifact {
                match params.iter().find(|p| &p.name == a.get_ref()) {
                    Some(p) if p.ty == ParamType::Artifact => {}
                    Some(p) => diags.push(file.at(
                        a,
                        format!(
                            "parameter `{}` is a {}, not an artifact",
                            p.name,
                            p.ty.as_str()
                        ),
                    )),
                    None => diags.push(
                        file.at(
                            a,
                            format!("`{}` is not a parameter of this automation", a.get_ref()),
                        )
                        .expected("the name of a parameter of type `artifact`"),
                    ),
                }
            }
            let mode = match &s.mode {
                None => DEFAULT_COPY_MODE,
                Some(m) => match u32::from_str_radix(m.get_ref(), 8) {
                    Ok(v) if v <= 0o7777 && !m.get_ref().is_empty() => v,
                    _ => {
                        diags.push(
                            file.at(m, format!("`{}` is not a file mode", m.get_ref()))
                                .expected("an octal mode such as \"0644\" or \"0440\""),
                        );
                        DEFAULT_COPY_MODE
                    }
                },
            };
            StepAction::Copy {
                artifact: text(&s.artifact),
                dest: text(&s.dest),
                mode,
            }
        }
        StepKind::Http => StepAction::Http {
            method: s
                .method
                .as_ref()
                .map_or_else(|| "GET".to_string(), |m| m.get_ref().to_ascii_uppercase()),
            url: text(&s.url),
            expect_status: s.expect_status.as_ref().map_or(200, |c| *c.get_ref()),
            expect_body: s.expect_body.as_ref().map(|b| b.get_ref().clone()),
            max_latency: s
                .max_latency
                .as_ref()
                .map(|_| dur(&s.max_latency, Duration::ZERO, diags)),
            probes: s.probes.as_ref().map_or(1, |p| (*p.get_ref()).max(1)),
            headers: s.headers.as_ref().map_or_else(IndexMap::new, |h| {
                h.get_ref()
                    .iter()
                    .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
                    .collect()
            }),
            basic_auth: s.basic_auth.as_ref().map(|b| BasicAuth {
                user: b.get_ref().user.get_ref().clone(),
                password: b.get_ref().password.get_ref().clone(),
            }),
        },
        StepKind::Wait => StepAction::Wait {
            duration: dur(&s.duration, Duration::ZERO, diags),
        },
        StepKind::Gate => StepAction::Gate {
            prompt: text(&s.prompt),
        },
        StepKind::Silence => StepAction::Silence {
            duration: {
                let d = dur(&s.duration, Duration::from_secs(3600), diags);
                // Bounded, so a silence nobody ends (its runner killed, never recovered)
                // cannot keep alerts quiet for days.
                if let Some(t) = &s.duration
                    && !(MIN_SILENCE..=MAX_SILENCE).contains(&d)
                {
                    diags.push(
                        file.at(t, format!("a silence of {} is out of bounds", t.get_ref()))
                            .expected(
                                "a duration from 1m to 24h, as long as the deployment may take",
                            ),
                    );
                }
                d
            },
            comment: s.comment.as_ref().map_or_else(
                || "deployment in progress".to_string(),
                |c| c.get_ref().clone(),
            ),
        },
        StepKind::Unsilence => StepAction::Unsilence,
        StepKind::Ansible => StepAction::Ansible {
            playbook: text(&s.playbook),
            tags: s.tags.as_ref().map(|t| t.get_ref().clone()),
        },
    };
    let timeout = dur(&s.timeout, kind.default_timeout(), diags);
    let backoff = dur(&s.backoff, Duration::from_secs(5), diags);
    (diags.error_count() == errors_before).then(|| Step {
        name: s.name.get_ref().clone(),
        action,
        timeout,
        retries: s.retries,
        backoff,
        continue_on_error: s.continue_on_error,
        parallelism: s.parallelism,
        max_failures: s.max_failures,
    })
}

/// An `http` step's headers and basic auth: names HTTP takes, placeholders that resolve, and
/// credentials from secret parameters, not written in clear in the catalog (a password must
/// be; a header named like a credential is warned about).
fn check_http_credentials(
    file: &SourceFile,
    s: &StepDef,
    params: &[Param],
    diags: &mut Diagnostics,
) {
    let takes_secret = |text: &str| {
        value::placeholders(text).is_ok_and(|found| {
            found.iter().any(|(name, _)| {
                params
                    .iter()
                    .any(|p| &p.name == name && p.ty == ParamType::Secret)
            })
        })
    };
    for (name, v) in s.headers.iter().flat_map(|h| h.get_ref()) {
        let n = name.get_ref();
        if !is_header_name(n) {
            diags.push(
                file.at(name, format!("`{n}` is not an HTTP header name"))
                    .expected("letters, digits and `-`, such as `Authorization` or `X-Api-Key`"),
            );
        }
        if v.get_ref().chars().any(|c| c.is_control() && c != '\t') {
            diags.push(file.at(
                v,
                format!("the value of header `{n}` holds a line break or a control character"),
            ));
        }
        check_placeholders(file, v, params, StepKind::Http, diags);
        // Said without the line: the value may be the credential itself.
        if super::url::looks_secret(n) && !takes_secret(v.get_ref()) {
            diags.push(
                file.at(
                    v,
                    format!(
                        "header `{n}` looks like a credential but takes no secret parameter: \
                         its value is in clear in the catalog"
                    ),
                )
                .expected("its value from a secret parameter, e.g. `\"Bearer ${token}\"` with `token` of type `secret`")
                .without_snippet()
                .warning(),
            );
        }
    }
    if let Some(b) = &s.basic_auth {
        let b = b.get_ref();
        check_placeholders(file, &b.user, params, StepKind::Http, diags);
        check_placeholders(file, &b.password, params, StepKind::Http, diags);
        if !takes_secret(b.password.get_ref()) {
            diags.push(
                file.at(
                    &b.password,
                    "`basic_auth.password` takes no secret parameter: a password in the catalog is in clear",
                )
                .expected("`password = \"${password}\"` with `password` of type `secret`")
                .without_snippet(),
            );
        }
    }
}

/// An HTTP field name (RFC 9110's `token`).
fn is_header_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

fn check_placeholders(
    file: &SourceFile,
    text: &Spanned<String>,
    params: &[Param],
    kind: StepKind,
    diags: &mut Diagnostics,
) {
    // The span covers the quoted TOML string; offsets inside it are approximate for escapes,
    // so point at the string as a whole.
    match value::placeholders(text.get_ref()) {
        Err((_, message)) => diags.push(file.at(text, message)),
        Ok(found) => {
            for (name, _) in found {
                // A step that runs once has no host to fill these with (a parameter of that
                // name would still be the parameter).
                if matches!(name.as_str(), "host" | "address")
                    && !kind.per_host()
                    && !params.iter().any(|p| p.name == name)
                {
                    diags.push(
                        file.at(
                            text,
                            format!(
                                "`${{{name}}}` has no value in {} step: it runs once, not once per host",
                                kind.with_article()
                            ),
                        )
                        .expected("`${domain}`, `${env}`, or a parameter"),
                    );
                    continue;
                }
                if !BUILTINS.contains(&name.as_str()) && !params.iter().any(|p| p.name == name) {
                    let mut known: Vec<String> =
                        params.iter().map(|p| format!("`{}`", p.name)).collect();
                    known.extend(BUILTINS.iter().map(|b| format!("`{b}`")));
                    diags.push(
                        file.at(text, format!("unknown placeholder `${{{name}}}`"))
                            .expected(format!("one of {}", known.join(", "))),
                    );
                }
            }
        }
    }
}

/// The one rule for names that end up in paths, SQL rows and env values: lowercase letters,
/// digits, `-` and `_`, starting with a letter or digit, at most 64.
pub fn is_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}
