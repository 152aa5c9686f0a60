//! Plans as code: the ordered actions that deploy a release on one environment.
//!
//! ```toml
//! app = "pets"
//! lifecycle = "standard"
//! [vars]
//! version = "1.4.0"
//! [[actions]]
//! id = "stop-jboss"
//! title = "Stop the JBoss instances"
//! uses = "jboss-stop"
//! undo = "jboss-start"
//! ```
//!
//! `check` validates a plan against the catalog and the inventory and reports every problem at
//! once with file:line:col; the checked [`Plan`] is what expansion, rollback and the engine use.

mod check;
mod file;
mod model;
mod order;

pub use check::{check, lifecycle_envs};
pub use model::{Action, Batch, Context, MAX_PLAN_BYTES, Phase, Plan, Undo};
pub use order::run_order;
