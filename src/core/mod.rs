//! The domain, pure and synchronous: no file, process or database access here.
//!
//! Plans and automations are parsed from text (the caller reads the files), checked against
//! the inventory, expanded into concrete steps and reversed into rollback plans.

pub mod automation;
pub mod diagnostic;
pub mod duration;
pub mod expand;
pub mod inventory;
pub mod lifecycle;
pub mod line_diff;
pub mod metrics;
pub mod notify;
pub mod plan;
pub mod printable;
pub mod rollback;
pub mod silence;
mod source;
pub mod url;
pub mod value;

pub use source::SourceFile;
