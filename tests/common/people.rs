//! Several people on one demo workspace, and pets 1.4.0 filed as a request: what the request
//! and decision tests share. Debug builds honour `PILOTE_TEST_ACTOR`; release builds never do.

use std::path::PathBuf;

use super::{Home, run};

/// pilote as one person.
pub fn as_user(home: &Home, who: &str, args: &[&str]) -> (i32, String, String) {
    let uid = match who {
        "dev" => "2001",
        "alice" => "2002",
        _ => "2003",
    };
    run(home
        .pilote()
        .env("PILOTE_TEST_ACTOR", format!("{who}:{uid}"))
        .args(args))
}

/// `as_user`, expecting success: its stdout.
pub fn ok(home: &Home, who: &str, args: &[&str]) -> String {
    let (code, out, err) = as_user(home, who, args);
    assert_eq!(code, 0, "{who} {args:?}: {out}{err}");
    out
}

/// `as_user`, expecting a refusal (exit 2): its stderr.
pub fn refused(home: &Home, who: &str, args: &[&str]) -> String {
    let (code, out, err) = as_user(home, who, args);
    assert_eq!(code, 2, "{who} {args:?} should be refused: {out}{err}");
    err
}

/// The demo, with pets 1.4.0 (waiting in its drop directory) imported into the vault by dev.
pub fn released() -> Home {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let drop = home
        .path()
        .join("data/pilote/workspaces/demo/drop/pets-1.4.0");
    let drop = drop.display().to_string();
    ok(
        &home,
        "dev",
        &[
            "vault",
            "import",
            &drop,
            "--app",
            "pets",
            "--version",
            "1.4.0",
        ],
    );
    home
}

/// Files a request for pets 1.4.0 with the demo's plan.
pub const DEMO_PLAN: &str = "plans/pets-1.4.0.toml";

/// Request #1 for pets 1.4.0 with the demo's plan, filed and submitted by dev.
pub fn filed_by_dev(home: &Home) {
    ok(home, "dev", &super::filing(DEMO_PLAN));
    ok(home, "dev", &["request", "submit", "1"]);
}

/// `deploy ID --env ENV --yes --confirm-env ENV [--follow]`: a deploy as a script starts it
/// (a protected env takes its name again with `--yes`).
pub fn deploy_args<'a>(id: &'a str, env: &'a str, follow: bool) -> Vec<&'a str> {
    let mut args = vec!["deploy", id, "--env", env, "--yes", "--confirm-env", env];
    if follow {
        args.push("--follow");
    }
    args
}

/// Request #1 deployed by ops on each stage up to `env` (`uat`, `preprod` or `prod`), alice
/// approving preprod, alice and bob prod: where most lifecycle and rollback scenarios start.
#[allow(dead_code)]
pub fn deployed_to(home: &Home, env: &str) {
    ok(
        home,
        "ops",
        &["deploy", "1", "--env", "uat", "--yes", "--follow"],
    );
    if env == "uat" {
        return;
    }
    ok(
        home,
        "alice",
        &["request", "approve", "1", "--env", "preprod"],
    );
    ok(
        home,
        "ops",
        &["deploy", "1", "--env", "preprod", "--yes", "--follow"],
    );
    if env == "prod" {
        approved_for_prod(home, "1");
        ok(home, "ops", &deploy_args("1", "prod", true));
    }
}

/// Request `id` approved for prod by alice and bob (the demo's prod needs two).
#[allow(dead_code)]
pub fn approved_for_prod(home: &Home, id: &str) {
    ok(home, "alice", &["request", "approve", id, "--env", "prod"]);
    ok(home, "bob", &["request", "approve", id, "--env", "prod"]);
}

/// The demo's store.
pub fn db(home: &Home) -> PathBuf {
    home.path().join("data/pilote/workspaces/demo/pilote.db")
}

/// `sql` through the system `sqlite3`, as anyone who can write the file could run it:
/// (exit code, stdout, stderr).
pub fn sqlite3(home: &Home, sql: &str) -> (i32, String, String) {
    let out = std::process::Command::new("sqlite3")
        .args(["-cmd", ".timeout 5000"])
        .arg(db(home))
        .arg(sql)
        .output()
        .expect("sqlite3 (Debian: apt install sqlite3)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
