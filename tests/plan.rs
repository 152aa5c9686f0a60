//! Plans as code: checking, expansion, the derived rollback, and the automation catalog.

mod common;

use std::path::{Path, PathBuf};

use common::{Home, edit, run};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/plans")
        .join(name)
}

/// Runs pilote on a copy of the demo config; returns (code, stdout, stderr) with paths redacted.
fn pilote(home: &Home, ws: &Path, args: &[&str]) -> (i32, String, String) {
    let (code, out, err) = run(home.pilote().arg("--workspace").arg(ws).args(args));
    assert!(!err.contains("panicked"), "panic: {err}");
    let fixtures = fixture("").display().to_string();
    let clean = |s: &str| home.redact(s).replace(&fixtures, "[FIXTURES]/");
    (code, clean(&out), clean(&err))
}

#[test]
fn demo_plan_checks_clean_for_every_environment() {
    let home = Home::new();
    let ws = home.demo_config();
    let (code, out, err) = pilote(
        &home,
        &ws,
        &["plan", "check", "plans/pets-1.4.0.toml", "--strict"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ok, 8 actions and a rollback of 5, checked for uat, preprod, prod"),
        "{out}"
    );
    assert!(err.is_empty(), "no warning expected: {err}");
}

#[test]
fn demo_plan_show_lists_steps_hosts_and_the_rollback() {
    let home = Home::new();
    let ws = home.demo_config();
    let (code, out, err) = pilote(
        &home,
        &ws,
        &["plan", "show", "plans/pets-1.4.0.toml", "--env", "prod"],
    );
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn whitepaper_plan_yields_the_whitepaper_rollback() {
    let home = Home::new();
    let ws = home.demo_config();
    let (code, out, err) = pilote(
        &home,
        &ws,
        &[
            "plan",
            "show",
            "plans/pets-1.4.0.toml",
            "--env",
            "uat",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let titles = |part: &str| -> Vec<String> {
        v[part]["batches"]
            .as_array()
            .expect("batches")
            .iter()
            .flat_map(|b| b["actions"].as_array().expect("actions").iter())
            .map(|a| a["title"].as_str().expect("title").to_string())
            .collect()
    };
    assert_eq!(
        titles("plan"),
        [
            "Back up the JBoss app and verify the package",
            "Back up the database and verify the package",
            "Partial backup of the DataStage project and verify the package",
            "Stop the JBoss instances",
            "Run the SQL script",
            "Deploy the WAR",
            "Start the JBoss instances",
            "Deploy the DataStage project",
        ]
    );
    // The whitepaper: "stop JBoss, run the rollback SQL script, deploy the backup WAR,
    // start JBoss, deploy the DataStage backup".
    assert_eq!(
        titles("rollback"),
        [
            "Stop the JBoss instances",
            "Run the rollback SQL script",
            "Deploy the backup WAR",
            "Start the JBoss instances",
            "Deploy the DataStage backup",
        ]
    );
    // "Deploy the DataStage project" is itself: check, transfer, import, compile.
    let ds = &v["plan"]["batches"][4]["actions"][0];
    let steps: Vec<&str> = ds["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "check disk space and instance availability",
            "transfer the package",
            "import the project",
            "compile the batches"
        ]
    );
    assert_eq!(ds["steps"][1]["hosts"][0], "uat-ds");
}

#[test]
fn every_mistake_is_reported_at_once() {
    let home = Home::new();
    let ws = home.demo_config();
    // An automation for a domain the pets app does not have.
    std::fs::write(
        ws.join("automations/cache.toml"),
        "[cache-flush]\ndomain = \"cache\"\n[[cache-flush.steps]]\nname = \"flush\"\nkind = \"ssh\"\nscript = \"redis-cli flushall\"\n",
    )
    .expect("write");
    let plan = fixture("many-mistakes.toml");
    let (code, _, err) = pilote(&home, &ws, &["plan", "check", plan.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn warnings_pass_unless_strict() {
    let home = Home::new();
    let ws = home.demo_config();
    let plan = fixture("no-undo.toml");
    let p = plan.to_str().expect("utf8");
    let (code, _, err) = pilote(&home, &ws, &["plan", "check", p]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(err);
    let (code, _, _) = pilote(&home, &ws, &["plan", "check", p, "--strict"]);
    assert_eq!(code, 1);
    let (code, out, _) = pilote(&home, &ws, &["plan", "check", p, "--strict", "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (
            v["ok"].as_bool(),
            v["errors"].as_u64(),
            v["warnings"].as_u64()
        ),
        (Some(false), Some(0), Some(1))
    );
}

#[test]
fn an_environment_without_hosts_for_a_domain() {
    let home = Home::new();
    let ws = home.demo_config();
    edit(&ws, "inventory.toml", "batch = [\"uat-ds\"]\n", "");
    let plan = fixture("missing-hosts.toml");
    let p = plan.to_str().expect("utf8");
    let (code, _, err) = pilote(&home, &ws, &["plan", "check", p, "--env", "uat"]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
    let (code, _, _) = pilote(&home, &ws, &["plan", "check", p, "--env", "prod"]);
    assert_eq!(code, 0, "prod has its batch host");
    let (code, _, err) = pilote(&home, &ws, &["plan", "check", p, "--env", "qa"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown environment `qa`; expected one of: uat, preprod, prod"),
        "{err}"
    );
}

#[test]
fn secrets_are_given_by_reference_only() {
    let home = Home::new();
    let ws = home.demo_config();
    std::fs::write(
        ws.join("automations/notify.toml"),
        r#"
[notify]
description = "Tell the change board"
changes_state = false
[notify.params.token]
type = "secret"
[[notify.steps]]
name = "post"
kind = "shell"
script = 'curl -fsS -H "Authorization: Bearer $TOKEN" https://cab.example/notify'
"#,
    )
    .expect("write");
    let plan = fixture("secret.toml");
    let (code, _, err) = pilote(&home, &ws, &["plan", "check", plan.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn hostile_plan_files_get_an_error_not_a_panic() {
    let home = Home::new();
    let ws = home.demo_config();
    let dir = home.path().join("plans");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage.toml",
            vec![0xff, 0x00, 0x13, 0x37, b'[', 0xfe],
            "not valid UTF-8",
        ),
        (
            "deep.toml",
            format!("app = {}", "[".repeat(5000)).into_bytes(),
            "cannot recurse further",
        ),
        (
            "huge.toml",
            format!("app = \"pets\"\n# {}\n", "x".repeat(2 * 1024 * 1024)).into_bytes(),
            "more than the 1048576 a plan may have",
        ),
        ("empty.toml", Vec::new(), "missing field `app`"),
        (
            "types.toml",
            b"app = 12\nactions = \"all\"\n".to_vec(),
            "invalid type",
        ),
        (
            "unicode.toml",
            "app = \"pets\"\n[[actions]]\nid = \"a\"\ntitle = \"t\"\nuses = \"éé\"\nundo = \"ééé\"\n".as_bytes().to_vec(),
            "unknown automation `éé`",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        let (code, _, err) = pilote(&home, &ws, &["plan", "check", path.to_str().expect("utf8")]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
    }
}

#[test]
fn catalog_errors_point_at_the_automation_file() {
    let home = Home::new();
    let ws = home.demo_config();
    std::fs::write(
        ws.join("automations/broken.toml"),
        r#"
[jboss-stop]
description = "A second definition of an existing name"
domain = "war"
[[jboss-stop.steps]]
name = "x"
kind = "ssh"
script = "true"

[fetch]
description = "Steps with fields of other kinds, a missing field and bad placeholders"
[fetch.params.path]
type = "path"
[fetch.params.home]
type = "string"
[[fetch.steps]]
name = "get"
kind = "http"
url = "http://${host}:8080/${nope}"
script = "curl it"
[[fetch.steps]]
name = "copy"
kind = "copy"
dest = "${path}"
timeout = "5 minutes"
"#,
    )
    .expect("write");
    let (code, _, err) = pilote(&home, &ws, &["config", "check"]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn automation_list_and_show() {
    let home = Home::new();
    let ws = home.demo_config();
    let (code, out, _) = pilote(&home, &ws, &["automation", "list"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("automation_list", out);
    let (code, out, _) = pilote(&home, &ws, &["automation", "show", "ds-deploy"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("automation_show", out);
    let (code, _, err) = pilote(&home, &ws, &["automation", "show", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown automation `nope`"), "{err}");
}
