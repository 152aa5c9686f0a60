//! pilote: a terminal console for driving deployments.
//!
//! Parts (see DESIGN.md): `settings` loads the workspace config, `store` is the SQLite store,
//! `cli` and `tui` are the two faces over the same core functions.

pub mod assets;
pub mod cli;
pub mod clock;
pub mod core;
pub mod demo;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod identity;
pub mod integrations;
pub mod logging;
pub mod settings;
pub mod setup;
pub mod spool;
pub mod store;
pub mod table;
pub mod tui;
pub mod vault;
pub mod workflow;
