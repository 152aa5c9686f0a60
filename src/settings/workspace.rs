//! A loaded workspace: its settings, inventory and catalog, and whether its config is sound.

use std::path::PathBuf;

use super::files::{self, HostKeyChecking, LogLevel};
use super::locate::Origin;
use super::snapshot::{ConfigSnapshot, Recorded};
use super::team::{Steps, Team};
use super::webhooks::Webhook;
use crate::core::automation::Catalog;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::inventory::Inventory;
use crate::core::silence;

/// Settings from `pilote.toml` after `PILOTE_*` overrides.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Settings {
    pub name: String,
    /// `[vars]`: workspace-wide plan variables.
    pub vars: indexmap::IndexMap<String, toml::Value>,
    pub busy_timeout_ms: u64,
    /// `[store] min_free_mb`: the free space (MiB) a run needs in the data dir to start.
    pub min_free_mb: u64,
    pub log_level: LogLevel,
    pub ssh: Ssh,
    pub console: Console,
    /// `[dashboard] widgets`, as written; empty: every widget in the default order.
    pub dashboard: Vec<String>,
    /// `[webhooks.NAME]`, checked, in file order; empty: nothing is ever posted.
    pub webhooks: Vec<Webhook>,
    /// `[alertmanager]`, checked; `None`: `silence` steps have nowhere to silence alerts.
    pub alertmanager: Option<Alertmanager>,
    /// `[team]`: a team's workspace, owned by a service account; `None`: a personal one.
    pub team: Option<Team>,
    /// `[steps]`: the executor account and umask of steps.
    pub steps: Steps,
    /// `[vault] drop_dir`: where releases wait to be imported into the vault.
    pub drop_dir: PathBuf,
}

/// `[alertmanager]` checked, with each env's overrides applied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Alertmanager {
    pub default: Watch,
    /// Envs with a `[alertmanager.envs.<env>]`.
    pub envs: indexmap::IndexMap<String, Watch>,
}

/// Where one env's alerts are silenced, and how its targets are matched.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Watch {
    pub url: String,
    /// Templates: placeholders are filled in by the run.
    #[serde(serialize_with = "matchers_as_text")]
    pub matchers: Vec<silence::Matcher>,
}

fn matchers_as_text<S: serde::Serializer>(m: &[silence::Matcher], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(m.iter().map(ToString::to_string))
}

impl Alertmanager {
    pub fn for_env(&self, env: &str) -> &Watch {
        self.envs.get(env).unwrap_or(&self.default)
    }
}

/// `[console]`: the theme, and the keys rebound, as written (the console reads them; a
/// workspace loads only when the console found them right, see [`vocabulary`]).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Console {
    pub theme: files::ConsoleTheme,
    #[serde(skip)]
    pub keys: Vec<KeyBinding>,
}

/// One `[console.keys.CONTEXT] ACTION = KEYS` line.
#[derive(Debug, Clone)]
pub struct KeyBinding {
    pub context: String,
    pub action: String,
    pub keys: Vec<String>,
}

/// `[ssh]` with its defaults applied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ssh {
    /// Given to `ssh -F` when set.
    pub config: Option<PathBuf>,
    #[serde(serialize_with = "crate::core::duration::serialize")]
    pub connect_timeout: std::time::Duration,
    #[serde(serialize_with = "crate::core::duration::serialize")]
    pub keepalive_interval: std::time::Duration,
    pub keepalive_count: u32,
    pub host_key_checking: HostKeyChecking,
}

/// A loaded, checked workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub settings: Settings,
    pub inventory: Inventory,
    pub catalog: Catalog,
    /// SHA-256 over the automation files (names and texts): an approval is bound to it, since
    /// editing an automation changes what an approved plan does.
    pub catalog_digest: String,
    /// Warnings found while loading; errors would have stopped the load.
    pub warnings: Diagnostics,
    /// The texts `inventory`, `catalog` and `[vars]` were read from: recorded with each run.
    pub snapshot: ConfigSnapshot,
    /// Set when the config on disk has errors and the workspace was loaded anyway, to look
    /// at and stop what exists and to roll back ([`load_tolerant`]).
    pub broken: Option<Broken>,
}

/// Why a workspace loaded by [`load_tolerant`] is not the config on disk.
#[derive(Debug, Clone)]
pub struct Broken {
    /// The config's errors (and warnings), as `pilote config check` shows them.
    pub errors: Diagnostics,
    /// `pilote.toml` itself is sound: its settings (`[steps]`, `[ssh]`, `[team]`...) are the
    /// file's, and steps can run. Otherwise they are defaults and nothing may run.
    pub settings_ok: bool,
}

impl Broken {
    /// The first error, on one line: `inventory.toml:12:1: unknown field `sqll``.
    pub fn headline(&self) -> String {
        self.errors
            .iter()
            .find(|d| d.is_error())
            .map(Diagnostic::headline)
            .unwrap_or_default()
    }
}

impl Workspace {
    /// Refuses `what` (a deploy, an approval...) on a workspace whose config has errors: it
    /// holds the last config recorded, good to look at and to undo with, not to act on.
    pub fn require_sound(&self, what: &str) -> Result<(), String> {
        match &self.broken {
            None => Ok(()),
            Some(b) => Err(format!(
                "{what} needs a sound config, and it has errors: {}; fix it first (`pilote config check` lists them all)",
                b.headline()
            )),
        }
    }

    /// Refuses to run steps when `pilote.toml` itself has errors: which account steps run
    /// as, and how ssh connects, come from it.
    pub fn require_settings(&self, what: &str) -> Result<(), String> {
        match &self.broken {
            Some(b) if !b.settings_ok => Err(format!(
                "{what} needs pilote.toml's [steps] and [ssh], and pilote.toml has errors: {}; fix pilote.toml first",
                b.headline()
            )),
            _ => Ok(()),
        }
    }

    /// A broken workspace given the last sound config recorded: its inventory (to list envs
    /// and apps, to know which env is protected) and catalog. It stays [`Broken`].
    pub fn with_recorded(mut self, snapshot: ConfigSnapshot, recorded: Recorded) -> Self {
        self.inventory = recorded.inventory;
        self.catalog = recorded.catalog;
        self.settings.vars = snapshot.vars_with(&self.settings.vars);
        self.snapshot = snapshot;
        self
    }

    /// The config a run works with: the one recorded with it, read back, or for a run older
    /// than the record, this workspace's own (only when sound).
    pub fn config_of_run(
        &self,
        run: i64,
        recorded: Option<ConfigSnapshot>,
    ) -> Result<(ConfigSnapshot, Recorded), String> {
        match recorded {
            Some(snapshot) => {
                let mut r = snapshot.resolve(&self.config_dir).map_err(|d| {
                    format!("the config recorded with run #{run} no longer reads back:\n{d}")
                })?;
                r.vars = snapshot.vars_with(&self.settings.vars);
                Ok((snapshot, r))
            }
            None => {
                self.require_sound(&format!("run #{run}, older than recorded configs,"))?;
                Ok((
                    self.snapshot.clone(),
                    Recorded {
                        inventory: self.inventory.clone(),
                        catalog: self.catalog.clone(),
                        vars: self.settings.vars.clone(),
                    },
                ))
            }
        }
    }

    /// What plans of this workspace are checked and expanded against.
    pub fn plan_context(&self) -> crate::core::plan::Context<'_> {
        crate::core::plan::Context {
            catalog: &self.catalog,
            inventory: &self.inventory,
            workspace_vars: &self.settings.vars,
        }
    }
}

/// Why a workspace could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "no workspace at {} ({}): create one with `pilote init {}` or try `pilote demo`",
        .dir.display(), .origin.describe(), .dir.display()
    )]
    Missing { dir: PathBuf, origin: Origin },
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("{0}")]
    Environment(String),
}

/// `PILOTE_*` environment variables that override `pilote.toml`.
///
/// Read in one place so tests can build them by hand; none of them can weaken approvals or locks.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub log_level: Option<String>,
    pub busy_timeout_ms: Option<String>,
}

impl Overrides {
    pub fn from_env() -> Self {
        Self {
            data_dir: std::env::var_os("PILOTE_DATA_DIR").map(PathBuf::from),
            log_level: std::env::var("PILOTE_LOG").ok(),
            busy_timeout_ms: std::env::var("PILOTE_BUSY_TIMEOUT_MS").ok(),
        }
    }
}
