//! The `ansible` step against `ansible-playbook` run by hand, measured in the same run: one
//! task (`command: /bin/true`) on 50 local hosts, 10 forks, through `pilote run --follow`
//! (process start, plan check, runner launch, inventory, ansible, per-host rows, log
//! streaming) vs the same playbook over an equivalent inventory, run directly.
//!
//! Run: `cargo bench --bench ansible` (the release binary is what is timed; needs ansible).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const HOSTS: usize = 50;
const FORKS: u32 = 10;
const RUNS: usize = 7;
const PLAYBOOK: &str = "- hosts: node\n  gather_facts: false\n  tasks:\n    - command: /bin/true\n";

fn workspace(root: &Path) -> PathBuf {
    let ws = root.join("ws");
    for d in ["automations", "plans", "playbooks"] {
        std::fs::create_dir_all(ws.join(d)).expect("mkdir");
    }
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
    std::fs::write(
        ws.join("automations/bench.toml"),
        format!(
            "[play]\ndomain = \"node\"\nchanges_state = false\n[[play.steps]]\nname = \"play\"\n\
             kind = \"ansible\"\nplaybook = \"playbooks/true.yml\"\nparallelism = {FORKS}\n"
        ),
    )
    .expect("write");
    std::fs::write(ws.join("playbooks/true.yml"), PLAYBOOK).expect("write");
    std::fs::write(
        ws.join("plans/play.toml"),
        "app = \"bench\"\n[[actions]]\nid = \"play\"\ntitle = \"play\"\nuses = \"play\"\n",
    )
    .expect("write");
    ws
}

/// The baseline: the inventory an operator would write for the same hosts, and the same
/// settings pilote gives ansible (plain output, temp dirs of its own).
fn baseline(root: &Path) -> Command {
    let dir = root.join("plain");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut inv = String::from("node:\n  hosts:\n");
    for i in 0..HOSTS {
        let _ = writeln!(
            inv,
            "    h{i}:\n      ansible_connection: local\n      ansible_python_interpreter: /usr/bin/python3\n      ansible_remote_tmp: {}",
            dir.join("remote-tmp").display()
        );
    }
    std::fs::write(dir.join("inventory.yml"), inv).expect("write");
    std::fs::write(dir.join("true.yml"), PLAYBOOK).expect("write");
    let mut c = Command::new("ansible-playbook");
    c.current_dir(&dir)
        .args([
            "-i",
            "inventory.yml",
            "--forks",
            &FORKS.to_string(),
            "true.yml",
        ])
        .envs([
            ("ANSIBLE_NOCOLOR", "1"),
            ("ANSIBLE_STDOUT_CALLBACK", "default"),
            ("ANSIBLE_RETRY_FILES_ENABLED", "0"),
            ("PYTHONUNBUFFERED", "1"),
        ])
        .env("ANSIBLE_HOME", dir.join("home"))
        .env("ANSIBLE_LOCAL_TEMP", dir.join("tmp"));
    c
}

fn pilote(ws: &Path, root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pilote"));
    c.env("XDG_STATE_HOME", root.join("state"))
        .arg("--workspace")
        .arg(ws)
        .args(["run", "plans/play.toml", "--env", "local", "--follow"]);
    c
}

fn time(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let out = cmd.output().expect("run");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{:?} failed: {}{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn main() {
    if Command::new("ansible-playbook")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: ansible-playbook is not on PATH (install the `ansible` package)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    let ws = workspace(root);
    // Warm the page cache (python modules, the binary) before anything is timed.
    time(baseline(root));
    time(pilote(&ws, root));

    // Interleaved, each first in turn, so a load change on the machine (other builds share
    // its two cores) hits both sides alike; the minimum is the least disturbed figure.
    let (mut p, mut b, mut step) = (Vec::new(), Vec::new(), Vec::new());
    let conn = rusqlite::Connection::open(ws.join("data/pilote.db")).expect("db");
    for i in 0..RUNS {
        if i % 2 == 0 {
            b.push(time(baseline(root)));
            p.push(time(pilote(&ws, root)));
        } else {
            p.push(time(pilote(&ws, root)));
            b.push(time(baseline(root)));
        }
        let ms: i64 = conn
            .query_row(
                "SELECT finished_at - started_at FROM step_runs WHERE run_id = (SELECT max(id) FROM runs) AND host = ''",
                [],
                |r| r.get(0),
            )
            .expect("the playbook's row");
        step.push(Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
        let rows: i64 = conn
            .query_row(
                "SELECT count(*) FROM step_runs WHERE run_id = (SELECT max(id) FROM runs) AND host != '' AND state = 'succeeded'",
                [],
                |r| r.get(0),
            )
            .expect("host rows");
        assert_eq!(rows, HOSTS as i64, "one succeeded row per host");
    }
    for v in [&mut p, &mut b, &mut step] {
        v.sort();
    }
    let s = |d: Duration| d.as_secs_f64();
    let m = RUNS / 2;
    let line = |what: &str, v: &[Duration]| {
        println!(
            "  {what:<24} min {:>5.2} s   median {:>5.2} s   max {:>5.2} s",
            s(v[0]),
            s(v[m]),
            s(v[RUNS - 1])
        );
    };
    println!("1 task on {HOSTS} local hosts, {FORKS} forks, {RUNS} runs each");
    line("pilote run --follow", &p);
    line("the step's own record", &step);
    line("ansible-playbook", &b);
    println!(
        "  ratio {:.2}x (min) {:.2}x (median); pilote around the playbook: {:+.2} s (target: small)",
        s(p[0]) / s(b[0]),
        s(p[m]) / s(b[m]),
        s(p[m]) - s(step[m]),
    );
}
