//! A checked plan: what expansion, rollback and the engine use.

use std::ops::Range;

use indexmap::IndexMap;
use serde::Serialize;

use crate::core::automation::Catalog;
use crate::core::inventory::Inventory;

/// A plan file larger than this is refused unread: plans are written by people.
pub const MAX_PLAN_BYTES: usize = 1024 * 1024;

/// What a plan is checked against.
pub struct Context<'a> {
    pub catalog: &'a Catalog,
    pub inventory: &'a Inventory,
    /// `[vars]` of pilote.toml: the last place a parameter value is looked up.
    pub workspace_vars: &'a IndexMap<String, toml::Value>,
}

/// A checked plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub app: String,
    pub lifecycle: Option<String>,
    pub description: String,
    pub vars: IndexMap<String, toml::Value>,
    pub phases: Vec<Phase>,
    pub actions: Vec<Action>,
    /// Execution order: batches run one after another; a parallel batch runs its actions at
    /// once, a sequential one in order.
    pub batches: Vec<Batch>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub id: String,
    pub title: String,
    /// Indexes of the phases this one runs after.
    pub after: Vec<usize>,
    pub parallel: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub id: String,
    pub title: String,
    pub uses: String,
    pub with: IndexMap<String, toml::Value>,
    pub undo: Undo,
    /// Index into `phases`.
    pub phase: Option<usize>,
    /// Byte span of the action's `uses`, for diagnostics found after checking.
    #[serde(skip)]
    pub span: Range<usize>,
}

/// How an action is undone.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Undo {
    /// Run this automation to undo the action.
    Run {
        uses: String,
        title: String,
        with: IndexMap<String, toml::Value>,
    },
    /// Nothing to undo (a backup, a check), said explicitly.
    Nothing { reason: Option<String> },
    /// The plan says nothing; a warning when the automation changes state.
    Undeclared,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Batch {
    pub phase: Option<String>,
    pub parallel: bool,
    /// Indexes into `actions`, in order.
    pub actions: Vec<usize>,
}
