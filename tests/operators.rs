//! Operators under pressure, end to end: a console whose terminal goes away mid-deploy, two
//! consoles of two people acting on the same request at once, and a deploy tried while
//! another person's run waits at a gate. Real binary, real terminals (tmux, ptys).

mod common;

use std::time::{Duration, Instant};

use common::pty::Pty;
use common::reliability::{Row, record};
use common::tmux::Tmux;
use common::{Home, run};

/// People: the OS uid is the identity; debug builds let a test play several.
fn actor(who: &str) -> String {
    let uid = match who {
        "dev" => 2001,
        "alice" => 2002,
        "bob" => 2004,
        _ => 2003,
    };
    format!("{who}:{uid}")
}

fn pilote(home: &Home, who: &str, args: &[&str]) -> (i32, String, String) {
    run(home
        .pilote()
        .env("PILOTE_TEST_ACTOR", actor(who))
        .args(args))
}

fn ok(home: &Home, who: &str, args: &[&str]) -> String {
    let (code, out, err) = pilote(home, who, args);
    assert_eq!(code, 0, "{who} {args:?}: {out}{err}");
    out
}

/// The demo with a `soak` automation running `script`, its plan, pets 1.4.0 in the vault and
/// request #1 for it filed and submitted by dev.
fn demo_with_soak_request(script: &str) -> Home {
    let home = Home::new();
    ok(&home, "dev", &["demo", "--no-open"]);
    common::soak_plan(&home.path().join("config/pilote"), script);
    ok(&home, "dev", &["vault", "sweep", "--settle", "0"]);
    ok(&home, "dev", &common::filing("plans/soak.toml"));
    ok(&home, "dev", &["request", "submit", "1"]);
    home
}

fn runs(home: &Home) -> Vec<serde_json::Value> {
    let out = ok(home, "ops", &["runs", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["runs"].as_array().cloned().unwrap_or_default()
}

/// Run `id` once it is in `state`; panics after 60 s with what it is.
fn wait_state(home: &Home, id: i64, state: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = runs(home)
            .into_iter()
            .find(|r| r["id"] == id)
            .unwrap_or_default();
        if r["state"] == state {
            return r;
        }
        assert!(Instant::now() < deadline, "run #{id} never {state}: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn integrity(home: &Home) -> String {
    let db = home.path().join("data/pilote/workspaces/demo/pilote.db");
    let conn = rusqlite::Connection::open(db).expect("db");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

#[test]
fn a_deploy_started_in_the_console_survives_tmux_kill_server_with_its_whole_log() {
    const LINES: usize = 60;
    let home = demo_with_soak_request(&format!(
        "i=1; while [ $i -le {LINES} ]; do echo \"line $i of {LINES}\"; i=$((i+1)); sleep 0.05; done"
    ));
    let bin = assert_cmd::cargo::cargo_bin("pilote");
    let p = home.path().display();
    let line = format!(
        "cd {p} && env -i PATH=/usr/bin:/bin HOME={p} XDG_CONFIG_HOME={p}/config \
         XDG_DATA_HOME={p}/data XDG_STATE_HOME={p}/state TERM=screen-256color LANG=C.UTF-8 \
         PILOTE_TEST_ACTOR={} {}",
        actor("ops"),
        bin.display()
    );
    let t = Tmux::start(&line, 120, 30);
    t.wait_for("the request", |s| s.contains("#1   pets 1.4.0"));
    t.keys(&["d"]);
    t.wait_for("the deploy confirmation", |s| {
        s.contains("Deploy #1 to uat?")
    });
    // A confirmation ignores Enter for a moment after it appears (a person reads it).
    std::thread::sleep(Duration::from_millis(400));
    t.keys(&["Enter"]);
    t.wait_for("the deploy's output in the console", |s| {
        s.contains("line 5 of")
    });
    // The terminal, its shell and the console go; the runner must not.
    drop(t);
    let r = runs(&home)
        .into_iter()
        .find(|r| r["id"] == 1)
        .unwrap_or_default();
    assert_ne!(
        r["state"], "succeeded",
        "the test must kill the terminal mid-run: {r}"
    );
    let r = wait_state(&home, 1, "succeeded");
    assert_eq!(r["kind"], "deploy", "{r}");
    let request = ok(&home, "ops", &["request", "show", "1", "--json"]);
    let request: serde_json::Value = serde_json::from_str(&request).expect("json");
    assert_eq!(request["request"]["state"], "deployed", "{request:#}");
    let log = ok(&home, "ops", &["logs", "1"]);
    for i in 1..=LINES {
        let needle = format!("| line {i} of {LINES}\n");
        assert_eq!(log.matches(&needle).count(), 1, "line {i}:\n{log}");
    }
    assert_eq!(integrity(&home), "ok");
    record(&Row {
        id: "terminal-tmux-kill-server-console",
        area: "terminal",
        fault: "`tmux kill-server` while a deploy started from the console (d, Enter) inside tmux was printing, 5 of its 60 lines on screen",
        tries: 1,
        outcome: "the runner lives on; the run succeeded, the request deployed; `pilote logs` afterwards shows each of the 60 lines exactly once, in order; integrity_check ok",
        lost: "nothing",
    });
}

/// Alice's and Bob's consoles (two people: neither filed the request) approve request #1
/// for preprod and confirm its deploy at the same moment.
#[test]
fn two_consoles_approving_and_deploying_one_request_start_exactly_one_deploy() {
    let home = demo_with_soak_request("echo working; sleep 3; echo done");
    ok(
        &home,
        "ops",
        &["deploy", "1", "--env", "uat", "--yes", "--follow"],
    );
    let start = |who: &str| {
        let a = actor(who);
        Pty::start_with(&home, &[], &[("PILOTE_TEST_ACTOR", a.as_str())], 160, 40)
    };
    let mut consoles = [start("alice"), start("bob")];
    for c in &consoles {
        c.wait_for("the request", |s| s.contains("#1   pets 1.4.0"));
    }
    // Both approve, each with a comment.
    for c in &mut consoles {
        c.send("a");
        c.wait_for("the approval prompt", |s| {
            s.contains("Approve request #1 for preprod")
        });
    }
    for c in &mut consoles {
        c.send("looks good\r");
    }
    for c in &consoles {
        c.wait_for("the approval to land", |s| {
            !s.contains("Approve request #1 for preprod")
        });
    }
    // Both ask to deploy, read the confirmation, and press Enter together.
    for c in &mut consoles {
        c.send("d");
        c.wait_for("the deploy confirmation", |s| {
            s.contains("Deploy #1 to preprod?")
        });
    }
    consoles[0].settle();
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        for c in &mut consoles {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                c.send("\r");
            });
        }
    });
    let mut screens = Vec::new();
    for c in &consoles {
        screens.push(c.wait_for("the deploy's log, or a refusal", |s| {
            s.contains("Log #2 deploy pets on preprod") || s.contains("Refused")
        }));
    }
    let started = screens.iter().filter(|s| !s.contains("Refused")).count();
    assert_eq!(
        started,
        1,
        "exactly one deploy starts:\n{}",
        screens.join("\n")
    );
    let refused = screens
        .iter()
        .find(|s| s.contains("Refused"))
        .expect("the other is refused");
    // Popup text may wrap: compare without line breaks and frame characters.
    let flat: String = refused
        .lines()
        .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains("locked by run #2 (") || flat.contains("is being deployed by run #2"),
        "the other is told why:\n{refused}"
    );
    wait_state(&home, 2, "succeeded");
    for c in &mut consoles {
        c.send("q");
        c.send("q");
    }
    // Nothing half-done: two runs in all (uat, preprod), the request deployed, both
    // approvals counted, the store and its trail intact.
    let all = runs(&home);
    assert_eq!(all.len(), 2, "{all:#?}");
    let request = ok(&home, "ops", &["request", "show", "1", "--json"]);
    let r: serde_json::Value = serde_json::from_str(&request).expect("json");
    assert_eq!(r["request"]["state"], "deployed", "{r:#}");
    let approvals = r["approvals"]
        .as_array()
        .map(|a| a.iter().filter(|a| a["env"] == "preprod").count());
    assert_eq!(approvals, Some(2), "{r:#}");
    assert_eq!(integrity(&home), "ok");
    assert!(
        ok(&home, "ops", &["audit", "verify"]).starts_with("audit trail intact"),
        "audit verify"
    );
    record(&Row {
        id: "concurrency-two-consoles-one-request",
        area: "concurrency",
        fault: "two people's consoles (alice, bob; ptys) approve request #1 for preprod, then press Enter on its deploy confirmation at the same instant",
        tries: 1,
        outcome: "both approvals recorded; exactly one deploy run starts and succeeds; the other console shows why it was refused (locked by / being deployed by run #2); no other run, request deployed, integrity_check ok, audit verify ok",
        lost: "nothing",
    });
}

#[test]
fn a_gate_waiting_keeps_the_lock_against_another_operators_deploy() {
    let home = Home::new();
    ok(&home, "dev", &["demo", "--no-open"]);
    common::hold_plan(&home.path().join("config/pilote"));
    ok(&home, "dev", &["vault", "sweep", "--settle", "0"]);
    for _ in 0..2 {
        ok(&home, "dev", &common::filing("plans/hold.toml"));
    }
    ok(&home, "dev", &["request", "submit", "1"]);
    ok(&home, "dev", &["request", "submit", "2"]);
    // Alice deploys #1 to uat; it waits at its gate.
    let (code, out, err) = pilote(&home, "alice", &["deploy", "1", "--env", "uat", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    wait_state(&home, 1, "waiting");

    // Bob tries: the same request, another request of the app, and an ad-hoc run.
    let (code, _, same) = pilote(&home, "bob", &["deploy", "1", "--env", "uat", "--yes"]);
    assert_eq!(code, 2, "{same}");
    assert!(
        same.contains("request #1 is being deployed by run #1 on uat (waiting)"),
        "{same}"
    );
    let (code, _, other) = pilote(&home, "bob", &["deploy", "2", "--env", "uat", "--yes"]);
    assert_ne!(code, 0, "{other}");
    assert!(
        other.contains("pets on uat is locked by run #1 (alice, since "),
        "{other}"
    );
    let (code, _, adhoc) = pilote(&home, "bob", &["run", "plans/hold.toml", "--env", "uat"]);
    assert_ne!(code, 0, "{adhoc}");
    assert!(
        adhoc.contains("pets on uat is locked by run #1 (alice, since "),
        "{adhoc}"
    );
    let all = runs(&home);
    assert_eq!(
        all.len(),
        1,
        "no run was started by the refused tries: {all:#?}"
    );
    assert_eq!(all[0]["state"], "waiting");

    // Once the gate is answered and the run ends, the lock is free for Bob.
    ok(&home, "alice", &["gate", "1", "--confirm"]);
    wait_state(&home, 1, "succeeded");
    let (code, out, err) = pilote(&home, "bob", &["deploy", "2", "--env", "uat", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    wait_state(&home, 2, "waiting");
    ok(&home, "bob", &["gate", "2", "--abort"]);
    assert_eq!(integrity(&home), "ok");
    record(&Row {
        id: "concurrency-gate-waiting-keeps-lock",
        area: "concurrency",
        fault: "while alice's deploy of request #1 waits at a gate on uat, bob deploys the same request, deploys request #2 of the same app, and starts an ad-hoc run there",
        tries: 3,
        outcome: "all three refused, no run created: \"request #1 is being deployed by run #1 on uat (waiting)\", \"pets on uat is locked by run #1 (alice, since …)\" twice; once the gate is confirmed and the run ends, bob's deploy starts",
        lost: "nothing",
    });
}
