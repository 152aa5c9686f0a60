//! The CMDB: its inventory document (JSON, schema in docs/configuration.md) becomes the
//! workspace's `inventory.toml`, checked first with positions in the document for every
//! problem.

pub mod document;
pub mod fetch;
pub mod locate;
pub mod render;

pub use document::{Document, parse};
pub use fetch::{MAX_DOCUMENT_BYTES, fetch, is_url, shown};
pub use render::{Kept, Origin, render, strip_header};
