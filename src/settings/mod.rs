//! Workspace configuration: where it is, how it is loaded and checked.
//!
//! A workspace is a config dir (`pilote.toml`, `inventory.toml`, `lifecycles.toml`,
//! `automations/`) plus a data dir (SQLite file, vault, run spool). Named `settings` so it is not
//! confused with the repository's top-level `config/` folder, the shipped default workspace.

mod files;
pub mod handover;
mod inventory;
mod load;
mod locate;
mod read;
mod secrets;
mod snapshot;
mod team;
pub mod vocabulary;
mod webhooks;
mod workspace;

pub use crate::core::diagnostic::{Diagnostic, Diagnostics, Severity};
pub use crate::core::inventory::{
    App, Connection, Domain, DomainHosts, Env, EnvApp, Group, HOST_NAME_RULE, Host, Inventory,
    Lifecycle, Stage, is_host_name,
};
pub use files::{ConsoleKeys, ConsoleTheme, HostKeyChecking, KeyWords, LogLevel};
pub use locate::{Located, Origin, default_config_dir, default_data_root, state_dir};
pub use secrets::{check_files as check_secret_files, read_secret_file};
pub use snapshot::{ConfigSnapshot, Recorded};
pub use team::{
    DEFAULT_STEP_UMASK, Registration, Steps, TEAMS_DIR, Team, admin_owned, is_account_name, peek,
    registration,
};
pub use webhooks::{Target, Webhook, check_url};

pub use load::{PendingInventory, load, load_tolerant, load_with_inventory, quote_ssh_config};
pub use read::{
    AUTOMATIONS_DIR, INVENTORY_FILE, LIFECYCLES_FILE, SETTINGS_FILE, read_path, text_of,
};
pub use workspace::{
    Alertmanager, Broken, Console, KeyBinding, LoadError, Overrides, Settings, Ssh, Watch,
    Workspace,
};
