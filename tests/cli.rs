//! The command line: help everywhere, exit codes, init, demo, inventory.

mod common;

use common::{Home, run};

#[test]
fn every_command_has_help() {
    fn paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        for sub in cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            let mut path = prefix.clone();
            path.push(sub.get_name().to_string());
            out.push(path.clone());
            paths(sub, path, out);
        }
    }
    let mut all = Vec::new();
    paths(
        &<pilote::cli::Cli as clap::CommandFactory>::command(),
        Vec::new(),
        &mut all,
    );
    assert!(all.len() >= 15, "{all:?}");
    let home = Home::new();
    for mut args in all.into_iter().chain([Vec::new()]) {
        args.push("--help".into());
        let (code, out, _) = run(home.pilote().args(&args));
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Usage: pilote"), "{args:?}: {out}");
    }
}

#[test]
fn top_level_help() {
    let home = Home::new();
    let (_, out, _) = run(home.pilote().arg("--help"));
    insta::assert_snapshot!(out);
}

/// A command whose one-line help offers to show something has a `show` (`config` offered one
/// it never had).
#[test]
fn the_help_offers_only_subcommands_that_exist() {
    let cli = <pilote::cli::Cli as clap::CommandFactory>::command();
    for cmd in cli.get_subcommands().filter(|c| c.has_subcommands()) {
        let about = cmd.get_about().map(ToString::to_string).unwrap_or_default();
        let words: Vec<String> = about
            .split(|c: char| !c.is_ascii_alphabetic())
            .map(str::to_lowercase)
            .collect();
        if words.iter().any(|w| w == "show") {
            assert!(
                cmd.find_subcommand("show").is_some(),
                "`pilote {}` says {about:?} but has no `show`",
                cmd.get_name()
            );
        }
    }
}

/// Measured durations read as a person says them (`0.3s`, not `312ms`), and counts agree
/// with their nouns.
#[test]
fn a_run_reads_in_human_durations_and_grammar() {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let config = home.path().join("config/pilote");
    std::fs::write(
        config.join("automations/pause.toml"),
        "[pause]\ndescription = \"Pause\"\nchanges_state = false\n[[pause.steps]]\n\
         name = \"nap\"\nkind = \"shell\"\nscript = \"sleep 0.3\"\n",
    )
    .expect("automation");
    std::fs::write(
        config.join("plans/pause.toml"),
        "app = \"pets\"\n\n[[actions]]\nid = \"pause\"\ntitle = \"Pause\"\nuses = \"pause\"\n",
    )
    .expect("plan");
    let (code, out, err) =
        run(home
            .pilote()
            .args(["run", "plans/pause.toml", "--env", "uat", "--follow"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("run #1 of pets on uat: 1 action\n"), "{out}");
    let (_, out, _) = run(home.pilote().arg("runs"));
    let duration = out
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_default();
    let re = regex::Regex::new(r"^\d\.\ds$").expect("re");
    assert!(re.is_match(duration), "{out}");
    let (code, _, err) = run(home.pilote().args(["cancel", "1"]));
    assert_eq!(code, 2);
    assert!(err.contains("run #1 already succeeded"), "{err}");
}

#[test]
fn bad_usage_exits_2() {
    let home = Home::new();
    let (code, _, err) = run(home.pilote().arg("deploy-everything"));
    assert_eq!(code, 2);
    assert!(err.contains("unrecognized subcommand"), "{err}");
    let (code, _, _) = run(home.pilote().args(["completions", "tcsh"]));
    assert_eq!(code, 2);
}

#[test]
fn completions_are_printed() {
    let home = Home::new();
    let (code, out, _) = run(home.pilote().args(["completions", "bash"]));
    assert_eq!(code, 0);
    assert!(out.contains("_pilote()"), "{out}");
}

#[test]
fn init_creates_a_valid_workspace_named_after_its_dir() {
    let home = Home::new();
    let dir = home.path().join("Team Shop");
    let (code, out, err) = run(home.pilote().arg("init").arg(&dir));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created workspace `team-shop`"), "{out}");
    assert!(dir.join("automations").is_dir());
    let (code, out, err) = run(home.pilote().arg("-w").arg(&dir).args(["config", "check"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": ok"), "{out}");
    // Its data dir is derived from the name, under the XDG data dir.
    let (code, out, _) = run(home.pilote().arg("-w").arg(&dir).args(["status", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v["data_dir"].as_str(),
        Some(
            home.path()
                .join("data/pilote/workspaces/team-shop")
                .to_str()
                .expect("utf8")
        )
    );
}

#[test]
fn init_never_overwrites() {
    let home = Home::new();
    let dir = home.path().join("ws");
    assert_eq!(run(home.pilote().arg("init").arg(&dir)).0, 0);
    std::fs::write(dir.join("inventory.toml"), "# mine\n").expect("write");
    let (code, _, err) = run(home.pilote().arg("init").arg(&dir));
    assert_eq!(code, 2);
    assert!(err.contains("a workspace already exists there"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("inventory.toml")).expect("read"),
        "# mine\n"
    );
    // No temporary dir is left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(home.path())
        .expect("read")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn demo_then_inventory_shows_pets() {
    let home = Home::new();
    let (code, out, err) = run(home.pilote().args(["demo", "--no-open"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("uat -> preprod -> prod (protected)"), "{out}");

    let (code, out, _) = run(home.pilote().args(["inventory", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let pets = &v["apps"][0];
    assert_eq!(pets["name"], "pets");
    let domains: Vec<&str> = pets["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(domains, ["war", "sql", "batch"]);
    let envs: Vec<&str> = v["envs"]
        .as_array()
        .expect("envs")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(envs, ["uat", "preprod", "prod"]);

    let (_, table, _) = run(home.pilote().arg("inventory"));
    insta::assert_snapshot!(table);

    // The sandbox stands in for the servers, at release 1.3.0.
    let sandbox = home.path().join("data/pilote/workspaces/demo/sandbox");
    assert!(
        sandbox
            .join("prod/prod-jboss-3/deployments/pets.war")
            .is_file()
    );
    assert!(sandbox.join("uat/uat-db/pets.db").is_file());
    assert!(
        sandbox
            .join("preprod/preprod-ds/projects/pets-batch/pets-batch.dsx")
            .is_file()
    );
}

#[test]
fn demo_reuses_then_resets() {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let marker = home
        .path()
        .join("data/pilote/workspaces/demo/sandbox/uat/uat-jboss-1/played");
    std::fs::write(&marker, "x").expect("write");

    let (code, _, err) = run(home.pilote().args(["demo", "--no-open"]));
    assert_eq!(code, 0);
    assert!(err.contains("reusing the pets demo"), "{err}");
    assert!(marker.exists(), "reusing keeps the demo's state");

    let (code, _, err) = run(home.pilote().args(["demo", "--no-open", "--reset"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("created the pets demo"), "{err}");
    assert!(!marker.exists(), "reset starts afresh");
}

#[test]
fn a_second_demo_elsewhere_keeps_its_own_data() {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let other = home.path().join("other-demo");
    let (code, _, err) = run(home
        .pilote()
        .arg("-w")
        .arg(&other)
        .args(["demo", "--no-open"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        other.join("data/pilote.db").is_file(),
        "the second demo keeps its data beside its config"
    );
    let (code, _, err) =
        run(home
            .pilote()
            .arg("-w")
            .arg(&other)
            .args(["demo", "--no-open", "--reset"]));
    assert_eq!(code, 0, "{err}");
    // The first demo is untouched.
    assert!(
        home.path()
            .join("data/pilote/workspaces/demo/pilote.db")
            .is_file()
    );
}

#[test]
fn init_refuses_a_name_whose_data_dir_is_taken() {
    let home = Home::new();
    assert_eq!(
        run(home.pilote().arg("init").arg(home.path().join("a/shop"))).0,
        0
    );
    assert_eq!(
        run(home
            .pilote()
            .arg("-w")
            .arg(home.path().join("a/shop"))
            .arg("status"))
        .0,
        0
    );
    let (code, _, err) = run(home.pilote().arg("init").arg(home.path().join("b/shop")));
    assert_eq!(code, 2);
    assert!(
        err.contains("a workspace named `shop` already keeps its data in"),
        "{err}"
    );
}

#[test]
fn demo_leaves_a_real_workspace_alone() {
    let home = Home::new();
    let dir = home.path().join("config/pilote");
    assert_eq!(run(home.pilote().arg("init").arg(&dir)).0, 0);
    for args in [
        vec!["demo", "--no-open"],
        vec!["demo", "--no-open", "--reset"],
    ] {
        let (code, _, err) = run(home.pilote().args(&args));
        assert_eq!(code, 2);
        assert!(
            err.contains("holds a workspace that is not the demo"),
            "{err}"
        );
    }
    assert!(dir.join("pilote.toml").is_file());
}

#[test]
fn workspace_from_the_environment() {
    let home = Home::new();
    let dir = home.path().join("elsewhere");
    assert_eq!(run(home.pilote().arg("init").arg(&dir)).0, 0);
    let (code, out, _) = run(home
        .pilote()
        .env("PILOTE_WORKSPACE", &dir)
        .args(["status", "--json"]));
    assert_eq!(code, 0);
    assert!(out.contains("\"workspace\": \"elsewhere\""), "{out}");
    // The flag wins over the environment.
    let (code, _, err) = run(home
        .pilote()
        .env("PILOTE_WORKSPACE", &dir)
        .arg("--workspace")
        .arg(home.path().join("nope"))
        .arg("status"));
    assert_eq!(code, 2);
    assert!(err.contains("(from --workspace)"), "{err}");
    let (_, _, err) = run(home
        .pilote()
        .env("PILOTE_WORKSPACE", home.path().join("nope"))
        .arg("status"));
    assert!(err.contains("(from PILOTE_WORKSPACE)"), "{err}");
}

#[test]
fn console_without_a_terminal_prints_the_summary() {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let (code, out, _) = run(&mut home.pilote());
    assert_eq!(code, 0);
    insta::assert_snapshot!(home.redact(&out));
}

#[test]
fn logs_go_to_the_state_dir() {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let logs: Vec<_> = std::fs::read_dir(home.path().join("state/pilote"))
        .expect("log dir")
        .filter_map(|e| e.ok())
        .collect();
    assert_eq!(logs.len(), 1);
    let text = std::fs::read_to_string(logs[0].path()).expect("log");
    assert!(text.contains("workspace loaded"), "{text}");
}
