//! The engine end to end: the real binary, detached runners, real processes and signals.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::workspace::Ws;
use common::{Home, run};

const TEST_AUTOMATIONS: &str = r#"
[say]
description = "Print a value"
changes_state = false
[say.params.value]
type = "string"
[[say.steps]]
name = "print"
kind = "shell"
script = '''printf '%s\n' "$VALUE"'''

[sleepy]
description = "Sleep a long time"
changes_state = false
[[sleepy.steps]]
name = "sleep"
kind = "shell"
timeout = "1m"
script = '''
echo begin
echo $$ > "$PILOTE_DATA_DIR/sleepy.pid"
sleep 30
echo end
'''

[short]
description = "Sleep a little"
changes_state = false
[[short.steps]]
name = "sleep"
kind = "shell"
script = '''
echo begin
sleep 2
echo end
'''

[gated]
description = "Wait for a person"
changes_state = false
[[gated.steps]]
name = "ask"
kind = "gate"
prompt = "go ahead?"
[[gated.steps]]
name = "after"
kind = "shell"
script = "echo confirmed"
[[gated.steps]]
name = "ask again"
kind = "gate"
prompt = "really?"
[[gated.steps]]
name = "after again"
kind = "shell"
script = "echo confirmed twice"

[daemon]
description = "Start something that outlives the step"
changes_state = false
[[daemon.steps]]
name = "start"
kind = "shell"
script = 'setsid sleep 6 & echo started'

[fail]
description = "Fail"
changes_state = false
[[fail.steps]]
name = "fail"
kind = "shell"
script = "echo about to fail >&2; exit 7"

[leak]
description = "Print a secret every way it can be printed"
changes_state = false
[leak.params.token]
type = "secret"
[[leak.steps]]
name = "leak"
kind = "shell"
script = '''
echo "raw $TOKEN"
echo "on stderr $TOKEN" >&2
printf '%s' "$TOKEN" | base64
echo "$TOKEN" | base64
head=${TOKEN%????????}
printf 'split %s' "$head"; printf '%s\n' "${TOKEN#"$head"}"
printf 'no newline %s' "$TOKEN"
'''
"#;

/// A demo workspace with the test automations, and a plan using `uses`.
impl Ws {
    fn new() -> Self {
        let ws = Ws::demo_config();
        std::fs::write(ws.dir.join("automations/test.toml"), TEST_AUTOMATIONS).expect("write");
        ws
    }

    fn plan(&self, name: &str, actions: &[(&str, &str)]) -> PathBuf {
        let mut text = String::from("app = \"pets\"\n");
        for (i, (uses, with)) in actions.iter().enumerate() {
            text.push_str(&format!(
                "[[actions]]\nid = \"a{i}\"\ntitle = \"{uses}\"\nuses = \"{uses}\"\nundo = \"none\"\n{with}\n"
            ));
        }
        let path = self.dir.join(format!("plans/{name}.toml"));
        std::fs::write(&path, text).expect("write plan");
        path
    }

    /// `pilote run PLAN --env ENV [--follow]` in this workspace.
    fn run_plan(&self, plan: &Path, env: &str, follow: bool) -> (i32, String, String) {
        let plan = plan.to_str().expect("utf8 path");
        let mut args = vec!["run", plan, "--env", env];
        if follow {
            args.push("--follow");
        }
        self.pilote(&args)
    }
}

#[test]
fn demo_deploys_and_rolls_back_on_the_sandbox() {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let data = home.path().join("data/pilote/workspaces/demo");
    let package = data.join("drop/pets-1.4.0");
    let (code, out, err) = run(home
        .pilote()
        .args([
            "run",
            "plans/pets-1.4.0.toml",
            "--env",
            "preprod",
            "--follow",
            "--package",
        ])
        .arg(&package));
    assert_eq!(code, 0, "{out}{err}");
    let sandbox = data.join("sandbox/preprod");
    let war = |h: &str| {
        std::fs::read_to_string(sandbox.join(h).join("deployments/pets.war")).expect("war")
    };
    assert!(war("preprod-jboss-2").contains("1.4.0"));
    assert_eq!(
        std::fs::read_to_string(sandbox.join("preprod-jboss-1/running"))
            .expect("running")
            .trim(),
        "1.4.0"
    );
    assert!(out.contains("copied pets.war (sha256 "), "{out}");

    let (code, out, err) = run(home
        .pilote()
        .args(["rollback", "pets", "--env", "preprod", "--yes", "--follow"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(war("preprod-jboss-1").contains("1.3.0"));
    assert!(war("preprod-jboss-2").contains("1.3.0"));
    assert_eq!(
        std::fs::read_to_string(sandbox.join("preprod-jboss-2/running"))
            .expect("running")
            .trim(),
        "1.3.0"
    );
    let conn = rusqlite::Connection::open(sandbox.join("preprod-db/pets.db")).expect("db");
    let versions: i64 = conn
        .query_row(
            "SELECT count(*) FROM schema_history WHERE version = '1.4.0'",
            [],
            |r| r.get(0),
        )
        .expect("query");
    assert_eq!(versions, 0, "the rollback SQL script ran");
    let dsx =
        std::fs::read_to_string(sandbox.join("preprod-ds/projects/pets-batch/pets-batch.dsx"))
            .expect("dsx");
    assert!(dsx.contains("1.3.0"));

    let (_, out, _) = run(home.pilote().args(["runs", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["runs"][0]["kind"], "rollback");
    assert_eq!(v["runs"][0]["rollback_of"], 1);
}

#[test]
fn a_failing_step_fails_the_run_and_releases_the_lock() {
    let ws = Ws::new();
    let plan = ws.plan(
        "fail",
        &[("fail", ""), ("say", "with = { value = \"never\" }")],
    );
    let (code, out, _) = ws.run_plan(&plan, "uat", true);
    assert_eq!(code, 1);
    assert!(out.contains("! about to fail"), "{out}");
    assert!(out.contains("exited with code 7"), "{out}");
    assert!(
        !out.contains("never"),
        "the run stops at the first failure: {out}"
    );
    // The lock is free again: the next run starts.
    let plan = ws.plan("ok", &[("say", "with = { value = \"hello\" }")]);
    let (code, out, _) = ws.run_plan(&plan, "uat", true);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn parameters_reach_scripts_byte_exact() {
    let ws = Ws::new();
    let nasty = r#"it's "quoted" $(touch /tmp/pilote-pwned) `id` ; rm -rf / & $HOME \n|| x"#;
    let with = format!("with = {{ value = '''{nasty}''' }}");
    let plan = ws.plan("quote", &[("say", &with)]);
    let (code, out, _) = ws.run_plan(&plan, "uat", true);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("| {nasty}")), "{out}");
    assert!(!Path::new("/tmp/pilote-pwned").exists());
}

#[test]
fn a_gate_holds_the_lock_until_confirmed() {
    let ws = Ws::new();
    let plan = ws.plan("gate", &[("gated", "")]);
    let p = plan.to_str().expect("utf8");
    let (code, id, err) = ws.pilote(&["run", p, "--env", "uat"]);
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    ws.wait_state(&id, "waiting");
    // A second operator cannot start a run on the same env meanwhile.
    let (code, _, err) = ws.pilote(&["run", p, "--env", "uat"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("pets on uat is locked by run #{id}")),
        "{err}"
    );
    // Another env is free.
    let other = ws.plan("other", &[("say", "with = { value = \"elsewhere\" }")]);
    let (code, out, err) = ws.run_plan(&other, "preprod", true);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, _) = ws.pilote(&["gate", &id, "--confirm"]);
    assert_eq!(code, 0);
    // The first answer does not open the second gate: the run waits again.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, out, _) = ws.pilote(&["logs", &id]);
        if out.contains("really?") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never reached the second gate: {out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ws.wait_state(&id, "waiting");
    let (_, out, _) = ws.pilote(&["logs", &id]);
    assert!(
        out.contains("| confirmed") && !out.contains("confirmed twice"),
        "{out}"
    );
    assert_eq!(ws.pilote(&["gate", &id, "--confirm"]).0, 0);
    let (code, out, _) = ws.pilote(&["logs", &id, "--follow"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("| confirmed twice"), "{out}");
}

#[test]
fn cancel_stops_the_run_and_its_processes() {
    let ws = Ws::new();
    let plan = ws.plan("sleepy", &[("sleepy", "")]);
    let (code, id, _) = ws.run_plan(&plan, "uat", false);
    assert_eq!(code, 0);
    let id = id.trim().to_string();
    let pid = wait_pid(&ws.data().join("sleepy.pid"));
    let started = Instant::now();
    assert_eq!(ws.pilote(&["cancel", &id]).0, 0);
    let (code, out, _) = ws.pilote(&["logs", &id, "--follow"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "cancel took {:?}",
        started.elapsed()
    );
    // Nothing of the step's process group is left: not the shell, not its `sleep`.
    let survivors: Vec<String> = std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // Fields after the command name: state ppid pgrp ...
            // A zombie is dead already, waiting for init to reap it.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.get(2) == Some(&pid.to_string().as_str()) && fields.first() != Some(&"Z")
        })
        .collect();
    assert!(survivors.is_empty(), "survived cancel: {survivors:?}");
}

#[test]
fn a_killed_runner_leaves_an_interrupted_run_with_an_unknown_step() {
    let ws = Ws::new();
    let plan = ws.plan("sleepy", &[("sleepy", "")]);
    let (_, id, _) = ws.run_plan(&plan, "uat", false);
    let id = id.trim().to_string();
    let pid = wait_pid(&ws.data().join("sleepy.pid"));
    let row = ws.wait_state(&id, "running");
    let runner = row["runner_pid"].as_i64().expect("runner pid");
    kill(runner, false);
    let (code, out, _) = ws.pilote(&["logs", &id, "--follow"]);
    assert_eq!(code, 4, "{out}");
    let conn = rusqlite::Connection::open(ws.data().join("pilote.db")).expect("db");
    let state: String = conn
        .query_row(
            "SELECT state FROM step_runs WHERE run_id = ?1",
            [id.parse::<i64>().expect("id")],
            |r| r.get(0),
        )
        .expect("step");
    assert_eq!(state, "unknown");
    // The step's own process is an orphan now; the test cleans it up.
    kill(pid, true);
    // The env stays locked by the interrupted run until someone rolls it back.
    let (code, _, err) = ws.run_plan(&plan, "uat", false);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn secrets_never_reach_the_disk() {
    let ws = Ws::new();
    let secret = "s3cr3t-Tok3n-4f7e9a";
    let plan = ws.plan(
        "leak",
        &[("leak", "with = { token = { env = \"PILOTE_TEST_TOKEN\" } }")],
    );
    let (code, out, err) = run(ws
        .home
        .pilote()
        .env("PILOTE_TEST_TOKEN", secret)
        .arg("--workspace")
        .arg(&ws.dir)
        .args([
            "run",
            plan.to_str().expect("utf8"),
            "--env",
            "uat",
            "--follow",
        ]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("raw ****"), "{out}");
    let b64 = "czNjcjN0LVRvazNuLTRmN2U5YQ";
    let mut files = Vec::new();
    collect(ws.home.path(), &mut files);
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        for needle in [secret, b64, "s3cr3t-Tok3n"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} found in {}",
                f.display()
            );
        }
    }
}

/// Waits for the step to write its shell's pid, and returns it.
fn wait_pid(file: &Path) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILL to one process, or to its process group; never to anything but a real child pid.
fn kill(pid: i64, group: bool) {
    let pid = i32::try_from(pid)
        .ok()
        .filter(|p| *p > 1)
        .and_then(rustix::process::Pid::from_raw)
        .expect("a child pid");
    let r = if group {
        rustix::process::kill_process_group(pid, rustix::process::Signal::KILL)
    } else {
        rustix::process::kill_process(pid, rustix::process::Signal::KILL)
    };
    assert!(r.is_ok() || group, "kill {pid:?}: {r:?}");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn the_run_survives_its_terminal() {
    let ws = Ws::new();
    let plan = ws.plan("short", &[("short", "")]);
    let bin = assert_cmd::cargo::cargo_bin("pilote");
    let p = ws.home.path().display();
    let line = format!(
        "env -i PATH=/usr/bin:/bin HOME={p} XDG_CONFIG_HOME={p}/config XDG_DATA_HOME={p}/data XDG_STATE_HOME={p}/state {} --workspace {} run {} --env uat --follow",
        bin.display(),
        ws.dir.display(),
        plan.display()
    );
    let t = common::tmux::Tmux::start(&line, 100, 20);
    t.wait_for("the step to start", |s| s.contains("| begin"));
    drop(t); // kills the tmux server: the terminal, its shell and the follower get SIGHUP.
    let (code, out, _) = ws.pilote(&["logs", "1", "--follow"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("| end"), "{out}");
    common::reliability::record(&common::reliability::Row {
        id: "terminal-tmux-kill-server-follow",
        area: "terminal",
        fault: "`tmux kill-server` while `pilote run --follow` inside tmux followed a step mid-way",
        tries: 1,
        outcome: "the run finished (succeeded); a new `pilote logs --follow` shows the step's output to its last line",
        lost: "nothing",
    });
}

#[test]
fn sixteen_operators_race_for_one_environment() {
    let ws = Ws::new();
    let plan = ws.plan("gate", &[("gated", "")]);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
    let results: Vec<(i32, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let barrier = barrier.clone();
                let (ws, plan) = (&ws, &plan);
                s.spawn(move || {
                    let mut cmd = ws.home.pilote();
                    cmd.arg("--workspace").arg(&ws.dir).args([
                        "run",
                        plan.to_str().expect("utf8"),
                        "--env",
                        "preprod",
                    ]);
                    barrier.wait();
                    run(&mut cmd)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let winners: Vec<&(i32, String, String)> = results.iter().filter(|r| r.0 == 0).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let id = winners[0].1.trim().to_string();
    for (code, _, err) in results.iter().filter(|r| r.0 != 0) {
        assert_eq!(*code, 1, "{err}");
        assert!(err.contains(&format!("locked by run #{id} (")), "{err}");
    }
    ws.wait_state(&id, "waiting");
    assert_eq!(ws.pilote(&["gate", &id, "--abort"]).0, 0);
    let (code, out, _) = ws.pilote(&["logs", &id, "--follow"]);
    assert_eq!(code, 1, "an aborted gate fails the run: {out}");
    assert!(out.contains("aborted at the gate"), "{out}");
    common::reliability::record(&common::reliability::Row {
        id: "concurrency-sixteen-race-one-lock",
        area: "concurrency",
        fault: "16 processes start `pilote run` on one env at the same instant (behind a barrier)",
        tries: 16,
        outcome: "exactly one run starts; the 15 others exit 1 with \"locked by run #N (user, since …)\"; the winner's gate then holds the lock until aborted",
        lost: "nothing",
    });
}

#[test]
fn a_process_left_behind_does_not_hang_the_run() {
    let ws = Ws::new();
    let plan = ws.plan(
        "daemon",
        &[("daemon", ""), ("say", "with = { value = \"next\" }")],
    );
    let start = Instant::now();
    let (code, out, _) = ws.run_plan(&plan, "uat", true);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("| next"), "{out}");
    assert!(out.contains("still held the output"), "{out}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}
