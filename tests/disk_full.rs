//! Disk full: a run whose disk fills stops before its next step, keeps every step outcome it
//! committed, ends `interrupted (disk full)`, and resumes once there is room.
//!
//! Two ways: a real 4 MiB tmpfs as the data dir, in a private mount namespace (root only, as
//! in CI; skipped with a message otherwise), filled by the run's own step; and, everywhere,
//! the runner's n-th store write failing with SQLITE_FULL (`PILOTE_DISK_FULL_AT`, debug
//! builds), for every n a run has.

mod common;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::reliability::{self, Row};
use common::workspace::Ws;
use common::{edit, run};

const AUTOMATIONS: &str = r#"
[count]
description = "Record that this action ran"
changes_state = false
[[count.steps]]
name = "count"
kind = "shell"
script = 'echo ran >> "$PILOTE_DATA_DIR/count-$PILOTE_ACTION"; echo "counted $PILOTE_ACTION"'

[count_loud]
description = "Print 300 lines in two bursts, and record that this action ran"
changes_state = false
[[count_loud.steps]]
name = "count"
kind = "shell"
script = '''
i=0
while [ $i -lt 300 ]; do echo "line $i of $PILOTE_ACTION"; i=$((i+1)); done
sleep 0.1
echo ran >> "$PILOTE_DATA_DIR/count-$PILOTE_ACTION"
echo "counted $PILOTE_ACTION"
'''

[count_env]
description = "Record that this action ran on this env"
changes_state = false
[[count_env.steps]]
name = "count"
kind = "shell"
script = 'echo ran >> "$PILOTE_DATA_DIR/count-$PILOTE_ENV-$PILOTE_ACTION"'

[uncount]
description = "Record that this action was undone"
changes_state = false
[[uncount.steps]]
name = "uncount"
kind = "shell"
script = 'echo undone >> "$PILOTE_DATA_DIR/count-$PILOTE_ACTION"'

[meet]
description = "Say this env is here, wait for the test to say go, and record that it ran"
changes_state = false
[[meet.steps]]
name = "meet"
kind = "shell"
script = '''
touch "$PILOTE_DATA_DIR/at-$PILOTE_ENV"
i=0
while [ ! -e "$PILOTE_DATA_DIR/go" ]; do
  i=$((i+1))
  [ $i -gt 600 ] && exit 1
  sleep 0.05
done
echo ran >> "$PILOTE_DATA_DIR/count-$PILOTE_ENV-$PILOTE_ACTION"
'''

[print_fill_print]
description = "Print 50 lines, fill the disk (the fault hook's file), print 50 more"
changes_state = false
[[print_fill_print.steps]]
name = "print"
kind = "shell"
script = '''
i=0
while [ $i -lt 50 ]; do echo "line $i before"; i=$((i+1)); done
sleep 0.2
touch "$PILOTE_DATA_DIR/full"
i=0
while [ $i -lt 50 ]; do echo "line $i after"; i=$((i+1)); done
sleep 0.2
echo ran >> "$PILOTE_DATA_DIR/count-$PILOTE_ACTION"
'''

[ask]
description = "Wait for a person"
changes_state = false
[[ask.steps]]
name = "ask"
kind = "gate"
prompt = "go ahead?"
timeout = "30s"

[fill_then_print]
description = "Fill the disk, then print 2000 lines"
changes_state = false
[[fill_then_print.steps]]
name = "fill"
kind = "shell"
script = '''
echo ran >> "$PILOTE_DATA_DIR/count-$PILOTE_ACTION"
head -c 100000000 /dev/zero > "$PILOTE_DATA_DIR/filler" 2>/dev/null
i=0
while [ $i -lt 2000 ]; do
  echo "line $i printed after the disk filled, long enough to take some room"
  i=$((i+1))
done
'''

[fill_quietly]
description = "Fill the disk and print nothing"
changes_state = false
[[fill_quietly.steps]]
name = "fill"
kind = "shell"
script = '''
echo ran >> "$PILOTE_DATA_DIR/count-$PILOTE_ACTION"
head -c 100000000 /dev/zero > "$PILOTE_DATA_DIR/filler" 2>/dev/null
exit 0
'''
"#;

/// Lines the `fill_then_print` step prints.
const PRINTED: u64 = 2000;

/// Lines a run of `count, fill..., count` says besides the filling step's output, up to the
/// disk full note: its header, `action a0`, a0's output, `action a1`, the runner's peak memory.
const SAID: u64 = 5;

impl Ws {
    /// The demo config with this file's automations, a run needing `min_free_mb` to start,
    /// and a plan of `uses` (one action each).
    fn with_plan(min_free_mb: u64, uses: &[&str]) -> (Self, PathBuf) {
        let undone: Vec<(&str, &str)> = uses.iter().map(|u| (*u, "none")).collect();
        Self::with_undo_plan(min_free_mb, &undone)
    }

    /// As [`Ws::with_plan`], each action `(uses, undo)`.
    fn with_undo_plan(min_free_mb: u64, actions: &[(&str, &str)]) -> (Self, PathBuf) {
        let ws = Ws::demo_config();
        std::fs::write(ws.dir.join("automations/disk.toml"), AUTOMATIONS).expect("write");
        edit(
            &ws.dir,
            "pilote.toml",
            "busy_timeout_ms = 5000",
            &format!("busy_timeout_ms = 5000\nmin_free_mb = {min_free_mb}"),
        );
        let mut text = String::from("app = \"pets\"\n");
        for (i, (u, undo)) in actions.iter().enumerate() {
            text.push_str(&format!(
                "[[actions]]\nid = \"a{i}\"\ntitle = \"{u}\"\nuses = \"{u}\"\nundo = \"{undo}\"\n"
            ));
        }
        let plan = ws.dir.join("plans/disk.toml");
        std::fs::write(&plan, text).expect("write plan");
        (ws, plan)
    }
}

/// A tmpfs mounted on a dir in a private mount namespace, held by a helper process: the
/// commands of the test enter the namespace (`nsenter`), the rest of the machine never sees
/// the mount. Dropping it ends the helper, and the mount with its namespace.
struct Tmpfs {
    helper: Child,
    pid: String,
}

impl Tmpfs {
    /// Why it cannot be had here, if it cannot.
    fn mount(on: &Path, size: &str) -> Result<Self, String> {
        if !rustix::process::geteuid().is_root() {
            return Err("not root: a tmpfs in a private mount namespace needs root (CI runs the suite as root)".into());
        }
        std::fs::create_dir_all(on).expect("mount point");
        let mut helper = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$1" && echo mounted && exec cat"#)
            .arg("sh")
            .arg(on)
            .arg(size)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        let mut line = String::new();
        let stdout = helper.stdout.take().expect("stdout");
        // Either it says so, or it exits and the read ends.
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        if line.trim() != "mounted" {
            let out = helper.wait_with_output().expect("helper");
            return Err(format!(
                "unshare -m or the tmpfs mount was refused: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let pid = helper.id().to_string();
        Ok(Self { helper, pid })
    }

    /// `program args...` inside the namespace.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new("nsenter");
        cmd.args(["-t", &self.pid, "-m", "--"]).arg(program);
        cmd
    }

    /// `pilote --workspace WS ARGS...` inside the namespace: (code, stdout, stderr).
    fn pilote(&self, ws: &Ws, args: &[&str]) -> (i32, String, String) {
        let p = ws.home.path();
        let mut cmd = self.command(assert_cmd::cargo::cargo_bin("pilote"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", p)
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env("XDG_DATA_HOME", p.join("data"))
            .env("XDG_STATE_HOME", p.join("state"))
            .env("LANG", "C.UTF-8")
            .arg("--workspace")
            .arg(&ws.dir)
            .args(args);
        run(&mut cmd)
    }

    /// One SQL statement's output through the system `sqlite3`, inside the namespace.
    fn sql(&self, db: &Path, sql: &str) -> String {
        let (code, out, err) = run(self.command("sqlite3").arg(db).arg(sql));
        assert_eq!(code, 0, "sqlite3 {sql}: {err}");
        out.trim().to_string()
    }

    /// A file's text inside the namespace ("" if it is missing).
    fn read(&self, path: &Path) -> String {
        run(self.command("cat").arg(path)).1
    }

    /// A file's size inside the namespace, if it is there.
    fn size(&self, path: &Path) -> Option<u64> {
        let (code, out, _) = run(self.command("stat").args(["-c", "%s"]).arg(path));
        (code == 0).then(|| out.trim().parse().expect("a size"))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // `cat` ends on end of input; the namespace goes with its last process.
        drop(self.helper.stdin.take());
        let _ = self.helper.wait();
    }
}

/// (state, outcome) of run `id` as `pilote runs --json` gives them.
fn state_of(runs_json: &str, id: &str) -> (String, String) {
    let r = common::run_in(runs_json, id);
    (
        r["state"].as_str().unwrap_or_default().to_string(),
        r["outcome"].as_str().unwrap_or_default().to_string(),
    )
}

/// The number in "disk full; N log lines not stored".
fn lines_lost(outcome: &str) -> u64 {
    outcome
        .strip_prefix("disk full; ")
        .and_then(|o| o.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a disk full outcome: {outcome:?}"))
}

/// The spare files (and their temporary files) in a data dir's spool.
fn spares(data: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data.join("spool")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("spare"))
        .collect();
    names.sort();
    names
}

/// Waits for `done` to hold, polling; panics after 30 s with `what`.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `step=state` of run `id`'s step runs, in order.
fn steps_of(data: &Path, id: &str) -> String {
    let conn = rusqlite::Connection::open(data.join("pilote.db")).expect("db");
    conn.query_row(
        "SELECT coalesce(group_concat(action_id || '=' || state, ' '), '') FROM \
         (SELECT action_id, state FROM step_runs WHERE run_id = ?1 ORDER BY id)",
        [id],
        |r| r.get(0),
    )
    .expect("steps")
}

fn integrity(data: &Path) -> String {
    let conn = rusqlite::Connection::open(data.join("pilote.db")).expect("db");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check")
}

#[test]
fn a_disk_that_fills_mid_run_stops_it_cleanly_and_resume_finishes_it() {
    let mut lost_in_all = 0;
    let variants = [
        ("fill_then_print", "its output is refused"),
        ("fill_quietly", "its end is refused"),
    ];
    for (filler, first_refused) in variants {
        let (ws, plan) = Ws::with_plan(2, &["count", filler, "count"]);
        let data = ws.data();
        let fs = match Tmpfs::mount(&data, "4m") {
            Ok(fs) => fs,
            Err(why) => {
                eprintln!("SKIPPED a_disk_that_fills_mid_run_stops_it_cleanly: {why}");
                return;
            }
        };
        let (code, id, err) =
            fs.pilote(&ws, &["run", plan.to_str().expect("utf8"), "--env", "uat"]);
        assert_eq!(code, 0, "{filler}: {err}");
        let id = id.trim().to_string();
        let (code, log, err) = fs.pilote(&ws, &["logs", &id, "--follow"]);
        assert_eq!(code, 4, "{filler}: interrupted: {log}{err}");
        assert!(
            err.contains(&format!("run #{id} interrupted (disk full; ")),
            "{filler}: {err}"
        );
        let (state, outcome) = state_of(&fs.pilote(&ws, &["runs", "--json"]).1, &id);
        assert_eq!(state, "interrupted", "{filler}");
        let lost = lines_lost(&outcome);
        assert!(
            log.contains(&format!(
                "disk full in {}: the run stopped before its next step",
                data.display()
            )),
            "{filler}: {log}"
        );
        let table = fs.pilote(&ws, &["runs"]).1;
        assert!(table.contains("interrupted (disk full)"), "{table}");

        let db = data.join("pilote.db");
        assert_eq!(fs.sql(&db, "PRAGMA integrity_check"), "ok", "{filler}");
        // The step that filled the disk finished in the room the spare held; the next one
        // never started.
        assert_eq!(
            fs.sql(
                &db,
                "SELECT group_concat(action_id || '=' || state, ' ') FROM step_runs"
            ),
            "a0=succeeded a1=succeeded",
            "{filler}"
        );
        // Every line is stored, or counted in the final record (the note is the last line).
        let stored = log.lines().count() as u64 - 1;
        let printed = if filler == "fill_then_print" {
            PRINTED
        } else {
            0
        };
        assert_eq!(
            stored + lost,
            SAID + printed,
            "{filler}: {stored} stored, {lost} lost:\n{log}"
        );
        if printed > 0 {
            assert!(lost > 0, "the disk was full for some of them");
        } else {
            assert_eq!(
                lost, 0,
                "{filler}: the lines set aside all fit in the tail kept"
            );
        }
        assert_eq!(
            fs.size(&data.join(format!("spool/spare-{id}"))),
            None,
            "{filler}: the spare was spent"
        );

        // Still full: a resume is refused, and changes nothing.
        let (code, _, err) = fs.pilote(&ws, &["resume", &id]);
        assert_eq!(code, 1, "{filler}: {err}");
        assert!(err.contains("not started: only "), "{filler}: {err}");
        assert_eq!(
            state_of(&fs.pilote(&ws, &["runs", "--json"]).1, &id).0,
            "interrupted"
        );

        assert_eq!(run(fs.command("rm").arg(data.join("filler"))).0, 0);
        let (code, out, err) = fs.pilote(&ws, &["resume", &id, "--follow"]);
        assert_eq!(code, 0, "{filler}: {out}{err}");
        for a in ["a0", "a1", "a2"] {
            let ran = fs.read(&data.join(format!("count-{a}")));
            assert_eq!(ran.lines().count(), 1, "{filler}: action {a} ran {ran:?}");
        }
        assert_eq!(fs.sql(&db, "PRAGMA integrity_check"), "ok", "{filler}");
        let left = run(fs.command("ls").arg(data.join("spool"))).1;
        assert!(
            !left.contains("spare"),
            "{filler}: the resumed run's spare went with its end: {left}"
        );
        eprintln!("{filler}: {first_refused}; {lost} of the output lines lost");
        lost_in_all += lost;
    }
    reliability::record(&Row {
        id: "disk-tmpfs-fills-mid-run",
        area: "disk",
        fault: "data dir on a 4 MiB tmpfs (private mount namespace), filled by a run's 2nd of 3 \
                steps, which then prints 2000 lines (or, 2nd try, prints nothing)",
        tries: variants.len() as u64,
        outcome: "run interrupted (disk full) before step 3, the filling step's end recorded in \
                  the spare's room, integrity_check ok; resume refused (exit 1) while full, \
                  then, space freed, ran step 3 once",
        lost: &format!(
            "no step outcome; {lost_in_all} of {} log lines, each counted in the run's final \
             record (the last 200 before it kept)",
            2 * SAID + PRINTED
        ),
    });
}

#[test]
fn every_write_of_a_run_failing_for_a_full_disk() {
    // n-th write of the runner, and every one after it until it deletes its spare: stop
    // once a run never met the fault (finished with its spare in place).
    let mut tries = 0;
    let mut lost_in_all = 0;
    for n in 1..=60 {
        // Output in bursts: line batches fall between the steps' own writes.
        let (ws, plan) = Ws::with_plan(0, &["count_loud", "count_loud", "count_loud"]);
        let (code, id, err) = run(ws
            .home
            .pilote()
            .env("PILOTE_DISK_FULL_AT", n.to_string())
            .arg("--workspace")
            .arg(&ws.dir)
            .args(["run", plan.to_str().expect("utf8"), "--env", "uat"]));
        assert_eq!(code, 0, "write #{n}: {err}");
        let id = id.trim().to_string();
        let (code, log, err) = ws.pilote(&["logs", &id, "--follow"]);
        let (state, outcome) = state_of(&ws.pilote(&["runs", "--json"]).1, &id);
        if code == 0 && outcome == "all steps succeeded" {
            // A run that met a full disk says so in its outcome: this one never did.
            assert!(n > 5, "a run writes more than {n} times");
            break;
        }
        tries += 1;
        let conn = rusqlite::Connection::open(ws.data().join("pilote.db")).expect("db");
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("check");
        assert_eq!(ok, "ok", "write #{n}");
        // Refused last records go into the spare's room: no step is left unknown.
        let unfinished: i64 = conn
            .query_row(
                "SELECT count(*) FROM step_runs WHERE state NOT IN ('succeeded')",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(unfinished, 0, "write #{n}: {log}");
        let done: Vec<String> = conn
            .prepare("SELECT action_id FROM step_runs ORDER BY id")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("steps");
        for a in ["a0", "a1", "a2"] {
            let ran =
                std::fs::read_to_string(ws.data().join(format!("count-{a}"))).unwrap_or_default();
            let recorded = done.iter().filter(|d| *d == a).count();
            assert_eq!(
                ran.lines().count(),
                recorded,
                "write #{n}: action {a}: every step that ran is recorded, none twice"
            );
        }
        assert_eq!(spares(&ws.data()), Vec::<String>::new(), "write #{n}");
        if code == 0 {
            // The disk filled once every step had succeeded (in the last one's output, or
            // at the run's last record, which went into the spare's room: then only the
            // outcome can say so, the log's last line was written before).
            assert_eq!(state, "succeeded", "write #{n}");
            assert!(
                outcome.starts_with("all steps succeeded; disk full, "),
                "write #{n}: {outcome}"
            );
            assert_eq!(done.len(), 3, "write #{n}");
            continue;
        }
        assert_eq!(code, 4, "write #{n}: {log}{err}");
        assert_eq!(state, "interrupted", "write #{n}");
        lost_in_all += lines_lost(&outcome);
        assert!(log.contains("disk full in "), "write #{n}: {log}");
        // The fault was the runner's alone: the resume runs what is left, once.
        let (code, out, err) = ws.pilote(&["resume", &id, "--follow"]);
        assert_eq!(code, 0, "write #{n}: {out}{err}");
        for a in ["a0", "a1", "a2"] {
            let ran =
                std::fs::read_to_string(ws.data().join(format!("count-{a}"))).unwrap_or_default();
            assert_eq!(ran.lines().count(), 1, "write #{n}: action {a} ran {ran:?}");
        }
        assert_eq!(
            spares(&ws.data()),
            Vec::<String>::new(),
            "write #{n}: the resumed run's spare went with its end"
        );
    }
    assert!(tries > 0 && tries < 60, "{tries} tries");
    reliability::record(&Row {
        id: "disk-injected-nth-write",
        area: "disk",
        fault: &format!(
            "the runner's n-th store write and every one after it fail with SQLITE_FULL \
             (injected) until it deletes its spare, for n = 1 to {tries}: every write of a \
             3-step run"
        ),
        tries,
        outcome: "run interrupted (disk full) before its next step (or succeeded, saying \
                  the disk filled, when every step had succeeded), no step left unknown, \
                  integrity_check ok, no spare file left; resume ran each remaining side \
                  effect once",
        lost: &format!(
            "no step outcome; {lost_in_all} log lines in all, each counted in its run's final record"
        ),
    });
}

#[test]
fn a_run_does_not_start_short_of_space() {
    // 10 TiB: more than any disk here has.
    let (ws, plan) = Ws::with_plan(10 << 20, &["count"]);
    let (code, out, err) = ws.pilote(&["run", plan.to_str().expect("utf8"), "--env", "uat"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "no run id: {out}");
    insta::with_settings!({ filters => vec![(r"only \S+ \S+ free", "only [FREE] free")] }, {
        insta::assert_snapshot!(ws.home.redact(&err));
    });
    let (_, runs, _) = ws.pilote(&["runs", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&runs).expect("json");
    assert_eq!(
        v["runs"].as_array().map(Vec::len),
        Some(0),
        "nothing was created"
    );
    assert!(!ws.data().join("count-a0").exists(), "nothing ran");
    reliability::record(&Row {
        id: "disk-preflight",
        area: "disk",
        fault: "a run started with less free space in the data dir than `[store] min_free_mb`",
        tries: 1,
        outcome: "refused before anything was created, exit 1, the free and needed space named",
        lost: "nothing",
    });
}

#[test]
fn a_gate_waiting_when_the_disk_fills_does_not_keep_the_run() {
    let (ws, plan) = Ws::with_plan(0, &["ask", "count"]);
    let trigger = ws.data().join("full");
    let (code, id, err) = run(ws
        .home
        .pilote()
        .env("PILOTE_DISK_FULL_WHEN", &trigger)
        .arg("--workspace")
        .arg(&ws.dir)
        .args(["run", plan.to_str().expect("utf8"), "--env", "uat"]));
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    ws.wait_state(&id, "waiting");
    // Its question stored, the gate's runner has nothing to write until someone answers.
    ws.wait_log(&id, "waiting for confirmation");
    std::fs::write(&trigger, "").expect("fill the disk");
    let filled = std::time::Instant::now();
    // The answer is stored (by this process, not the runner), but the runner has no room to
    // take it: that refused write is the first, and it must stop the run.
    let (code, _, err) = ws.pilote(&["gate", &id, "--confirm"]);
    assert_eq!(code, 0, "{err}");
    let (code, log, err) = ws.pilote(&["logs", &id, "--follow"]);
    assert_eq!(code, 4, "{log}{err}");
    // Not its 30 s timeout: the gate gave up as soon as the disk was full.
    assert!(
        filled.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        filled.elapsed()
    );
    assert!(err.contains("interrupted (disk full; "), "{err}");
    let conn = rusqlite::Connection::open(ws.data().join("pilote.db")).expect("db");
    let steps: String = conn
        .query_row(
            "SELECT group_concat(action_id || '=' || state || ': ' || detail, '; ') FROM step_runs",
            [],
            |r| r.get(0),
        )
        .expect("steps");
    assert_eq!(
        steps,
        "a0=cancelled: not answered: the disk is full, the run stops"
    );
    assert!(
        !ws.data().join("count-a1").exists(),
        "the next step never started"
    );

    // The resume asks again: the answer the gone runner never took does not open the gate.
    let (code, _, err) = ws.pilote(&["resume", &id]);
    assert_eq!(code, 0, "{err}");
    ws.wait_state(&id, "waiting");
    assert!(!ws.data().join("count-a1").exists(), "the gate holds");
    assert_eq!(ws.pilote(&["gate", &id, "--confirm"]).0, 0);
    let (code, out, err) = ws.pilote(&["logs", &id, "--follow"]);
    assert_eq!(code, 0, "{out}{err}");
    let ran = std::fs::read_to_string(ws.data().join("count-a1")).unwrap_or_default();
    assert_eq!(ran.lines().count(), 1, "{ran:?}");
    reliability::record(&Row {
        id: "disk-full-at-a-gate",
        area: "disk",
        fault: "the disk fills (SQLITE_FULL, injected) while a gate waits for a person, and \
                the runner's first refused write is taking that person's answer",
        tries: 1,
        outcome: "the gate stops waiting at once (not after its 30 s timeout), run interrupted \
                  (disk full), the next step not started; resume drops the untaken answer, \
                  asks again, confirmed, ran it once",
        lost: "the answer given as the disk filled (asked again on resume)",
    });
}

#[test]
fn two_runs_on_one_full_disk_each_end_in_the_room_of_their_own_spare() {
    let (ws, plan) = Ws::with_plan(0, &["meet", "count_env"]);
    let data = ws.data();
    let trigger = data.join("full");
    let envs = ["uat", "preprod"];
    let ids: Vec<String> = envs
        .iter()
        .map(|env| {
            let (code, id, err) = run(ws
                .home
                .pilote()
                .env("PILOTE_DISK_FULL_WHEN", &trigger)
                .arg("--workspace")
                .arg(&ws.dir)
                .args(["run", plan.to_str().expect("utf8"), "--env", env]));
            assert_eq!(code, 0, "{env}: {err}");
            id.trim().to_string()
        })
        .collect();
    wait_until("both runs at their first step", || {
        envs.iter().all(|e| data.join(format!("at-{e}")).exists())
    });
    let mut own: Vec<String> = ids.iter().map(|id| format!("spare-{id}")).collect();
    own.sort();
    assert_eq!(spares(&data), own, "a spare each");
    for name in &own {
        let len = std::fs::metadata(data.join("spool").join(name)).map(|m| m.len());
        assert_eq!(len.ok(), Some(1 << 20), "{name}");
    }
    // The disk fills under both; then their steps end, each needing room for its end.
    std::fs::write(&trigger, "").expect("fill the disk");
    std::fs::write(data.join("go"), "").expect("go");
    for (env, id) in envs.iter().zip(&ids) {
        let (code, log, err) = ws.pilote(&["logs", id, "--follow"]);
        assert_eq!(code, 4, "{env}: interrupted: {log}{err}");
        assert_eq!(ws.run_json(id)["state"], "interrupted", "{env}");
        // Neither lost its step's outcome for want of room the other run took.
        assert_eq!(steps_of(&data, id), "a0=succeeded", "{env}: {log}");
    }
    assert_eq!(integrity(&data), "ok");
    assert_eq!(spares(&data), Vec::<String>::new(), "both spares spent");

    for (env, id) in envs.iter().zip(&ids) {
        let (code, out, err) = ws.pilote(&["resume", id, "--follow"]);
        assert_eq!(code, 0, "{env}: {out}{err}");
        for a in ["a0", "a1"] {
            let ran =
                std::fs::read_to_string(data.join(format!("count-{env}-{a}"))).unwrap_or_default();
            assert_eq!(ran.lines().count(), 1, "{env}: action {a} ran {ran:?}");
        }
    }
    assert_eq!(
        spares(&data),
        Vec::<String>::new(),
        "spares go with their runs"
    );
    reliability::record(&Row {
        id: "disk-full-two-runs",
        area: "disk",
        fault: "the store refuses writes (SQLITE_FULL, injected) under two runs at once, on \
                uat and preprod, each in the middle of a step",
        tries: 1,
        outcome: "each run's step end went into the room of its own spare, both runs \
                  interrupted (disk full) with no step unknown, integrity_check ok; each resume \
                  ran its remaining step once, no spare left",
        lost: "nothing",
    });
}

#[test]
fn a_run_whose_last_step_succeeded_as_the_disk_filled_succeeds() {
    let (ws, plan) = Ws::with_plan(0, &["count", "print_fill_print"]);
    let data = ws.data();
    let (code, id, err) = run(ws
        .home
        .pilote()
        .env("PILOTE_DISK_FULL_WHEN", data.join("full"))
        .arg("--workspace")
        .arg(&ws.dir)
        .args(["run", plan.to_str().expect("utf8"), "--env", "uat"]));
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    let (code, log, err) = ws.pilote(&["logs", &id, "--follow"]);
    // Interrupted, it would invite a rollback of a deploy that worked.
    assert_eq!(code, 0, "{log}{err}");
    let (state, outcome) = state_of(&ws.pilote(&["runs", "--json"]).1, &id);
    assert_eq!(state, "succeeded");
    assert_eq!(
        outcome,
        "all steps succeeded; disk full, 0 log lines not stored"
    );
    assert!(
        log.contains(&format!("disk full in {}: ", data.display())),
        "{log}"
    );
    // The lines refused went into the spare's room with the run's end.
    assert!(log.contains("line 49 after"), "{log}");
    assert_eq!(steps_of(&data, &id), "a0=succeeded a1=succeeded");
    assert_eq!(integrity(&data), "ok");
    assert_eq!(spares(&data), Vec::<String>::new());
    // The env is free: a next run starts.
    let (code, _, err) = ws.pilote(&["run", plan.to_str().expect("utf8"), "--env", "uat"]);
    assert_eq!(code, 0, "the env was released: {err}");
    reliability::record(&Row {
        id: "disk-full-in-last-step",
        area: "disk",
        fault: "the disk fills (SQLITE_FULL, injected) while the last step of a run prints, \
                the step then succeeding",
        tries: 1,
        outcome: "run succeeded, its outcome and a log note saying the disk filled, the lines \
                  refused stored in the spare's room, lock released, integrity_check ok",
        lost: "nothing",
    });
}

#[test]
fn a_rollback_starts_on_a_disk_too_full_for_its_spare() {
    let (ws, plan) = Ws::with_undo_plan(0, &[("count", "uncount")]);
    let data = ws.data();
    let fs = match Tmpfs::mount(&data, "4m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED a_rollback_starts_on_a_disk_too_full_for_its_spare: {why}");
            return;
        }
    };
    let (code, out, err) = fs.pilote(
        &ws,
        &[
            "run",
            plan.to_str().expect("utf8"),
            "--env",
            "uat",
            "--follow",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    // Full, then 512 KiB freed: room for a rollback's records, not for a 1 MiB spare.
    let filler = data.join("filler");
    let _ = run(fs
        .command("sh")
        .arg("-c")
        .arg(r#"head -c 100000000 /dev/zero > "$1" 2>/dev/null"#)
        .arg("sh")
        .arg(&filler));
    assert_eq!(
        run(fs.command("truncate").args(["-s", "-512K"]).arg(&filler)).0,
        0
    );
    let (code, out, err) = fs.pilote(
        &ws,
        &["rollback", "pets", "--env", "uat", "--yes", "--follow"],
    );
    assert_eq!(code, 0, "the rollback ran: {out}{err}");
    assert!(
        out.contains("warning: disk full; no room for the spare file "),
        "{out}"
    );
    assert!(out.contains("the rollback starts anyway"), "{out}");
    assert_eq!(
        fs.read(&data.join("count-undo-a0")).lines().count(),
        1,
        "undone once"
    );
    let db = data.join("pilote.db");
    assert_eq!(fs.sql(&db, "PRAGMA integrity_check"), "ok");
    assert_eq!(
        fs.sql(&db, "SELECT kind || '=' || state FROM runs ORDER BY id"),
        "adhoc=succeeded\nrollback=succeeded"
    );
    let left = run(fs.command("ls").arg(data.join("spool"))).1;
    assert!(
        !left.contains("spare"),
        "no spare nor its temporary file: {left}"
    );
    reliability::record(&Row {
        id: "disk-rollback-without-spare",
        area: "disk",
        fault: "a rollback started with 512 KiB free on the data dir's 4 MiB tmpfs: no room \
                for its 1 MiB spare",
        tries: 1,
        outcome: "the rollback started anyway with a warning in its log, undid the action \
                  once and succeeded; integrity_check ok, no spare or temporary file left",
        lost: "nothing",
    });
}

/// A sweep that meets a full disk leaves the drop where it is and says so (exit 1): the
/// package is not rejected as if it were bad, and the next sweep with room imports it.
#[test]
fn a_full_disk_during_a_sweep_leaves_the_drop_for_the_next_one() {
    let ws = Ws::demo_config();
    // The drop dir off the tmpfs, as a team's is (its members write there).
    let drop = ws.home.path().join("drop");
    std::fs::create_dir_all(&drop).expect("drop dir");
    let settings = ws.dir.join("pilote.toml");
    let text = std::fs::read_to_string(&settings).expect("read");
    std::fs::write(
        &settings,
        format!("{text}\n[vault]\ndrop_dir = \"../drop\"\n"),
    )
    .expect("write");
    let data = ws.data();
    let fs = match Tmpfs::mount(&data, "2m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED a_full_disk_during_a_sweep_leaves_the_drop: {why}");
            return;
        }
    };
    // 3 MiB that do not compress: more than the 2 MiB tmpfs holds.
    let mut bytes = Vec::with_capacity(3 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while bytes.len() < 3 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    let war = drop.join("pets-9.0.0.war");
    std::fs::write(&war, &bytes).expect("drop");

    let (code, out, err) = fs.pilote(&ws, &["vault", "sweep", "--settle", "0"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("no room   pets-9.0.0.war: the disk is full ("),
        "{out}"
    );
    assert!(
        err.contains("the disk is full: 1 drop(s) left in the drop dir for the next sweep"),
        "{err}"
    );
    assert!(war.is_file(), "the drop moved");
    assert!(
        !drop.join("rejected").exists(),
        "rejected as if it were bad"
    );
    let left = run(fs.command("ls").arg(data.join("vault/tmp"))).1;
    assert!(left.trim().is_empty(), "half a blob left: {left}");

    // Room again: the next sweep takes it.
    let (code, _, err) = run(fs
        .command("mount")
        .args(["-o", "remount,size=16m"])
        .arg(&data));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = fs.pilote(&ws, &["vault", "sweep", "--settle", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("imported  pets-9.0.0.war: pets 9.0.0"),
        "{out}"
    );
}
