//! The config a run was started with, kept with the run: the texts of the inventory, the
//! lifecycles and the automations, and the workspace's `[vars]`.
//!
//! A rollback undoes what ran, on the hosts it ran on, with the automations as they were:
//! it is derived from this record, never from today's files, so a typo made since (or an
//! inventory edited during the incident) neither blocks it nor changes what it does.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::files::{InventoryFile, LifecyclesFile};
use super::{AUTOMATIONS_DIR, INVENTORY_FILE, Inventory, LIFECYCLES_FILE, inventory, parse};
use crate::core::SourceFile;
use crate::core::automation::{self, Catalog};
use crate::core::diagnostic::Diagnostics;

/// The texts a workspace's plans are checked and expanded against, as read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigSnapshot {
    pub inventory: String,
    pub lifecycles: String,
    /// `automations/*.toml` by file name, in name order.
    pub automations: Vec<(String, String)>,
    /// `[vars]` of `pilote.toml`.
    pub vars: IndexMap<String, toml::Value>,
}

/// A snapshot read back: what `plan::Context` needs.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub inventory: Inventory,
    pub catalog: Catalog,
    pub vars: IndexMap<String, toml::Value>,
}

impl Recorded {
    pub fn plan_context(&self) -> crate::core::plan::Context<'_> {
        crate::core::plan::Context {
            catalog: &self.catalog,
            inventory: &self.inventory,
            workspace_vars: &self.vars,
        }
    }
}

impl ConfigSnapshot {
    pub(super) fn of(
        inventory: &str,
        lifecycles: &str,
        catalog: &[SourceFile],
        vars: &IndexMap<String, toml::Value>,
    ) -> Self {
        Self {
            inventory: inventory.to_string(),
            lifecycles: lifecycles.to_string(),
            automations: catalog
                .iter()
                .map(|f| (file_name(&f.path), f.text.clone()))
                .collect(),
            vars: vars.clone(),
        }
    }

    /// SHA-256 of the snapshot's JSON: how runs refer to it in the store.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(self.to_json().as_bytes()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The texts on disk now, whatever state they are in (unreadable files are empty): only
    /// compared with a recorded snapshot, to say what changed, never checked or run.
    pub fn on_disk(config_dir: &Path) -> Self {
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        let mut automations: Vec<(String, String)> =
            std::fs::read_dir(config_dir.join(AUTOMATIONS_DIR))
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .map(|p| (file_name(&p), read(p)))
                .collect();
        automations.sort();
        Self {
            inventory: read(config_dir.join(INVENTORY_FILE)),
            lifecycles: read(config_dir.join(LIFECYCLES_FILE)),
            automations,
            vars: IndexMap::new(),
        }
    }

    /// The files of the config that differ between `self` (recorded) and `now`, by the name a
    /// person knows them by (`inventory.toml`, `automations/jboss.toml`).
    pub fn changed_files(&self, now: &Self) -> Vec<String> {
        let mut out = Vec::new();
        if self.inventory != now.inventory {
            out.push(INVENTORY_FILE.to_string());
        }
        if self.lifecycles != now.lifecycles {
            out.push(LIFECYCLES_FILE.to_string());
        }
        let text_of = |list: &[(String, String)], name: &str| {
            list.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone())
        };
        let mut names: Vec<&String> = self
            .automations
            .iter()
            .chain(&now.automations)
            .map(|(n, _)| n)
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            if text_of(&self.automations, name) != text_of(&now.automations, name) {
                out.push(format!("{AUTOMATIONS_DIR}/{name}"));
            }
        }
        out
    }

    /// Parses the recorded texts back. Diagnostics name the files as `run's inventory.toml`
    /// would be misleading: they name the workspace's files, with ` (as recorded)` appended.
    pub fn resolve(&self, config_dir: &Path) -> Result<Recorded, Diagnostics> {
        let mut diags = Diagnostics::default();
        let label = |name: &str| {
            PathBuf::from(format!("{} (as recorded)", config_dir.join(name).display()))
        };
        let (inv_path, lcs_path) = (label(INVENTORY_FILE), label(LIFECYCLES_FILE));
        let inv: Option<InventoryFile> = parse(&inv_path, Some(&self.inventory), &mut diags);
        let lcs: Option<LifecyclesFile> = parse(&lcs_path, Some(&self.lifecycles), &mut diags);
        let inventory = match (&inv, &lcs) {
            (Some(inv), Some(lcs)) => inventory::resolve(
                inv,
                &inventory::Source {
                    path: &inv_path,
                    text: &self.inventory,
                },
                lcs,
                &inventory::Source {
                    path: &lcs_path,
                    text: &self.lifecycles,
                },
                &mut diags,
            ),
            _ => None,
        };
        let files: Vec<SourceFile> = self
            .automations
            .iter()
            .map(|(name, text)| {
                SourceFile::new(label(&format!("{AUTOMATIONS_DIR}/{name}")), text.clone())
            })
            .collect();
        let catalog = automation::parse_catalog(&files, &mut diags);
        match inventory {
            Some(inventory) if !diags.has_errors() => Ok(Recorded {
                inventory,
                catalog,
                vars: self.vars.clone(),
            }),
            _ => Err(diags),
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
