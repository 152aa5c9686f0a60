//! End to end: the real binary in a real pseudo-terminal, driven by keys, read from the
//! screen, as an operator would use it.

mod common;

use std::time::{Duration, Instant};

use common::pty::Pty;
use common::{Home, run};

/// The screen with the operator's name (the OS user running the tests) made stable.
fn stable(screen: &str) -> String {
    let user = pilote::identity::Actor::current().name;
    screen
        .lines()
        .map(|l| {
            l.trim_end()
                .replace(&format!("│ {user}"), "│ [USER]")
                .replace(&format!("by {user} "), "by [USER] ")
                .replace(&format!("  {user} "), "  [USER] ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ok(home: &Home, args: &[&str]) -> String {
    let (code, out, err) = run(home.pilote().args(args));
    assert_eq!(code, 0, "{args:?}: {out}{err}");
    out
}

/// The demo with pets 1.4.0 in the vault and request #1 for it, submitted (by the user
/// running the tests).
fn demo_with_request(home: &Home, plan: &str) {
    ok(home, &["demo", "--no-open"]);
    file_request(home, plan);
}

/// Sweeps the demo's drop dir into the vault, then files and submits request #1.
fn file_request(home: &Home, plan: &str) {
    ok(home, &["vault", "sweep", "--settle", "0"]);
    ok(home, &common::filing(plan));
    ok(home, &["request", "submit", "1"]);
}

/// The demo with a `soak` automation running `script` on the jump host, and a plan of it.
fn soak_demo(home: &Home, script: &str) {
    ok(home, &["demo", "--no-open"]);
    common::soak_plan(&home.path().join("config/pilote"), script);
}

/// The state of run `id`, from the CLI.
fn run_state(home: &Home, id: i64) -> String {
    let out = ok(home, &["runs", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["runs"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["id"] == id))
        .map(|r| r["state"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[test]
fn demo_opens_the_console_and_q_gives_the_terminal_back() {
    let home = Home::new();
    let mut t = Pty::start(&home, &["demo"], 80, 24);
    let screen = t.wait_for("the console", |s| {
        s.contains("1 Requests") && s.contains("q/^c quit")
    });
    insta::assert_snapshot!("console_80x24", stable(&screen));
    assert!(t.alternate(), "the console draws on the alternate screen");

    t.send("?");
    let screen = t.wait_for("the help popup", |s| s.contains("Everywhere"));
    assert!(screen.contains("approve"), "{screen}");
    t.send("x");
    t.wait_for("the popup to close", |s| !s.contains("Everywhere"));

    t.send("3");
    t.wait_for("the runs pane", |s| s.contains("No run yet"));
    t.send("4");
    t.wait_for("the dashboard", |s| s.contains("DORA keys"));

    t.send("q");
    assert_eq!(t.wait_exit(), 0);
    // The alternate screen is gone: the console's frame is no longer on the terminal.
    assert!(!t.alternate(), "terminal not restored:\n{}", t.screen());
}

#[test]
fn console_uses_a_large_terminal() {
    let home = Home::new();
    demo_with_request(&home, "plans/pets-1.4.0.toml");
    let mut t = Pty::start(&home, &[], 200, 50);
    let screen = t.wait_for("the request and its details", |s| {
        s.contains("#1   pets 1.4.0") && s.contains("audit (newest first)")
    });
    let screen = home.redact(&stable(&screen));
    insta::with_settings!({filters => vec![
        (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "[DATETIME]"),
        (r"\d+s ", "[AGE] "),
    ]}, {
        insta::assert_snapshot!("console_200x50", screen);
    });
    t.send("\x03");
    assert_eq!(t.wait_exit(), 0);
}

#[test]
fn an_operator_deploys_to_uat_and_rolls_it_back_with_one_key() {
    let home = Home::new();
    demo_with_request(&home, "plans/pets-1.4.0.toml");
    let mut t = Pty::start(&home, &[], 100, 30);
    t.wait_for("the request", |s| s.contains("#1   pets 1.4.0"));

    // The tests run as root, which decides nothing (no sudo says who is behind it); the
    // refusal says so at once. Four eyes as real people: tests/team.rs.
    t.send("a");
    let screen = t.wait_for("the refusal", |s| s.contains("Refused"));
    assert!(screen.contains("root is not a person"), "{screen}");
    t.send("\x1b");
    t.wait_for("the refusal to close", |s| !s.contains("Refused"));

    // Deploy to the next env: the confirmation shows the env, the digest, the plan and
    // its rollback before anything starts.
    t.send("d");
    let screen = t.wait_for("the deploy confirmation", |s| {
        s.contains("Deploy #1 to uat?")
    });
    assert!(screen.contains("Package: sha256"), "{screen}");
    assert!(screen.contains("Deploy plan: 8 actions"), "{screen}");
    t.send("G");
    // The end of the confirmation is the derived rollback's last action.
    let screen = t.wait_for("the end of the confirmation", |s| {
        s.contains("Deploy the DataStage backup")
    });
    assert!(screen.contains("Enter start"), "{screen}");
    t.settle();
    t.send("\r");
    let screen = t.wait_for("the deploy's log", |s| {
        s.contains("Log #1 deploy pets on uat") && s.contains("run succeeded")
    });
    assert!(
        screen.contains("started 1.4.0"),
        "the hosts' output streams:\n{screen}"
    );

    // R: the derived rollback, shown; Enter starts it and the console follows it.
    t.send("R");
    let screen = t.wait_for("the rollback confirmation", |s| {
        s.contains("ROLL BACK pets on uat?")
    });
    assert!(screen.contains("Rollback of run #1"), "{screen}");
    t.settle();
    t.send("\r");
    let screen = t.wait_for("the rollback's log", |s| {
        s.contains("Log #2 rollback pets on uat") && s.contains("run succeeded")
    });
    assert!(screen.contains("started 1.3.0"), "{screen}");
    t.send("q");
    assert_eq!(t.wait_exit(), 0);
    assert_eq!(run_state(&home, 2), "succeeded");
    let requests = ok(&home, &["request", "show", "1", "--json"]);
    assert!(requests.contains("\"rolled_back\""), "{requests}");
}

#[test]
fn other_operators_actions_show_up_without_a_key_press() {
    let home = Home::new();
    demo_with_request(&home, "plans/pets-1.4.0.toml");
    let mut t = Pty::start(&home, &[], 80, 24);
    t.wait_for("the request", |s| {
        s.lines()
            .any(|l| l.contains("#1   pets 1.4.0") && l.contains("submitted"))
    });
    // Another operator (a block takes a person: the tests run as root).
    let (code, out, err) = run(home.pilote().env("PILOTE_TEST_ACTOR", "lead:2009").args([
        "request",
        "block",
        "1",
        "--reason",
        "CVE-2026-1",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let screen = t.wait_for("the block", |s| {
        s.lines()
            .any(|l| l.contains("#1   pets 1.4.0") && l.contains("blocked"))
    });
    assert!(screen.contains("CVE-2026-1"), "{screen}");
    assert!(screen.contains("next: unblock it first"), "{screen}");
    t.send("q");
    assert_eq!(t.wait_exit(), 0);
}

#[test]
fn closing_the_terminal_mid_run_leaves_the_run_to_finish() {
    let home = Home::new();
    soak_demo(&home, "echo sleeping; sleep 3; echo awake");
    file_request(&home, "plans/soak.toml");
    let mut t = Pty::start(&home, &[], 80, 24);
    t.wait_for("the request", |s| s.contains("#1   pets 1.4.0"));
    t.send("d");
    t.wait_for("the deploy confirmation", |s| {
        s.contains("Deploy #1 to uat?")
    });
    t.settle();
    t.send("\r");
    t.wait_for("the run to be under way", |s| s.contains("sleeping"));
    t.hang_up();
    t.wait_exit();
    assert_ne!(
        run_state(&home, 1),
        "succeeded",
        "the test must close the terminal mid-run"
    );
    let start = Instant::now();
    while run_state(&home, 1) != "succeeded" {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "run #1 is {} after the terminal closed",
            run_state(&home, 1)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = ok(&home, &["logs", "1"]);
    assert!(log.contains("awake"), "{log}");
}

#[test]
fn no_color_is_honoured() {
    let home = Home::new();
    ok(&home, &["demo", "--no-open"]);
    let mut t = Pty::start(&home, &[], 80, 24);
    t.wait_for("the console", |s| s.contains("1 Requests"));
    let (_, bg, _) = t.cell_style(0, 2);
    assert_ne!(bg, vt100::Color::Default, "the header's badge is coloured");
    t.send("q");
    t.wait_exit();

    let mut t = Pty::start_with(&home, &[], &[("NO_COLOR", "1")], 80, 24);
    t.wait_for("the console", |s| s.contains("1 Requests"));
    let (fg, bg, inverse) = t.cell_style(0, 2);
    assert_eq!((fg, bg), (vt100::Color::Default, vt100::Color::Default));
    assert!(inverse, "emphasis without colour");
    t.send("q");
    assert_eq!(t.wait_exit(), 0);
}

#[test]
fn a_run_whose_runner_died_shows_interrupted_and_resumes_from_the_console() {
    let home = Home::new();
    // The first attempt hangs; the resumed one finishes.
    soak_demo(
        &home,
        "if [ -e \"$PILOTE_DATA_DIR/slept\" ]; then echo again; \
         else touch \"$PILOTE_DATA_DIR/slept\"; echo sleeping; sleep 60; fi",
    );
    file_request(&home, "plans/soak.toml");
    ok(&home, &["deploy", "1", "--env", "uat", "--yes"]);
    let start = Instant::now();
    while !ok(&home, &["logs", "1"]).contains("sleeping") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let runs: serde_json::Value =
        serde_json::from_str(&ok(&home, &["runs", "--json"])).expect("json");
    let pid = runs["runs"][0]["runner_pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
        .expect("the runner's pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill the runner");

    let mut t = Pty::start(&home, &[], 100, 30);
    t.send("3");
    t.wait_for("the run, interrupted", |s| {
        s.lines()
            .any(|l| l.contains("#1 ") && l.contains("interrupted"))
    });
    t.send("r");
    t.wait_for("the resume confirmation", |s| s.contains("Resume run #1?"));
    t.settle();
    t.send("\r");
    let screen = t.wait_for("the resumed run", |s| {
        s.contains("again") && s.contains("run succeeded")
    });
    assert!(screen.contains("Log #1"), "{screen}");
    t.send("q");
    assert_eq!(t.wait_exit(), 0);
    assert_eq!(run_state(&home, 1), "succeeded");
}

/// A plan saved from the console keeps the file's mode: pilote's own umask is 077, and the
/// plan a team reads must not become private to whoever saved it. No temporary file stays.
#[test]
fn a_plan_saved_from_the_console_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let home = Home::new();
    demo_with_request(&home, "plans/pets-1.4.0.toml");
    let plans = home.path().join("config/pilote/plans");
    let plan = plans.join("pets-1.4.0.toml");
    std::fs::set_permissions(&plan, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut t = Pty::start(&home, &[], 100, 30);
    t.wait_for("the request", |s| s.contains("#1   pets 1.4.0"));
    t.send("e");
    t.wait_for("the plan", |s| s.contains("Plan plans/pets-1.4.0.toml"));
    t.send("\r");
    t.wait_for("the editor", |s| s.contains("editing"));
    t.send("# reviewed\r");
    t.wait_for("the change", |s| s.contains("[modified]"));
    t.send("\x13");
    let screen = t.wait_for("the save", |s| s.contains("saved "));
    assert!(screen.contains("plan of request #1 replaced"), "{screen}");
    t.send("\x1b");
    t.send("q");
    assert_eq!(t.wait_exit(), 0);
    let text = std::fs::read_to_string(&plan).expect("read");
    assert!(text.starts_with("# reviewed\n"), "{text}");
    let mode = std::fs::metadata(&plan).expect("meta").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o644, "the mode became {mode:o}");
    let names: Vec<String> = std::fs::read_dir(&plans)
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n.contains("part") || n.ends_with(".tmp"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}
