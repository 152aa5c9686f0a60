//! The engine against the plain tools, each pair measured in the same run:
//! - 1000 sequential no-op steps (`true`), every event persisted, vs a bash loop of `/bin/true`,
//!   then the same steps declared as changing state, whose starts are synced to disk;
//! - one no-op step over 500 local hosts, 50 at a time, vs `xargs -P 50`;
//! - a step printing 1,000,000 lines: lines persisted per second, every line present after;
//! - `pilote rollback --yes`: from the command start to the first rollback step started.
//!
//! Run: `cargo bench --bench engine` (the release binary is what is timed).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const HOSTS: usize = 500;

fn workspace(root: &Path) -> PathBuf {
    let ws = root.join("ws");
    std::fs::create_dir_all(ws.join("automations")).expect("mkdir");
    std::fs::create_dir_all(ws.join("plans")).expect("mkdir");
    std::fs::write(
        ws.join("pilote.toml"),
        "name = \"bench\"\ndata_dir = \"data\"\n",
    )
    .expect("write");
    let mut inv = String::from(
        "[apps.bench]\nlifecycles = [\"only\"]\n[apps.bench.domains.node]\n[envs.local.apps.bench]\nnode = [",
    );
    for i in 0..HOSTS {
        let _ = write!(inv, "{}\"h{i}\"", if i > 0 { ", " } else { "" });
    }
    inv.push_str("]\n");
    for i in 0..HOSTS {
        let _ = writeln!(inv, "[hosts.h{i}]\nconnection = \"local\"");
    }
    std::fs::write(ws.join("inventory.toml"), inv).expect("write");
    std::fs::write(
        ws.join("lifecycles.toml"),
        "[[lifecycles.only.stages]]\nenv = \"local\"\n",
    )
    .expect("write");
    let mut cat = String::from(
        "[fan]\ndomain = \"node\"\nchanges_state = false\n[[fan.steps]]\nname = \"noop\"\nkind = \"ssh\"\nscript = \"true\"\nparallelism = 50\n\n[spew]\nchanges_state = false\n[[spew.steps]]\nname = \"spew\"\nkind = \"shell\"\nscript = \"seq 1000000\"\n\n[noop]\nchanges_state = false\n",
    );
    for i in 0..1000 {
        let _ = writeln!(
            cat,
            "[[noop.steps]]\nname = \"true {i}\"\nkind = \"shell\"\nscript = \"true\""
        );
    }
    // The same steps in an automation that changes state: each start is synced to disk first.
    cat.push_str("\n[change]\nchanges_state = true\n");
    for i in 0..1000 {
        let _ = writeln!(
            cat,
            "[[change.steps]]\nname = \"true {i}\"\nkind = \"shell\"\nscript = \"true\""
        );
    }
    cat.push_str("\n[one]\nchanges_state = false\n[[one.steps]]\nname = \"true\"\nkind = \"shell\"\nscript = \"true\"\n");
    std::fs::write(ws.join("automations/bench.toml"), &cat).expect("write");
    std::fs::write(
        ws.join("plans/undoable.toml"),
        "app = \"bench\"\n[[actions]]\nid = \"one\"\ntitle = \"one\"\nuses = \"one\"\nundo = \"one\"\n",
    )
    .expect("write");
    std::fs::write(
        ws.join("plans/change.toml"),
        "app = \"bench\"\n[[actions]]\nid = \"change\"\ntitle = \"change\"\nuses = \"change\"\nundo = \"none\"\nundo_reason = \"a benchmark\"\n",
    )
    .expect("write");
    for name in ["noop", "fan", "spew"] {
        std::fs::write(
            ws.join(format!("plans/{name}.toml")),
            format!("app = \"bench\"\n[[actions]]\nid = \"{name}\"\ntitle = \"{name}\"\nuses = \"{name}\"\n"),
        )
        .expect("write");
    }
    ws
}

/// Median of three timings: single runs on a 2-core machine vary by a third.
fn median3(mut make: impl FnMut() -> Command) -> Duration {
    let mut t: Vec<Duration> = (0..3).map(|_| time(make())).collect();
    t.sort();
    t[1]
}

fn time(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let out = cmd.output().expect("run");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn pilote(ws: &Path, root: &Path, plan: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pilote"));
    c.env("XDG_STATE_HOME", root.join("state"))
        .arg("--workspace")
        .arg(ws)
        .args([
            "run",
            &format!("plans/{plan}.toml"),
            "--env",
            "local",
            "--follow",
        ]);
    c
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("bash");
    c.args(["-c", script]);
    c
}

fn report(what: &str, pilote: Duration, base: Duration, base_name: &str, target: &str) {
    println!(
        "{what:<40} pilote {:>8.3} s   {base_name} {:>8.3} s   ratio {:>5.2}x   (target {target})",
        pilote.as_secs_f64(),
        base.as_secs_f64(),
        pilote.as_secs_f64() / base.as_secs_f64()
    );
}

fn main() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    let ws = workspace(root);

    let p = median3(|| pilote(&ws, root, "noop"));
    let b = median3(|| sh("for i in $(seq 1000); do /bin/true; done"));
    report("1000 sequential no-op steps", p, b, "bash loop", "<= 1.5x");
    let p = median3(|| pilote(&ws, root, "change"));
    report(
        "same, changes_state (start fsynced)",
        p,
        b,
        "bash loop",
        "none: the fsync's cost",
    );

    let p = median3(|| pilote(&ws, root, "fan"));
    let b = median3(|| sh("seq 500 | xargs -P 50 -n1 sh -c true"));
    report(
        "no-op on 500 local hosts, 50 at a time",
        p,
        b,
        "xargs -P 50",
        "<= 2x",
    );
    let conn = rusqlite::Connection::open(ws.join("data/pilote.db")).expect("db");
    let memory: String = conn
        .query_row(
            "SELECT line FROM log_lines WHERE run_id = (SELECT max(id) FROM runs) AND line LIKE 'runner peak memory:%'",
            [],
            |r| r.get(0),
        )
        .expect("peak memory line");
    println!("{:<40} {memory}   (target <= 50 MB)", "");

    let p = time(pilote(&ws, root, "spew"));
    let b = time(sh("seq 1000000 > /dev/null"));
    let lines: i64 = conn
        .query_row(
            "SELECT count(*) FROM log_lines WHERE run_id = (SELECT max(id) FROM runs) AND stream = 'stdout'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(lines, 1_000_000, "every line is stored");
    report(
        "a step printing 1,000,000 lines",
        p,
        b,
        "seq",
        ">= 500k lines/s",
    );
    println!(
        "{:<40} {:>10.0} lines/s persisted",
        "",
        1_000_000.0 / p.as_secs_f64()
    );

    // `pilote rollback --yes`: from the command's start to the rollback's first step started.
    let mut latencies = Vec::new();
    for _ in 0..5 {
        time(pilote(&ws, root, "undoable"));
        let start = now_ms();
        let mut c = Command::new(env!("CARGO_BIN_EXE_pilote"));
        c.env("XDG_STATE_HOME", root.join("state"))
            .arg("--workspace")
            .arg(&ws)
            .args(["rollback", "bench", "--env", "local", "--yes", "--follow"]);
        time(c);
        let first: i64 = conn
            .query_row(
                "SELECT min(started_at) FROM step_runs WHERE run_id = (SELECT max(id) FROM runs)",
                [],
                |r| r.get(0),
            )
            .expect("first step");
        latencies.push(first - start);
    }
    latencies.sort_unstable();
    println!(
        "{:<40} {:>6} ms (median of 5; target <= 100 ms)",
        "rollback --yes: start to first step", latencies[2]
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
