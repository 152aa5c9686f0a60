//! The emergency path never depends on the config's health: with a typo in preprod's part of
//! the inventory, an on-call engineer lists runs, follows a prod deploy, cancels it and rolls
//! prod back, from the CLI and from the console; deploys and approvals say why they wait.

mod common;

use std::time::{Duration, Instant};

use common::people::{approved_for_prod, as_user, deploy_args, deployed_to, ok, refused, released};
use common::pty::Pty;

/// The demo's plan with a last action that holds prod for a while (uat and preprod go on at
/// once): a prod deploy an on-call engineer can catch in progress.
fn slow_in_prod(home: &common::Home) {
    let config = home.path().join("config/pilote");
    std::fs::write(
        config.join("automations/soak.toml"),
        "[soak]\ndescription = \"Soak in prod\"\nchanges_state = false\n\n\
         [[soak.steps]]\nname = \"soak\"\nkind = \"shell\"\ntimeout = \"5m\"\n\
         script = 'echo soaking; if [ \"$PILOTE_ENV\" = prod ]; then sleep 120; fi'\n",
    )
    .expect("automation");
    let plan = std::fs::read_to_string(config.join("plans/pets-1.4.0.toml")).expect("plan");
    std::fs::write(
        config.join("plans/soak.toml"),
        format!(
            "{plan}\n[[actions]]\nid = \"soak\"\ntitle = \"Soak\"\nuses = \"soak\"\n\
             phase = \"start\"\nundo = \"none\"\nundo_reason = \"it only waits\"\n"
        ),
    )
    .expect("plan");
}

/// Request #1 (the soaking plan) deployed on uat and preprod, approved for prod.
fn soak_approved_for_prod() -> common::Home {
    let home = released();
    slow_in_prod(&home);
    ok(&home, "dev", &common::filing("plans/soak.toml"));
    ok(&home, "dev", &["request", "submit", "1"]);
    deployed_to(&home, "preprod");
    approved_for_prod(&home, "1");
    home
}

/// One typo in preprod's part of the inventory.
fn break_preprod(home: &common::Home) {
    common::edit(
        &home.path().join("config/pilote"),
        "inventory.toml",
        "sql = [\"preprod-db\"]",
        "sqll = [\"preprod-db\"]",
    );
}

fn wait_for_log(home: &common::Home, run: &str, needle: &str) {
    let start = Instant::now();
    loop {
        let (_, out, _) = as_user(home, "ops", &["logs", run]);
        if out.contains(needle) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "run #{run} never printed {needle:?}:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn on_call_lists_follows_cancels_and_rolls_back_prod_with_a_broken_config() {
    let home = soak_approved_for_prod();
    let run = ok(&home, "ops", &deploy_args("1", "prod", false))
        .trim()
        .to_string();
    wait_for_log(&home, &run, "soaking");
    break_preprod(&home);

    // Looking: each works from the store, with one line naming the config's error.
    for args in [
        vec!["status"],
        vec!["runs"],
        vec!["logs", run.as_str()],
        vec!["audit"],
        vec!["audit", "verify"],
        vec!["metrics"],
        vec!["silences"],
    ] {
        let (code, out, err) = as_user(&home, "ops", &args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        assert!(
            err.contains("warning: the config has errors (")
                && err.contains("inventory.toml:63:1: environment `preprod` names domain `sqll`"),
            "{args:?} names the error: {err}"
        );
    }
    let runs = ok(&home, "ops", &["runs", "--json"]);
    assert_eq!(common::run_in(&runs, &run)["state"], "running", "{runs}");

    // Stopping: cancel, then the follow ends with the run's state.
    ok(&home, "ops", &["cancel", &run]);
    let (code, _, err) = as_user(&home, "ops", &["logs", &run, "--follow"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains(&format!("run #{run} cancelled")), "{err}");

    // Acting on the config waits for it to be fixed: the error is what is shown.
    for args in [
        deploy_args("1", "prod", false),
        vec!["request", "approve", "1", "--env", "prod"],
    ] {
        let err = refused(&home, "carol", &args);
        assert!(err.contains("names domain `sqll`"), "{args:?}: {err}");
    }

    // Rolling back: from what the run recorded; the preview says the config changed since.
    let (code, out, err) = as_user(
        &home,
        "ops",
        &[
            "rollback",
            "pets",
            "--env",
            "prod",
            "--yes",
            "--reason",
            "INC-4711 payments down",
            "--follow",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!(
            "The config changed since run #{run} started (inventory.toml)"
        )),
        "{err}"
    );
    assert!(err.contains("Rollback plan:"), "{err}");
    let runs = ok(&home, "ops", &["runs", "--json"]);
    let back = serde_json::from_str::<serde_json::Value>(&runs).expect("json")["runs"][0].clone();
    assert_eq!(back["kind"], "rollback", "{runs}");
    assert_eq!(back["state"], "succeeded", "{runs}");
    assert_eq!(back["reason"], "INC-4711 payments down", "{runs}");
    // The rollback ran on prod's hosts as recorded: the war is back at 1.3.0.
    let war = std::fs::read_to_string(
        home.path()
            .join("data/pilote/workspaces/demo/sandbox/prod/prod-jboss-1/deployments/pets.war"),
    )
    .expect("prod war");
    assert!(war.contains("1.3.0"), "{war}");
    let audit = ok(&home, "ops", &["audit", "--json", "--limit", "20"]);
    assert!(audit.contains("INC-4711 payments down"), "{audit}");
    ok(&home, "ops", &["audit", "verify"]);
}

#[test]
fn a_broken_pilote_toml_still_lists_runs_but_runs_no_step() {
    let home = released();
    common::people::filed_by_dev(&home);
    deployed_to(&home, "uat");
    let config = home.path().join("config/pilote");
    common::edit(
        &config,
        "pilote.toml",
        "name = \"demo\"",
        "name = \"demo\"\n[ssh\n",
    );
    let (code, out, err) = as_user(&home, "ops", &["runs", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(common::run_in(&out, "1")["state"], "succeeded", "{out}");
    assert!(err.contains("warning: the config has errors ("), "{err}");
    let err = refused(&home, "ops", &["rollback", "pets", "--env", "uat", "--yes"]);
    assert!(
        err.contains(
            "a rollback needs pilote.toml's [steps] and [ssh], and pilote.toml has errors"
        ),
        "{err}"
    );
}

#[test]
fn the_console_opens_degraded_and_rolls_back_with_r() {
    let home = released();
    common::people::filed_by_dev(&home);
    deployed_to(&home, "uat");
    break_preprod(&home);
    let mut t = Pty::start(&home, &[], 80, 24);
    let screen = t.wait_for("the config's error in the header", |s| {
        s.contains("CONFIG ERROR inventory.toml:63:1: environment `preprod` names domain")
    });
    assert!(screen.contains("#1"), "the requests are listed:\n{screen}");
    // Deploy: refused, saying why.
    t.send("d");
    let screen = t.wait_for("the refusal", |s| s.contains("The config has errors"));
    assert!(
        screen.contains("Deploys, approvals and plan edits"),
        "{screen}"
    );
    t.send("\x1b");
    t.wait_for("the popup to close", |s| {
        !s.contains("The config has errors")
    });
    // Runs: the deploy is there; R rolls it back.
    t.send("3");
    t.wait_for("the run", |s| s.contains("deploy") && s.contains("uat"));
    t.send("R");
    let screen = t.wait_for("the rollback confirmation", |s| {
        s.contains("ROLL BACK pets on uat?")
    });
    assert!(screen.contains("Rollback of run #1"), "{screen}");
    t.settle();
    t.send("\r");
    t.wait_for("the rollback's end", |s| {
        s.contains("rollback pets on uat") && s.contains("run succeeded")
    });
    // Fixed while the console is open: the header goes at the next refresh; broken again,
    // it comes back.
    common::edit(
        &home.path().join("config/pilote"),
        "inventory.toml",
        "sqll = [\"preprod-db\"]",
        "sql = [\"preprod-db\"]",
    );
    t.wait_for("the header to go", |s| !s.contains("CONFIG ERROR"));
    break_preprod(&home);
    t.wait_for("the header to come back", |s| s.contains("CONFIG ERROR"));
    t.send("q");
    assert_eq!(t.wait_exit(), 0);
    let runs = ok(&home, "ops", &["runs", "--json"]);
    assert_eq!(common::run_in(&runs, "2")["state"], "succeeded", "{runs}");
}

#[test]
fn a_resume_refused_for_a_broken_pilote_toml_leaves_the_run_interrupted() {
    let home = released();
    // The runner dies as its first step starts: the run is interrupted, that step unknown.
    let (code, out, err) = common::run(
        home.pilote()
            .env("PILOTE_CRASH_AT", "step_started#1")
            .args([
                "run",
                "plans/pets-1.4.0.toml",
                "--env",
                "uat",
                "--release",
                "1.4.0",
            ]),
    );
    assert_eq!(code, 0, "{out}{err}");
    let run = out.trim().to_string();
    let (code, _, err) = as_user(&home, "ops", &["logs", &run, "--follow"]);
    assert_eq!(code, 4, "interrupted: {err}");
    let config = home.path().join("config/pilote");
    let sound = std::fs::read_to_string(config.join("pilote.toml")).expect("read");
    common::edit(
        &config,
        "pilote.toml",
        "name = \"demo\"",
        "name = \"demo\"\n[ssh\n",
    );
    let err = refused(&home, "ops", &["resume", &run]);
    assert!(
        err.contains(&format!(
            "resuming run #{run} needs pilote.toml's [steps] and [ssh]"
        )),
        "{err}"
    );
    let runs = ok(&home, "ops", &["runs", "--json"]);
    assert_eq!(
        common::run_in(&runs, &run)["state"],
        "interrupted",
        "{runs}"
    );
    // Fixed, it resumes and finishes.
    std::fs::write(config.join("pilote.toml"), sound).expect("write");
    ok(&home, "ops", &["resume", &run, "--follow"]);
}
