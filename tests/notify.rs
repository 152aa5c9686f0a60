//! Webhooks end to end: the real binary on the demo, its detached deliverer, and an HTTP
//! receiver written here on 127.0.0.1 that answers, fails, or never answers.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{Home, run};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    /// When it came in, in ms since the epoch (the store's clock).
    at_ms: i64,
}

impl Received {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Ok,
    /// 500 (echoing the path it was called at, as some servers do) the first N times.
    FailFirst(usize),
    /// Reads the request and never answers.
    Hang,
    /// Answers with these status lines (and headers) in turn, then the last one forever.
    Answers(&'static [&'static str]),
}

/// A webhook receiver on 127.0.0.1: records every request, answers as its mode says.
struct Receiver {
    port: u16,
    got: Arc<(Mutex<Vec<Received>>, Condvar)>,
}

impl Receiver {
    fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let got = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let shared = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let got = shared.clone();
                std::thread::spawn(move || serve(stream, mode, &got));
            }
        });
        Self { port, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until `n` requests came in, and returns them in arrival order.
    fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let (lock, cond) = &*self.got;
        let deadline = Instant::now() + within;
        let mut got = lock.lock().expect("lock");
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "got {} of {n} requests: {got:#?}",
                got.len()
            );
            got = cond.wait_timeout(got, left).expect("wait").0;
        }
        got.clone()
    }

    fn received(&self) -> Vec<Received> {
        self.got.0.lock().expect("lock").clone()
    }
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_millis()).expect("ms")
}

/// Serves the requests of one connection (reqwest keeps connections alive).
fn serve(stream: TcpStream, mode: Mode, got: &(Mutex<Vec<Received>>, Condvar)) {
    let mut out = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let n = {
            let (lock, cond) = got;
            let mut got = lock.lock().expect("lock");
            got.push(Received {
                method,
                path: path.clone(),
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                at_ms: now_ms(),
            });
            cond.notify_all();
            got.len()
        };
        let (status, text) = match mode {
            Mode::Ok => ("200 OK", "ok".to_string()),
            Mode::Answers(list) => (list[(n - 1).min(list.len() - 1)], String::new()),
            Mode::FailFirst(k) if n <= k => {
                ("500 Internal Server Error", format!("no such hook: {path}"))
            }
            Mode::FailFirst(_) => ("200 OK", "ok".to_string()),
            Mode::Hang => {
                // Until the client gives up and closes the connection.
                let _ = reader.read(&mut [0; 1]);
                return;
            }
        };
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The demo, with `config` appended to its pilote.toml.
fn demo(config: &str) -> Home {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    append(&home, config);
    home
}

fn append(home: &Home, config: &str) {
    let path = home.path().join("config/pilote/pilote.toml");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, format!("{text}\n{config}")).expect("write");
}

fn data(home: &Home) -> PathBuf {
    home.path().join("data/pilote/workspaces/demo")
}

/// pilote as `ops`, with `env` set (the deliverer inherits it from the runner).
fn pilote(home: &Home, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = home.pilote();
    cmd.env("PILOTE_TEST_ACTOR", "ops:2003");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd.args(args))
}

fn ok(home: &Home, env: &[(&str, &str)], args: &[&str]) -> String {
    let (code, out, err) = pilote(home, env, args);
    assert_eq!(code, 0, "{args:?}: {out}{err}");
    out
}

/// The demo's plan on uat with the package from the drop dir, followed to its end.
fn deploy_uat(home: &Home, env: &[(&str, &str)]) {
    let package = data(home).join("drop/pets-1.4.0");
    let package = package.to_str().expect("utf8");
    ok(
        home,
        env,
        &[
            "run",
            "plans/pets-1.4.0.toml",
            "--env",
            "uat",
            "--package",
            package,
            "--follow",
        ],
    );
}

fn deliveries(home: &Home) -> Vec<serde_json::Value> {
    let out = ok(home, &[], &["notifications", "--json", "--limit", "100"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["deliveries"].as_array().expect("deliveries").clone()
}

/// Polls `pilote notifications --json` until `done` holds for the deliveries.
fn wait_deliveries(
    home: &Home,
    within: Duration,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    loop {
        let d = deliveries(home);
        if done(&d) {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never settled: {d:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
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

/// No file under the home (store, WAL, spool, state log, sandbox) holds `secret`.
fn assert_nowhere(home: &Home, secret: &str) {
    let mut files = Vec::new();
    collect(home.path(), &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("pilote.db")),
        "the store was searched"
    );
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the webhook's secret",
            f.display()
        );
    }
}

/// Times, durations and sequence numbers vary from run to run.
fn stable(text: &str) -> String {
    let mut text = text.to_string();
    for (pattern, with) in [
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]"),
        (r#""audit_seq": \d+"#, r#""audit_seq": [SEQ]"#),
        (
            r#""audit_hash": "[0-9a-f]{64}""#,
            r#""audit_hash": "[HASH]""#,
        ),
        (r#""duration_ms": \d+"#, r#""duration_ms": [MS]"#),
        (r" in (\d+(\.\d)?(ms|d|h|m|s))+\b", " in [DURATION]"),
    ] {
        let re = regex::Regex::new(pattern).expect("re");
        text = re.replace_all(&text, with).into_owned();
    }
    text
}

/// The body indented as it came, fields in the order sent (a `serde_json::Value` would
/// sort them, and the order of the generic body is part of its API).
fn pretty(r: &Received) -> String {
    r.json(); // valid JSON, first
    let (mut out, mut depth, mut in_str, mut escaped) = (String::new(), 0usize, false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    let chars: Vec<char> = r.body.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' if matches!(chars.get(i + 1), Some('}' | ']')) => out.push(c),
            '{' | '[' => {
                out.push(c);
                depth += 1;
                newline(&mut out, depth);
            }
            '}' | ']' if matches!(chars.get(i.wrapping_sub(1)), Some('{' | '[')) => out.push(c),
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn a_run_and_its_rollback_reach_both_formats() {
    let receiver = Receiver::start(Mode::Ok);
    let home = demo(&format!(
        "[webhooks.all]\nurl = \"{}\"\nformat = \"json\"\n\n\
         [webhooks.chat]\nurl_env = \"CHAT_HOOK\"\nformat = \"slack\"\n\
         events = [\"run.succeeded\", \"run.failed\", \"run.rolled_back\"]\n",
        receiver.url("/generic")
    ));
    let env = [("CHAT_HOOK", receiver.url("/hooks/chat"))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    deploy_uat(&home, &env);
    ok(
        &home,
        &env,
        &["rollback", "pets", "--env", "uat", "--yes", "--follow"],
    );
    // json: started, succeeded, started, rolled back; chat: succeeded, rolled back.
    let got = receiver.wait_for(6, Duration::from_secs(20));
    let generic: Vec<&Received> = got.iter().filter(|r| r.path == "/generic").collect();
    let chat: Vec<&Received> = got.iter().filter(|r| r.path == "/hooks/chat").collect();
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(
            r.header("user-agent")
                .is_some_and(|u| u.starts_with("pilote/"))
        );
    }
    let events: Vec<String> = generic
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        events,
        [
            "run.started",
            "run.succeeded",
            "run.started",
            "run.rolled_back"
        ],
        "in order, one at a time"
    );
    insta::assert_snapshot!(
        "json_bodies",
        stable(
            &generic
                .iter()
                .map(|r| pretty(r))
                .collect::<Vec<_>>()
                .join("\n")
        )
    );
    insta::assert_snapshot!(
        "slack_bodies",
        stable(
            &chat
                .iter()
                .map(|r| pretty(r))
                .collect::<Vec<_>>()
                .join("\n")
        )
    );
    // The listing says what went where.
    let d = wait_deliveries(&home, Duration::from_secs(10), |d| {
        d.len() == 6 && d.iter().all(|x| x["state"] == "delivered")
    });
    assert!(
        d.iter()
            .all(|x| x["attempts"] == 1 && x["last_status"] == 200)
    );
    let (_, out, _) = pilote(&home, &[], &["notifications"]);
    assert!(out.contains("run.rolled_back  chat"), "{out}");
    let out = ok(&home, &[], &["notifications", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v["webhooks"][0]["target"],
        format!("http://127.0.0.1:{}/…", receiver.port),
        "the URL is shown masked"
    );
    assert_eq!(v["webhooks"][1]["target"], "$CHAT_HOOK");
    // Nothing more comes: each event was posted once.
    assert_eq!(receiver.received().len(), 6);
}

#[test]
fn a_receiver_failing_at_first_gets_the_delivery_on_a_retry_and_the_secret_stays_secret() {
    let secret = "SECRET-TOKEN-9f8e7d";
    let receiver = Receiver::start(Mode::FailFirst(2));
    let home = demo("[webhooks.chat]\nurl_env = \"CHAT_HOOK\"\nevents = [\"run.succeeded\"]\n");
    // Everything pilote logs goes to the state dir's file, searched below.
    common::edit(
        &home.path().join("config/pilote"),
        "pilote.toml",
        "level = \"info\"",
        "level = \"trace\"",
    );
    let url = receiver.url(&format!("/hooks/{secret}"));
    deploy_uat(&home, &[("CHAT_HOOK", &url)]);
    let got = receiver.wait_for(3, Duration::from_secs(20));
    // The same body each time: a receiver can tell a retry by its audit_seq.
    assert!(got.iter().all(|r| r.body == got[0].body));
    let d = wait_deliveries(&home, Duration::from_secs(10), |d| {
        d.first().is_some_and(|x| x["state"] == "delivered")
    });
    assert_eq!(d[0]["attempts"], 3);
    assert_eq!(
        d[0]["last_error"], "HTTP 500 Internal Server Error: no such hook: /…",
        "the echoed path is scrubbed"
    );
    // Retried after 1 s, then 2 s.
    let (first, delivered) = (
        d[0]["created_at"].as_i64().expect("created"),
        d[0]["delivered_at"].as_i64().expect("delivered"),
    );
    assert!(delivered - first >= 3000, "{d:#?}");
    let (_, out, err) = pilote(
        &home,
        &[("CHAT_HOOK", &url)],
        &["notifications", "test", "chat"],
    );
    assert!(
        out.starts_with("chat ($CHAT_HOOK = http://127.0.0.1:")
            && out.contains("/…, json): accepted, HTTP 200 in "),
        "{out}{err}"
    );
    assert_nowhere(&home, secret);
}

/// Every file under the state dir (the tracing log), as text.
fn state_log(home: &Home) -> String {
    let mut files = Vec::new();
    collect(&home.path().join("state"), &mut files);
    files
        .iter()
        .map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()).into_owned())
        .collect()
}

#[test]
fn a_url_env_webhook_waits_for_a_process_that_has_its_url() {
    let receiver = Receiver::start(Mode::Ok);
    let home = demo(
        "[webhooks.chat]\nurl_env = \"CHAT_HOOK\"\nevents = [\"run.succeeded\", \"run.rolled_back\"]\n",
    );
    let env = [("CHAT_HOOK", receiver.url("/hooks/chat"))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Nobody here has the URL: no deliverer is started for nothing, and the log says why.
    deploy_uat(&home, &[]);
    let spool: Vec<String> = std::fs::read_dir(data(&home).join("spool"))
        .expect("spool")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!spool.iter().any(|n| n.starts_with("notify")), "{spool:?}");
    assert!(
        state_log(&home).contains("this process cannot post to the webhook"),
        "the warning is logged"
    );
    // A deliverer started for another webhook queues chat's deliveries and leaves them
    // waiting, saying why, with no attempt counted.
    append(
        &home,
        &format!(
            "[webhooks.all]\nurl = \"{}\"\nevents = [\"run.rolled_back\"]\n",
            receiver.url("/all")
        ),
    );
    ok(
        &home,
        &[],
        &["rollback", "pets", "--env", "uat", "--yes", "--follow"],
    );
    let waiting = "waiting: environment variable CHAT_HOOK (url_env) is not set for the \
                   deliverer; `pilote notifications` run with $CHAT_HOOK set sends it";
    let d = wait_deliveries(&home, Duration::from_secs(20), |d| {
        d.len() == 3
            && d.iter().all(|x| {
                (x["webhook"] == "all" && x["state"] == "delivered")
                    || (x["webhook"] == "chat" && x["last_error"] == waiting)
            })
    });
    // It exits with them still waiting: they are not its work.
    let deadline = Instant::now() + Duration::from_secs(10);
    while deliverer_alive(&home) {
        assert!(Instant::now() < deadline, "the deliverer never exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    let chat: Vec<&serde_json::Value> = d.iter().filter(|x| x["webhook"] == "chat").collect();
    assert!(
        chat.iter()
            .all(|x| x["state"] == "pending" && x["attempts"] == 0),
        "{d:#?}"
    );
    let (code, out, err) = pilote(&home, &[], &["notifications"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(waiting), "{out}");
    assert!(
        err.contains(
            "webhook `chat`: environment variable CHAT_HOOK (url_env) is not set here: \
             its deliveries wait for a pilote run with it set"
        ),
        "{err}"
    );
    assert_eq!(receiver.received().len(), 1, "only `all` was posted to");
    // Listing from a shell that has the URL sends them, oldest first.
    ok(&home, &env, &["notifications"]);
    let got = receiver.wait_for(3, Duration::from_secs(20));
    let chat: Vec<String> = got
        .iter()
        .filter(|r| r.path == "/hooks/chat")
        .map(|r| r.json()["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(chat, ["run.succeeded", "run.rolled_back"]);
    let d = wait_deliveries(&home, Duration::from_secs(10), |d| {
        d.iter().all(|x| x["state"] == "delivered")
    });
    assert!(d.iter().all(|x| x["attempts"] == 1), "{d:#?}");
    // And a test says so before posting anything.
    let (code, out, err) = pilote(&home, &[], &["notifications", "test", "chat"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err.trim_end(),
        "error: webhook `chat`: environment variable CHAT_HOOK (url_env) is not set here; set it and try again"
    );
}

#[test]
fn a_hanging_receiver_never_slows_the_run_and_is_given_up() {
    let receiver = Receiver::start(Mode::Hang);
    let home = demo("");
    let say = home.path().join("config/pilote/plans/say.toml");
    std::fs::write(
        home.path().join("config/pilote/automations/say.toml"),
        "[say]\ndescription = \"Say hello\"\nchanges_state = false\n\
         [[say.steps]]\nname = \"say\"\nkind = \"shell\"\nscript = \"echo hello\"\n",
    )
    .expect("automation");
    std::fs::write(
        &say,
        "app = \"pets\"\n[[actions]]\nid = \"hello\"\ntitle = \"hello\"\nuses = \"say\"\nundo = \"none\"\n",
    )
    .expect("plan");
    let finished_at = |id: &str| {
        common::run_in(&ok(&home, &[], &["runs", "--json"]), id)["finished_at"]
            .as_i64()
            .expect("a finished run")
    };
    append(
        &home,
        &format!(
            "[webhooks.slow]\nurl = \"{}\"\nevents = [\"run.started\"]\ntimeout = \"8s\"\nattempts = 2\n",
            receiver.url("/slow")
        ),
    );
    let say = say.to_str().expect("utf8");
    let (code, out, err) = pilote(&home, &[], &["run", say, "--env", "uat", "--follow"]);
    assert_eq!(code, 0, "{out}{err}");
    // `run #N started` on stderr.
    let id = err
        .split_whitespace()
        .find_map(|w| w.strip_prefix('#'))
        .expect("run id");
    let end = finished_at(id);
    // Posted inline, "started" would have held the run for the whole 8 s timeout after the
    // post came in; posted aside, the run is over well before the receiver is given up on.
    let posted = receiver.wait_for(1, Duration::from_secs(20))[0].at_ms;
    assert!(
        end < posted + 8000,
        "the run finished {} ms after the hanging post came in",
        end - posted
    );
    let d = wait_deliveries(&home, Duration::from_secs(30), |d| {
        d.first().is_some_and(|x| x["state"] == "failed")
    });
    assert_eq!(d[0]["attempts"], 2);
    assert_eq!(d[0]["last_error"], "timed out after 8s");
    assert_eq!(receiver.received().len(), 2, "tried, then retried once");
    // Given up: the deliverer is gone.
    wait_deliverer_gone(&home);
}

#[test]
fn too_many_requests_and_a_request_timeout_are_retried_and_a_redirect_is_not_followed() {
    let busy = Receiver::start(Mode::Answers(&[
        "429 Too Many Requests\r\nRetry-After: 3",
        "408 Request Timeout",
        "200 OK",
    ]));
    let moved = Receiver::start(Mode::Answers(&["302 Found\r\nLocation: /new"]));
    let home = demo(&format!(
        "[webhooks.busy]\nurl = \"{}\"\nevents = [\"run.succeeded\"]\n\n\
         [webhooks.moved]\nurl = \"{}\"\nevents = [\"run.succeeded\"]\n",
        busy.url("/busy"),
        moved.url("/old")
    ));
    deploy_uat(&home, &[]);
    let got = busy.wait_for(3, Duration::from_secs(30));
    // The 429's Retry-After (3 s) over the first backoff (1 s); then 2 s after the 408.
    assert!(got[1].at_ms - got[0].at_ms >= 3000, "{got:#?}");
    assert!(got[2].at_ms - got[1].at_ms >= 2000, "{got:#?}");
    let d = wait_deliveries(&home, Duration::from_secs(10), |d| {
        d.len() == 2 && d.iter().all(|x| x["state"] != "pending")
    });
    let of = |name: &str| d.iter().find(|x| x["webhook"] == name).expect(name);
    assert_eq!(of("busy")["state"], "delivered");
    assert_eq!(of("busy")["attempts"], 3);
    assert_eq!(of("busy")["last_error"], "HTTP 408 Request Timeout");
    assert_eq!(of("moved")["state"], "failed");
    assert_eq!(of("moved")["attempts"], 1);
    assert_eq!(
        of("moved")["last_error"],
        "HTTP 302 Found (redirects are not followed: give the final URL)"
    );
    wait_deliverer_gone(&home);
    let paths: Vec<String> = moved.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/old"], "the redirect was not followed");
}

fn deliverer_alive(home: &Home) -> bool {
    let Ok(f) = std::fs::File::open(data(home).join("spool/notify.lock")) else {
        return false;
    };
    matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

#[test]
fn without_webhooks_no_deliverer_is_ever_started() {
    let home = demo("");
    deploy_uat(&home, &[]);
    ok(
        &home,
        &[],
        &["rollback", "pets", "--env", "uat", "--yes", "--follow"],
    );
    let spool = data(&home).join("spool");
    let names: Vec<String> = std::fs::read_dir(&spool)
        .expect("spool")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("run-")), "{names:?}");
    // The deliverer's stderr file is created before it is spawned.
    assert!(!names.iter().any(|n| n.starts_with("notify")), "{names:?}");
    assert!(deliveries(&home).is_empty());
}

/// The demo with a change board (alice, bob) whose one approval a hotfix needs on preprod,
/// and a webhook `board` (`target` is its `url = ...` or `url_env = ...` line) that gets
/// `request.approval_needed`.
fn board_demo(target: &str) -> Home {
    let home = demo(&format!(
        "[webhooks.board]\n{target}\nevents = [\"request.approval_needed\"]\n"
    ));
    let config = home.path().join("config/pilote");
    common::edit(
        &config,
        "lifecycles.toml",
        "[lifecycles.standard]",
        "[groups]\nchange-board = [\"alice\", \"bob\"]\n\n[lifecycles.standard]",
    );
    common::edit(
        &config,
        "lifecycles.toml",
        "require_previous_success = false",
        "require_previous_success = false\napprovers = \"change-board\"",
    );
    home
}

/// pilote as `who` (dev, alice, or else ops), with `env`; its stdout.
fn as_user(home: &Home, who: &str, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = home.pilote();
    cmd.env(
        "PILOTE_TEST_ACTOR",
        match who {
            "dev" => "dev:2001",
            "alice" => "alice:2002",
            _ => "ops:2003",
        },
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (code, out, err) = run(cmd.args(args));
    assert_eq!(code, 0, "{who} {args:?}: {out}{err}");
    out
}

/// Request #1: pets 1.4.0 as a hotfix, filed by dev (a draft).
fn file_hotfix(home: &Home, env: &[(&str, &str)]) {
    let drop = data(home).join("drop/pets-1.4.0");
    let drop = drop.to_str().expect("utf8");
    as_user(
        home,
        "dev",
        env,
        &[
            "vault",
            "import",
            drop,
            "--app",
            "pets",
            "--version",
            "1.4.0",
        ],
    );
    as_user(
        home,
        "dev",
        env,
        &[
            &common::filing("plans/pets-1.4.0.toml")[..],
            &["--kind", "hotfix"],
        ]
        .concat(),
    );
}

/// Waits until no deliverer holds the lease: what it was going to post is posted.
fn wait_deliverer_gone(home: &Home) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while deliverer_alive(home) {
        assert!(Instant::now() < deadline, "the deliverer never exited");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sequence number of the audit event `action` (the latest one).
fn audit_seq(home: &Home, action: &str) -> i64 {
    let out = ok(home, &[], &["audit", "--json", "--limit", "500"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["action"] == action)
        .filter_map(|e| e["seq"].as_i64())
        .max()
        .unwrap_or_else(|| panic!("no {action} in {v:#}"))
}

#[test]
fn approval_needed_is_posted_when_a_request_waits_for_approvers() {
    let receiver = Receiver::start(Mode::Ok);
    let home = board_demo(&format!("url = \"{}\"", receiver.url("/board")));
    // A hotfix goes to preprod first, which needs one approval from the change board.
    file_hotfix(&home, &[]);
    as_user(&home, "dev", &[], &["request", "submit", "1"]);
    let got = receiver.wait_for(1, Duration::from_secs(20));
    insta::assert_snapshot!("approval_needed", stable(&pretty(&got[0])));
    // A draft waits for no one: once the deliverer has read the trail up to the submit and
    // is gone, the submit is all that was posted about.
    wait_deliverer_gone(&home);
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(
        got[0].json()["audit_seq"],
        audit_seq(&home, "request.submitted")
    );
    // Once approved, preprod waits for no one: nothing is posted; after its deploy, prod does.
    as_user(
        &home,
        "alice",
        &[],
        &["request", "approve", "1", "--env", "preprod"],
    );
    as_user(
        &home,
        "ops",
        &[],
        &["deploy", "1", "--env", "preprod", "--yes", "--follow"],
    );
    let got = receiver.wait_for(2, Duration::from_secs(20));
    let prod = got[1].json();
    assert_eq!(prod["env"], "prod");
    assert_eq!(prod["approval"]["missing"], 1);
    assert_eq!(prod["approval"]["group"], serde_json::Value::Null);
    assert_eq!(
        prod["approval"]["command"],
        "pilote request approve 1 --env prod"
    );
    wait_deliverer_gone(&home);
    let got = receiver.received();
    assert_eq!(got.len(), 2, "{got:#?}");
}

#[test]
fn approval_needed_read_late_is_posted_once() {
    let receiver = Receiver::start(Mode::Ok);
    let home = board_demo("url_env = \"BOARD_HOOK\"");
    // Without the URL no deliverer starts: the trail is read all at once afterwards, when
    // the request already waits for prod.
    file_hotfix(&home, &[]);
    as_user(&home, "dev", &[], &["request", "submit", "1"]);
    as_user(
        &home,
        "alice",
        &[],
        &["request", "approve", "1", "--env", "preprod"],
    );
    as_user(
        &home,
        "ops",
        &[],
        &["deploy", "1", "--env", "preprod", "--yes", "--follow"],
    );
    let url = receiver.url("/board");
    ok(&home, &[("BOARD_HOOK", &url)], &["notifications"]);
    receiver.wait_for(1, Duration::from_secs(20));
    wait_deliverer_gone(&home);
    // The submit, the approval and the deploy all read as "prod waits": said once.
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:#?}");
    let body = got[0].json();
    assert_eq!(body["env"], "prod");
    assert_eq!(body["approval"]["given"], 0);
    assert_eq!(body["audit_seq"], audit_seq(&home, "request.submitted"));
}

#[test]
fn a_gate_waiting_says_what_it_asks_and_how_to_answer() {
    let receiver = Receiver::start(Mode::Ok);
    let home = demo(&format!(
        "[webhooks.ops]\nurl = \"{}\"\nformat = \"slack\"\nevents = [\"run.waiting\"]\n",
        receiver.url("/ops")
    ));
    let config = home.path().join("config/pilote");
    std::fs::write(
        config.join("automations/gate.toml"),
        "[ask]\ndescription = \"Ask\"\nchanges_state = false\n\
         [[ask.steps]]\nname = \"ask\"\nkind = \"gate\"\nprompt = \"<!channel> is the shop closed?\"\n",
    )
    .expect("automation");
    std::fs::write(
        config.join("plans/gate.toml"),
        "app = \"pets\"\n[[actions]]\nid = \"ask\"\ntitle = \"ask\"\nuses = \"ask\"\nundo = \"none\"\n",
    )
    .expect("plan");
    let id = ok(&home, &[], &["run", "plans/gate.toml", "--env", "uat"]);
    let id = id.trim();
    let got = receiver.wait_for(1, Duration::from_secs(20));
    let text = got[0].json()["text"].as_str().unwrap_or("").to_string();
    assert_eq!(
        text,
        format!(
            "[demo] run #{id} (adhoc) of pets on uat waits at a gate: &lt;!channel&gt; is the shop \
             closed? (`pilote gate {id} --confirm` or `--abort`)"
        )
    );
    ok(&home, &[], &["gate", id, "--confirm"]);
    ok(&home, &[], &["logs", id, "--follow"]);
}

#[test]
fn each_webhook_mistake_is_reported_at_once_without_the_url() {
    // With a mistake elsewhere in the file too: it hides none of the webhooks' ones.
    let home = demo(
        "[webhooks.a]\nurl = \"ftp://chat.example.com/hooks/abc123\"\nevents = [\"run.failed\", \"run.exploded\"]\n\n\
         [webhooks.b]\nurl = \"https://chat.example.com/hooks/abc123\"\nurl_env = \"B_HOOK\"\n\n\
         [webhooks.c]\nformat = \"json\"\n\n\
         [webhooks.d]\nurl_env = \"not-a-var\"\ntimeout = \"0s\"\nattempts = 0\n\n\
         [alertmanager]\nurl = \"nowhere\"\n",
    );
    let (code, out, err) = pilote(&home, &[], &["config", "check"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(!err.contains("abc123"), "{err}");
    insta::assert_snapshot!("config_mistakes", home.redact(&err));
}

#[test]
fn a_cancel_names_who_asked_and_a_dead_runner_is_announced_as_interrupted() {
    let receiver = Receiver::start(Mode::Ok);
    let home = demo(&format!(
        "[webhooks.oncall]\nurl = \"{}\"\nevents = [\"run.cancelled\", \"run.interrupted\"]\n",
        receiver.url("/oncall")
    ));
    let config = home.path().join("config/pilote");
    std::fs::write(
        config.join("automations/sleepy.toml"),
        "[sleepy]\ndescription = \"Sleep\"\nchanges_state = false\n\
         [[sleepy.steps]]\nname = \"sleep\"\nkind = \"shell\"\ntimeout = \"1m\"\n\
         script = 'echo $$ > \"$PILOTE_DATA_DIR/sleepy.pid\"; sleep 30'\n",
    )
    .expect("automation");
    std::fs::write(
        config.join("plans/sleepy.toml"),
        "app = \"pets\"\n[[actions]]\nid = \"zz\"\ntitle = \"zz\"\nuses = \"sleepy\"\nundo = \"none\"\n",
    )
    .expect("plan");
    let pid_file = data(&home).join("sleepy.pid");
    let start = || {
        let _ = std::fs::remove_file(&pid_file);
        let id = ok(&home, &[], &["run", "plans/sleepy.toml", "--env", "uat"]);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(p) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            {
                return (id.trim().to_string(), p);
            }
            assert!(Instant::now() < deadline, "the step never started");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Started by ops, cancelled by alice: alice is named.
    let (id, _) = start();
    let (code, out, err) = run(home
        .pilote()
        .env("PILOTE_TEST_ACTOR", "alice:2002")
        .args(["cancel", &id]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(pilote(&home, &[], &["logs", &id, "--follow"]).0, 3);
    let got = receiver.wait_for(1, Duration::from_secs(20));
    assert_eq!(
        got[0].json()["text"],
        format!("[demo] run #{id} (adhoc) of pets on uat was cancelled by alice")
    );
    assert_eq!(got[0].json()["run"]["started_by"], "ops");

    let (id, step) = start();
    let id = id.as_str();
    let out = ok(&home, &[], &["runs", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let runner = v["runs"][0]["runner_pid"].as_i64().expect("runner pid");
    let pid = |p: i64| {
        i32::try_from(p)
            .ok()
            .filter(|p| *p > 1)
            .and_then(rustix::process::Pid::from_raw)
            .expect("a child pid")
    };
    rustix::process::kill_process(pid(runner), rustix::process::Signal::KILL).expect("kill");
    // Whoever looks at the run next notices the runner is gone, and says so.
    let (code, _, _) = pilote(&home, &[], &["logs", id, "--follow"]);
    assert_eq!(code, 4);
    let got = receiver.wait_for(2, Duration::from_secs(20));
    let body = got[1].json();
    assert_eq!(body["event"], "run.interrupted");
    assert_eq!(
        body["text"],
        format!(
            "[demo] run #{id} (adhoc) of pets on uat was INTERRUPTED (its runner is gone): \
             `pilote resume {id}`, or `pilote rollback pets --env uat`"
        )
    );
    let _ =
        rustix::process::kill_process_group(pid(i64::from(step)), rustix::process::Signal::KILL);
}

#[test]
fn a_made_up_history_is_never_posted() {
    let receiver = Receiver::start(Mode::Ok);
    let home = demo(&format!(
        "[webhooks.all]\nurl = \"{}\"\n",
        receiver.url("/all")
    ));
    ok(&home, &[], &["demo", "--no-open", "--history", "1"]);
    deploy_uat(&home, &[]);
    let d = wait_deliveries(&home, Duration::from_secs(20), |d| {
        d.len() >= 2 && d.iter().all(|x| x["state"] == "delivered")
    });
    let events: Vec<&str> = d
        .iter()
        .map(|x| x["event"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(events, ["run.succeeded", "run.started"], "newest first");
    assert_eq!(receiver.received().len(), 2);
}
