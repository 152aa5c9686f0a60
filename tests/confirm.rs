//! Heavier actions ask for more (issue 17 §3): a deploy to a protected env takes the env's
//! name typed, on the command line and in the console; a rollback stays `R` + Enter, with a
//! reason for whoever has one; `demo --reset` keeps what people made unless forced, and a
//! console on a store replaced under it says so; Ctrl-C on a followed run detaches from it.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Home;
use common::people::{
    approved_for_prod, as_user, deployed_to, filed_by_dev, ok, refused, released,
};
use common::pty::Pty;

/// Request #1 deployed on uat and preprod and approved for prod: one step from production.
fn ready_for_prod() -> Home {
    let home = released();
    filed_by_dev(&home);
    deployed_to(&home, "preprod");
    approved_for_prod(&home, "1");
    home
}

/// The ids of the runs `pilote runs --json` lists.
fn run_ids(home: &Home) -> Vec<i64> {
    let out = ok(home, "ops", &["runs", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect()
}

/// `pilote ARGS` as ops, on a terminal (for the questions that only a terminal is asked).
fn on_terminal(home: &Home, args: &[&str]) -> Pty {
    Pty::start_with(home, args, &[("PILOTE_TEST_ACTOR", "ops:2003")], 120, 30)
}

#[test]
fn a_protected_env_takes_its_name_not_a_yes() {
    let home = ready_for_prod();
    let before = run_ids(&home);

    // A script's --yes alone, or with another env's name, starts nothing in prod.
    let err = refused(&home, "ops", &["deploy", "1", "--env", "prod", "--yes"]);
    insta::assert_snapshot!("yes_without_confirm_env", err);
    let err = refused(
        &home,
        "ops",
        &[
            "deploy",
            "1",
            "--env",
            "prod",
            "--yes",
            "--confirm-env",
            "preprod",
        ],
    );
    assert!(
        err.contains("--confirm-env preprod does not name the env deployed to (--env prod)"),
        "{err}"
    );
    // Off a terminal, nobody can type it: the refusal says what a script passes.
    let err = refused(&home, "ops", &["deploy", "1", "--env", "prod"]);
    assert!(err.contains("pass --yes --confirm-env prod"), "{err}");
    assert_eq!(run_ids(&home), before, "nothing was started");

    // On a terminal, `yes` is not prod's name.
    let mut t = on_terminal(&home, &["deploy", "1", "--env", "prod"]);
    t.wait_for("the question", |s| {
        s.contains("to prod? Type `prod` (the env's name):")
    });
    t.send("yes\r");
    t.wait_for("the refusal", |s| s.contains("deploy not started"));
    assert_eq!(t.wait_exit(), 2);
    assert_eq!(run_ids(&home), before, "nothing was started");

    // Its name, typed, starts the deploy.
    let mut t = on_terminal(&home, &["deploy", "1", "--env", "prod", "--follow"]);
    t.wait_for("the question", |s| s.contains("Type `prod`"));
    t.send("prod\r");
    t.wait_for("the deploy's end", |s| s.contains("run #3 succeeded"));
    assert_eq!(t.wait_exit(), 0, "{}", t.screen());
    let runs = ok(&home, "ops", &["runs", "--json", "--env", "prod"]);
    let v: serde_json::Value = serde_json::from_str(&runs).expect("json");
    assert_eq!(v["runs"][0]["state"], "succeeded", "{runs}");

    // A non-protected env still takes --yes alone, and --confirm-env needs --yes.
    let (code, _, err) = as_user(
        &home,
        "ops",
        &["deploy", "1", "--env", "prod", "--confirm-env", "prod"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
}

#[test]
fn the_console_asks_for_prods_name_and_a_rollback_reason_shown_on_the_incident() {
    let home = ready_for_prod();
    let mut t = Pty::start_with(&home, &[], &[("PILOTE_TEST_ACTOR", "ops:2003")], 200, 50);
    t.wait_for("the request", |s| s.contains("#1   pets 1.4.0"));

    // d: the confirmation asks for prod's name; Enter alone starts nothing.
    t.send("d");
    let screen = t.wait_for("the deploy confirmation", |s| {
        s.contains("Deploy #1 to prod?") && s.contains("Type prod to confirm:")
    });
    assert!(screen.contains("Package: sha256"), "{screen}");
    t.settle();
    t.send("\r");
    t.wait_for("the reminder", |s| {
        s.contains("Not `prod`: type prod to confirm:")
    });
    assert_eq!(run_ids(&home), vec![2, 1], "Enter alone deploys nothing");
    t.send("prod\r");
    t.wait_for("the prod deploy's end", |s| {
        s.contains("Log #3 deploy pets on prod") && s.contains("run succeeded")
    });

    // R: Enter would start it at once; a reason typed first goes with it.
    t.send("R");
    t.wait_for("the rollback confirmation", |s| {
        s.contains("ROLL BACK pets on prod?") && s.contains("Reason (optional, Enter skips):")
    });
    t.settle();
    t.send("INC-9 payments down\r");
    t.wait_for("the rollback's end", |s| {
        s.contains("Log #4 rollback pets on prod") && s.contains("run succeeded")
    });

    // The dashboard's incident says why it was rolled back.
    t.send("4");
    let screen = t.wait_for("the incident", |s| {
        s.lines()
            .any(|l| l.contains("#3") && l.contains("INC-9 payments down"))
    });
    assert!(screen.contains("WHY"), "{screen}");
    t.send("q");
    assert_eq!(t.wait_exit(), 0);

    let runs = ok(&home, "ops", &["runs", "--json"]);
    assert_eq!(
        common::run_in(&runs, "4")["reason"],
        "INC-9 payments down",
        "{runs}"
    );
    let audit = ok(&home, "ops", &["audit", "--json", "--limit", "10"]);
    assert!(audit.contains("INC-9 payments down"), "{audit}");
    let metrics = ok(&home, "ops", &["metrics"]);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("#3") && l.ends_with("INC-9 payments down")),
        "{metrics}"
    );
}

/// The demo's `soak` plan running `script`.
fn soak(home: &Home, script: &str) {
    common::soak_plan(&home.path().join("config/pilote"), script);
}

#[test]
fn demo_reset_keeps_what_people_made_unless_forced() {
    let home = Home::new();
    // The made-up history is the demo's own: a reset just makes it again.
    ok(&home, "ops", &["demo", "--no-open", "--history", "2"]);
    ok(&home, "ops", &["demo", "--no-open", "--reset"]);

    // A request someone filed is theirs.
    ok(&home, "ops", &["vault", "sweep", "--settle", "0"]);
    filed_by_dev(&home);
    let err = refused(&home, "ops", &["demo", "--no-open", "--reset"]);
    insta::assert_snapshot!("reset_with_a_request", err);
    let list = ok(&home, "ops", &["request", "list", "--json"]);
    assert!(
        list.contains("\"id\": 1"),
        "the request is still there: {list}"
    );
    ok(&home, "ops", &["demo", "--no-open", "--reset", "--force"]);
    let list = ok(&home, "ops", &["request", "list", "--json"]);
    assert!(!list.contains("\"id\": 1"), "forced, it is gone: {list}");

    // A run under way: refused, and forced it is cancelled before its sandbox goes.
    soak(&home, "echo soaking; sleep 120");
    let run = ok(&home, "ops", &["run", "plans/soak.toml", "--env", "uat"]);
    assert_eq!(run.trim(), "1");
    let err = refused(&home, "ops", &["demo", "--no-open", "--reset"]);
    assert!(
        err.contains("run #1 (adhoc of pets on uat) is still running")
            && err.contains("`pilote demo --reset --force`, which cancels it first"),
        "{err}"
    );
    let (code, out, err) = as_user(&home, "ops", &["demo", "--no-open", "--reset", "--force"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("cancelling run #1 before the reset"), "{err}");
    assert!(run_ids(&home).is_empty(), "a fresh demo");
}

#[test]
fn a_console_on_a_store_replaced_or_deleted_says_so() {
    let home = Home::new();
    ok(&home, "ops", &["demo", "--no-open"]);
    ok(&home, "ops", &["vault", "sweep", "--settle", "0"]);
    filed_by_dev(&home);

    // Replaced: another terminal resets the demo.
    let mut t = Pty::start(&home, &[], 80, 24);
    t.wait_for("the request", |s| s.contains("#1   pets 1.4.0"));
    ok(&home, "ops", &["demo", "--no-open", "--reset", "--force"]);
    let screen = t.wait_for("the store gone", |s| {
        s.contains("STORE GONE") && s.contains("the store was replaced or deleted since")
    });
    assert!(!screen.contains("pets 1.4.0"), "no stale view:\n{screen}");
    t.send("q");
    assert_eq!(t.wait_exit(), 0);

    // Deleted.
    let mut t = Pty::start(&home, &[], 80, 24);
    t.wait_for("the console", |s| s.contains("1 Requests"));
    std::fs::remove_file(common::people::db(&home)).expect("delete the store");
    t.wait_for("the store gone", |s| s.contains("STORE GONE"));
    t.send("q");
    assert_eq!(t.wait_exit(), 0);
}

/// `pilote ARGS` in `home`, its output collected as it comes.
fn spawn(home: &Home, args: &[&str]) -> (Child, Arc<Mutex<String>>, Arc<Mutex<String>>) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("pilote"))
        .args(args)
        .env_clear()
        .envs(home.vars())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pilote");
    let collect = |mut from: Box<dyn Read + Send>| {
        let text = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&text);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    return;
                }
                if let Ok(mut t) = sink.lock() {
                    t.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        text
    };
    let out = collect(Box::new(child.stdout.take().expect("stdout")));
    let err = collect(Box::new(child.stderr.take().expect("stderr")));
    (child, out, err)
}

fn wait_for_text(text: &Mutex<String>, needle: &str) {
    let start = Instant::now();
    while !text.lock().expect("text").contains(needle) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never printed {needle:?}: {}",
            text.lock().expect("text")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends Ctrl-C's signal to `child` and returns its exit code.
fn interrupt(mut child: Child) -> i32 {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = child.wait().expect("wait");
    status.code().unwrap_or(-1)
}

#[test]
fn ctrl_c_on_a_followed_run_detaches_and_the_run_goes_on() {
    let home = Home::new();
    ok(&home, "ops", &["demo", "--no-open"]);
    soak(&home, "echo soaking; sleep 15; echo awake");

    // `run --follow` (deploy and rollback --follow follow the same way).
    let (child, out, err) = spawn(
        &home,
        &["run", "plans/soak.toml", "--env", "uat", "--follow"],
    );
    wait_for_text(&out, "soaking");
    assert_eq!(interrupt(child), 130);
    wait_for_text(
        &err,
        "detached: run #1 is still running; pilote cancel 1 stops it",
    );
    let runs = ok(&home, "ops", &["runs", "--json"]);
    assert_eq!(common::run_in(&runs, "1")["state"], "running", "{runs}");

    // `logs --follow`.
    let (child, out, err) = spawn(&home, &["logs", "1", "--follow"]);
    wait_for_text(&out, "soaking");
    assert_eq!(interrupt(child), 130);
    wait_for_text(
        &err,
        "detached: run #1 is still running; pilote cancel 1 stops it",
    );

    // The run went on to its end.
    let (code, out, err) = as_user(&home, "ops", &["logs", "1", "--follow"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("awake"), "{out}");
    assert!(err.contains("run #1 succeeded"), "{err}");
}
