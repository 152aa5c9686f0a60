//! The audit trail: each way of tampering with it behind pilote's back is named by
//! `pilote audit verify`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use common::reliability::{Row, record};
use common::{Home, run};
use sha2::Digest as _;

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
        let fault = match what {
            "edit" => "one event's payload edited with sqlite3 (triggers dropped first)",
            "delete" => "one event in the middle deleted with sqlite3",
            _ => "two events swapped (their seq exchanged) with sqlite3",
        };
        record(&Row {
            id: &format!("audit-{what}"),
            area: "audit",
            fault,
            tries: 1,
            outcome: &format!("`pilote audit verify` exits 1: \"{expected}\""),
            lost: "nothing: the events before it are reported intact",
        });
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
    record(&Row {
        id: "audit-edit-duplicate-key",
        area: "audit",
        fault: "one event's payload given a duplicate key (same value for serde, another for SQL's json_extract)",
        tries: 1,
        outcome: "`pilote audit verify` exits 1: event #2 was altered",
        lost: "nothing",
    });
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
    record(&Row {
        id: "audit-truncate-and-head",
        area: "audit",
        fault: "the last event deleted together with the head record kept beside it",
        tries: 1,
        outcome: "`pilote audit verify` exits 1: the record of the last event is gone: truncated",
        lost: "nothing",
    });
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
    record(&Row {
        id: "audit-truncate",
        area: "audit",
        fault: "the last event of the trail deleted with sqlite3",
        tries: 1,
        outcome: "`pilote audit verify` exits 1: the trail ends one event early, but the next was recorded: truncated",
        lost: "nothing",
    });
}

/// A webhook receiver on 127.0.0.1 that answers 200 to every POST and hands over the bodies.
fn receiver() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/anchor", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut out = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = 0;
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
                    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                    if out.write_all(ok.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, rx)
}

/// Rewrites the whole trail as someone with write access and time would: event 2 forged,
/// then every hash after it recomputed and the head record updated, so the chain holds.
fn rebuild_forged(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).expect("db");
    let mut stmt = conn
        .prepare("SELECT seq, at, actor_uid, actor, action, subject, payload FROM audit_events ORDER BY seq")
        .expect("select");
    let events: Vec<pilote::store::AuditEvent> = stmt
        .query_map([], |r| {
            let payload: String = r.get(6)?;
            Ok(pilote::store::AuditEvent {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor_uid: r.get(2)?,
                actor: r.get(3)?,
                action: r.get(4)?,
                subject: r.get(5)?,
                payload: serde_json::from_str(&payload).expect("payload"),
            })
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    drop(stmt);
    let mut sql =
        String::from("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;");
    let mut prev = "0".repeat(64);
    for mut e in events {
        if e.seq == 2 {
            e.payload = serde_json::json!({ "digest": "forged" });
        }
        let mut h = sha2::Sha256::new();
        h.update(prev.as_bytes());
        h.update(serde_json::to_vec(&e).expect("json"));
        let hash = hex::encode(h.finalize());
        sql.push_str(&format!(
            "UPDATE audit_events SET payload = '{}', prev_hash = '{prev}', hash = '{hash}' WHERE seq = {};",
            e.payload.to_string().replace('\'', "''"),
            e.seq
        ));
        sql.push_str(&format!(
            "UPDATE meta SET value = '{}:{hash}' WHERE key = 'audit_head';",
            e.seq
        ));
        prev = hash;
    }
    conn.execute_batch(&sql).expect("rewrite");
}

/// The head as of a run's end goes out with its summary (the `--follow` output, `runs
/// --json`, the webhook body) and matches the trail at that point; anchored, it catches a
/// trail rewritten whole, which `verify` alone cannot.
#[test]
fn the_head_hash_goes_out_with_each_run_summary_and_catches_a_rebuilt_trail() {
    let (url, bodies) = receiver();
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let config = home.path().join("config/pilote/pilote.toml");
    let text = std::fs::read_to_string(&config).expect("read");
    let hook = format!(
        "\n[webhooks.anchor]\nurl = \"{url}\"\nformat = \"json\"\nevents = [\"run.succeeded\"]\n"
    );
    std::fs::write(&config, text + &hook).expect("write");
    let package = home
        .path()
        .join("data/pilote/workspaces/demo/drop/pets-1.4.0");
    let (code, out, err) = run(home
        .pilote()
        .args(["run", "plans/pets-1.4.0.toml", "--env", "uat", "--follow"])
        .arg("--package")
        .arg(&package));
    assert_eq!(code, 0, "{out}{err}");
    // What the operator reads at the end of the follow.
    let line = err
        .lines()
        .find_map(|l| l.strip_prefix("audit trail head at its end: event #"))
        .unwrap_or_else(|| panic!("no head in the summary: {err}"));
    let (seq, hash) = line.split_once(' ').expect("seq and hash");
    let seq: i64 = seq.parse().expect("seq");
    assert_eq!(hash.len(), 64, "{line}");

    // `pilote audit` at that point: the event is the run's end, with that hash.
    let (_, out, _) = run(home.pilote().args(["audit", "--json", "--limit", "1000"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let events = v["events"].as_array().expect("events");
    let end = events
        .iter()
        .find(|e| e["seq"] == seq)
        .unwrap_or_else(|| panic!("no event #{seq}: {v:#}"));
    assert_eq!(end["hash"], hash, "{end}");
    assert_eq!(end["action"], "run.finished", "{end}");
    assert_eq!(end["subject"], "run:1", "{end}");
    assert!(
        events
            .iter()
            .all(|e| e["subject"] != "run:1" || e["seq"].as_i64() <= Some(seq)),
        "the run's end is its last event: {v:#}"
    );

    // `pilote runs --json` carries the same head.
    let (_, out, _) = run(home.pilote().args(["runs", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v["runs"][0]["audit_head"],
        serde_json::json!({ "seq": seq, "hash": hash }),
        "{v:#}"
    );

    // The webhook body too, for a receiver that anchors it elsewhere.
    let body = bodies
        .recv_timeout(Duration::from_secs(30))
        .expect("the run.succeeded webhook");
    let b: serde_json::Value = serde_json::from_str(&body).expect("json body");
    assert_eq!(b["event"], "run.succeeded", "{body}");
    assert_eq!(b["audit_seq"], seq, "{body}");
    assert_eq!(b["audit_hash"], hash, "{body}");

    let anchor = format!("{seq}:{hash}");
    let (code, out, err) = run(home.pilote().args(["audit", "verify", "--anchor", &anchor]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("through the 1 anchored head(s)"), "{out}");

    // A mistyped anchor is the operator's mistake, said so.
    let (code, _, err) = run(home
        .pilote()
        .args(["audit", "verify", "--anchor", "12:abc"]));
    assert_eq!(code, 2, "{err}");
    insta::assert_snapshot!("bad_anchor", err.trim_end());

    // Rebuilt whole, the chain holds: only the anchor tells.
    let db = home.path().join("data/pilote/workspaces/demo/pilote.db");
    rebuild_forged(&db);
    let (code, out, err) = run(home.pilote().args(["audit", "verify"]));
    assert_eq!(
        code, 0,
        "a consistent rewrite passes the chain check: {out}{err}"
    );
    let (code, out, err) = run(home.pilote().args(["audit", "verify", "--anchor", &anchor]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("audit trail rewritten: event #{seq} hashes to "))
            && err.contains(&format!("but {hash} was exported for it")),
        "{err}"
    );
    record(&Row {
        id: "audit-rebuilt-whole",
        area: "audit",
        fault: "the whole trail rewritten after a run: event #2 forged, every later hash recomputed, the head record updated",
        tries: 1,
        outcome: "`audit verify` alone passes (a chain cannot tell); with the head the run summary exported (`--follow` output, `runs --json`, the run.succeeded webhook, all equal to `pilote audit` at the run's end), `audit verify --anchor` exits 1 naming the event",
        lost: "nothing: the forgery is detected",
    });
}
