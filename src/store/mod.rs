//! The SQLite store: the only code that knows SQL.
//!
//! One file per workspace (`pilote.db` in the data dir), WAL, foreign keys on, writers in
//! `BEGIN IMMEDIATE` transactions. Later, a shared server store can be put behind this API
//! without touching the engine, the console or the CLI.

mod audit;
mod commands;
mod db;
mod decisions;
mod fault;
mod history;
mod inventory;
mod log;
mod metrics;
mod migrations;
mod notifications;
mod packages;
mod requests;
mod runs;
mod silences;
mod snapshots;
mod steps;

pub use audit::{AuditCheck, AuditEvent, AuditHead, StoredEvent};
pub use commands::TakenCommand;
pub use db::{DB_FILE, Store, StoreError, Summary, check_layout, check_owned, is_no_space};
pub use decisions::DecisionCheck;
pub use history::{PastRequest, PastRun};
pub use log::{LogAnchor, LogFilter, RunProgress};
pub use log::{LogLine, PendingLine};
pub use metrics::Scope;
pub use migrations::SCHEMA_VERSION;
pub use notifications::{Attempt, Delivery, NewDelivery};
pub use packages::{Imported, PackageRow};
pub use requests::{NewRequest, RequestRow};
pub use runs::{Artifact, HttpCheck, NewRun, RunKind, RunRow, is_finished};
pub use silences::{NewSilenceRow, SilenceRow};
pub use steps::StepRunRow;
