//! The console against plain tools, each pair measured in the same run, the console driven
//! in a real pseudo-terminal (the release binary):
//! - cold start to the first frame, and to the first frame showing the runs, on a store of
//!   100,000 runs and 10,000,000 log lines, vs `sqlite3` printing the same page of runs;
//! - one full 200x50 frame of the Runs/Log pane, vs ratatui drawing the same lines as text;
//! - key press to visible frame while a step streams ~100,000 lines/s into the run viewed,
//!   vs `less` answering a key in the same terminal under the same load;
//! - peak RSS of a console that paged through a 1,000,000-line run, vs `less` on those lines;
//! - `R` + Enter to the first rollback step started, vs `pilote rollback --yes`.
//!
//! Run: `cargo bench --bench console`. The big store is built once (about a minute) and kept
//! in `target/console-bench`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

const RUNS: i64 = 100_000;
/// Lines of the newest run (the one viewed), then of each of the 90 before it.
const BIG_RUN: i64 = 1_000_000;
const OTHER_LINES: i64 = 100_000;
const OTHERS: i64 = 90;

fn workspace(root: &Path) -> PathBuf {
    let ws = root.join("ws");
    std::fs::create_dir_all(ws.join("automations")).expect("mkdir");
    std::fs::create_dir_all(ws.join("plans")).expect("mkdir");
    std::fs::write(
        ws.join("pilote.toml"),
        "name = \"console-bench\"\ndata_dir = \"data\"\n",
    )
    .expect("write");
    std::fs::write(
        ws.join("inventory.toml"),
        "[apps.bench]\nlifecycles = [\"only\"]\n[apps.bench.domains.node]\n\
         [envs.local.apps.bench]\nnode = [\"h0\"]\n[hosts.h0]\nconnection = \"local\"\n",
    )
    .expect("write");
    std::fs::write(
        ws.join("lifecycles.toml"),
        "[[lifecycles.only.stages]]\nenv = \"local\"\n",
    )
    .expect("write");
    std::fs::write(
        ws.join("automations/bench.toml"),
        "[one]\nchanges_state = false\n[[one.steps]]\nname = \"true\"\nkind = \"shell\"\nscript = \"true\"\n\n\
         [stream]\nchanges_state = false\n[[stream.steps]]\nname = \"stream\"\nkind = \"shell\"\ntimeout = \"10m\"\n\
         script = '''\nend=$(( $(date +%s) + 120 ))\nwhile [ \"$(date +%s)\" -lt \"$end\" ]; do seq 10000; sleep 0.1; done\n'''\n",
    )
    .expect("write");
    std::fs::write(
        ws.join("plans/undoable.toml"),
        "app = \"bench\"\n[[actions]]\nid = \"one\"\ntitle = \"one\"\nuses = \"one\"\nundo = \"one\"\n",
    )
    .expect("write");
    std::fs::write(
        ws.join("plans/stream.toml"),
        "app = \"bench\"\n[[actions]]\nid = \"stream\"\ntitle = \"stream\"\nuses = \"stream\"\n",
    )
    .expect("write");
    ws
}

fn pilote(ws: &Path, root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pilote"));
    c.env("XDG_STATE_HOME", root.join("state"))
        .arg("--workspace")
        .arg(ws);
    c
}

fn ok(mut c: Command) -> String {
    let out = c.output().expect("run");
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The big store: 100k finished runs, 10M lines (1M in the newest run). Built with SQL in
/// one transaction per table, then kept for the next bench run.
fn big_store(root: &Path) -> PathBuf {
    let ws = workspace(root);
    let db = ws.join("data/pilote.db");
    let done = root.join("built");
    if done.exists() {
        return ws;
    }
    ok({
        let mut c = pilote(&ws, root);
        c.arg("status");
        c
    });
    eprintln!(
        "building the store: {RUNS} runs, {} lines…",
        BIG_RUN + OTHERS * OTHER_LINES
    );
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
         BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {RUNS})
         INSERT INTO runs (id, kind, app, env, state, started_by, created_at, started_at, finished_at, last_seq)
           SELECT i, CASE WHEN i % 10 = 0 THEN 'rollback' ELSE 'deploy' END, 'bench', 'local',
                  CASE WHEN i % 7 = 0 THEN 'failed' ELSE 'succeeded' END, 'ops',
                  1700000000000 + i * 60000, 1700000000000 + i * 60000, 1700000000000 + i * 60000 + 5000, 0
           FROM n;
         COMMIT;
         BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BIG_RUN})
         INSERT INTO log_lines (run_id, seq, at, stream, host, line)
           SELECT {RUNS}, i, 1700000000000 + i, 'stdout', 'h0', 'line ' || i || ' of the big run' FROM n;
         UPDATE runs SET last_seq = {BIG_RUN} WHERE id = {RUNS};
         COMMIT;
         BEGIN;
         WITH RECURSIVE r(id) AS (SELECT {RUNS} - {OTHERS} UNION ALL SELECT id + 1 FROM r WHERE id < {RUNS} - 1),
              n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {OTHER_LINES})
         INSERT INTO log_lines (run_id, seq, at, stream, host, line)
           SELECT id, i, 1700000000000 + i, 'stdout', 'h0', 'line ' || i FROM r, n;
         UPDATE runs SET last_seq = {OTHER_LINES} WHERE id >= {RUNS} - {OTHERS} AND id < {RUNS};
         COMMIT;
         PRAGMA wal_checkpoint(TRUNCATE);"
    ))
    .expect("fill the store");
    std::fs::write(&done, "").expect("marker");
    ws
}

/// A program in a pseudo-terminal; its screen, and when it last changed, kept by a reader.
struct Term {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    /// Each chunk of output, with the screen after it, for waiting on a change.
    frames: mpsc::Receiver<(Instant, String)>,
}

impl Term {
    fn start(program: &Path, args: &[&str], env: &[(&str, &Path)], cols: u16, rows: u16) -> Self {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("pty");
        let mut cmd = CommandBuilder::new(program);
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env("LANG", "C.UTF-8");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).expect("spawn");
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let writer = pair.master.take_writer().expect("writer");
        let sink = Arc::clone(&parser);
        let (tx, frames) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            // The master lives as long as the reading: the terminal stays open.
            let _master = pair.master;
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    return;
                }
                let at = Instant::now();
                let screen = {
                    let mut p = sink.lock().expect("parser");
                    p.process(&buf[..n]);
                    p.screen().contents()
                };
                if tx.send((at, screen)).is_err() {
                    return;
                }
            }
        });
        Self {
            parser,
            writer,
            child,
            frames,
        }
    }

    fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("write");
        self.writer.flush().expect("flush");
    }

    /// Waits until the screen satisfies `done`; returns when the output that did it arrived.
    fn wait(&self, what: &str, done: impl Fn(&str) -> bool) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok((at, screen)) if done(&screen) => return at,
                Ok(_) => {}
                Err(_) => panic!(
                    "timed out waiting for {what}:\n{}",
                    self.parser.lock().expect("parser").screen().contents()
                ),
            }
        }
    }

    /// Forgets the output so far (a later `wait` sees only what comes next).
    fn drain(&self) {
        while self.frames.try_recv().is_ok() {}
    }

    fn pid(&self) -> u32 {
        self.child.process_id().expect("pid")
    }

    fn peak_rss_kb(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .expect("VmHWM")
    }

    fn quit(mut self, keys: &str) {
        self.send(keys);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
    }
}

fn console(ws: &Path, root: &Path, cols: u16, rows: u16) -> Term {
    Term::start(
        Path::new(env!("CARGO_BIN_EXE_pilote")),
        &["--workspace", &ws.display().to_string()],
        &[("XDG_STATE_HOME", &root.join("state")), ("HOME", root)],
        cols,
        rows,
    )
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn p99(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() * 99) / 100).min(v.len() - 1)]
}

fn report(what: &str, pilote: f64, base: f64, base_name: &str, unit: &str, target: &str) {
    println!(
        "{what:<44} pilote {pilote:>9.3} {unit}   {base_name} {base:>9.3} {unit}   ratio {:>6.2}x   (target {target})",
        pilote / base
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-bench");
    std::fs::create_dir_all(&root).expect("mkdir");
    let ws = big_store(&root);
    let db = ws.join("data/pilote.db");

    // 1. Cold start on the big store.
    let (mut first, mut data, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let start = Instant::now();
        let mut t = console(&ws, &root, 200, 50);
        let f = t.wait("the first frame", |s| s.contains("1 Requests"));
        t.send("3");
        let d = t.wait("the runs", |s| s.contains(&format!("#{RUNS}")));
        first.push((f - start).as_secs_f64() * 1000.0);
        data.push((d - start).as_secs_f64() * 1000.0);
        t.quit("q");
        let start = Instant::now();
        ok({
            let mut c = Command::new("sqlite3");
            c.arg(&db).arg(
                "SELECT id, kind, app, env, state, started_by, created_at FROM runs ORDER BY id DESC LIMIT 100",
            );
            c
        });
        base.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let base = median(&mut base);
    report(
        "cold start to first frame (100k runs, 10M lines)",
        median(&mut first),
        base,
        "sqlite3 page",
        "ms",
        "<= 50 ms",
    );
    report(
        "cold start to the runs on screen",
        median(&mut data),
        base,
        "sqlite3 page",
        "ms",
        "-",
    );

    // 2. One 200x50 frame, drawn in process.
    let (frame, text) = render_frames();
    report(
        "one 200x50 frame (Runs/Log pane)",
        frame,
        text,
        "ratatui text",
        "ms",
        "<= 1 ms",
    );

    // 3. Peak memory after paging through the 1M-line run, from its first line to its last.
    let mut t = console(&ws, &root, 200, 50);
    t.send("3");
    t.wait("the runs", |s| s.contains(&format!("#{RUNS}")));
    t.send("\r");
    t.wait("the big run's tail", |s| {
        s.contains(&format!("line {BIG_RUN} of the big run"))
    });
    t.send("g");
    t.wait("the big run's head", |s| {
        s.contains("line 1 of the big run")
    });
    for _ in 0..400 {
        // Apart, as key repeat sends them: an escape sequence split between two reads would
        // be read as Esc.
        t.send("\x1b[6~");
        std::thread::sleep(Duration::from_millis(2));
    }
    t.send("G");
    t.wait("the tail again", |s| {
        s.contains(&format!("line {BIG_RUN} of the big run"))
    });
    let pilote_rss = t.peak_rss_kb();
    t.quit("q");
    let lines = root.join("big.txt");
    if !lines.exists() {
        ok({
            let mut c = Command::new("bash");
            c.args([
                "-c",
                &format!(
                    "seq 1 {BIG_RUN} | sed 's/.*/line & of the big run/' > {}",
                    lines.display()
                ),
            ]);
            c
        });
    }
    let mut less = Term::start(
        Path::new("/usr/bin/less"),
        &[&lines.display().to_string()],
        &[],
        200,
        50,
    );
    less.wait("less", |s| s.contains("line 1 of the big run"));
    less.send("G");
    less.wait("its end", |s| {
        s.contains(&format!("line {BIG_RUN} of the big run"))
    });
    let less_rss = less.peak_rss_kb();
    less.quit("q");
    report(
        "peak RSS viewing a 1M-line run",
        pilote_rss as f64 / 1024.0,
        less_rss as f64 / 1024.0,
        "less",
        "MB",
        "<= 30 MB",
    );

    // 4. Key to frame while a step streams ~100k lines/s into the run on screen.
    let small = tempfile::tempdir().expect("tmp");
    let sws = workspace(small.path());
    let out = ok({
        let mut c = pilote(&sws, small.path());
        c.args(["run", "plans/stream.toml", "--env", "local"]);
        c
    });
    let run: i64 = out.trim().parse().expect("run id");
    let mut t = console(&sws, small.path(), 200, 50);
    t.send("3");
    t.wait("the streaming run", |s| s.contains(&format!("#{run}")));
    t.send("\r");
    t.wait("its log", |s| s.contains("following"));
    let mut lat = Vec::new();
    for _ in 0..100 {
        // Typing speed: the measure spans seconds of streaming.
        std::thread::sleep(Duration::from_millis(25));
        t.drain();
        let start = Instant::now();
        t.send("?");
        lat.push((t.wait("help", |s| s.contains("Everywhere")) - start).as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(25));
        t.drain();
        let start = Instant::now();
        t.send("x");
        lat.push((t.wait("no help", |s| !s.contains("Everywhere")) - start).as_secs_f64() * 1000.0);
    }
    let stored = rusqlite::Connection::open(small.path().join("ws/data/pilote.db"))
        .and_then(|c| {
            c.query_row("SELECT last_seq FROM runs WHERE id = ?1", [run], |r| {
                r.get::<_, i64>(0)
            })
        })
        .unwrap_or(0);
    t.quit("q");
    let mut less = Term::start(
        Path::new("/usr/bin/less"),
        &[&lines.display().to_string()],
        &[],
        200,
        50,
    );
    less.wait("less", |s| s.contains("line 1 of the big run"));
    let mut base = Vec::new();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(25));
        less.drain();
        let start = Instant::now();
        less.send("h");
        base.push(
            (less.wait("less help", |s| s.contains("SUMMARY OF LESS COMMANDS")) - start)
                .as_secs_f64()
                * 1000.0,
        );
        std::thread::sleep(Duration::from_millis(25));
        less.drain();
        let start = Instant::now();
        less.send("q");
        base.push(
            (less.wait("less text", |s| s.contains("line 1 of the big run")) - start).as_secs_f64()
                * 1000.0,
        );
    }
    less.quit("q");
    let _ = ok({
        let mut c = pilote(&sws, small.path());
        c.args(["cancel", &run.to_string()]);
        c
    });
    // The stream's runner lets go of the env's lock once it has stopped.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok({
        let mut c = pilote(&sws, small.path());
        c.args(["runs", "--json"]);
        c
    })
    .contains("\"cancelled\"")
    {
        assert!(Instant::now() < deadline, "the stream run did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("  (the run had stored {stored} lines while keys were pressed)");
    report(
        "key to frame under a 100k lines/s stream, p99",
        p99(&mut lat),
        p99(&mut base),
        "less",
        "ms",
        "<= 16 ms",
    );
    report(
        "key to frame under a 100k lines/s stream, p50",
        median(&mut lat),
        median(&mut base),
        "less",
        "ms",
        "-",
    );

    // 5. R + Enter to the first rollback step started, vs the CLI.
    let (mut keys, mut cli) = (Vec::new(), Vec::new());
    let sdb = small.path().join("ws/data/pilote.db");
    let first_step = |run: i64| -> Option<i64> {
        rusqlite::Connection::open(&sdb)
            .ok()?
            .query_row(
                "SELECT min(started_at) FROM step_runs WHERE run_id = ?1",
                [run],
                |r| r.get(0),
            )
            .ok()?
    };
    let newest = || -> i64 {
        rusqlite::Connection::open(&sdb)
            .and_then(|c| c.query_row("SELECT max(id) FROM runs", [], |r| r.get(0)))
            .unwrap_or(0)
    };
    // The next run waits for the env's lock: the rollback must have ended.
    let wait_finished = |run: i64| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while rusqlite::Connection::open(&sdb)
            .and_then(|c| {
                c.query_row(
                    "SELECT finished_at IS NULL FROM runs WHERE id = ?1",
                    [run],
                    |r| r.get::<_, bool>(0),
                )
            })
            .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "run #{run} did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let wait_first_step = |run: i64| -> i64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(at) = first_step(run) {
                return at;
            }
            assert!(
                Instant::now() < deadline,
                "rollback run #{run} never started a step"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    for _ in 0..5 {
        ok({
            let mut c = pilote(&sws, small.path());
            c.args(["run", "plans/undoable.toml", "--env", "local", "--follow"]);
            c
        });
        let mut t = console(&sws, small.path(), 120, 40);
        t.send("3");
        let last = newest();
        t.wait("the run to roll back", |s| s.contains(&format!("#{last} ")));
        t.send("R");
        t.wait("the rollback modal", |s| {
            s.contains("ROLL BACK bench on local?")
        });
        // A confirmation takes Enter only once it has been on screen a moment.
        std::thread::sleep(Duration::from_millis(300));
        let before = newest();
        let start = now_ms();
        t.send("\r");
        let run = before + 1;
        t.wait("the rollback run", |s| {
            s.contains(&format!("Log #{run} rollback"))
        });
        keys.push((wait_first_step(run) - start) as f64);
        wait_finished(run);
        t.quit("q");

        ok({
            let mut c = pilote(&sws, small.path());
            c.args(["run", "plans/undoable.toml", "--env", "local", "--follow"]);
            c
        });
        let start = now_ms();
        ok({
            let mut c = pilote(&sws, small.path());
            c.args(["rollback", "bench", "--env", "local", "--yes"]);
            c
        });
        let run = newest();
        cli.push((wait_first_step(run) - start) as f64);
        wait_finished(run);
    }
    report(
        "R + Enter to first rollback step",
        median(&mut keys),
        median(&mut cli),
        "rollback --yes",
        "ms",
        "<= 100 ms",
    );
}

/// Mean time of a full 200x50 frame of the Runs/Log pane (100 runs, a screen of log, the
/// step tree) and of ratatui drawing the same lines as a plain paragraph.
fn render_frames() -> (f64, f64) {
    use pilote::store::{LogLine, RunProgress, RunRow, Summary};
    use pilote::tui::{App, Data, LogPart, Msg, Options, RunLine};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    let ws = pilote::settings::load(
        &pilote::settings::Located {
            dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/config"),
            origin: pilote::settings::Origin::Flag,
        },
        &pilote::settings::Overrides::default(),
    )
    .expect("demo config");
    let mut app = App::new(ws, pilote::identity::Actor::current(), Options::default());
    let runs = (0..100)
        .map(|i| RunLine {
            row: RunRow {
                id: 1000 - i,
                kind: "deploy".into(),
                app: "pets".into(),
                env: "uat".into(),
                state: if i == 0 { "running" } else { "succeeded" }.into(),
                started_by: "ops".into(),
                created_at: 1_700_000_000_000,
                started_at: Some(1_700_000_000_000),
                finished_at: (i > 0).then_some(1_700_000_005_000),
                runner_pid: None,
                rollback_of: None,
                outcome: None,
                last_seq: 1_000_000,
                runner_start: None,
                reason: None,
            },
            progress: RunProgress {
                steps: 14,
                done: 6,
                current: Some("deploy-war/copy on uat-jboss-1".into()),
                typical_ms: Some(60_000),
                ..RunProgress::default()
            },
        })
        .collect();
    let asked = app.on_msg(Msg::Data(Box::new(Data {
        runs,
        summary: Summary::default(),
        ..Data::default()
    })));
    let lines: Vec<LogLine> = (0..60)
        .map(|seq| LogLine {
            seq,
            at: 1_700_000_000_000,
            step_run_id: None,
            stream: "stdout".into(),
            host: "uat-jboss-1".into(),
            line: format!("line {seq}: Deploying pets.war to /opt/jboss/standalone/deployments"),
        })
        .collect();
    let text: Vec<String> = lines
        .iter()
        .map(|l| format!("{} {}", l.host, l.line))
        .collect();
    let generation = asked
        .iter()
        .find_map(|e| match e {
            pilote::tui::Effect::Log { generation, .. } => Some(*generation),
            _ => None,
        })
        .expect("the picked run's log is asked for");
    app.on_msg(Msg::Log {
        run: 1000,
        part: LogPart::Tail,
        generation,
        upto: 60,
        lines,
    });
    app.on_key(ratatui::crossterm::event::KeyEvent::new(
        ratatui::crossterm::event::KeyCode::Char('3'),
        ratatui::crossterm::event::KeyModifiers::NONE,
    ));
    let mut term = Terminal::new(TestBackend::new(200, 50)).expect("terminal");
    let n = 2000;
    let start = Instant::now();
    for _ in 0..n {
        term.draw(|f| pilote::tui::draw(&app, f)).expect("draw");
    }
    let frame = start.elapsed().as_secs_f64() * 1000.0 / f64::from(n);
    let para = ratatui::widgets::Paragraph::new(text.join("\n"));
    let start = Instant::now();
    for _ in 0..n {
        term.draw(|f| f.render_widget(&para, f.area()))
            .expect("draw");
    }
    let plain = start.elapsed().as_secs_f64() * 1000.0 / f64::from(n);
    (frame, plain)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
