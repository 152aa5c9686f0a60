//! The automation engine: runs plans as real processes. Knows nothing of the terminal.

mod ansible;
pub(crate) mod crash;
pub mod disk;
pub mod executor;
pub mod http;
pub mod inventory_check;

pub mod local_copy;
pub mod process;
mod redact;
pub mod runner;
pub mod spec;
pub mod ssh;
