//! Monitoring silences against a real Alertmanager on loopback: opened over a run's targets,
//! expired however the run ends, retried when Alertmanager is down, recovered after a crash.

mod common;

use std::time::{Duration, Instant};

use common::alertmanager::Alertmanager;
use common::workspace::Ws;
use common::{edit, run};

const AUTOMATIONS: &str = r#"
[mute]
description = "Silence the JBoss hosts"
domain = "war"
changes_state = false
[[mute.steps]]
name = "silence"
kind = "silence"
duration = "30m"
comment = "pets ${version} going out"

[unmute]
description = "End the silence of the JBoss hosts"
domain = "war"
changes_state = false
[[unmute.steps]]
name = "unsilence"
kind = "unsilence"

[ask]
description = "Wait for a person"
changes_state = false
[[ask.steps]]
name = "ask"
kind = "gate"
prompt = "go on?"

[boom]
description = "Fail"
changes_state = false
[[boom.steps]]
name = "fail"
kind = "shell"
script = "exit 3"

[hello]
description = "Say hello"
changes_state = false
[[hello.steps]]
name = "hello"
kind = "shell"
script = "echo hello"
"#;

impl Ws {
    /// The demo config with the test automations and `[alertmanager]` at `url` (none if `None`).
    fn new(url: Option<&str>) -> Self {
        let ws = Ws::demo_config();
        let dir = &ws.dir;
        std::fs::write(dir.join("automations/silences.toml"), AUTOMATIONS).expect("write");
        if let Some(url) = url {
            let mut settings = std::fs::read_to_string(dir.join("pilote.toml")).expect("read");
            settings.push_str(&format!(
                "\n[alertmanager]\nurl = \"{url}\"\nmatchers = ['instance=~\"(${{hosts}})(:[0-9]+)?\"', 'app=\"${{app}}\"']\n\n\
                 [alertmanager.envs.preprod]\nmatchers = ['host=~\"${{hosts}}\"', 'env=\"${{env}}\"', 'pilote_run=\"${{run}}\"']\n"
            ));
            std::fs::write(dir.join("pilote.toml"), settings).expect("write");
        }
        ws
    }

    /// A plan of these automations, in order; `undo` per action.
    fn plan(&self, actions: &[(&str, &str)]) -> String {
        let mut text = String::from("app = \"pets\"\n[vars]\nversion = \"1.4.0\"\n");
        for (i, (uses, undo)) in actions.iter().enumerate() {
            text.push_str(&format!(
                "[[actions]]\nid = \"a{i}-{uses}\"\ntitle = \"{uses}\"\nuses = \"{uses}\"\nundo = \"{undo}\"\n"
            ));
        }
        let path = self.dir.join("plans/silences.toml");
        std::fs::write(&path, text).expect("write plan");
        path.display().to_string()
    }
}

fn comment(s: &serde_json::Value) -> String {
    s["comment"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_silence_covers_the_targets_while_the_run_deploys_and_ends_with_it() {
    let am = Alertmanager::start();
    let ws = Ws::new(Some(&am.url()));
    let plan = ws.plan(&[("mute", "none"), ("ask", "none"), ("unmute", "none")]);
    let id = ws.start(&plan, "preprod");
    ws.wait_state(&id, "waiting");

    let active = am.in_state("active");
    assert_eq!(active.len(), 1, "{active:#?}");
    let s = &active[0];
    // preprod's own matchers: its two JBoss hosts, as an escaped regex alternation.
    let matchers: Vec<String> = s["matchers"]
        .as_array()
        .expect("matchers")
        .iter()
        .map(|m| {
            format!(
                "{}{}{}",
                m["name"].as_str().unwrap_or(""),
                if m["isRegex"] == true { "=~" } else { "=" },
                m["value"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        matchers,
        [
            r"host=~preprod\-jboss\-1|preprod\-jboss\-2".to_string(),
            "env=preprod".to_string(),
            format!("pilote_run={id}"),
        ]
    );
    let c = comment(s);
    // The marker: the run and the store's identity (8 hex digits), then what the run is.
    let marker = c
        .strip_prefix(&format!("pets 1.4.0 going out [pilote run #{id} of "))
        .unwrap_or_else(|| panic!("{c}"));
    let (store, rest) = marker.split_once(':').expect("marker");
    assert!(
        store.len() == 8 && store.chars().all(|c| c.is_ascii_hexdigit()),
        "{c}"
    );
    assert!(rest.starts_with(" adhoc of pets on preprod by "), "{c}");
    assert!(
        s["createdBy"]
            .as_str()
            .unwrap_or("")
            .starts_with("pilote ("),
        "{s}"
    );
    let span = |s: &serde_json::Value| {
        let t = |k: &str| {
            s[k].as_str()
                .unwrap_or("")
                .parse::<jiff::Timestamp>()
                .expect("time")
        };
        t("endsAt").duration_since(t("startsAt")).as_secs()
    };
    assert!((1790..=1800).contains(&span(s)), "a 30m silence: {s}");
    let (_, listed, _) = ws.pilote(&["silences"]);
    let sid = s["id"].as_str().expect("id");
    assert!(
        listed.contains(sid) && listed.contains(" war ") && listed.contains(" open "),
        "{listed}"
    );

    let (code, out, err) = ws.pilote(&["gate", &id, "--confirm"]);
    assert_eq!(code, 0, "{out}{err}");
    ws.wait_state(&id, "succeeded");
    assert!(am.in_state("active").is_empty(), "{}", ws.logs(&id));
    assert_eq!(am.in_state("expired").len(), 1);
    assert_eq!(
        ws.pilote(&["silences"]).1.trim(),
        "no silence of pilote's is open"
    );
    let (_, listed, _) = ws.pilote(&["silences", "--run", &id, "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed["silences"][0]["state"], "expired");
    assert_eq!(listed["silences"][0]["silence_id"], sid);
    let logs = ws.logs(&id);
    assert!(logs.contains("silenced alerts matching host=~"), "{logs}");
    assert!(logs.contains("expired in http://127.0.0.1:"), "{logs}");
}

#[test]
fn a_silence_is_expired_when_the_run_fails_or_is_cancelled() {
    let am = Alertmanager::start();
    let ws = Ws::new(Some(&am.url()));

    // No unsilence step is ever reached: the run's end expires it.
    let plan = ws.plan(&[("mute", "none"), ("boom", "none"), ("unmute", "none")]);
    let (code, out, err) = ws.pilote(&["run", &plan, "--env", "uat", "--follow"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(am.in_state("active").is_empty(), "{}", ws.logs("1"));
    let expired = am.in_state("expired");
    assert_eq!(expired.len(), 1);
    // uat has no matchers of its own: the workspace's, over its one JBoss host.
    assert_eq!(
        expired[0]["matchers"][0]["value"],
        r"(uat\-jboss\-1)(:[0-9]+)?"
    );
    assert_eq!(expired[0]["matchers"][1]["value"], "pets");

    let plan = ws.plan(&[("mute", "none"), ("ask", "none"), ("unmute", "none")]);
    let id = ws.start(&plan, "uat");
    ws.wait_state(&id, "waiting");
    assert_eq!(am.in_state("active").len(), 1);
    let (code, out, err) = ws.pilote(&["cancel", &id]);
    assert_eq!(code, 0, "{out}{err}");
    ws.wait_state(&id, "cancelled");
    assert!(am.in_state("active").is_empty(), "{}", ws.logs(&id));
    assert_eq!(am.in_state("expired").len(), 2);
}

#[test]
fn with_alertmanager_down_the_run_goes_on_and_the_silence_is_retried() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let url = format!("http://127.0.0.1:{port}");
    let ws = Ws::new(Some(&url));
    let plan = ws.plan(&[("mute", "none"), ("ask", "none"), ("unmute", "none")]);
    let id = ws.start(&plan, "uat");
    ws.wait_state(&id, "waiting");
    ws.wait_log(
        &id,
        &format!(
            "warning: Alertmanager {url} did not take the silence (cannot connect); the deployment goes on"
        ),
    );

    // It comes back while the run waits: the silence is created by a retry.
    let am = Alertmanager::start_on(port);
    am.wait_for("an active silence", |s| {
        s.iter()
            .filter(|s| s["status"]["state"] == "active")
            .count()
            == 1
    });
    let (code, out, err) = ws.pilote(&["gate", &id, "--confirm"]);
    assert_eq!(code, 0, "{out}{err}");
    ws.wait_state(&id, "succeeded");
    assert!(am.in_state("active").is_empty(), "{}", ws.logs(&id));
    let logs = ws.logs(&id);
    assert!(
        logs.contains(&format!("opened in {url} at attempt")),
        "{logs}"
    );
}

#[test]
fn a_silence_alertmanager_cannot_expire_is_said_to_end_by_itself() {
    let mut am = Alertmanager::start();
    let ws = Ws::new(Some(&am.url()));
    let plan = ws.plan(&[("mute", "none"), ("ask", "none")]);
    let id = ws.start(&plan, "uat");
    ws.wait_state(&id, "waiting");
    assert_eq!(am.in_state("active").len(), 1);
    am.stop();
    let (code, out, err) = ws.pilote(&["gate", &id, "--confirm"]);
    assert_eq!(code, 0, "{out}{err}");
    // The run still ends, and says what is left open and until when.
    ws.wait_state(&id, "succeeded");
    let logs = ws.logs(&id);
    assert!(
        logs.contains("could not be expired in http://127.0.0.1:"),
        "{logs}"
    );
    assert!(logs.contains("it ends by itself at "), "{logs}");
}

#[test]
fn a_hanging_alertmanager_costs_the_run_seconds_not_its_deployment() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for s in listener.incoming().take(16) {
            open.push(s);
        }
    });
    let ws = Ws::new(Some(&url));
    let plan = ws.plan(&[("mute", "none"), ("hello", "none"), ("unmute", "none")]);
    let started = Instant::now();
    let (code, out, err) = ws.pilote(&["run", &plan, "--env", "uat", "--follow"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("hello"), "{out}");
    assert!(
        out.contains("did not take the silence (no answer within 5 s)"),
        "{out}"
    );
    // One 5 s attempt, and nothing waits on the retries once the run is over.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    drop(held);
}

#[test]
fn a_resumed_run_expires_what_its_dead_runner_left_and_silences_again() {
    let am = Alertmanager::start();
    let ws = Ws::new(Some(&am.url()));
    let plan = ws.plan(&[("mute", "none"), ("ask", "none"), ("unmute", "none")]);
    // The runner dies right after Alertmanager created the silence, before it recorded the
    // id: only the marker in the comment tells which silence is the run's.
    let (code, out, err) = run(ws
        .home
        .pilote()
        .env("PILOTE_CRASH_AT", "silence_opened#1")
        .arg("--workspace")
        .arg(&ws.dir)
        .args(["run", &plan, "--env", "uat"]));
    assert_eq!(code, 0, "{out}{err}");
    let id = out.trim().to_string();
    am.wait_for("the dead runner's silence", |s| s.len() == 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while ws.pilote(&["resume", &id]).0 != 0 {
        assert!(Instant::now() < deadline, "run {id} never became resumable");
        std::thread::sleep(Duration::from_millis(100));
    }
    ws.wait_state(&id, "waiting");
    let active = am.in_state("active");
    assert_eq!(
        active.len(),
        1,
        "one silence, the resumed run's: {:#?}",
        am.silences()
    );
    assert_eq!(am.in_state("expired").len(), 1, "the dead runner's");
    let (code, out, err) = ws.pilote(&["gate", &id, "--confirm"]);
    assert_eq!(code, 0, "{out}{err}");
    ws.wait_state(&id, "succeeded");
    assert!(am.in_state("active").is_empty(), "{}", ws.logs(&id));
    assert!(
        ws.logs(&id)
            .contains("left 1 silence(s) open: expiring them")
    );
}

#[test]
fn a_recovery_never_expires_the_silence_of_another_workspace_with_the_same_run_number() {
    let am = Alertmanager::start();
    // Two jump hosts watching one Alertmanager: both have a run #1.
    let a = Ws::new(Some(&am.url()));
    let b = Ws::new(Some(&am.url()));
    let plan_b = b.plan(&[("mute", "none"), ("ask", "none"), ("unmute", "none")]);
    let id_b = b.start(&plan_b, "uat");
    b.wait_state(&id_b, "waiting");
    let theirs = am.in_state("active");
    assert_eq!(theirs.len(), 1);

    let plan_a = a.plan(&[("mute", "none"), ("ask", "none"), ("unmute", "none")]);
    let (code, out, err) = run(a
        .home
        .pilote()
        .env("PILOTE_CRASH_AT", "silence_opened#1")
        .arg("--workspace")
        .arg(&a.dir)
        .args(["run", &plan_a, "--env", "uat"]));
    assert_eq!(code, 0, "{out}{err}");
    let id_a = out.trim().to_string();
    assert_eq!(id_a, id_b);
    am.wait_for("a's stray silence", |s| s.len() == 2);
    let deadline = Instant::now() + Duration::from_secs(20);
    while a.pilote(&["resume", &id_a]).0 != 0 {
        assert!(
            Instant::now() < deadline,
            "run {id_a} never became resumable"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    a.wait_state(&id_a, "waiting");
    // a's stray is gone, a's new silence and b's are there.
    let active = am.in_state("active");
    assert_eq!(active.len(), 2, "{active:#?}");
    assert!(
        active.iter().any(|s| s["id"] == theirs[0]["id"]),
        "b's silence was expired: {active:#?}"
    );
    assert_eq!(am.in_state("expired").len(), 1);
    for (ws, id) in [(&a, &id_a), (&b, &id_b)] {
        assert_eq!(ws.pilote(&["gate", id, "--confirm"]).0, 0);
        ws.wait_state(id, "succeeded");
    }
    assert!(am.in_state("active").is_empty(), "{:#?}", am.silences());
}

#[test]
fn a_silence_someone_else_expired_is_recorded_as_over_without_a_warning() {
    let am = Alertmanager::start();
    let ws = Ws::new(Some(&am.url()));
    let plan = ws.plan(&[("mute", "none"), ("ask", "none"), ("unmute", "none")]);
    let id = ws.start(&plan, "uat");
    ws.wait_state(&id, "waiting");
    let active = am.in_state("active");
    am.expire(active[0]["id"].as_str().expect("id"));
    assert_eq!(ws.pilote(&["gate", &id, "--confirm"]).0, 0);
    ws.wait_state(&id, "succeeded");
    let logs = ws.logs(&id);
    assert!(!logs.contains("warning:"), "{logs}");
    let (_, listed, _) = ws.pilote(&["silences", "--run", &id, "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed["silences"][0]["state"], "expired");
}

#[test]
fn rolling_back_an_interrupted_run_expires_its_silence() {
    let am = Alertmanager::start();
    let ws = Ws::new(Some(&am.url()));
    let plan = ws.plan(&[("mute", "unmute"), ("ask", "none")]);
    let id = ws.start(&plan, "uat");
    let r = ws.wait_state(&id, "waiting");
    assert_eq!(am.in_state("active").len(), 1);
    let pid = r["runner_pid"].as_i64().expect("runner pid");
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, out, err) =
            ws.pilote(&["rollback", "pets", "--env", "uat", "--yes", "--follow"]);
        if code == 0 {
            assert!(
                out.contains("left 1 silence(s) open: expiring them"),
                "{out}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no rollback: {out}{err}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(am.in_state("active").is_empty(), "{}", ws.logs(&id));
}

#[test]
fn without_alertmanager_a_silence_step_warns_and_the_run_goes_on() {
    let ws = Ws::new(None);
    let (code, out, err) = ws.pilote(&["config", "check"]);
    assert_eq!(code, 0, "{out}{err}");
    let text = format!("{out}{err}");
    assert!(
        text.contains(
            "automation `mute` has a `silence` step, but pilote.toml has no [alertmanager]"
        ),
        "{text}"
    );
    let plan = ws.plan(&[("mute", "none"), ("hello", "none")]);
    let (code, out, err) = ws.pilote(&["run", &plan, "--env", "uat", "--follow"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("warning: pilote.toml has no [alertmanager]: no alert is silenced"),
        "{out}"
    );
}

#[test]
fn bad_alertmanager_settings_are_all_reported_with_their_place() {
    let ws = Ws::new(None);
    let mut settings = std::fs::read_to_string(ws.dir.join("pilote.toml")).expect("read");
    settings.push_str(
        "\n[alertmanager]\nurl = \"alertmanager:9093\"\nmatchers = ['instance=~\"(${hosts})\"', 'app', 'team=\"${owner}\"']\n\n\
         [alertmanager.envs.production]\nmatchers = []\n",
    );
    std::fs::write(ws.dir.join("pilote.toml"), settings).expect("write");
    edit(
        &ws.dir,
        "automations/silences.toml",
        "duration = \"30m\"",
        "duration = \"3d\"",
    );
    let (code, out, err) = ws.pilote(&["config", "check"]);
    assert_eq!(code, 2, "{out}{err}");
    insta::assert_snapshot!(ws.home.redact(&format!("{out}{err}")));
}
