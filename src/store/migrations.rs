//! Schema migrations, versioned in code. Version N is the N-th entry; never edit a released one,
//! add the next.

use rusqlite_migration::{M, Migrations};

const LIST: &[M<'static>] = &[
    M::up(include_str!("sql/0001_init.sql")),
    M::up(include_str!("sql/0002_run_package.sql")),
    M::up(include_str!("sql/0003_artifacts_and_checks.sql")),
    M::up(include_str!("sql/0004_console_indexes.sql")),
    M::up(include_str!("sql/0005_silences.sql")),
    M::up(include_str!("sql/0006_notifications.sql")),
    M::up(include_str!("sql/0007_decisions_in_chain.sql")),
    M::up(include_str!("sql/0008_runner_start.sql")),
    M::up(include_str!("sql/0009_config_snapshots.sql")),
];

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

    fn schema(conn: &rusqlite::Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY name")
            .expect("prepare");
        let rows = stmt.query_map([], |r| r.get(0)).expect("query");
        rows.collect::<Result<Vec<String>, _>>().expect("rows")
    }

    /// A store created at each older version and upgraded ends with the same schema as a
    /// fresh one (modulo the text of ALTERed tables, compared by their columns).
    #[test]
    fn upgrades_match_a_fresh_schema() {
        let mut fresh = rusqlite::Connection::open_in_memory().expect("db");
        MIGRATIONS.to_latest(&mut fresh).expect("fresh");
        for from in 1..SCHEMA_VERSION {
            let mut old = rusqlite::Connection::open_in_memory().expect("db");
            MIGRATIONS.to_version(&mut old, from).expect("old version");
            MIGRATIONS.to_latest(&mut old).expect("upgrade");
            let cols = |c: &rusqlite::Connection| -> Vec<String> {
                let tables: Vec<String> = schema(c)
                    .iter()
                    .filter(|s| s.starts_with("table "))
                    .cloned()
                    .collect();
                tables
                    .iter()
                    .flat_map(|t| {
                        let name = t
                            .split_whitespace()
                            .nth(1)
                            .unwrap_or_default()
                            .trim_end_matches(':')
                            .to_string();
                        let mut stmt = c
                            .prepare(&format!("PRAGMA table_info({name})"))
                            .expect("info");
                        let cols: Vec<String> = stmt
                            .query_map([], |r| {
                                Ok(format!(
                                    "{name}.{}:{}",
                                    r.get::<_, String>(1)?,
                                    r.get::<_, String>(2)?
                                ))
                            })
                            .expect("q")
                            .collect::<Result<_, _>>()
                            .expect("rows");
                        cols
                    })
                    .collect()
            };
            assert_eq!(cols(&old), cols(&fresh), "upgrade from v{from}");
            let names = |c: &rusqlite::Connection| -> Vec<String> {
                schema(c)
                    .iter()
                    .map(|s| s.split(':').next().unwrap_or_default().to_string())
                    .collect()
            };
            assert_eq!(names(&old), names(&fresh), "upgrade from v{from}");
        }
    }
}
