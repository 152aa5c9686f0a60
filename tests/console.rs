//! End to end: the real binary in a real terminal (tmux), as an operator would start it.

mod common;

use common::tmux::Tmux;
use common::{Home, run};

/// The screen with the operator's name (the OS user running the tests) made stable.
fn stable(screen: &str) -> String {
    let user = pilote::identity::Actor::current().name;
    screen.replace(&format!("│ {user}"), "│ [USER]")
}

/// The shell line that starts pilote with the test home's environment.
fn pilote_line(home: &Home, args: &str) -> String {
    let bin = assert_cmd::cargo::cargo_bin("pilote");
    let p = home.path().display();
    format!(
        "env -i PATH=/usr/bin:/bin HOME={p} XDG_CONFIG_HOME={p}/config XDG_DATA_HOME={p}/data XDG_STATE_HOME={p}/state TERM=xterm-256color LANG=C.UTF-8 {} {args}",
        bin.display()
    )
}

#[test]
fn demo_opens_the_console_and_q_gives_the_terminal_back() {
    let home = Home::new();
    let t = Tmux::start(&pilote_line(&home, "demo"), 80, 24);
    let screen = t.wait_for("the console", |s| {
        s.contains("Inventory") && s.contains("q quit")
    });
    insta::assert_snapshot!("console_80x24", stable(&screen));

    t.keys(&["?"]);
    let screen = t.wait_for("the help popup", |s| s.contains("Keys (any key closes)"));
    assert!(screen.contains("switch pane"), "{screen}");
    t.keys(&["Escape"]);
    t.wait_for("the popup to close", |s| {
        !s.contains("Keys (any key closes)")
    });

    t.keys(&["3"]);
    t.wait_for("the runs pane", |s| s.contains("┌ Runs/Log"));

    t.keys(&["q"]);
    assert_eq!(t.wait_exit(), 0);
    // The alternate screen is gone: the console's frame is no longer on the terminal.
    let after = t.screen();
    assert!(
        !after.contains("Inventory"),
        "terminal not restored:\n{after}"
    );
}

#[test]
fn console_uses_a_large_terminal() {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let t = Tmux::start(&pilote_line(&home, ""), 200, 50);
    let screen = t.wait_for("the console", |s| s.contains("Inventory"));
    insta::assert_snapshot!("console_200x50", stable(&screen));
    t.keys(&["C-c"]);
    assert_eq!(t.wait_exit(), 0);
}

#[test]
fn requests_and_runs_show_where_a_release_stands() {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    for args in [
        &["vault", "sweep", "--settle", "0"][..],
        &[
            "request",
            "new",
            "--app",
            "pets",
            "--version",
            "1.4.0",
            "--plan",
            "plans/pets-1.4.0.toml",
        ],
        &["request", "submit", "1"],
        &["deploy", "1", "--env", "uat", "--yes", "--follow"],
    ] {
        let (code, out, err) = run(home.pilote().args(args));
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    let t = Tmux::start(&pilote_line(&home, ""), 80, 24);
    let screen = t.wait_for("the request", |s| s.contains("#1   pets 1.4.0"));
    let line = screen
        .lines()
        .find(|l| l.contains("#1   pets 1.4.0"))
        .unwrap_or_default();
    assert!(line.contains("deployed"), "{screen}");
    assert!(line.contains("uat ✓  preprod ·  prod ·"), "{screen}");
    // The picked request's details: what it waits for.
    assert!(
        screen.contains("next: preprod needs 1 approval(s), 0 given"),
        "{screen}"
    );

    // Another operator's action shows up without a key press.
    assert_eq!(
        run(home
            .pilote()
            .args(["request", "block", "1", "--reason", "CVE"]))
        .0,
        0
    );
    let screen = t.wait_for("the block", |s| {
        s.lines()
            .any(|l| l.contains("#1   pets 1.4.0") && l.contains("blocked"))
    });
    assert!(screen.contains("BLOCKED: "), "{screen}");

    t.keys(&["3"]);
    let screen = t.wait_for("the runs", |s| s.contains("#1   deploy"));
    assert!(
        screen.lines().any(|l| l.contains("#1   deploy")
            && l.contains("pets on uat")
            && l.contains("succeeded")),
        "{screen}"
    );
    t.keys(&["q"]);
    assert_eq!(t.wait_exit(), 0);
}
