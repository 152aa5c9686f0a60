//! Remote steps against a real sshd on loopback (hosts 127.0.0.2..127.0.0.51), pilote and raw
//! `ssh` measured in the same run:
//! - first contact with 50 hosts in parallel vs `xargs -P 50 ssh HOST true` (new connections);
//! - 500 no-op steps over 50 hosts on warm connections vs `xargs -P 50` over warm masters;
//! - one warm step on one host vs one `ssh` over a warm master.
//!
//! pilote's times come from the run's own records (step started → finished), so process
//! start and plan check are not counted. Needs root (it creates the login user) and
//! openssh-server. Run: `cargo bench --bench ssh` (`SSH_BENCH_DETAIL=1` adds each step's
//! span, mean and slowest host).

#[path = "../tests/common/sshd.rs"]
#[allow(dead_code)] // The tests' harness: the bench uses only part of it.
mod sshd;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const HOSTS: usize = 50;
const WARM_STEPS: usize = 10;

fn main() {
    let server = sshd::Sshd::start(HOSTS, "");
    let root = tempfile::tempdir().expect("tmp");
    let ws = workspace(root.path(), &server);

    // pilote: one run; step 1 makes first contact, steps 2..=11 run on warm masters, then
    // 20 steps on one host, one after the other.
    let out = Command::new(env!("CARGO_BIN_EXE_pilote"))
        .env("XDG_STATE_HOME", root.path().join("state"))
        .arg("--workspace")
        .arg(&ws)
        .args(["run", "plans/bench.toml", "--env", "lab", "--follow"])
        .output()
        .expect("pilote");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let db = rusqlite::Connection::open(ws.join("data/pilote.db")).expect("db");
    let span = |from: &str, to: &str| -> Duration {
        let ms: i64 = db
            .query_row(
                "SELECT max(finished_at) - min(started_at) FROM step_runs WHERE step_name BETWEEN ?1 AND ?2",
                [from, to],
                |r| r.get(0),
            )
            .expect("span");
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    };
    if std::env::var_os("SSH_BENCH_DETAIL").is_some() {
        let mut stmt = db
            .prepare("SELECT step_name, min(started_at), max(finished_at), avg(finished_at - started_at), max(finished_at - started_at) FROM step_runs GROUP BY step_name ORDER BY min(id)")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, f64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .expect("query");
        for row in rows.flatten() {
            println!(
                "{:<12} start {} span {:>4} ms  avg {:>6.1} ms  max {:>4} ms",
                row.0,
                row.1 % 100_000,
                row.2 - row.1,
                row.3,
                row.4
            );
        }
    }
    let first_contact = span("0 first", "0 first");
    let warm = span("1 warm 00", "1 warm 99");
    let mut single: Vec<i64> = db
        .prepare("SELECT finished_at - started_at FROM step_runs WHERE step_name LIKE '2 one %'")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    single.sort_unstable();

    // Baselines: the same work with raw ssh and xargs.
    let cfg = server.client_config();
    let cm = root.path().join("cm");
    std::fs::create_dir(&cm).expect("mkdir");
    let ssh = format!(
        "ssh -F {} -o BatchMode=yes -o ControlPath={}/%C",
        cfg.display(),
        cm.display()
    );
    let cold = time(&format!(
        "seq 2 51 | xargs -P 50 -I{{}} {ssh} -o ControlMaster=no 127.0.0.{{}} true"
    ));
    time(&format!(
        "seq 2 51 | xargs -P 50 -I{{}} {ssh} -o ControlMaster=yes -o ControlPersist=60 -N -f 127.0.0.{{}}"
    ));
    let warm_base = time(&format!(
        "for i in $(seq 10); do seq 2 51; done | xargs -P 50 -I{{}} {ssh} -o ControlMaster=no 127.0.0.{{}} true"
    ));
    // The same 500 in pilote's shape: ten steps, each waiting for its 50 hosts.
    let batched_base = time(&format!(
        "for i in $(seq 10); do seq 2 51 | xargs -P 50 -I{{}} {ssh} -o ControlMaster=no 127.0.0.{{}} true; done"
    ));
    let mut one_base: Vec<Duration> = (0..20)
        .map(|_| time(&format!("{ssh} -o ControlMaster=no 127.0.0.2 true")))
        .collect();
    one_base.sort();
    time(&format!(
        "seq 2 51 | xargs -P 50 -I{{}} {ssh} -O exit 127.0.0.{{}} 2>/dev/null; true"
    ));

    report(
        "first contact with 50 hosts in parallel",
        first_contact,
        cold,
        "xargs -P 50 ssh (new connections)",
        "<= 3.5 s",
    );
    report(
        "500 no-op steps over 50 hosts, warm",
        warm,
        warm_base,
        "xargs -P 50 ssh (warm masters)",
        "<= 2 s",
    );
    report(
        "same, baseline in ten batches of 50",
        warm,
        batched_base,
        "10 x xargs -P 50 ssh (warm)",
        "",
    );
    report(
        "one warm step on one host (median of 20)",
        Duration::from_millis(u64::try_from(single[single.len() / 2]).unwrap_or(0)),
        one_base[one_base.len() / 2],
        "ssh over a warm master",
        "<= 15 ms",
    );
}

fn workspace(root: &Path, server: &sshd::Sshd) -> std::path::PathBuf {
    let ws = root.join("ws");
    std::fs::create_dir_all(ws.join("automations")).expect("mkdir");
    std::fs::create_dir_all(ws.join("plans")).expect("mkdir");
    std::fs::write(
        ws.join("pilote.toml"),
        format!(
            "name = \"sshbench\"\ndata_dir = \"data\"\n[ssh]\nconfig = \"{}\"\n",
            server.client_config().display()
        ),
    )
    .expect("write");
    let mut inv = String::from(
        "[apps.b]\nlifecycles = [\"only\"]\n[apps.b.domains.all]\n[apps.b.domains.one]\n[envs.lab.apps.b]\nall = [",
    );
    for i in 0..HOSTS {
        let _ = write!(inv, "{}\"h{i}\"", if i > 0 { ", " } else { "" });
    }
    inv.push_str("]\none = [\"solo\"]\n");
    for (i, a) in server.addresses.iter().enumerate() {
        let _ = writeln!(inv, "[hosts.h{i}]\naddress = \"{a}\"");
    }
    let _ = writeln!(inv, "[hosts.solo]\naddress = \"{}\"", server.addresses[0]);
    std::fs::write(ws.join("inventory.toml"), inv).expect("write");
    std::fs::write(
        ws.join("lifecycles.toml"),
        "[[lifecycles.only.stages]]\nenv = \"lab\"\n",
    )
    .expect("write");
    let mut cat = String::from(
        "[fan]\ndomain = \"all\"\nchanges_state = false\n[[fan.steps]]\nname = \"0 first\"\nkind = \"ssh\"\nscript = \"true\"\nparallelism = 50\n",
    );
    for i in 0..WARM_STEPS {
        let _ = write!(
            cat,
            "[[fan.steps]]\nname = \"1 warm {i:02}\"\nkind = \"ssh\"\nscript = \"true\"\nparallelism = 50\n"
        );
    }
    cat.push_str("\n[single]\ndomain = \"one\"\nchanges_state = false\n");
    for i in 0..21 {
        let _ = write!(
            cat,
            "[[single.steps]]\nname = \"{} {i:02}\"\nkind = \"ssh\"\nscript = \"true\"\n",
            // The first one opens the connection: not counted.
            if i == 0 { "3 connect" } else { "2 one" }
        );
    }
    std::fs::write(ws.join("automations/bench.toml"), cat).expect("write");
    std::fs::write(
        ws.join("plans/bench.toml"),
        "app = \"b\"\n[[actions]]\nid = \"fan\"\ntitle = \"fan\"\nuses = \"fan\"\n[[actions]]\nid = \"single\"\ntitle = \"single\"\nuses = \"single\"\n",
    )
    .expect("write");
    ws
}

fn time(script: &str) -> Duration {
    let start = Instant::now();
    let status = Command::new("bash")
        .args(["-c", script])
        .status()
        .expect("bash");
    assert!(status.success(), "{script} failed");
    start.elapsed()
}

fn report(what: &str, pilote: Duration, base: Duration, base_name: &str, target: &str) {
    println!(
        "{what:<42} pilote {:>7.3} s   {base_name} {:>7.3} s   ratio {:>5.2}x   (target {target})",
        pilote.as_secs_f64(),
        base.as_secs_f64(),
        pilote.as_secs_f64() / base.as_secs_f64()
    );
}
