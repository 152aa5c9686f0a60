//! Schema migrations, versioned in code. Version N is the N-th entry; never edit a released one,
//! add the next.

use rusqlite_migration::{M, Migrations};

const LIST: &[M<'static>] = &[M::up(include_str!("sql/0001_init.sql"))];

pub(crate) const MIGRATIONS: Migrations<'static> = Migrations::from_slice(LIST);

/// The schema version this binary writes (SQLite's `user_version`).
pub const SCHEMA_VERSION: usize = LIST.len();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(MIGRATIONS.validate().is_ok());
    }
}
