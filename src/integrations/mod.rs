//! Other systems pilote reads from or talks to.

pub mod cmdb;
