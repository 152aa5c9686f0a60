//! The engine against the plain tools, each pair measured in the same run:
//! - 1000 sequential no-op steps (`true`), every event persisted, vs a bash loop of `/bin/true`,
//!   then the same steps declared as changing state, whose starts are synced to disk;
//! - one no-op step over 500 local hosts, 50 at a time, vs `xargs -P 50`;
//! - a step printing 1,000,000 lines: lines persisted per second, every line present after;
//! - `pilote rollback --yes`: from the command start to the first rollback step started.
//!
//! - the same 1000 steps in a team's workspace, as a person: through sudo to the service
//!   account, every step started by the executor as the executor account (as root only:
//!   it makes the accounts with `pilote setup-team` and removes them after).
//!
//! The 1000-step pairs run in turn (pilote, the loop, pilote, the loop...) so a change in
//! the machine's load lands on both; their ratio is printed as min / median / max.
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

/// `a` and `b` in turn, `n` times each: (median of a, median of b, ratios min/median/max).
fn pairs(
    n: usize,
    mut a: impl FnMut() -> Command,
    mut b: impl FnMut() -> Command,
) -> (Duration, Duration, [f64; 3]) {
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let x = time(a());
        let y = time(b());
        ratios.push(x.as_secs_f64() / y.as_secs_f64());
        ta.push(x);
        tb.push(y);
    }
    ta.sort();
    tb.sort();
    ratios.sort_by(f64::total_cmp);
    (
        ta[n / 2],
        tb[n / 2],
        [ratios[0], ratios[n / 2], ratios[n - 1]],
    )
}

fn report_pairs(what: &str, (p, b, r): (Duration, Duration, [f64; 3]), base: &str, target: &str) {
    println!(
        "{what:<40} pilote {:>8.3} s   {base} {:>8.3} s   ratio min {:.2}x median {:.2}x max {:.2}x   (target {target})",
        p.as_secs_f64(),
        b.as_secs_f64(),
        r[0],
        r[1],
        r[2]
    );
}

/// A team of this bench's own (`pilote setup-team`), its workspace the bench's: the 1000
/// no-op steps as a person, through sudo, each step started by the executor. Root only.
fn team_steps(bench_ws: &Path) {
    let root_only = rustix::process::geteuid().is_root() && Path::new("/usr/bin/sudo").exists();
    if !root_only {
        println!("(the team's run needs root and sudo: not measured)");
        return;
    }
    let tag = format!("{:x}", std::process::id() % 0xffff);
    let root = PathBuf::from(format!("/tmp/pilote-bench-{tag}"));
    let (svc, exec, group, person) = (
        format!("pb{tag}-svc"),
        format!("pb{tag}-run"),
        format!("pb{tag}-dep"),
        format!("pb{tag}-ops"),
    );
    std::fs::create_dir_all(&root).expect("root");
    let bin = env!("CARGO_BIN_EXE_pilote");
    let config = root.join("etc");
    let setup = Command::new(bin)
        .arg("setup-team")
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(root.join("data"))
        .arg("--drop")
        .arg(root.join("drop"))
        .args([
            "--service-account",
            &svc,
            "--executor",
            &exec,
            "--group",
            &group,
        ])
        .arg("--executor-home")
        .arg(root.join("run"))
        .args(["--binary", bin])
        .output()
        .expect("setup-team");
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let _ = Command::new("useradd")
        .args(["--no-create-home", "--groups", &group, &person])
        .status();
    // The bench's config, as the admins' files of the team's workspace.
    for rel in [
        "inventory.toml",
        "lifecycles.toml",
        "automations/bench.toml",
        "plans/noop.toml",
    ] {
        let to = config.join(rel);
        std::fs::create_dir_all(to.parent().expect("dir")).expect("mkdir");
        std::fs::copy(bench_ws.join(rel), &to).expect("copy");
    }
    let _ = Command::new("chmod")
        .args(["-R", "go+rX"])
        .arg(&config)
        .status();
    let run = || {
        let mut c = Command::new("/usr/sbin/runuser");
        c.args(["-u", &person, "--", bin])
            .arg("--workspace")
            .arg(&config)
            .args(["run", "plans/noop.toml", "--env", "local", "--follow"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir("/");
        c
    };
    let r = pairs(5, run, || sh("for i in $(seq 1000); do /bin/true; done"));
    report_pairs(
        "1000 no-op steps, team (executor)",
        r,
        "bash loop",
        "<= 1.5x",
    );
    for user in [&person, &svc, &exec] {
        let _ = Command::new("pkill").args(["-KILL", "-u", user]).status();
        let _ = Command::new("userdel").arg(user).status();
    }
    for g in [&group, &svc, &exec] {
        let _ = Command::new("groupdel")
            .arg(g)
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = std::fs::remove_file(format!("/etc/sudoers.d/pilote-{svc}"));
    let _ = std::fs::remove_file(format!("/etc/pilote-teams/{svc}.toml"));
    let _ = std::fs::remove_dir_all(&root);
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

    let r = pairs(
        5,
        || pilote(&ws, root, "noop"),
        || sh("for i in $(seq 1000); do /bin/true; done"),
    );
    report_pairs("1000 sequential no-op steps", r, "bash loop", "<= 1.5x");
    team_steps(&ws);
    let b = r.1;
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
