//! Tests of the ansible step.

use super::*;

fn host(name: &str, connection: Connection) -> settings::Host {
    settings::Host {
        name: name.into(),
        connection,
        address: name.into(),
        user: None,
        port: None,
        vars: IndexMap::new(),
        shared: false,
    }
}

fn watch(output: &str, hosts: &[&str]) -> (Watcher, Vec<(Option<String>, String)>) {
    let mut w = Watcher::new(hosts.iter().map(|h| h.to_string()));
    let tagged = output
        .lines()
        .map(|l| (w.see(l, false), l.to_string()))
        .collect();
    (w, tagged)
}

fn counts(host: &str, c: [u32; 7]) -> HostResult {
    HostResult {
        host: host.into(),
        ok: c[0],
        changed: c[1],
        unreachable: c[2],
        failed: c[3],
        skipped: c[4],
        rescued: c[5],
        ignored: c[6],
    }
}

// Fixtures: the output of ansible-core 2.14.18 (Debian 12), captured as pilote runs it.

#[test]
fn the_recap_of_a_mixed_run_gives_each_host_its_result() {
    let out = include_str!("../fixtures/ansible/mixed.out");
    let (w, _) = watch(out, &["web-1", "web-2", "web-3", "db-9"]);
    assert_eq!(
        w.recap().expect("recap"),
        &[
            counts("db-9", [1, 0, 1, 0, 0, 0, 0]),
            counts("web-1", [3, 2, 0, 0, 2, 0, 1]),
            counts("web-2", [2, 1, 0, 1, 0, 0, 0]),
            counts("web-3", [2, 0, 0, 0, 3, 1, 0]),
        ]
    );
    let hosts: Vec<String> = ["web-1", "web-2", "web-3", "db-9", "web-4"]
        .iter()
        .map(|h| h.to_string())
        .collect();
    let ends = host_ends(&hosts, &Outcome::Exited { code: 4 }, w.recap());
    let got: Vec<(&str, &str, &str)> = ends
        .iter()
        .map(|e| (e.host.as_str(), e.state, e.detail.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("web-1", "succeeded", "ok=3 changed=2 ignored=1"),
            ("web-2", "failed", "failed=1"),
            ("web-3", "succeeded", "ok=2 changed=0 rescued=1"),
            ("db-9", "failed", "unreachable"),
            (
                "web-4",
                "failed",
                "not in the play recap: the play never reached it"
            ),
        ]
    );
    assert_eq!(
        verdict(&ends, 4, &w, 2),
        Err((
            "failed",
            Some(4),
            "3 of 5 hosts failed: web-2 (failed=1), db-9 (unreachable), web-4 (not in the play recap: the play never reached it)".into()
        ))
    );
    assert_eq!(
        verdict(&ends, 4, &w, 3),
        Ok(Some("3 of 5 hosts failed, within max_failures = 3: web-2 (failed=1), db-9 (unreachable), web-4 (not in the play recap: the play never reached it)".into()))
    );
}

#[test]
fn result_lines_and_their_details_are_tagged_with_their_host() {
    let out = include_str!("../fixtures/ansible/mixed.out");
    let (_, tagged) = watch(out, &["web-1", "web-2", "web-3", "db-9"]);
    let tag = |line: &str| {
        tagged
            .iter()
            .find(|(_, l)| l == line)
            .map(|(h, _)| h.clone())
            .unwrap_or_else(|| panic!("no line {line:?}"))
    };
    assert_eq!(tag("ok: [web-1] => {"), Some("web-1".into()));
    assert_eq!(
        tag("    \"msg\": \"hello from web-2\""),
        Some("web-2".into())
    );
    assert_eq!(tag("skipping: [web-3]"), Some("web-3".into()));
    assert_eq!(tag("...ignoring"), Some("web-1".into()));
    assert_eq!(
        tag("TASK [break web-2] *************************************************************"),
        None
    );
    assert_eq!(tag(""), None);
    assert!(
        tagged
            .iter()
            .any(|(h, l)| l.starts_with("fatal: [db-9]: UNREACHABLE!")
                && h.as_deref() == Some("db-9"))
    );
    assert!(
        tagged
            .iter()
            .any(|(h, l)| l.starts_with("web-2      ") && h.as_deref() == Some("web-2")),
        "recap lines carry their host"
    );
}

#[test]
fn loops_delegation_and_retries_belong_to_the_host_of_the_task() {
    let out = include_str!("../fixtures/ansible/partial.out");
    let (w, tagged) = watch(out, &["web-1", "web-2", "web-3"]);
    let host_of = |prefix: &str| {
        tagged
            .iter()
            .find(|(_, l)| l.starts_with(prefix))
            .and_then(|(h, _)| h.clone())
    };
    assert_eq!(host_of("ok: [web-2] => (item=a)"), Some("web-2".into()));
    assert_eq!(host_of("changed: [web-1 -> web-3]"), Some("web-1".into()));
    assert_eq!(host_of("FAILED - RETRYING: [web-2]"), Some("web-2".into()));
    // The play targeted web-1 and web-2 only: web-3 never ran it.
    let hosts: Vec<String> = ["web-1", "web-2", "web-3"]
        .iter()
        .map(|h| h.to_string())
        .collect();
    let ends = host_ends(&hosts, &Outcome::Exited { code: 2 }, w.recap());
    let states: Vec<&str> = ends.iter().map(|e| e.state).collect();
    assert_eq!(states, ["succeeded", "failed", "failed"]);
}

#[test]
fn no_recap_fails_every_host_with_ansibles_error() {
    for (fixture, error) in [
        (
            include_str!("../fixtures/ansible/syntax.out"),
            "ERROR! We were unable to read either as JSON nor YAML, these are the errors we got from each:",
        ),
        (
            include_str!("../fixtures/ansible/module.out"),
            "ERROR! couldn't resolve module/action 'no_such_module_xyz'. This often indicates a misspelling, missing collection, or incorrect module path.",
        ),
    ] {
        let mut w = Watcher::new(["web-1".to_string()]);
        for l in fixture.lines() {
            w.see(l, true);
        }
        assert!(w.recap().is_none());
        let hosts = ["web-1".to_string()];
        let ends = host_ends(&hosts, &Outcome::Exited { code: 4 }, w.recap());
        assert_eq!(ends[0].state, "failed");
        assert_eq!(
            verdict(&ends, 4, &w, 5),
            Err((
                "failed",
                Some(4),
                format!("ansible-playbook exited with code 4 before its play recap: {error}")
            ))
        );
    }
}

#[test]
fn a_stopped_playbook_never_marks_a_host_succeeded() {
    let hosts = ["a".to_string(), "b".to_string()];
    // Even with a recap in hand (a playbook that printed one as it was stopped).
    let recap = [counts("a", [1, 0, 0, 0, 0, 0, 0])];
    for (outcome, state) in [
        (Outcome::TimedOut, "timed_out"),
        (Outcome::Cancelled, "cancelled"),
    ] {
        let ends = host_ends(&hosts, &outcome, Some(&recap));
        assert!(ends.iter().all(|e| e.state == state), "{ends:?}");
    }
    let ends = host_ends(&hosts, &Outcome::Signalled { signal: 9 }, Some(&recap));
    assert!(ends.iter().all(|e| e.state == "failed"), "{ends:?}");
}

#[test]
fn an_error_exit_with_a_clean_recap_still_fails() {
    let (w, _) = watch(
        "PLAY RECAP ***\na                          : ok=1    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   \n",
        &["a"],
    );
    let ends = host_ends(&["a".to_string()], &Outcome::Exited { code: 1 }, w.recap());
    assert_eq!(ends[0].state, "succeeded");
    assert!(verdict(&ends, 1, &w, 0).is_err());
    assert_eq!(verdict(&ends, 0, &w, 0), Ok(None));
}

#[test]
fn inventory_quotes_every_value_and_marks_it_unsafe() {
    let mut odd = host("web-1", Connection::Local);
    odd.vars.insert(
        "rack".into(),
        "a{{ 7*7 }}'\"\\ $(x)\nnext\u{85}\u{2028}é😀".into(),
    );
    let mut remote = host("db-1", Connection::Ssh);
    remote.address = "10.0.0.7".into();
    remote.user = Some("deploy".into());
    remote.port = Some(2222);
    remote.vars.insert(
        "ansible_python_interpreter".into(),
        "/opt/py/bin/python3".into(),
    );
    let local = Local {
        python: "/usr/bin/python3".into(),
        remote_tmp: "/data/spool/ansible-1-2/remote-tmp".into(),
    };
    insta::assert_snapshot!(inventory("war", &[&odd, &remote], &local), @r#"
    # Written by pilote for one ansible step; removed when the step ends.
    "war":
      hosts:
        "web-1":
          "ansible_host": !unsafe "web-1"
          "ansible_connection": !unsafe "local"
          "ansible_python_interpreter": !unsafe "/usr/bin/python3"
          "ansible_remote_tmp": !unsafe "/data/spool/ansible-1-2/remote-tmp"
          "rack": !unsafe "a{{ 7*7 }}'\"\\ $(x)\u000Anext\u0085\u2028\u00E9\U0001F600"
        "db-1":
          "ansible_host": !unsafe "10.0.0.7"
          "ansible_connection": !unsafe "ssh"
          "ansible_user": !unsafe "deploy"
          "ansible_port": 2222
          "ansible_python_interpreter": !unsafe "/opt/py/bin/python3"
    "#);
}

#[test]
fn no_secret_reaches_the_argv_or_a_file() {
    use crate::core::expand::ResolvedParam;
    use crate::core::value::{ParamType, SecretRef};
    let action = ExpandedAction {
        id: "deploy".into(),
        title: "Deploy".into(),
        automation: "war-deploy".into(),
        domain: Some("war".into()),
        hosts: vec!["web-1".into()],
        params: vec![
            ResolvedParam {
                name: "version".into(),
                env_var: "VERSION".into(),
                ty: ParamType::String,
                value: Value::Text("1.4.0".into()),
                source: "with",
            },
            ResolvedParam {
                name: "replicas".into(),
                env_var: "REPLICAS".into(),
                ty: ParamType::Integer,
                value: Value::Integer(3),
                source: "with",
            },
            ResolvedParam {
                name: "token".into(),
                env_var: "TOKEN".into(),
                ty: ParamType::Secret,
                value: Value::Secret(SecretRef::Env("DEPLOY_TOKEN".into())),
                source: "with",
            },
        ],
        steps: Vec::new(),
    };
    let vars = vars_file(&extra_vars(&action, 7, "pets", "uat"));
    insta::assert_snapshot!(vars, @r#"
    # Written by pilote for one ansible step; removed when the step ends.
    "pilote_run": 7
    "pilote_app": !unsafe "pets"
    "pilote_env": !unsafe "uat"
    "pilote_action": !unsafe "deploy"
    "pilote_domain": !unsafe "war"
    "version": !unsafe "1.4.0"
    "replicas": 3
    "#);
    // The runner gives the secret's value as $TOKEN in the environment; nothing else.
    let secret = "s3cr3t-value";
    let s = spec(Invocation {
        program: Path::new("/usr/bin/ansible-playbook"),
        playbook: Path::new("/ws/playbooks/deploy.yml"),
        inventory: Path::new("/spool/a/inventory.yml"),
        vars: Path::new("/spool/a/vars.yml"),
        forks: 10,
        tags: Some("deploy,check"),
        env: vec![("TOKEN".into(), secret.into())],
        timeout: Duration::from_secs(60),
    });
    let argv: Vec<String> = s
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        argv,
        [
            "-i",
            "/spool/a/inventory.yml",
            "-e",
            "@/spool/a/vars.yml",
            "--forks",
            "10",
            "--tags",
            "deploy,check",
            "/ws/playbooks/deploy.yml"
        ]
    );
    assert!(!argv.iter().any(|a| a.contains(secret)) && !vars.contains(secret));
    assert_eq!(s.cwd.as_deref(), Some(Path::new("/ws/playbooks")));
    let no_forks = spec(Invocation {
        forks: 0,
        tags: None,
        ..Invocation {
            program: Path::new("/p"),
            playbook: Path::new("/pb.yml"),
            inventory: Path::new("/i"),
            vars: Path::new("/v"),
            forks: 0,
            tags: None,
            env: Vec::new(),
            timeout: Duration::from_secs(1),
        }
    });
    assert_eq!(no_forks.args.len(), 5, "0 leaves ansible's own forks");
}

#[test]
fn nothing_is_written_to_the_operators_home() {
    let env = environment(
        Path::new("/spool/a"),
        Some(&SshEnv {
            args: ssh_args(
                &settings::Ssh {
                    config: None,
                    connect_timeout: Duration::from_secs(10),
                    keepalive_interval: Duration::from_secs(15),
                    keepalive_count: 3,
                    host_key_checking: HostKeyChecking::AcceptNew,
                },
                HostKeyChecking::Yes,
                Path::new("/run/pilote/1-r2/config"),
            ),
            control_dir: "/run/pilote/1-r2/a9".into(),
            connect_timeout: Duration::from_secs(10),
        }),
    );
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("ANSIBLE_HOME"), Some("/spool/a/home"));
    assert_eq!(get("ANSIBLE_LOCAL_TEMP"), Some("/spool/a/tmp"));
    assert_eq!(
        get("ANSIBLE_SSH_CONTROL_PATH_DIR"),
        Some("/run/pilote/1-r2/a9")
    );
    assert_eq!(
        get("ANSIBLE_SSH_ARGS"),
        Some(
            "-F '/run/pilote/1-r2/config' -o BatchMode=yes -o ConnectTimeout=10 \
             -o ServerAliveInterval=15 -o ServerAliveCountMax=3 \
             -o StrictHostKeyChecking=yes -o ControlMaster=auto -o ControlPersist=60s"
        ),
        "a protected env's checking wins over the settings"
    );
    assert_eq!(get("ANSIBLE_NOCOLOR"), Some("1"));
    assert_eq!(get("PYTHONUNBUFFERED"), Some("1"));
}

#[test]
fn the_python_comes_from_the_shebang() {
    let none = |_: &str| None;
    let found = |n: &str| Some(PathBuf::from(format!("/opt/bin/{n}")));
    assert_eq!(
        python_of_shebang("#! /usr/bin/python3\nimport x", none),
        Some("/usr/bin/python3".into())
    );
    assert_eq!(
        python_of_shebang("#!/usr/bin/python3.11 -I\n", none),
        Some("/usr/bin/python3.11".into())
    );
    assert_eq!(
        python_of_shebang("#!/usr/bin/env python3\n", found),
        Some("/opt/bin/python3".into())
    );
    assert_eq!(
        python_of_shebang("#!/usr/bin/env -S python3 -I\n", found),
        Some("/opt/bin/python3".into())
    );
    assert_eq!(python_of_shebang("#!/bin/sh\n", found), None);
    assert_eq!(python_of_shebang("\u{7f}ELF", found), None);
}
