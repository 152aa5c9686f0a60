//! The SQLite store: created private, migrated from empty, refuses what it must refuse.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use pilote::identity::Actor;
use pilote::settings::{self, Located, Origin, Overrides};
use pilote::store::{DB_FILE, SCHEMA_VERSION, Store, StoreError};

const TIMEOUT: Duration = Duration::from_secs(5);

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

#[test]
fn creates_a_private_store_at_the_latest_schema() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("a/b/data");
    let store = Store::open(&data, tmp.path(), TIMEOUT).expect("open");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join(DB_FILE)), 0o600);
    // The WAL files exist while the connection is open and inherit the main file's mode.
    assert_eq!(mode(&data.join(format!("{DB_FILE}-wal"))), 0o600);

    let conn = rusqlite::Connection::open(data.join(DB_FILE)).expect("reopen");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version as usize, SCHEMA_VERSION);
    let journal: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal");
    assert_eq!(journal, "wal");
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    tables.retain(|t| !t.starts_with("sqlite_"));
    insta::assert_snapshot!(tables.join("\n"));
    drop(store);
}

#[test]
fn reopening_is_a_no_op() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    drop(Store::open(&data, Path::new("/ws"), TIMEOUT).expect("first open"));
    let store = Store::open(&data, Path::new("/ws"), TIMEOUT).expect("second open");
    assert_eq!(
        store.summary().expect("summary").schema_version,
        SCHEMA_VERSION
    );
}

#[test]
fn refuses_a_group_readable_database() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    drop(Store::open(&data, Path::new("/ws"), TIMEOUT).expect("open"));
    let db = data.join(DB_FILE);
    fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = Store::open(&data, Path::new("/ws"), TIMEOUT)
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::Permissions { mode: 0o644, .. }));
    assert!(err.is_bad_input());
    let msg = err
        .to_string()
        .replace(&data.display().to_string(), "[DATA]");
    insta::assert_snapshot!(msg);
}

#[test]
fn refuses_a_world_readable_data_dir() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    fs::create_dir(&data).expect("mkdir");
    fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).expect("chmod");
    let err = Store::open(&data, Path::new("/ws"), TIMEOUT)
        .err()
        .expect("refused");
    assert!(
        matches!(err, StoreError::Permissions { fix: 0o700, .. }),
        "{err}"
    );
    assert!(
        !data.join(DB_FILE).exists(),
        "no file is created in a refused dir"
    );
}

#[test]
fn refuses_a_newer_schema_and_leaves_the_file_untouched() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    drop(Store::open(&data, Path::new("/ws"), TIMEOUT).expect("open"));
    let db = data.join(DB_FILE);
    {
        let conn = rusqlite::Connection::open(&db).expect("conn");
        conn.pragma_update(None, "user_version", 99).expect("bump");
    }
    let before = fs::read(&db).expect("read");
    let err = Store::open(&data, Path::new("/ws"), TIMEOUT)
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert_eq!(fs::read(&db).expect("read"), before);
}

#[test]
fn refuses_a_data_dir_owned_by_another_workspace() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    drop(Store::open(&data, Path::new("/ws/one"), TIMEOUT).expect("open"));
    let err = Store::open(&data, Path::new("/ws/two"), TIMEOUT)
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::ForeignWorkspace { .. }), "{err}");
}

#[test]
fn audit_events_are_append_only() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ws_dir = tmp.path().join("ws");
    common_demo_config(&ws_dir);
    let ws = settings::load(
        &Located {
            dir: ws_dir.clone(),
            origin: Origin::Flag,
        },
        &Overrides::default(),
    )
    .expect("demo config loads");
    let data = tmp.path().join("data");
    let mut store = Store::open(&data, &ws_dir, TIMEOUT).expect("open");
    let actor = Actor::current();
    assert!(store.sync_inventory(&ws.inventory, &actor).expect("sync"));
    assert!(
        !store
            .sync_inventory(&ws.inventory, &actor)
            .expect("sync again"),
        "unchanged inventory is not re-recorded"
    );
    assert_eq!(store.summary().expect("summary").audit_events, 1);
    // A -> B -> A: each change is recorded once, and A again is not re-recorded on every open.
    let mut changed = ws.inventory.clone();
    changed.envs[0].protected = !changed.envs[0].protected;
    let a_digest = store.inventory_digest().expect("digest");
    assert!(store.sync_inventory(&changed, &actor).expect("to B"));
    assert!(
        store
            .sync_inventory(&ws.inventory, &actor)
            .expect("back to A")
    );
    assert!(
        !store
            .sync_inventory(&ws.inventory, &actor)
            .expect("A again")
    );
    assert_eq!(store.inventory_digest().expect("digest"), a_digest);
    assert_eq!(store.summary().expect("summary").audit_events, 3);
    drop(store);

    let conn = rusqlite::Connection::open(data.join(DB_FILE)).expect("conn");
    let update = conn.execute("UPDATE audit_events SET actor = 'mallory'", []);
    assert!(update.is_err_and(|e| e.to_string().contains("append-only")));
    let delete = conn.execute("DELETE FROM audit_events", []);
    assert!(delete.is_err_and(|e| e.to_string().contains("append-only")));
    let apps: i64 = conn
        .query_row(
            "SELECT count(*) FROM app_domains WHERE app = 'pets'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(apps, 3);
}

#[test]
fn foreign_keys_are_enforced() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let mut store = Store::open(&data, Path::new("/ws"), TIMEOUT).expect("open");
    let err = store.write(|tx| {
        tx.execute(
            "INSERT INTO locks (app, env, run_id, taken_by, taken_at) VALUES ('pets', 'uat', 42, 'me', 0)",
            [],
        )
    });
    assert!(
        err.is_err(),
        "a lock for a run that does not exist must be refused"
    );
}

fn common_demo_config(dir: &Path) {
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/config"),
        dir,
    );
}
