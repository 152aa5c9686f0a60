//! Loading the workspace config: the shipped files are valid, and each kind of bad input gives
//! one clear error with file:line:col, exit code 2, and no panic or backtrace.

mod common;

use common::{Home, edit, run};

/// Runs `pilote config check` on `ws` and returns (exit code, stderr with paths redacted).
fn check(home: &Home, ws: &std::path::Path) -> (i32, String) {
    let (code, _, err) = run(home
        .pilote()
        .arg("--workspace")
        .arg(ws)
        .args(["config", "check"]));
    assert!(!err.contains("panicked"), "panic in: {err}");
    assert!(!err.contains("BACKTRACE"), "backtrace in: {err}");
    (code, home.redact(&err))
}

#[test]
fn shipped_default_and_demo_configs_are_valid() {
    let home = Home::new();
    let default = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let (code, out, err) = run(home
        .pilote()
        .arg("--workspace")
        .arg(&default)
        .args(["config", "check"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ok (1 app, 2 environments, 5 hosts, 2 lifecycles)"),
        "{out}"
    );

    let ws = home.demo_config();
    let (code, out, err) = run(home
        .pilote()
        .arg("--workspace")
        .arg(&ws)
        .args(["config", "check"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ok (1 app, 3 environments, 12 hosts, 2 lifecycles)"),
        "{out}"
    );
}

#[test]
fn missing_workspace() {
    let home = Home::new();
    let (code, err) = check(&home, &home.path().join("nowhere"));
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn missing_default_workspace_says_how_to_create_one() {
    let home = Home::new();
    let (code, _, err) = run(home.pilote().arg("inventory"));
    assert_eq!(code, 2);
    insta::assert_snapshot!(home.redact(&err));
}

#[test]
fn malformed_toml() {
    let home = Home::new();
    let ws = home.demo_config();
    edit(&ws, "inventory.toml", "[hosts.uat-db]", "[hosts.uat-db");
    let (code, err) = check(&home, &ws);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn unknown_key() {
    let home = Home::new();
    let ws = home.demo_config();
    edit(
        &ws,
        "pilote.toml",
        "busy_timeout_ms = 5000",
        "busy_timeout = 5000",
    );
    let (code, err) = check(&home, &ws);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn wrong_type() {
    let home = Home::new();
    let ws = home.demo_config();
    edit(
        &ws,
        "lifecycles.toml",
        "approvals = 2",
        "approvals = \"two\"",
    );
    let (code, err) = check(&home, &ws);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn environment_naming_an_undefined_domain() {
    let home = Home::new();
    let ws = home.demo_config();
    edit(
        &ws,
        "inventory.toml",
        "sql = [\"preprod-db\"]",
        "sqll = [\"preprod-db\"]",
    );
    let (code, err) = check(&home, &ws);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn host_listed_twice() {
    let home = Home::new();
    let ws = home.demo_config();
    // Twice in one list, and a prod host reused in uat.
    edit(
        &ws,
        "inventory.toml",
        "war = [\"uat-jboss-1\"]",
        "war = [\"uat-jboss-1\", \"uat-jboss-1\", \"prod-jboss-1\"]",
    );
    let (code, err) = check(&home, &ws);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn all_problems_are_reported_at_once() {
    let home = Home::new();
    let ws = home.demo_config();
    edit(
        &ws,
        "inventory.toml",
        "lifecycles = [\"standard\", \"hotfix\"]",
        "lifecycles = [\"standard\", \"emergency\"]",
    );
    edit(
        &ws,
        "inventory.toml",
        "batch = [\"uat-ds\"]",
        "batch = [\"uat-ds2\"]",
    );
    edit(
        &ws,
        "inventory.toml",
        "[envs.preprod.apps.pets]",
        "[envs.preprod.apps.cats]",
    );
    edit(
        &ws,
        "lifecycles.toml",
        "env = \"preprod\"",
        "env = \"staging\"",
    );
    edit(
        &ws,
        "pilote.toml",
        "name = \"demo\"",
        "name = \"Demo Workspace\"",
    );
    let (code, err) = check(&home, &ws);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn unreadable_and_missing_files() {
    let home = Home::new();
    let ws = home.demo_config();
    // Tests run as root in CI, so a chmod would not stop the read: a directory does.
    std::fs::remove_file(ws.join("inventory.toml")).expect("remove");
    std::fs::create_dir(ws.join("inventory.toml")).expect("mkdir");
    std::fs::remove_file(ws.join("lifecycles.toml")).expect("remove");
    let (code, err) = check(&home, &ws);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn binary_garbage_is_not_utf8() {
    let home = Home::new();
    let ws = home.demo_config();
    std::fs::write(
        ws.join("lifecycles.toml"),
        b"[lifecycles.std]\n\xff\xfe\x00garbage",
    )
    .expect("write");
    let (code, err) = check(&home, &ws);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn json_output_lists_diagnostics() {
    let home = Home::new();
    let ws = home.demo_config();
    edit(
        &ws,
        "inventory.toml",
        "sql = [\"preprod-db\"]",
        "sqll = [\"preprod-db\"]",
    );
    let (code, out, _) = run(home
        .pilote()
        .arg("--workspace")
        .arg(&ws)
        .args(["config", "check", "--json"]));
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["ok"], false);
    let d = &v["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["line"], 63);
    assert_eq!(d["col"], 1);
    assert!(
        d["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("inventory.toml"))
    );
}

#[test]
fn bad_environment_override() {
    let home = Home::new();
    let ws = home.demo_config();
    let (code, _, err) = run(home
        .pilote()
        .env("PILOTE_LOG", "loud")
        .arg("--workspace")
        .arg(&ws)
        .args(["config", "check"]));
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn unwritable_data_dir() {
    let home = Home::new();
    let ws = home.demo_config();
    // A path below a regular file cannot be created, even by root.
    std::fs::write(home.path().join("file"), "x").expect("write");
    edit(
        &ws,
        "pilote.toml",
        "name = \"demo\"",
        &format!(
            "name = \"demo\"\ndata_dir = \"{}/file/data\"",
            home.path().display()
        ),
    );
    let (code, _, err) = run(home.pilote().arg("--workspace").arg(&ws).arg("status"));
    assert_eq!(code, 2);
    insta::assert_snapshot!(home.redact(&err));
}

#[test]
fn approvers_from_an_unknown_or_too_small_group() {
    let home = Home::new();
    let ws = home.demo_config();
    edit(
        &ws,
        "lifecycles.toml",
        "[lifecycles.standard]",
        "[groups]\nchange-board = [\"alice\"]\n\n[lifecycles.standard]",
    );
    edit(
        &ws,
        "lifecycles.toml",
        "approvals = 2",
        "approvals = 2\napprovers = \"change-board\"",
    );
    edit(
        &ws,
        "lifecycles.toml",
        "approvals = 1\n",
        "approvals = 1\napprovers = \"cab\"\n",
    );
    let (code, err) = check(&home, &ws);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err);
}

#[test]
fn console_keys_that_cannot_be_read() {
    let home = Home::new();
    let ws = home.demo_config();
    let settings = ws.join("pilote.toml");
    let base = std::fs::read_to_string(&settings).expect("read");
    for (name, extra) in [
        (
            "not_a_key",
            "\n[console.keys.runs]\nrollback = \"hyper-r\"\n",
        ),
        ("unknown_action", "\n[console.keys.runs]\nexplode = \"x\"\n"),
        (
            "unknown_context",
            "\n[console.keys.everywhere]\nquit = \"Q\"\n",
        ),
        ("unknown_theme", "\n[console]\ntheme = \"solarized\"\n"),
        (
            "unknown_widget",
            "\n[dashboard]\nwidgets = [\"dora\", \"weather\"]\n",
        ),
    ] {
        std::fs::write(&settings, format!("{base}{extra}")).expect("write");
        let (code, err) = check(&home, &ws);
        assert_eq!(code, 2, "{name}: {err}");
        insta::assert_snapshot!(format!("console_{name}"), err);
    }
    std::fs::write(
        &settings,
        format!("{base}\n[console]\ntheme = \"light\"\n[console.keys.runs]\nrollback = [\"ctrl-r\", \"R\"]\n"),
    )
    .expect("write");
    assert_eq!(check(&home, &ws).0, 0);
}

#[test]
fn every_section_of_pilote_toml_is_checked_with_the_others() {
    let home = Home::new();
    let ws = home.demo_config();
    let settings = ws.join("pilote.toml");
    let base = std::fs::read_to_string(&settings).expect("read");
    // One mistake in each section checked after parsing: all of them in one report.
    std::fs::write(
        &settings,
        format!(
            "data_dir = \"~/pilote\"\n{base}\n[ssh]\nconnect_timeout = \"1.5s\"\n\
             [console.keys.runs]\nrollback = \"hyper-r\"\n[dashboard]\nwidgets = [\"weather\"]\n\
             [alertmanager]\nurl = \"alertmanager:9093\"\n"
        ),
    )
    .expect("write");
    let (code, err) = check(&home, &ws);
    assert_eq!(code, 2, "{err}");
    insta::assert_snapshot!(err);
}

/// ssh's config has no escape for `"` in a quoted path, and a newline would start a line of
/// its own: such a path is refused at check, not written with the `"` left out.
#[test]
fn an_ssh_config_path_ssh_cannot_read_back() {
    let home = Home::new();
    let ws = home.demo_config();
    let base = std::fs::read_to_string(ws.join("pilote.toml")).expect("read");
    let with = |ssh: &str| {
        std::fs::write(ws.join("pilote.toml"), format!("{base}\n[ssh]\n{ssh}\n")).expect("write");
        check(&home, &ws)
    };
    let (code, err) = with("config = 'ssh/\"team\" config'");
    assert_eq!(code, 2, "{err}");
    insta::assert_snapshot!(err);
    let (code, err) = with("config = \"ssh/config\\nHost *\\n  ProxyCommand evil\"");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds '\\n'"), "{err}");
}

/// A host's vars reach every step as `HOST_<NAME>`: only names an environment variable can
/// have pass, each other one named with its place.
#[test]
fn host_variable_names_that_are_not_identifiers() {
    let home = Home::new();
    let ws = home.demo_config();
    edit(
        &ws,
        "inventory.toml",
        "[hosts.uat-db]\nconnection = \"local\"\n",
        "[hosts.uat-db]\nconnection = \"local\"\n[hosts.uat-db.vars]\n\
         \"A=B\" = \"1\"\n\"x;reboot\" = \"2\"\n\"nul\\u0000\" = \"3\"\n\"1st\" = \"4\"\n\
         data_dir = \"/srv/db\"\n_ok = \"5\"\n",
    );
    let (code, err) = check(&home, &ws);
    assert_eq!(code, 2, "{err}");
    insta::assert_snapshot!(err);
}
