//! The shapes of a plan file as written, before checking.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanFile {
    pub(super) app: Spanned<String>,
    pub(super) lifecycle: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) vars: IndexMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    pub(super) phases: Vec<PhaseDef>,
    pub(super) actions: Spanned<Vec<ActionDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PhaseDef {
    pub(super) id: Spanned<String>,
    #[serde(default)]
    pub(super) title: String,
    #[serde(default)]
    pub(super) after: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) parallel: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ActionDef {
    pub(super) id: Spanned<String>,
    pub(super) title: String,
    pub(super) uses: Spanned<String>,
    #[serde(default)]
    pub(super) with: IndexMap<Spanned<String>, Spanned<toml::Value>>,
    pub(super) undo: Option<Spanned<toml::Value>>,
    pub(super) undo_reason: Option<Spanned<String>>,
    pub(super) phase: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UndoTable {
    pub(super) uses: String,
    pub(super) title: Option<String>,
    #[serde(default)]
    pub(super) with: IndexMap<String, toml::Value>,
}

// ---- checking ------------------------------------------------------------------------------
