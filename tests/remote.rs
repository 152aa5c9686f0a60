//! Remote execution against a real OpenSSH server on loopback (tests/common/sshd.rs): fan-out,
//! failure threshold, timeouts that leave nothing behind, lost connections, quoting, host keys,
//! ProxyJump from the ssh config alone.

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::sshd::Sshd;
use common::{Home, run};

const AUTOMATIONS: &str = r#"
[hello]
domain = "web"
changes_state = false
[[hello.steps]]
name = "hello"
kind = "ssh"
parallelism = 5
script = 'echo "hello from $PILOTE_HOST as $(id -un)"'

[flaky]
domain = "web"
changes_state = false
[[flaky.steps]]
name = "maybe fail"
kind = "ssh"
parallelism = 1
max_failures = 1
script = 'case "$PILOTE_HOST" in h0|h1|h2) echo "failing on $PILOTE_HOST"; exit 1;; esac; echo "fine on $PILOTE_HOST"'

[hang]
domain = "web"
changes_state = false
[[hang.steps]]
name = "hang"
kind = "ssh"
timeout = "2s"
script = 'echo started; sleep 3600'

[stall]
domain = "web"
changes_state = false
[[stall.steps]]
name = "stall"
kind = "ssh"
timeout = "1m"
script = 'echo started; sleep 30; echo done'

[echo]
domain = "web"
changes_state = false
[echo.params.value]
type = "string"
[echo.params.out]
type = "string"
[[echo.steps]]
name = "write"
kind = "ssh"
script = '''printf '%s' "$VALUE" > "$OUT.$PILOTE_HOST"'''

[ship]
domain = "web"
changes_state = false
[ship.params.war]
type = "artifact"
[ship.params.dir]
type = "string"
[[ship.steps]]
name = "wait for the word"
kind = "gate"
prompt = "ship it?"
[[ship.steps]]
name = "transfer"
kind = "copy"
artifact = "war"
dest = "${dir}/${host}/app.war"

[probe]
changes_state = false
[probe.params.url]
type = "string"
[[probe.steps]]
name = "probe"
kind = "http"
url = "${url}"
expect_body = "/^status: (ok|fine)$/"
probes = 4

[daemon]
domain = "web"
changes_state = false
[[daemon.steps]]
name = "start"
kind = "ssh"
timeout = "30s"
script = '(sleep 20 &); echo started'

[code]
domain = "web"
changes_state = false
[[code.steps]]
name = "exit 255"
kind = "ssh"
script = 'exit 255'
"#;

/// A workspace whose `web` hosts h0..hN are reached over ssh through `sshd`.
struct Remote {
    home: Home,
    dir: PathBuf,
    sshd: Sshd,
}

impl Remote {
    fn new(hosts: usize, ssh_section: &str, sshd_extra: &str) -> Self {
        let sshd = Sshd::start(hosts, sshd_extra);
        let home = Home::new();
        let dir = home.path().join("ws");
        std::fs::create_dir_all(dir.join("automations")).expect("mkdir");
        std::fs::create_dir_all(dir.join("plans")).expect("mkdir");
        std::fs::write(
            dir.join("pilote.toml"),
            format!(
                "name = \"remote\"\ndata_dir = \"data\"\n[ssh]\nconfig = \"{}\"\n{ssh_section}",
                sshd.client_config().display()
            ),
        )
        .expect("write");
        let mut inv = String::from(
            "[apps.site]\nlifecycles = [\"std\"]\n[apps.site.domains.web]\n\
             [envs.test.apps.site]\nweb = [",
        );
        for i in 0..hosts {
            let _ = write!(inv, "{}\"h{i}\"", if i > 0 { ", " } else { "" });
        }
        // lab's one host is h0's server under another name: envs do not share hosts.
        inv.push_str("]\n[envs.lab]\n[envs.lab.apps.site]\nweb = [\"p0\"]\n");
        let _ = writeln!(inv, "[hosts.p0]\naddress = \"{}\"", sshd.addresses[0]);
        for (i, a) in sshd.addresses.iter().enumerate() {
            let _ = writeln!(inv, "[hosts.h{i}]\naddress = \"{a}\"");
        }
        std::fs::write(dir.join("inventory.toml"), inv).expect("write");
        std::fs::write(
            dir.join("lifecycles.toml"),
            "[[lifecycles.std.stages]]\nenv = \"test\"\n[[lifecycles.std.stages]]\nenv = \"lab\"\n",
        )
        .expect("write");
        std::fs::write(dir.join("automations/remote.toml"), AUTOMATIONS).expect("write");
        Self { home, dir, sshd }
    }

    fn plan(&self, uses: &str, with: &str) -> String {
        let path = self.dir.join(format!("plans/{uses}.toml"));
        std::fs::write(
            &path,
            format!("app = \"site\"\n[[actions]]\nid = \"a\"\ntitle = \"{uses}\"\nuses = \"{uses}\"\n{with}\n"),
        )
        .expect("write plan");
        path.display().to_string()
    }

    /// Makes `host` (at `address`) reachable as `hidden`, a name only the ssh config knows,
    /// through the server at `jump`.
    fn behind_jump(&self, host: &str, address: &str, jump: &str) {
        self.sshd.add_client_config(&format!(
            "Host hidden\n  HostName {address}\n  ProxyJump {jump}\n\n"
        ));
        common::edit(
            &self.dir,
            "inventory.toml",
            &format!("[hosts.{host}]\naddress = \"{address}\""),
            &format!("[hosts.{host}]\naddress = \"hidden\""),
        );
    }

    fn pilote(&self, args: &[&str]) -> (i32, String, String) {
        run(self
            .home
            .pilote()
            .arg("--workspace")
            .arg(&self.dir)
            .args(args))
    }

    fn run_follow(&self, plan: &str, env: &str) -> (i32, String, String) {
        self.pilote(&["run", plan, "--env", env, "--follow"])
    }

    fn steps(&self, run: &str) -> Vec<serde_json::Value> {
        let db = rusqlite::Connection::open(self.dir.join("data/pilote.db")).expect("db");
        let mut stmt = db
            .prepare("SELECT host, state, coalesce(detail, '') FROM step_runs WHERE run_id = ?1 ORDER BY id")
            .expect("prepare");
        stmt.query_map([run], |r| {
            Ok(serde_json::json!({
                "host": r.get::<_, String>(0)?,
                "state": r.get::<_, String>(1)?,
                "detail": r.get::<_, String>(2)?,
            }))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    }
}

fn run_id(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix('#'))
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_digit())
                .to_string()
        })
        .expect("run id in output")
}

/// Master connections still open with this test's ssh config.
fn masters_left(r: &Remote) -> Vec<String> {
    let config = r.sshd.client_config().display().to_string();
    let out = std::process::Command::new("ps")
        .args(["-eo", "pid=,args="])
        .output()
        .expect("ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("ControlMaster=yes") && l.contains(&config))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_plan_over_twenty_hosts_tags_each_hosts_output_and_closes_its_masters() {
    let r = Remote::new(20, "", "");
    let plan = r.plan("hello", "");
    let (code, out, err) = r.run_follow(&plan, "test");
    assert_eq!(code, 0, "{out}\n{err}");
    for i in 0..20 {
        let line = format!("h{i}");
        assert!(
            out.lines().any(|l| l.contains(&format!(
                " {line:<16} | hello from {line} as {}",
                r.sshd.user
            ))),
            "no tagged output for {line}:\n{out}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !masters_left(&r).is_empty() {
        assert!(
            Instant::now() < deadline,
            "masters left: {:?}",
            masters_left(&r)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The steps' wrappers are gone too: a watcher left behind would sit in `sleep 5`.
    let left = r.sshd.remote_processes("sleep 5");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_failure_threshold_stops_launching_hosts() {
    let r = Remote::new(6, "", "");
    let plan = r.plan("flaky", "");
    let (code, out, _) = r.run_follow(&plan, "test");
    assert_eq!(code, 1, "{out}");
    let steps = r.steps(&run_id(&out));
    let hosts: Vec<&str> = steps
        .iter()
        .map(|s| s["host"].as_str().unwrap_or(""))
        .collect();
    // One at a time, one failure allowed: h0 and h1 fail, nothing is launched after.
    assert_eq!(hosts, ["h0", "h1"], "{steps:?}");
    assert!(!out.contains("fine on"), "{out}");
}

#[test]
fn a_hung_remote_command_times_out_and_leaves_nothing_running() {
    let r = Remote::new(1, "", "");
    let plan = r.plan("hang", "");
    let start = Instant::now();
    let (code, out, _) = r.run_follow(&plan, "test");
    assert_eq!(code, 1, "{out}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    let steps = r.steps(&run_id(&out));
    assert_eq!(steps[0]["state"], "timed_out", "{steps:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !r.sshd.remote_processes("sleep 3600").is_empty() {
        assert!(
            Instant::now() < deadline,
            "left on the server: {:?}",
            r.sshd.remote_processes("sleep 3600")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_server_that_stops_answering_is_noticed_within_the_keepalive_window() {
    let r = Remote::new(1, "keepalive_interval = \"1s\"\nkeepalive_count = 2\n", "");
    let plan = r.plan("stall", "");
    let (code, out, err) = r.pilote(&["run", &plan, "--env", "test"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let id = run_id(&format!("{out}\n{err}"));
    // Wait for the remote command to run, then freeze the server side of the connection.
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.sshd.remote_processes("sleep 30").is_empty() {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sessions = r.sshd.session_pids();
    assert!(!sessions.is_empty());
    for pid in &sessions {
        signal(*pid, rustix::process::Signal::STOP);
    }
    let frozen = Instant::now();
    let (code, out, _) = r.pilote(&["logs", &id, "--follow"]);
    let noticed = frozen.elapsed();
    for pid in &sessions {
        signal(*pid, rustix::process::Signal::KILL);
    }
    assert_eq!(code, 1, "{out}");
    let steps = r.steps(&id);
    assert!(
        steps[0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("ssh exited with 255"),
        "{steps:?}"
    );
    // 1 s × 2 keepalives, plus the time ssh takes to give up and pilote to record it.
    assert!(
        noticed < Duration::from_secs(8),
        "noticed after {noticed:?}"
    );
}

#[test]
fn cancel_stops_the_remote_command() {
    let r = Remote::new(1, "", "");
    let plan = r.plan("stall", "");
    let (code, out, err) = r.pilote(&["run", &plan, "--env", "test"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let id = run_id(&format!("{out}\n{err}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.sshd.remote_processes("sleep 30").is_empty() {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, out, err) = r.pilote(&["cancel", &id]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, _) = r.pilote(&["logs", &id, "--follow"]);
    assert_eq!(code, 3, "{out}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !r.sshd.remote_processes("sleep 30").is_empty() {
        assert!(
            Instant::now() < deadline,
            "left on the server: {:?}",
            r.sshd.remote_processes("sleep 30")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(pid: i32, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid).expect("pid");
    assert!(pid.as_raw_nonzero().get() > 1 && pid != rustix::process::getpid());
    let _ = rustix::process::kill_process(pid, sig);
}

#[test]
fn parameters_round_trip_byte_exact_through_ssh() {
    let r = Remote::new(1, "", "");
    let out_dir = r.sshd.dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    std::fs::set_permissions(
        &out_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let value = "it's \"quoted\" $(touch /tmp/pwned) `id` ; rm -rf / \\ \n second line\n\ttab";
    let toml_value = toml::Value::String(value.into()).to_string();
    let out_base = out_dir.join("value");
    let plan = r.plan(
        "echo",
        &format!(
            "[actions.with]\nvalue = {toml_value}\nout = \"{}\"\n",
            out_base.display()
        ),
    );
    let (code, out, err) = r.run_follow(&plan, "test");
    assert_eq!(code, 0, "{out}\n{err}");
    let written = std::fs::read(out_dir.join("value.h0")).expect("written remotely");
    assert_eq!(String::from_utf8_lossy(&written), value);
    assert!(!std::path::Path::new("/tmp/pwned").exists());
}

#[test]
fn a_script_exiting_255_is_not_taken_for_a_connection_failure() {
    let r = Remote::new(1, "", "");
    let plan = r.plan("code", "");
    let (code, out, _) = r.run_follow(&plan, "test");
    assert_eq!(code, 1, "{out}");
    let steps = r.steps(&run_id(&out));
    // The script's own 255, known from the wrapper's last line, not ssh's failure.
    assert_eq!(steps[0]["detail"], "exited with code 255", "{steps:?}");
    assert!(
        !out.contains("pilote-env-"),
        "the wrapper's marker reached the log: {out}"
    );
}

#[test]
fn strict_host_key_checking_refuses_an_unknown_host_key() {
    // What protected environments always get (src/engine/ssh.rs tests that), set here for
    // an environment ad-hoc runs may use.
    let r = Remote::new(1, "host_key_checking = \"yes\"\n", "");
    let plan = r.plan("hello", "");
    let (code, out, _) = r.run_follow(&plan, "lab");
    assert_eq!(code, 1, "{out}");
    let steps = r.steps(&run_id(&out));
    let detail = steps[0]["detail"].as_str().unwrap_or("");
    assert!(detail.starts_with("cannot connect to p0"), "{steps:?}");
    assert!(out.contains("Host key verification failed"), "{out}");
    // Once the key is known, the same run goes through.
    std::fs::write(
        r.sshd.dir.path().join("known_hosts"),
        r.sshd.known_hosts_line(&r.sshd.addresses[0]),
    )
    .expect("write known_hosts");
    let (code, out, _) = r.run_follow(&plan, "lab");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_host_behind_a_proxy_jump_works_from_the_ssh_config_alone() {
    let r = Remote::new(2, "", "");
    // `h1` is reached as `hidden`, a name only the ssh config knows, through `h0`'s server.
    r.behind_jump("h1", &r.sshd.addresses[1], &r.sshd.addresses[0]);
    let plan = r.plan("hello", "");
    let (code, out, err) = r.run_follow(&plan, "test");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("hello from h1"), "{out}");
    assert!(
        r.sshd.logs().contains("direct-tcpip"),
        "the jump host forwarded nothing"
    );
}

/// A package dir with one WAR, and a dir the remote user may write into.
fn package(r: &Remote) -> (PathBuf, PathBuf) {
    let pkg = r.home.path().join("pkg");
    std::fs::create_dir_all(&pkg).expect("mkdir");
    std::fs::write(
        pkg.join("app.war"),
        "the real application, version 2\n".repeat(1000),
    )
    .expect("write");
    let out = r.sshd.dir.path().join("deployed");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    (pkg, out)
}

/// Starts the `ship` plan (it waits at its gate), then lets `before_confirm` act.
fn ship(
    r: &Remote,
    pkg: &std::path::Path,
    out: &std::path::Path,
    before_confirm: impl FnOnce(),
) -> (i32, String, String) {
    let plan = r.plan(
        "ship",
        &format!(
            "[actions.with]\nwar = \"app.war\"\ndir = \"{}\"\n",
            out.display()
        ),
    );
    let pkg = pkg.display().to_string();
    let (code, out, err) = r.pilote(&["run", &plan, "--env", "test", "--package", &pkg]);
    assert_eq!(code, 0, "{out}\n{err}");
    let id = run_id(&format!("{out}\n{err}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, out, _) = r.pilote(&["runs", "--json"]);
        if out.contains("\"waiting\"") {
            break;
        }
        assert!(Instant::now() < deadline, "never waited at the gate: {out}");
        std::thread::sleep(Duration::from_millis(50));
    }
    before_confirm();
    let (code, out, err) = r.pilote(&["gate", &id, "--confirm"]);
    assert_eq!(code, 0, "{out}\n{err}");
    r.pilote(&["logs", &id, "--follow"])
}

#[test]
fn a_copy_reaches_every_host_with_its_digest_checked() {
    let r = Remote::new(3, "", "");
    let (pkg, out) = package(&r);
    let (code, log, _) = ship(&r, &pkg, &out, || {});
    assert_eq!(code, 0, "{log}");
    let sent = std::fs::read(pkg.join("app.war")).expect("read");
    for h in ["h0", "h1", "h2"] {
        let got = std::fs::read(out.join(h).join("app.war")).expect("copied");
        assert!(got == sent, "{h} got other bytes");
        assert!(
            log.contains(&format!("{h:<16} - copied app.war (sha256 ")),
            "{log}"
        );
    }
}

#[test]
fn a_package_altered_after_the_run_was_created_is_not_sent() {
    let r = Remote::new(1, "", "");
    let (pkg, out) = package(&r);
    let (code, log, _) = ship(&r, &pkg, &out, || {
        std::fs::write(pkg.join("app.war"), "a backdoored application\n").expect("tamper");
    });
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("app.war changed since run #1 was created: recorded sha256 "),
        "{log}"
    );
    assert!(!out.join("h0").exists(), "something was sent");
}

#[test]
fn a_copy_truncated_on_the_target_fails_the_after_check() {
    // On h1's address, the server's PATH starts with a `cat` that keeps 10 bytes only.
    let evil = tempfile::tempdir().expect("tmp");
    std::fs::write(evil.path().join("cat"), "#!/bin/sh\nhead -c 10\n").expect("write");
    for (p, mode) in [
        (evil.path().to_path_buf(), 0o755),
        (evil.path().join("cat"), 0o755),
    ] {
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .expect("chmod");
    }
    let r = Remote::new(
        2,
        "",
        &format!(
            "Match LocalAddress 127.0.0.3\n  SetEnv PATH={}:/usr/bin:/bin\n",
            evil.path().display()
        ),
    );
    let (pkg, out) = package(&r);
    let (code, log, _) = ship(&r, &pkg, &out, || {});
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("h1               ! digest mismatch on the target: sent "),
        "{log}"
    );
    assert!(out.join("h0/app.war").exists(), "h0 is unaffected");
    assert!(
        !out.join("h1/app.war").exists(),
        "a bad copy was left in place"
    );
    let steps = r.steps("1");
    assert!(
        steps.iter().any(|s| s["host"] == "h1"
            && s["detail"] == "the copy of app.war on h1 does not match its digest (see the log)"),
        "{steps:?}"
    );
}

/// A loopback HTTP server: `/ok` answers 200 `status: ok`; `/flap` alternates 200 and 503.
fn http_server() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut n = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let len = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..len]);
            n += 1;
            let status = if request.starts_with("GET /flap") && n % 2 == 0 {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let body = "status: ok";
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn http_checks_record_latency_and_availability_with_the_run() {
    let r = Remote::new(1, "", "");
    let base = http_server();
    let plan = r.plan("probe", &format!("[actions.with]\nurl = \"{base}/ok\"\n"));
    let (code, out, err) = r.run_follow(&plan, "test");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("4/4 ok"), "{out}");

    let plan = r.plan("probe", &format!("[actions.with]\nurl = \"{base}/flap\"\n"));
    let (code, out, _) = r.run_follow(&plan, "test");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("probe 2/4: 503"), "{out}");
    let db = rusqlite::Connection::open(r.dir.join("data/pilote.db")).expect("db");
    let rows: Vec<(i64, i64, f64)> = db
        .prepare("SELECT probes, ok, availability FROM http_checks ORDER BY step_run_id")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(rows, [(4, 4, 1.0), (4, 2, 0.5)]);
}

#[test]
fn a_process_left_running_does_not_hold_the_step() {
    // What the script started keeps the connection open, as a daemon started by a deploy
    // would: the step still ends, as a local one would, with its own exit code.
    let r = Remote::new(1, "", "");
    let plan = r.plan("daemon", "");
    let start = Instant::now();
    let (code, out, _) = r.run_follow(&plan, "test");
    assert_eq!(code, 0, "{out}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        out.contains("a process left running still held the output"),
        "{out}"
    );
}

#[test]
fn strict_host_key_checking_covers_a_proxy_jump_hop_too() {
    let r = Remote::new(2, "host_key_checking = \"yes\"\n", "");
    // lab's host is reached through h1's server as a jump host, whose key is unknown; the
    // operator's config would accept a new key (accept-new), pilote must not.
    r.behind_jump("p0", &r.sshd.addresses[0], &r.sshd.addresses[1]);
    std::fs::write(
        r.sshd.dir.path().join("known_hosts"),
        r.sshd.known_hosts_line(&r.sshd.addresses[0]),
    )
    .expect("write known_hosts");
    let plan = r.plan("hello", "");
    let (code, out, _) = r.run_follow(&plan, "lab");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cannot connect to p0 (hidden)"), "{out}");
    let known = std::fs::read_to_string(r.sshd.dir.path().join("known_hosts")).expect("read");
    assert!(
        !known.contains(&r.sshd.addresses[1]),
        "the hop's key was recorded: {known}"
    );
}
