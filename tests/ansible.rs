//! The `ansible` step end to end: the real binary and the real `ansible-playbook` (Debian's
//! ansible-core) over `connection = "local"` hosts of a copy of the demo workspace.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::workspace::Ws;
use common::{Home, edit, run};
use sha2::Digest as _;

/// Whether ansible is installed; says so when it is not (CI installs it: see `.ci/run`).
fn ansible() -> bool {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join("ansible-playbook").is_file());
    if !found {
        eprintln!("skipped: ansible-playbook is not on PATH (install the `ansible` package)");
    }
    found
}

const HOSTS: [&str; 3] = ["uat-jboss-1", "uat-jboss-2", "uat-jboss-3"];

/// A host var no YAML or Jinja should change: quotes, a template, a newline, characters YAML
/// reads as line breaks, non-ASCII.
const ODD: &str = "a{{ 7*7 }}'\"\\ $(x) {% raw %}\nnext\u{85}\u{2028}é😀";

/// The demo's config with uat's `war` domain on three local hosts and the test's automation
/// and playbooks.
impl Ws {
    fn new(automation: &str, playbooks: &[(&str, &str)]) -> Self {
        let ws = Ws::demo_config();
        let (home, dir) = (&ws.home, &ws.dir);
        edit(
            dir,
            "inventory.toml",
            "war = [\"uat-jboss-1\"]",
            "war = [\"uat-jboss-1\", \"uat-jboss-2\", \"uat-jboss-3\"]",
        );
        let mut inv = std::fs::read_to_string(dir.join("inventory.toml")).expect("read");
        inv.push_str(&format!(
            "\n[hosts.uat-jboss-2]\nconnection = \"local\"\n[hosts.uat-jboss-3]\nconnection = \"local\"\n\
             [hosts.uat-jboss-1.vars]\nrack = {}\n",
            toml_string(ODD)
        ));
        std::fs::write(dir.join("inventory.toml"), inv).expect("write");
        std::fs::write(dir.join("automations/ansible.toml"), automation).expect("write");
        std::fs::create_dir_all(dir.join("playbooks")).expect("mkdir");
        for (name, text) in playbooks {
            std::fs::write(dir.join("playbooks").join(name), text).expect("write");
        }
        std::fs::create_dir_all(home.path().join("out")).expect("mkdir");
        ws
    }

    fn out(&self) -> PathBuf {
        self.home.path().join("out")
    }

    fn plan(&self, uses: &str, with: &str) -> String {
        let text = format!(
            "app = \"pets\"\n[[actions]]\nid = \"a0\"\ntitle = \"{uses}\"\nuses = \"{uses}\"\nundo = \"none\"\nundo_reason = \"a test\"\nwith = {{ {with} }}\n"
        );
        let path = self.dir.join(format!("plans/{uses}.toml"));
        std::fs::write(&path, text).expect("write plan");
        path.display().to_string()
    }

    /// (host, state, detail) of every step run of `run`, the playbook's own row first.
    fn rows(&self, run: &str) -> Vec<(String, String, String)> {
        let conn = rusqlite::Connection::open(self.data().join("pilote.db")).expect("db");
        let mut stmt = conn
            .prepare("SELECT host, state, coalesce(detail, '') FROM step_runs WHERE run_id = ?1 ORDER BY host, id")
            .expect("prepare");
        stmt.query_map([run.parse::<i64>().expect("run id")], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    }
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `pilote logs` lines as (who, marker, text).
fn log_lines(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .filter_map(|l| {
            let (_time, rest) = l.split_once(' ')?;
            let (who, rest) = rest.split_once(' ')?;
            let rest = rest.trim_start();
            let (marker, text) = rest.split_at(rest.find(' ').unwrap_or(rest.len()));
            Some((
                who.to_string(),
                marker.to_string(),
                text.strip_prefix(' ').unwrap_or(text).to_string(),
            ))
        })
        .collect()
}

/// Processes left of a step: any whose command line names `needle`, zombies aside.
fn survivors(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next().map(str::to_string));
            state.is_some_and(|s| s != "Z")
        })
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(needle).then_some(cmd)
        })
        .collect()
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

fn automation(name: &str, playbook: &str, extra: &str, params: &str) -> String {
    format!(
        "[{name}]\ndescription = \"Run {playbook}\"\ndomain = \"war\"\n{params}\n[[{name}.steps]]\nname = \"playbook\"\nkind = \"ansible\"\nplaybook = \"playbooks/{playbook}\"\n{extra}\n"
    )
}

const DEPLOY: &str = r#"
- hosts: war
  gather_facts: false
  tasks:
    - name: first
      debug:
        msg: "first on {{ inventory_hostname }}"
    - name: wait for the test
      wait_for:
        path: "{{ out }}/go"
        timeout: 60
    - name: write what it was given
      copy:
        content: "{{ value }}|{{ rack | default('') }}|{{ pilote_run }} {{ pilote_app }} {{ pilote_env }} {{ pilote_domain }} {{ lookup('env', 'VALUE') == value }}"
        dest: "{{ out }}/{{ inventory_hostname }}"
"#;

#[test]
fn a_playbook_runs_on_each_host_and_streams_its_output_live() {
    if !ansible() {
        return;
    }
    let ws = Ws::new(
        &automation(
            "deploy",
            "deploy.yml",
            "timeout = \"2m\"",
            "[deploy.params.value]\ntype = \"string\"\n[deploy.params.out]\ntype = \"path\"\n",
        ),
        &[("deploy.yml", DEPLOY)],
    );
    let value = "it's \"quoted\" {{ 6*7 }} $(touch /tmp/pilote-pwned) `id`\nline two";
    let plan = ws.plan(
        "deploy",
        &format!(
            "value = {}, out = {}",
            toml_string(value),
            toml_string(&ws.out().display().to_string())
        ),
    );
    let (code, id, err) = ws.pilote(&["run", &plan, "--env", "uat"]);
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    // The first task's lines are in the log while the playbook waits for the test: live.
    let during = ws.wait_log(&id, "first on uat-jboss-3");
    assert!(!during.contains("PLAY RECAP"), "{during}");
    std::fs::write(ws.out().join("go"), "").expect("go");
    let (code, out, err) = ws.pilote(&["logs", &id, "--follow"]);
    assert_eq!(code, 0, "{out}{err}");

    // Every host got the values exactly as given, none of them templated.
    for h in HOSTS {
        let got = std::fs::read_to_string(ws.out().join(h)).expect("written by the playbook");
        let rack = if h == "uat-jboss-1" { ODD } else { "" };
        assert_eq!(got, format!("{value}|{rack}|{id} pets uat war True"), "{h}");
    }
    assert!(!Path::new("/tmp/pilote-pwned").exists());

    assert_eq!(
        ws.rows(&id),
        [
            ("".into(), "succeeded".into(), "".into()),
            (
                "uat-jboss-1".into(),
                "succeeded".into(),
                "ok=3 changed=1".into()
            ),
            (
                "uat-jboss-2".into(),
                "succeeded".into(),
                "ok=3 changed=1".into()
            ),
            (
                "uat-jboss-3".into(),
                "succeeded".into(),
                "ok=3 changed=1".into()
            ),
        ]
    );
    // Result lines, their details and recap lines carry their host; the rest is the playbook's.
    let lines = log_lines(&out);
    let has = |who: &str, text: &str| {
        lines
            .iter()
            .any(|(w, m, t)| w == who && m == "|" && t.trim_start().starts_with(text))
    };
    assert!(has("uat-jboss-2", "ok: [uat-jboss-2] => {"), "{out}");
    assert!(
        has("uat-jboss-2", "\"msg\": \"first on uat-jboss-2\""),
        "{out}"
    );
    assert!(has("uat-jboss-3", "changed: [uat-jboss-3]"), "{out}");
    assert!(
        has("uat-jboss-1", "uat-jboss-1                : ok=3"),
        "{out}"
    );
    assert!(has("pilote", "TASK [write what it was given]"), "{out}");
    assert!(has("pilote", "PLAY RECAP"), "{out}");

    // Nothing of ansible's is left in the home or the spool.
    let mut files = Vec::new();
    collect(ws.home.path(), &mut files);
    let stray: Vec<&PathBuf> = files
        .iter()
        .filter(|f| {
            let s = f.display().to_string();
            s.contains(".ansible") || s.contains("/spool/ansible-")
        })
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

const BREAK_ONE: &str = r#"
- hosts: war
  gather_facts: false
  tasks:
    - name: break one host
      command: /bin/false
      when: inventory_hostname == 'uat-jboss-2'
    - name: carry on
      command: /bin/true
"#;

#[test]
fn a_host_failing_fails_the_step_past_max_failures_only() {
    if !ansible() {
        return;
    }
    let ws = Ws::new(
        &format!(
            "{}{}",
            automation("strict", "break.yml", "max_failures = 0", ""),
            automation("tolerant", "break.yml", "max_failures = 1", "")
        ),
        &[("break.yml", BREAK_ONE)],
    );
    let hosts = |detail2: &str| {
        vec![
            (
                "uat-jboss-1".to_string(),
                "succeeded".to_string(),
                "ok=1 changed=1".to_string(),
            ),
            (
                "uat-jboss-2".to_string(),
                "failed".to_string(),
                detail2.to_string(),
            ),
            (
                "uat-jboss-3".to_string(),
                "succeeded".to_string(),
                "ok=1 changed=1".to_string(),
            ),
        ]
    };

    let plan = ws.plan("strict", "");
    let (code, out, err) = ws.pilote(&["run", &plan, "--env", "uat", "--follow"]);
    assert_eq!(code, 1, "{out}{err}");
    let why = "1 of 3 hosts failed: uat-jboss-2 (failed=1)";
    assert!(
        out.contains(&format!("run failed: action `a0`, step `playbook`: {why}")),
        "{out}"
    );
    let rows = ws.rows("1");
    assert_eq!(rows[0], ("".into(), "failed".into(), why.into()));
    assert_eq!(rows[1..], hosts("failed=1"));

    let plan = ws.plan("tolerant", "");
    let (code, out, err) = ws.pilote(&["run", &plan, "--env", "uat", "--follow"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "step `playbook`: 1 of 3 hosts failed, within max_failures = 1: uat-jboss-2 (failed=1)"
        ),
        "{out}"
    );
    let rows = ws.rows("2");
    assert_eq!(rows[0], ("".into(), "succeeded".into(), "".into()));
    assert_eq!(rows[1..], hosts("failed=1"));
}

#[test]
fn a_timeout_stops_ansible_and_everything_it_started() {
    if !ansible() {
        return;
    }
    let ws = Ws::new(
        &automation("slow", "slow.yml", "timeout = \"10s\"", ""),
        &[(
            "slow.yml",
            "- hosts: war\n  gather_facts: false\n  tasks:\n    - command: sleep 61\n",
        )],
    );
    let plan = ws.plan("slow", "");
    let started = Instant::now();
    let (code, id, err) = ws.pilote(&["run", &plan, "--env", "uat"]);
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    // The task's processes must be seen running, or the check below would prove nothing.
    // Ansible takes seconds to start on a loaded 2-core machine: the timeout leaves it room.
    let deadline = Instant::now() + Duration::from_secs(10);
    while survivors("sleep 61").len() < HOSTS.len() {
        assert!(
            Instant::now() < deadline,
            "the playbook never reached its task before the timeout"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, out, err) = ws.pilote(&["logs", &id, "--follow"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        out.contains("step `playbook`: timed out after 10s"),
        "{out}"
    );
    let rows = ws.rows(&id);
    assert_eq!(rows[0].1, "timed_out");
    for (host, state, detail) in &rows[1..] {
        assert_eq!(
            (state.as_str(), detail.as_str()),
            ("timed_out", "the playbook timed out before its recap"),
            "{host}"
        );
    }
    let home = ws.home.path().display().to_string();
    assert_eq!(survivors(&home), Vec::<String>::new());
    assert_eq!(survivors("sleep 61"), Vec::<String>::new());
}

#[test]
fn cancel_stops_the_playbook_and_leaves_no_host_succeeded() {
    if !ansible() {
        return;
    }
    let ws = Ws::new(
        &automation("slow", "slow.yml", "timeout = \"1m\"", ""),
        &[(
            "slow.yml",
            "- hosts: war\n  gather_facts: false\n  tasks:\n    - command: sleep 62\n",
        )],
    );
    let plan = ws.plan("slow", "");
    let (code, id, err) = ws.pilote(&["run", &plan, "--env", "uat"]);
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while survivors("sleep 62").len() < HOSTS.len() {
        assert!(
            Instant::now() < deadline,
            "the playbook never reached its task"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let asked = Instant::now();
    assert_eq!(ws.pilote(&["cancel", &id]).0, 0);
    let (code, out, _) = ws.pilote(&["logs", &id, "--follow"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "cancel took {:?}",
        asked.elapsed()
    );
    let rows = ws.rows(&id);
    assert!(
        rows.iter().all(|(_, state, _)| state == "cancelled"),
        "{rows:?}"
    );
    assert_eq!(rows.len(), 1 + HOSTS.len());
    let home = ws.home.path().display().to_string();
    assert_eq!(survivors(&home), Vec::<String>::new());
    assert_eq!(survivors("sleep 62"), Vec::<String>::new());
}

#[test]
fn a_secret_reaches_the_playbook_through_the_environment_only() {
    if !ansible() {
        return;
    }
    let secret = "s3cr3t-Ans1ble-9d2c41";
    let sha = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    let ws = Ws::new(
        &automation(
            "secret",
            "secret.yml",
            "",
            "[secret.params.token]\ntype = \"secret\"\n[secret.params.sha]\ntype = \"string\"\n",
        ),
        &[(
            "secret.yml",
            "- hosts: war\n  gather_facts: false\n  tasks:\n    - name: the token is there\n      assert:\n        that: \"lookup('env', 'TOKEN') | hash('sha256') == sha\"\n    - name: and not as a variable\n      assert:\n        that: \"token is not defined\"\n",
        )],
    );
    let plan = ws.plan(
        "secret",
        &format!("token = {{ env = \"PILOTE_TEST_TOKEN\" }}, sha = \"{sha}\""),
    );
    let (code, out, err) = run(ws
        .home
        .pilote()
        .env("PILOTE_TEST_TOKEN", secret)
        .arg("--workspace")
        .arg(&ws.dir)
        .args(["run", &plan, "--env", "uat", "--follow"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("All assertions passed"), "{out}");
    let mut files = Vec::new();
    collect(ws.home.path(), &mut files);
    assert!(files.iter().any(|f| f.ends_with("pilote.db")));
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in {}",
            f.display()
        );
    }
}

#[test]
fn a_crash_around_the_playbook_then_resume_runs_it_once_per_host() {
    if !ansible() {
        return;
    }
    for point in ["step_started#1", "step_ran#1"] {
        let ws = Ws::new(
            &automation(
                "count",
                "count.yml",
                "",
                "[count.params.out]\ntype = \"path\"\n",
            ),
            &[(
                "count.yml",
                "- hosts: war\n  gather_facts: false\n  tasks:\n    - shell: echo ran >> \"{{ out }}/count-{{ inventory_hostname }}\"\n",
            )],
        );
        let plan = ws.plan(
            "count",
            &format!("out = {}", toml_string(&ws.out().display().to_string())),
        );
        let (code, id, err) = run(ws
            .home
            .pilote()
            .env("PILOTE_CRASH_AT", point)
            .arg("--workspace")
            .arg(&ws.dir)
            .args(["run", &plan, "--env", "uat"]));
        assert_eq!(code, 0, "{point}: {err}");
        let id = id.trim().to_string();
        let (code, out, _) = ws.pilote(&["logs", &id, "--follow"]);
        assert_eq!(code, 4, "{point}: the run is interrupted: {out}");
        // Only the playbook's own row is in doubt: the hosts' rows are all or nothing.
        let rows = ws.rows(&id);
        assert_eq!(rows[0].1, "unknown", "{point}: {rows:?}");
        assert!(
            rows[1..].iter().all(|(_, s, _)| s == "succeeded"),
            "{point}: {rows:?}"
        );
        let (code, out, err) = ws.pilote(&["resume", &id, "--follow"]);
        assert_eq!(code, 0, "{point}: {out}{err}");
        for h in HOSTS {
            let ran =
                std::fs::read_to_string(ws.out().join(format!("count-{h}"))).unwrap_or_default();
            assert_eq!(
                ran.lines().count(),
                1,
                "{point}: the playbook ran {ran:?} on {h}"
            );
        }
    }
}

#[test]
fn a_playbook_that_cannot_start_says_why() {
    if !ansible() {
        return;
    }
    let ws = Ws::new(
        &format!(
            "{}{}",
            automation("missing", "missing.yml", "", ""),
            automation("broken", "broken.yml", "", "")
        ),
        &[(
            "broken.yml",
            "- hosts: war\n  tasks:\n    - debug: msg=x\n     oops: [\n",
        )],
    );
    let plan = ws.plan("missing", "");
    let (code, out, _) = ws.pilote(&["run", &plan, "--env", "uat", "--follow"]);
    assert_eq!(code, 1, "{out}");
    let failed = out
        .lines()
        .find(|l| l.contains("run failed"))
        .map(|l| ws.home.redact(&l[9..]))
        .unwrap_or_default();
    insta::assert_snapshot!(failed, @"pilote           - run failed: action `a0`, step `playbook`: playbook [HOME]/ws/playbooks/missing.yml not found (a relative path is taken from the workspace config dir [HOME]/ws)");
    assert_eq!(ws.rows("1").len(), 1, "no host row before ansible starts");

    let plan = ws.plan("broken", "");
    let (code, out, _) = ws.pilote(&["run", &plan, "--env", "uat", "--follow"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("step `playbook`: ansible-playbook exited with code 4 before its play recap: ERROR! We were unable to read either as JSON nor YAML"),
        "{out}"
    );
    let rows = ws.rows("2");
    assert_eq!(rows.len(), 1 + HOSTS.len());
    for (host, state, detail) in &rows[1..] {
        assert_eq!(
            (state.as_str(), detail.as_str()),
            (
                "failed",
                "ansible-playbook exited with code 4 without a play recap"
            ),
            "{host}"
        );
    }
}

#[test]
fn ssh_hosts_get_pilotes_ssh_options_and_unreachable_ones_are_told_apart() {
    if !ansible() {
        return;
    }
    let sshd = common::sshd::Sshd::start(1, "");
    let home = Home::new();
    let dir = home.path().join("ws");
    std::fs::create_dir_all(dir.join("automations")).expect("mkdir");
    std::fs::create_dir_all(dir.join("plans")).expect("mkdir");
    std::fs::write(
        dir.join("pilote.toml"),
        format!(
            "name = \"remote\"\ndata_dir = \"data\"\n[ssh]\nconfig = \"{}\"\n",
            sshd.client_config().display()
        ),
    )
    .expect("write");
    // h1 answers nowhere: its port is closed.
    std::fs::write(
        dir.join("inventory.toml"),
        format!(
            "[apps.site]\nlifecycles = [\"std\"]\n[apps.site.domains.web]\n\
             [envs.test.apps.site]\nweb = [\"h0\", \"h1\"]\n\
             [hosts.h0]\naddress = \"{}\"\n[hosts.h1]\naddress = \"127.0.0.1\"\nport = 1\n",
            sshd.addresses[0]
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("lifecycles.toml"),
        "[[lifecycles.std.stages]]\nenv = \"test\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("automations/remote.toml"),
        automation("who", "who.yml", "max_failures = 1", "")
            .replace("domain = \"war\"", "domain = \"web\""),
    )
    .expect("write");
    std::fs::create_dir_all(dir.join("playbooks")).expect("mkdir");
    std::fs::write(
        dir.join("playbooks/who.yml"),
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - command: id -un\n      register: who\n    - debug:\n        msg: \"{{ who.stdout }} on {{ inventory_hostname }}\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("plans/who.toml"),
        "app = \"site\"\n[[actions]]\nid = \"a\"\ntitle = \"who\"\nuses = \"who\"\nundo = \"none\"\nundo_reason = \"a test\"\n",
    )
    .expect("write");
    let (code, out, err) = run(home.pilote().arg("--workspace").arg(&dir).args([
        "run",
        dir.join("plans/who.toml").to_str().expect("utf8"),
        "--env",
        "test",
        "--follow",
    ]));
    assert_eq!(code, 0, "{out}{err}\n{}", sshd.logs());
    let user = &sshd.user;
    assert!(
        log_lines(&out).iter().any(|(who, _, text)| who == "h0"
            && text.trim_start() == format!("\"msg\": \"{user} on h0\"")),
        "{out}"
    );
    assert!(
        out.contains("1 of 2 hosts failed, within max_failures = 1: h1 (unreachable)"),
        "{out}"
    );
    let db = rusqlite::Connection::open(dir.join("data/pilote.db")).expect("db");
    let (runner, h1): (i64, String) = db
        .query_row(
            "SELECT runner_pid, (SELECT state || ' ' || detail FROM step_runs WHERE host = 'h1') FROM runs WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("run");
    assert_eq!(h1, "failed unreachable");
    // ansible's own masters (ControlPersist) do not outlive the step.
    assert_eq!(survivors(&format!("/{runner}-r1/")), Vec::<String>::new());
}

#[test]
fn ansible_step_mistakes_point_at_the_automation_file() {
    let home = Home::new();
    let dir = home.demo_config();
    std::fs::write(
        dir.join("automations/broken.toml"),
        r#"
[no-playbook]
description = "No playbook, no domain, a placeholder nobody defines"
[[no-playbook.steps]]
name = "play"
kind = "ansible"
tags = "${stage}"

[tags-elsewhere]
domain = "war"
[[tags-elsewhere.steps]]
name = "shell"
kind = "shell"
script = "true"
tags = "deploy"
"#,
    )
    .expect("write");
    let (code, _, err) = run(home
        .pilote()
        .arg("--workspace")
        .arg(&dir)
        .args(["config", "check"]));
    assert_eq!(code, 2);
    insta::assert_snapshot!(home.redact(&err));
}

#[test]
fn plan_show_lists_the_hosts_a_playbook_runs_on() {
    let ws = Ws::new(
        &automation(
            "deploy",
            "deploy.yml",
            "tags = \"${env}\"\nparallelism = 2",
            "",
        ),
        &[("deploy.yml", DEPLOY)],
    );
    let plan = ws.plan("deploy", "");
    let (code, out, err) = ws.pilote(&["plan", "show", &plan, "--env", "uat"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(ws.home.redact(&out));
}

/// `--workspace` relative to where pilote is started: the playbook is found and run, not
/// looked for under its own dir a second time (`ws/playbooks/ws/playbooks/hello.yml`).
#[test]
fn a_playbook_runs_from_a_relative_workspace_dir() {
    if !ansible() {
        return;
    }
    let ws = Ws::new(
        &automation("hello", "hello.yml", "", ""),
        &[(
            "hello.yml",
            "- hosts: war\n  gather_facts: false\n  tasks:\n    - debug:\n        msg: hello\n",
        )],
    );
    std::fs::write(
        ws.dir.join("plans/hello.toml"),
        "app = \"pets\"\n[[actions]]\nid = \"a0\"\ntitle = \"hello\"\nuses = \"hello\"\n\
         undo = \"none\"\nundo_reason = \"a test\"\n",
    )
    .expect("plan");
    let (code, out, err) = run(ws.home.pilote().current_dir(ws.home.path()).args([
        "--workspace",
        "ws",
        "run",
        "plans/hello.toml",
        "--env",
        "uat",
        "--follow",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("run succeeded"), "{out}");
}
