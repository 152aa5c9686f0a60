//! The audit trail: each way of tampering with it behind pilote's back is named by
//! `pilote audit verify`.

mod common;

use common::{Home, run};

/// A demo workspace with a few audit events (vault imports), and its database path.
fn trail() -> (Home, std::path::PathBuf) {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let data = home.path().join("data/pilote/workspaces/demo");
    for v in ["1.0", "1.1", "1.2", "1.3"] {
        let file = home.path().join(format!("pets-{v}.war"));
        std::fs::write(&file, format!("pets {v}")).expect("write");
        let file = file.display().to_string();
        let (code, out, err) =
            run(home
                .pilote()
                .args(["vault", "import", &file, "--app", "pets", "--version", v]));
        assert_eq!(code, 0, "{out}{err}");
    }
    (home, data.join("pilote.db"))
}

/// Tampers as someone with write access to the file would: triggers dropped first.
fn tamper(db: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(db).expect("db");
    conn.execute_batch(&format!(
        "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete; {sql}"
    ))
    .expect("tamper");
}

fn verify(home: &Home) -> (i32, String, String) {
    run(home.pilote().args(["audit", "verify"]))
}

fn last_seq(db: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("db");
    conn.query_row("SELECT max(seq) FROM audit_events", [], |r| r.get(0))
        .expect("max seq")
}

#[test]
fn an_intact_trail_verifies_and_lists() {
    let (home, db) = trail();
    let (code, out, err) = verify(&home);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("audit trail intact: {} event(s)", last_seq(&db))),
        "{out}"
    );
    let (code, out, _) = run(home.pilote().args(["audit", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let imports = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["action"] == "vault.import")
        .count();
    assert_eq!(imports, 4);
}

#[test]
fn the_pilote_database_refuses_edits_of_the_trail() {
    let (_home, db) = trail();
    let conn = rusqlite::Connection::open(&db).expect("db");
    let e = conn
        .execute("DELETE FROM audit_events WHERE seq = 1", [])
        .expect_err("refused");
    assert!(e.to_string().contains("append-only"), "{e}");
}

#[test]
fn each_tampering_is_named_by_verify() {
    for (what, sql, expected) in [
        (
            "edit",
            "UPDATE audit_events SET payload = '{\"digest\":\"forged\"}' WHERE seq = 2",
            "audit trail broken at event #2: event #2 was altered",
        ),
        (
            "delete",
            "DELETE FROM audit_events WHERE seq = 2",
            "audit trail broken at event #2: event #2 is missing (the next one is #3): deleted",
        ),
        (
            "reorder",
            "UPDATE audit_events SET seq = -2 WHERE seq = 2; UPDATE audit_events SET seq = 2 WHERE seq = 3; UPDATE audit_events SET seq = 3 WHERE seq = -2",
            "audit trail broken at event #2: event #2 does not follow event #1",
        ),
    ] {
        let (home, db) = trail();
        tamper(&db, sql);
        let (code, out, err) = verify(&home);
        assert_eq!(code, 1, "{what}: {out}{err}");
        assert!(err.contains(expected), "{what}: {err}");
    }
    // A duplicate key: the same value for serde, another one for SQL's json_extract.
    let (home, db) = trail();
    tamper(
        &db,
        "UPDATE audit_events SET payload = replace(payload, '{', '{\"digest\":\"forged\",') WHERE seq = 2",
    );
    let (code, _, err) = verify(&home);
    assert_eq!(code, 1, "duplicate key: {err}");
    assert!(
        err.contains("audit trail broken at event #2: event #2 was altered"),
        "{err}"
    );
    // Truncation with the head's record deleted too.
    let (home, db) = trail();
    let last = last_seq(&db);
    tamper(
        &db,
        &format!(
            "DELETE FROM audit_events WHERE seq = {last}; DELETE FROM meta WHERE key = 'audit_head'"
        ),
    );
    let (code, _, err) = verify(&home);
    assert_eq!(code, 1, "head deleted: {err}");
    assert!(err.contains("truncated"), "{err}");
    // Truncation: the last event cut off.
    let (home, db) = trail();
    let last = last_seq(&db);
    tamper(&db, &format!("DELETE FROM audit_events WHERE seq = {last}"));
    let (code, _, err) = verify(&home);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "audit trail broken at event #{last}: the trail ends at event #{}, but event #{last} was recorded: truncated",
            last - 1
        )),
        "{err}"
    );
}
