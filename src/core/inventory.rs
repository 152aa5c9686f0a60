//! The inventory model: apps and their domains, envs and the hosts each gives to a domain,
//! lifecycles and their stages, groups of people. Plain data, checked when it was read
//! (`settings` reads it from inventory.toml and lifecycles.toml).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Inventory {
    pub apps: Vec<App>,
    pub envs: Vec<Env>,
    pub hosts: Vec<Host>,
    pub lifecycles: Vec<Lifecycle>,
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub name: String,
    pub description: String,
    pub domains: Vec<Domain>,
    pub lifecycles: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Domain {
    pub name: String,
    pub description: String,
    /// A shell command that must succeed on each host of the domain, run by
    /// `pilote inventory check`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub connection: Connection,
    /// The ssh destination; the host's name unless the inventory says otherwise.
    pub address: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// Several environments may claim it; otherwise one env's run could touch another's host.
    // Skipped when false so the inventory snapshots (and digests) of older files stay the same.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
    pub vars: IndexMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Env {
    pub name: String,
    pub description: String,
    pub protected: bool,
    pub vars: IndexMap<String, toml::Value>,
    pub apps: Vec<EnvApp>,
    pub freezes: Vec<Freeze>,
}

/// A period when deploys to an env are refused, in UTC milliseconds [from, to).
#[derive(Debug, Clone, Serialize)]
pub struct Freeze {
    pub from: i64,
    pub to: i64,
    /// As written: `2026-12-20 → 2027-01-04 (year-end)`.
    pub label: String,
}

impl Env {
    /// The freeze in force at `at` (UTC ms), if any.
    pub fn frozen_at(&self, at: i64) -> Option<&Freeze> {
        self.freezes.iter().find(|f| f.from <= at && at < f.to)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvApp {
    pub app: String,
    pub domains: Vec<DomainHosts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DomainHosts {
    pub domain: String,
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Lifecycle {
    pub name: String,
    pub description: String,
    /// Release kinds that follow it by rule.
    pub kinds: Vec<String>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub env: String,
    pub approvals: u32,
    pub require_previous_success: bool,
    /// Approvals given before a failed deploy or a rollback on it no longer count. Left out
    /// of the JSON when on (the default), so inventory snapshots of older files stay the same.
    #[serde(skip_serializing_if = "is_on")]
    pub reapprove_after_failure: bool,
    /// The group approvers must belong to.
    pub approvers: Option<String>,
}

fn is_on(b: &bool) -> bool {
    *b
}

/// A group of people, by OS user name.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub name: String,
    pub members: Vec<String>,
}

impl Inventory {
    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.name == name)
    }

    pub fn env(&self, name: &str) -> Option<&Env> {
        self.envs.iter().find(|e| e.name == name)
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The hosts of one domain of an app in one env; empty when the env does not deploy it.
    pub fn hosts_of(&self, app: &str, env: &str, domain: &str) -> &[String] {
        self.env(env)
            .and_then(|e| e.apps.iter().find(|a| a.app == app))
            .and_then(|a| a.domains.iter().find(|d| d.domain == domain))
            .map_or(&[], |d| d.hosts.as_slice())
    }
}

/// How steps reach a host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Connection {
    /// Through the system OpenSSH client.
    #[default]
    Ssh,
    /// On the jump host itself, once per host (demos, benchmarks, local sandboxes).
    Local,
}

/// What a host name may hold: it names sandbox dirs and log lines, and may be an address
/// (so at most a DNS name's 253 characters: a longer one could not name a dir either).
pub fn is_host_name(n: &str) -> bool {
    n.len() <= 253
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
}

pub const HOST_NAME_RULE: &str =
    "letters, digits, `.`, `-` or `_`, starting with a letter or digit, at most 253";
