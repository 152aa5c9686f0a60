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
use super::inventory;
use super::read::{AUTOMATIONS_DIR, INVENTORY_FILE, LIFECYCLES_FILE, parse};
use crate::core::SourceFile;
use crate::core::automation::{self, Catalog};
use crate::core::diagnostic::Diagnostics;
use crate::core::inventory::Inventory;

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

    /// What is stored: the texts with the credentials of their URLs masked (a config may
    /// write one in a URL; the store is not where it is kept). [`Self::resolve`] takes a
    /// file's credentials back from disk while the file is unchanged.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.masked()).unwrap_or_default()
    }

    fn masked(&self) -> Self {
        use crate::core::url::mask_urls_in;
        Self {
            inventory: mask_urls_in(&self.inventory),
            lifecycles: mask_urls_in(&self.lifecycles),
            automations: self
                .automations
                .iter()
                .map(|(n, t)| (n.clone(), mask_urls_in(t)))
                .collect(),
            vars: self
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), mask_value(v)))
                .collect(),
        }
    }

    /// The files of the record whose URL credentials were masked and could not be taken back
    /// from disk (the file changed since): steps using those URLs will not authenticate.
    pub fn lost_credentials(&self, disk: &Self) -> Vec<String> {
        let full = self.unmasked(disk);
        let lost = |recorded: &str, now: &str| recorded == now && recorded.contains("****");
        let mut out = Vec::new();
        if lost(&self.inventory, &full.inventory) {
            out.push(INVENTORY_FILE.to_string());
        }
        for ((name, recorded), (_, now)) in self.automations.iter().zip(&full.automations) {
            if lost(recorded, now) {
                out.push(format!("{AUTOMATIONS_DIR}/{name}"));
            }
        }
        out
    }

    /// `[vars]` as recorded, each value whose masked form is the live one's taken live.
    pub fn vars_with(&self, live: &IndexMap<String, toml::Value>) -> IndexMap<String, toml::Value> {
        self.vars
            .iter()
            .map(|(k, v)| {
                let value = live
                    .get(k)
                    .filter(|l| mask_value(l) == *v)
                    .unwrap_or(v)
                    .clone();
                (k.clone(), value)
            })
            .collect()
    }

    /// `self` as read back from the store, each file whose text on `disk` (see
    /// [`Self::on_disk`]) is the same once masked taken from there: with the credentials its
    /// URLs hold.
    fn unmasked(&self, disk: &Self) -> Self {
        use crate::core::url::mask_urls_in;
        let pick = |recorded: &String, now: &String| {
            if *recorded != *now && mask_urls_in(now) == *recorded {
                now.clone()
            } else {
                recorded.clone()
            }
        };
        Self {
            inventory: pick(&self.inventory, &disk.inventory),
            lifecycles: pick(&self.lifecycles, &disk.lifecycles),
            automations: self
                .automations
                .iter()
                .map(|(n, t)| {
                    let now = disk.automations.iter().find(|(d, _)| d == n);
                    (
                        n.clone(),
                        now.map_or_else(|| t.clone(), |(_, now)| pick(t, now)),
                    )
                })
                .collect(),
            vars: self.vars.clone(),
        }
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
        // Compared as stored: a file whose only difference is its masked credentials is
        // the same file.
        let (this, now) = (&self.masked(), &now.masked());
        let mut out = Vec::new();
        if this.inventory != now.inventory {
            out.push(INVENTORY_FILE.to_string());
        }
        if this.lifecycles != now.lifecycles {
            out.push(LIFECYCLES_FILE.to_string());
        }
        let text_of = |list: &[(String, String)], name: &str| {
            list.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone())
        };
        let mut names: Vec<&String> = this
            .automations
            .iter()
            .chain(&now.automations)
            .map(|(n, _)| n)
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            if text_of(&this.automations, name) != text_of(&now.automations, name) {
                out.push(format!("{AUTOMATIONS_DIR}/{name}"));
            }
        }
        out
    }

    /// Parses the recorded texts back. Diagnostics name the files as `run's inventory.toml`
    /// would be misleading: they name the workspace's files, with ` (as recorded)` appended.
    pub fn resolve(&self, config_dir: &Path) -> Result<Recorded, Diagnostics> {
        let full = self.unmasked(&Self::on_disk(config_dir));
        let this = &full;
        let mut diags = Diagnostics::default();
        let label = |name: &str| {
            PathBuf::from(format!("{} (as recorded)", config_dir.join(name).display()))
        };
        let (inv_path, lcs_path) = (label(INVENTORY_FILE), label(LIFECYCLES_FILE));
        let inv: Option<InventoryFile> = parse(&inv_path, Some(&this.inventory), &mut diags);
        let lcs: Option<LifecyclesFile> = parse(&lcs_path, Some(&this.lifecycles), &mut diags);
        let inventory = match (&inv, &lcs) {
            (Some(inv), Some(lcs)) => inventory::resolve(
                inv,
                &inventory::Source {
                    path: &inv_path,
                    text: &this.inventory,
                },
                lcs,
                &inventory::Source {
                    path: &lcs_path,
                    text: &this.lifecycles,
                },
                &mut diags,
            ),
            _ => None,
        };
        let files: Vec<SourceFile> = this
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
                vars: this.vars.clone(),
            }),
            _ => Err(diags),
        }
    }
}

/// A `[vars]` value with the credentials of the URLs it holds masked.
fn mask_value(v: &toml::Value) -> toml::Value {
    match v {
        toml::Value::String(s) => toml::Value::String(crate::core::url::mask_urls_in(s)),
        toml::Value::Array(a) => toml::Value::Array(a.iter().map(mask_value).collect()),
        toml::Value::Table(t) => {
            toml::Value::Table(t.iter().map(|(k, v)| (k.clone(), mask_value(v))).collect())
        }
        other => other.clone(),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_credential_is_not_stored_but_comes_back_from_the_unchanged_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let text = "[c]\nurl = \"https://u:pw-1234@h/x\"\n";
        std::fs::create_dir_all(dir.path().join(AUTOMATIONS_DIR)).expect("dir");
        std::fs::write(dir.path().join("automations/c.toml"), text).expect("write");
        let snap = ConfigSnapshot {
            automations: vec![("c.toml".into(), text.into())],
            ..ConfigSnapshot::default()
        };
        let stored = snap.to_json();
        assert!(!stored.contains("pw-1234"), "{stored}");
        let back: ConfigSnapshot = serde_json::from_str(&stored).expect("json");
        assert_eq!(
            back.unmasked(&ConfigSnapshot::on_disk(dir.path()))
                .automations[0]
                .1,
            text
        );
        assert!(
            back.changed_files(&ConfigSnapshot::on_disk(dir.path()))
                .is_empty()
        );
        // Edited since: the recorded (masked) text is what there is.
        std::fs::write(dir.path().join("automations/c.toml"), "# new\n").expect("write");
        assert!(
            !back
                .unmasked(&ConfigSnapshot::on_disk(dir.path()))
                .automations[0]
                .1
                .contains("pw-1234")
        );
        assert_eq!(
            back.lost_credentials(&ConfigSnapshot::on_disk(dir.path())),
            ["automations/c.toml"]
        );
    }

    #[test]
    fn a_url_credential_in_vars_is_not_stored_and_the_live_value_is_used() {
        let url = toml::Value::String("https://u:pw-1234@h/x".into());
        let vars: IndexMap<String, toml::Value> = [("api".to_string(), url.clone())].into();
        let snap = ConfigSnapshot {
            vars: vars.clone(),
            ..ConfigSnapshot::default()
        };
        let stored = snap.to_json();
        assert!(!stored.contains("pw-1234"), "{stored}");
        let back: ConfigSnapshot = serde_json::from_str(&stored).expect("json");
        assert_eq!(back.vars_with(&vars)["api"], url);
        assert_ne!(back.vars_with(&IndexMap::new())["api"], url);
    }
}
