//! The shapes of the workspace's TOML files, exactly as written by people.
//!
//! Names keep their spans so that semantic checks (an unknown domain, a host listed twice) can
//! point at the offending key. Maps are `IndexMap` so listings keep the order of the file.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use crate::core::inventory::Connection;

/// `pilote.toml`: the workspace's settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    /// Names the workspace; the default data dir is derived from it.
    pub name: Spanned<String>,
    /// Where the SQLite file, the vault and the run spool live; relative to the config dir.
    #[serde(default)]
    pub data_dir: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub ssh: SshSection,
    #[serde(default)]
    pub console: ConsoleSection,
    #[serde(default)]
    pub dashboard: DashboardSection,
    /// The Alertmanager that `silence` steps silence alerts in.
    #[serde(default)]
    pub alertmanager: Option<AlertmanagerSection>,
    /// Workspace-wide variables: the last place a plan parameter is looked up.
    #[serde(default)]
    pub vars: IndexMap<String, toml::Value>,
    /// `[webhooks.NAME]`: where run and request events are posted.
    #[serde(default)]
    pub webhooks: IndexMap<Spanned<String>, WebhookDef>,
    /// `[team]`: this workspace is a team's, owned by a service account that people reach
    /// through sudo (written by `pilote setup-team`).
    #[serde(default)]
    pub team: Option<TeamSection>,
    /// `[steps]`: the account and umask steps run with.
    #[serde(default)]
    pub steps: StepsSection,
    /// `[vault]`: where releases are dropped for the vault.
    #[serde(default)]
    pub vault: VaultSection,
}

/// `[vault]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSection {
    /// The drop directory; relative to the config dir. Default: `drop/` in the data dir. A
    /// team's is outside its data dir, writable by its members.
    #[serde(default)]
    pub drop_dir: Option<Spanned<PathBuf>>,
}

/// `[team]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSection {
    /// The account that owns the data dir and runs runners; never a person.
    pub service_account: Spanned<String>,
    /// The group whose members may run pilote as the service account (the sudoers drop-in).
    pub group: Spanned<String>,
    /// The pilote binary sudo runs (the path the sudoers drop-in names).
    pub binary: Spanned<PathBuf>,
}

/// `[steps]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepsSection {
    /// The executor account every step runs as (through sudo); unset in a personal workspace:
    /// steps run as the person. A team workspace must name one.
    #[serde(default)]
    pub run_as: Option<Spanned<String>>,
    /// The umask of steps, in octal ("022"): an application server running as another user
    /// reads what a deploy wrote.
    #[serde(default)]
    pub umask: Option<Spanned<String>>,
}

/// `[webhooks.NAME]` as written. The URL is a secret (a Slack or Mattermost hook's path is
/// its credential): `url_env` names an environment variable holding it instead.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDef {
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    pub url_env: Option<Spanned<String>>,
    #[serde(default)]
    pub format: crate::core::notify::Format,
    /// The events posted; every one when unset.
    #[serde(default)]
    pub events: Option<Spanned<Vec<Spanned<String>>>>,
    /// Giving up on one attempt, e.g. "10s".
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Attempts before a delivery is given up (retries back off 1 s, 2 s, 4 s...).
    #[serde(default)]
    pub attempts: Option<Spanned<u32>>,
}

// By hand: the derived form would print the URL.
impl std::fmt::Debug for WebhookDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookDef")
            .field("url_env", &self.url_env)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// How long a writer waits for another process's transaction before giving up.
    #[serde(default = "default_busy_timeout_ms")]
    pub busy_timeout_ms: u64,
    /// A run does not start with less free space than this in the data dir, in MiB (0: no
    /// check): its log and its last records need room.
    #[serde(default = "default_min_free_mb")]
    pub min_free_mb: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            busy_timeout_ms: default_busy_timeout_ms(),
            min_free_mb: default_min_free_mb(),
        }
    }
}

fn default_busy_timeout_ms() -> u64 {
    5_000
}

/// A long deployment stores some 100 bytes per output line: 64 MiB is half a million lines.
fn default_min_free_mb() -> u64 {
    64
}

/// `[ssh]`: how remote steps use the system OpenSSH client. Everything else (users, keys,
/// ProxyJump, known hosts) comes from the ssh config, as for the operator's own `ssh`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSection {
    /// An ssh config file given to `ssh -F`, relative to the config dir; without it, the
    /// user's `~/.ssh/config` and the system's.
    #[serde(default)]
    pub config: Option<Spanned<PathBuf>>,
    /// Giving up on a host that does not answer (`ConnectTimeout`), e.g. "10s".
    #[serde(default)]
    pub connect_timeout: Option<Spanned<String>>,
    /// A dead connection is noticed after `keepalive_interval` × `keepalive_count`.
    #[serde(default)]
    pub keepalive_interval: Option<Spanned<String>>,
    #[serde(default)]
    pub keepalive_count: Option<u32>,
    /// `StrictHostKeyChecking` for unprotected envs; protected envs always use "yes".
    #[serde(default)]
    pub host_key_checking: HostKeyChecking,
}

/// `[console]`: the theme, and keys rebound per context (`[console.keys.runs]`,
/// `rollback = "ctrl-r"`). Contexts, actions and keys are the console's words: read here with
/// their spans, checked by the console (see `settings::vocabulary`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSection {
    #[serde(default)]
    pub theme: ConsoleTheme,
    #[serde(default)]
    pub keys: ConsoleKeys,
}

/// `[console.keys]` as written: context → action → key or keys, in file order.
pub type ConsoleKeys = IndexMap<Spanned<String>, IndexMap<Spanned<String>, Spanned<KeyWords>>>;

/// One key (`"R"`) or several (`["R", "ctrl-r"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum KeyWords {
    One(String),
    Many(Vec<String>),
}

impl KeyWords {
    pub fn words(&self) -> Vec<String> {
        match self {
            Self::One(k) => vec![k.clone()],
            Self::Many(ks) => ks.clone(),
        }
    }
}

/// `[alertmanager]`: where `silence` steps open their silences and what they match, with
/// `[alertmanager.envs.<env>]` for an env watched by another Alertmanager or labelled otherwise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerSection {
    /// The Alertmanager's base URL, e.g. "http://127.0.0.1:9093".
    pub url: Spanned<String>,
    /// Matchers as amtool writes them, with `${hosts}`, `${addresses}`, `${app}`, `${env}`,
    /// `${domain}` and `${run}`.
    #[serde(default)]
    pub matchers: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub envs: IndexMap<Spanned<String>, AlertmanagerEnv>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerEnv {
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    pub matchers: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `[dashboard]`: which widgets the console's Dashboard pane shows, in order.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSection {
    #[serde(default)]
    pub widgets: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsoleTheme {
    #[default]
    Dark,
    Light,
}

/// What ssh does with a host whose key it does not know yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyChecking {
    /// Refuse it: the key must already be in known_hosts.
    Yes,
    /// Record it and go on; a changed key is still refused.
    #[default]
    AcceptNew,
}

impl HostKeyChecking {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::AcceptNew => "accept-new",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    #[serde(default)]
    pub level: LogLevel,
}

/// Verbosity of the log file in the XDG state dir.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Error,
            Self::Warn,
            Self::Info,
            Self::Debug,
            Self::Trace,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }
}

/// `inventory.toml`: apps and their domains, hosts, and environments mapping domains to hosts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    pub apps: IndexMap<Spanned<String>, AppDef>,
    #[serde(default)]
    pub hosts: IndexMap<Spanned<String>, HostDef>,
    pub envs: IndexMap<Spanned<String>, EnvDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppDef {
    #[serde(default)]
    pub description: String,
    /// The lifecycles a request for this app may follow; the first is the default.
    pub lifecycles: Vec<Spanned<String>>,
    pub domains: IndexMap<Spanned<String>, DomainDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainDef {
    #[serde(default)]
    pub description: String,
    /// A shell command that must succeed on every host of the domain (`pilote inventory check`).
    #[serde(default)]
    pub check: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostDef {
    #[serde(default)]
    pub connection: Connection,
    /// The ssh destination (an alias of `~/.ssh/config` or an address); the host's name if unset.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    /// Several environments may claim this host (a shared database server, a jump box).
    #[serde(default)]
    pub shared: bool,
    /// Free attributes handed to steps as environment variables (`HOST_<NAME>`).
    #[serde(default)]
    pub vars: IndexMap<Spanned<String>, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvDef {
    #[serde(default)]
    pub description: String,
    /// A protected env accepts only runs of approved requests.
    #[serde(default)]
    pub protected: bool,
    /// Variables of this environment, looked up after the plan's own `[vars]`.
    #[serde(default)]
    pub vars: IndexMap<String, toml::Value>,
    /// app -> domain -> hosts.
    #[serde(default)]
    pub apps: IndexMap<Spanned<String>, HostsByDomain>,
    /// Periods when deploys are refused unless overridden with a reason.
    #[serde(default)]
    pub freeze: Vec<FreezeDef>,
}

/// A freeze window: `from` and `to` as local "YYYY-MM-DD" (the whole day) or
/// "YYYY-MM-DD HH:MM".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeDef {
    pub from: Spanned<String>,
    pub to: Spanned<String>,
    #[serde(default)]
    pub reason: String,
}

/// domain -> hosts, for one app in one env.
pub type HostsByDomain = IndexMap<Spanned<String>, Vec<Spanned<String>>>;

/// `lifecycles.toml`: the ordered environments a release must pass.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecyclesFile {
    /// Who may approve: group name -> OS user names.
    #[serde(default)]
    pub groups: IndexMap<Spanned<String>, Vec<Spanned<String>>>,
    pub lifecycles: IndexMap<Spanned<String>, LifecycleDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleDef {
    #[serde(default)]
    pub description: String,
    /// The release kinds (`request new --kind`) that follow this lifecycle.
    #[serde(default)]
    pub kinds: Vec<Spanned<String>>,
    pub stages: Vec<StageDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageDef {
    pub env: Spanned<String>,
    /// Distinct approvers needed before a deploy to this env (never the requester).
    #[serde(default)]
    pub approvals: u32,
    /// The same package must have succeeded in the previous stage first.
    #[serde(default = "yes")]
    pub require_previous_success: bool,
    /// After a failed deploy or a rollback on this stage, deploying there again needs
    /// approvals given since: the ones before were given for what just went wrong.
    #[serde(default = "yes")]
    pub reapprove_after_failure: bool,
    /// The group (of `[groups]`) the approvers must belong to; anyone else if unset.
    #[serde(default)]
    pub approvers: Option<Spanned<String>>,
}

fn yes() -> bool {
    true
}
