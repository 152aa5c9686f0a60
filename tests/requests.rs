//! The whitepaper's path from the CLI: a package in the vault, a request, four-eyes
//! approvals, and deploys that follow the lifecycle uat → preprod → prod. Each refusal is
//! checked for the words an on-call engineer reads.

mod common;

use common::filing;
use common::people::{DEMO_PLAN, as_user, deploy_args, filed_by_dev, ok, refused, released};

/// The open requests `pilote status` counts.
fn open_requests(home: &common::Home) -> i64 {
    let (_, out, _) = as_user(home, "ops", &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["store"]["requests_open"].as_i64().expect("requests_open")
}

#[test]
fn a_release_goes_from_request_to_production_with_four_eyes() {
    let home = released();
    let data = home.path().join("data/pilote/workspaces/demo");
    // prod's approvers come from the change board.
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
        "env = \"prod\"\napprovals = 2",
        "env = \"prod\"\napprovals = 2\napprovers = \"change-board\"",
    );
    let id = ok(&home, "dev", &filing(DEMO_PLAN)).trim().to_string();
    assert_eq!(id, "1");
    let err = refused(
        &home,
        "alice",
        &["request", "approve", "1", "--env", "preprod"],
    );
    assert!(
        err.contains("request #1 is a draft; submit it first: `pilote request submit 1`"),
        "{err}"
    );
    ok(&home, "dev", &["request", "submit", "1"]);

    // Straight to prod: no.
    let err = refused(&home, "ops", &deploy_args("1", "prod", false));
    insta::assert_snapshot!("prod_before_preprod", err);
    // uat needs no approval.
    ok(
        &home,
        "ops",
        &["deploy", "1", "--env", "uat", "--yes", "--follow"],
    );
    // Deployed, on uat only: still open.
    assert_eq!(open_requests(&home), 1);

    // Four eyes: the requester cannot approve.
    let err = refused(
        &home,
        "dev",
        &["request", "approve", "1", "--env", "preprod"],
    );
    insta::assert_snapshot!("self_approval", err);
    let err = refused(&home, "ops", &["deploy", "1", "--env", "preprod", "--yes"]);
    assert!(
        err.contains("preprod needs 1 approval(s) of request #1, it has 0"),
        "{err}"
    );
    ok(
        &home,
        "alice",
        &[
            "request",
            "approve",
            "1",
            "--env",
            "preprod",
            "--comment",
            "tested in uat",
        ],
    );
    ok(
        &home,
        "ops",
        &["deploy", "1", "--env", "preprod", "--yes", "--follow"],
    );

    // prod needs two, from the change board; an approval of an earlier plan does not count.
    let err = refused(
        &home,
        "carol",
        &["request", "approve", "1", "--env", "prod"],
    );
    insta::assert_snapshot!("not_in_the_group", err);
    ok(
        &home,
        "alice",
        &["request", "approve", "1", "--env", "prod"],
    );
    let plan = home.path().join("config/pilote/plans/pets-1.4.0.toml");
    let text = std::fs::read_to_string(&plan).expect("plan");
    std::fs::write(&plan, format!("# reviewed again\n{text}")).expect("write");
    let out = ok(
        &home,
        "dev",
        &["request", "replan", "1", "--plan", "plans/pets-1.4.0.toml"],
    );
    assert!(out.contains("2 approval(s) voided"), "{out}");
    // The new plan passes uat and preprod itself before prod: preprod's approval was for
    // the old one.
    let err = refused(&home, "ops", &deploy_args("1", "prod", false));
    assert!(
        err.contains("request #1 has not succeeded on preprod yet"),
        "{err}"
    );
    common::people::deployed_to(&home, "preprod");
    ok(&home, "bob", &["request", "approve", "1", "--env", "prod"]);
    let err = refused(&home, "ops", &deploy_args("1", "prod", false));
    insta::assert_snapshot!("stale_approval", err);
    ok(
        &home,
        "alice",
        &["request", "approve", "1", "--env", "prod"],
    );
    ok(&home, "ops", &deploy_args("1", "prod", true));

    let (_, out, _) = as_user(&home, "ops", &["request", "show", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["request"]["state"], "deployed");
    // Deployed on every stage: done, not open.
    assert_eq!(open_requests(&home), 0);
    let sandbox = data.join("sandbox/prod");
    let war = std::fs::read_to_string(sandbox.join("prod-jboss-1/deployments/pets.war"))
        .expect("prod war");
    assert!(war.contains("1.4.0"), "{war}");

    // Protected: no ad-hoc run in prod.
    let err = refused(
        &home,
        "ops",
        &["run", "plans/pets-1.4.0.toml", "--env", "prod"],
    );
    assert!(
        err.contains("`prod` is protected: only an approved request deploys there"),
        "{err}"
    );

    // The trail holds the refusal of the self-approval, and verifies.
    let (_, out, _) = as_user(&home, "ops", &["audit", "--json", "--limit", "200"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let actions: Vec<&str> = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert!(actions.contains(&"request.approval.refused"), "{actions:?}");
    assert!(actions.contains(&"deploy.refused"), "{actions:?}");
    ok(&home, "ops", &["audit", "verify"]);
}

#[test]
fn freezes_and_blocks_stop_a_deploy_until_overridden_or_lifted() {
    let home = released();
    let today = jiff::Zoned::now().date();
    let (from, to) = (
        today.yesterday().expect("yesterday"),
        today.tomorrow().expect("tomorrow"),
    );
    common::edit(
        &home.path().join("config/pilote"),
        "inventory.toml",
        "[envs.uat]\n",
        &format!(
            "[envs.uat]\nfreeze = [{{ from = \"{from}\", to = \"{to}\", reason = \"year-end\" }}]\n"
        ),
    );
    filed_by_dev(&home);

    let (code, _, err) = as_user(&home, "ops", &["deploy", "1", "--env", "uat", "--yes"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "uat is frozen ({from} → {to} (year-end)); to deploy anyway, give a reason"
        )),
        "{err}"
    );

    ok(
        &home,
        "alice",
        &["request", "block", "1", "--reason", "CVE in a dependency"],
    );
    let (code, _, err) = as_user(
        &home,
        "ops",
        &[
            "deploy",
            "1",
            "--env",
            "uat",
            "--yes",
            "--override-freeze",
            "hotfix",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("request #1 is blocked (alice: CVE in a dependency)"),
        "{err}"
    );
    ok(&home, "alice", &["request", "unblock", "1"]);

    ok(
        &home,
        "ops",
        &[
            "deploy",
            "1",
            "--env",
            "uat",
            "--yes",
            "--follow",
            "--override-freeze",
            "INC-42 fix",
        ],
    );
    let (_, out, _) = as_user(&home, "ops", &["audit", "--json", "--limit", "200"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let overridden = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["action"] == "deploy.freeze_overridden")
        .expect("the override is recorded");
    assert_eq!(overridden["actor"], "ops");
    assert_eq!(overridden["payload"]["reason"], "INC-42 fix");

    // Ad-hoc runs respect the freeze too; a rollback does not stop for it, but is recorded,
    // and a run rolled back once is not rolled back again.
    let (code, _, err) = as_user(
        &home,
        "ops",
        &["run", "plans/pets-1.4.0.toml", "--env", "uat"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("uat is frozen ("), "{err}");
    ok(
        &home,
        "ops",
        &["rollback", "pets", "--env", "uat", "--yes", "--follow"],
    );
    let (code, _, err) = as_user(&home, "ops", &["rollback", "pets", "--env", "uat", "--yes"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("run #1 was already rolled back by run #2"),
        "{err}"
    );
    let (_, out, _) = as_user(&home, "ops", &["audit", "--json", "--limit", "200"]);
    assert!(out.contains("rollback.during_freeze"), "{out}");
    let (_, out, _) = as_user(&home, "ops", &["request", "show", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["request"]["state"], "rolled_back");
}

#[test]
fn the_lifecycle_follows_the_release_kind_unless_overridden_on_record() {
    let home = released();
    let new = filing(DEMO_PLAN);
    ok(&home, "dev", &new);
    ok(&home, "dev", &[&new[..], &["--kind", "hotfix"]].concat());
    ok(
        &home,
        "dev",
        &[&new[..], &["--kind", "hotfix", "--lifecycle", "standard"]].concat(),
    );
    ok(
        &home,
        "dev",
        &[
            "request",
            "schedule",
            "3",
            "--env",
            "prod",
            "--at",
            "2030-01-15 22:00",
        ],
    );
    let err = refused(
        &home,
        "dev",
        &[
            "request",
            "schedule",
            "3",
            "--env",
            "prod",
            "--at",
            "2020-01-15 22:00",
        ],
    );
    assert!(err.contains("is in the past"), "{err}");

    let (_, out, _) = as_user(&home, "dev", &["request", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let lifecycles: Vec<&str> = v["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| r["lifecycle"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        lifecycles,
        ["standard", "hotfix", "standard"],
        "newest first"
    );

    let (_, out, _) = as_user(&home, "dev", &["audit", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let overrides: Vec<&serde_json::Value> = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| {
            e["action"] == "request.created" && e["payload"]["lifecycle_overridden"] == true
        })
        .collect();
    assert_eq!(overrides.len(), 1, "{out}");
    assert_eq!(overrides[0]["subject"], "request:3");
    assert_eq!(overrides[0]["payload"]["lifecycle_by_rule"], "hotfix");
    assert_eq!(overrides[0]["payload"]["lifecycle"], "standard");

    let (_, out, _) = as_user(&home, "dev", &["request", "show", "3"]);
    assert!(
        out.contains("prod planned for 2030-01-15 22:00:00"),
        "{out}"
    );
}

#[test]
fn editing_an_automation_voids_the_approvals_of_plans_that_use_it() {
    let home = released();
    filed_by_dev(&home);
    ok(
        &home,
        "ops",
        &["deploy", "1", "--env", "uat", "--yes", "--follow"],
    );
    ok(
        &home,
        "alice",
        &["request", "approve", "1", "--env", "preprod"],
    );
    // Someone edits what "stop JBoss" does after the approval.
    let jboss = home.path().join("config/pilote/automations/jboss.toml");
    let text = std::fs::read_to_string(&jboss).expect("read");
    std::fs::write(&jboss, format!("{text}\n# edited after the approval\n")).expect("write");
    let (code, _, err) = as_user(&home, "ops", &["deploy", "1", "--env", "preprod", "--yes"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "it has 0 (1 more were given for an earlier plan or automations and no longer count)"
        ),
        "{err}"
    );
    ok(
        &home,
        "alice",
        &["request", "approve", "1", "--env", "preprod"],
    );
    ok(
        &home,
        "ops",
        &["deploy", "1", "--env", "preprod", "--yes", "--follow"],
    );
}

#[test]
fn the_plan_author_cannot_approve_and_a_reapproval_counts() {
    let home = released();
    let plan = "plans/pets-1.4.0.toml";
    filed_by_dev(&home);
    ok(
        &home,
        "ops",
        &["deploy", "1", "--env", "uat", "--yes", "--follow"],
    );
    // bob writes the plan (the same text): he may not approve it.
    ok(&home, "bob", &["request", "replan", "1", "--plan", plan]);
    let (code, _, err) = as_user(
        &home,
        "bob",
        &["request", "approve", "1", "--env", "preprod"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("you (bob) wrote the plan of request #1"),
        "{err}"
    );
    // alice approves, the same plan is filed again (voiding it), she approves again: counts.
    ok(
        &home,
        "alice",
        &["request", "approve", "1", "--env", "preprod"],
    );
    let out = ok(&home, "dev", &["request", "replan", "1", "--plan", plan]);
    assert!(out.contains("1 approval(s) voided"), "{out}");
    ok(
        &home,
        "alice",
        &["request", "approve", "1", "--env", "preprod"],
    );
    ok(
        &home,
        "ops",
        &["deploy", "1", "--env", "preprod", "--yes", "--follow"],
    );
}

#[test]
fn a_release_rolled_back_on_uat_is_not_promoted_until_deployed_again() {
    let home = released();
    filed_by_dev(&home);
    ok(
        &home,
        "ops",
        &["deploy", "1", "--env", "uat", "--yes", "--follow"],
    );
    ok(
        &home,
        "alice",
        &["request", "approve", "1", "--env", "preprod"],
    );
    ok(
        &home,
        "ops",
        &["rollback", "pets", "--env", "uat", "--yes", "--follow"],
    );
    let err = refused(&home, "ops", &["deploy", "1", "--env", "preprod", "--yes"]);
    assert!(
        err.contains("request #1 has not succeeded on uat yet"),
        "{err}"
    );
    let shown = ok(&home, "ops", &["request", "show", "1"]);
    assert!(shown.contains("uat ·"), "{shown}");
    // Deployed again, it may go on.
    ok(
        &home,
        "ops",
        &["deploy", "1", "--env", "uat", "--yes", "--follow"],
    );
    ok(
        &home,
        "ops",
        &["deploy", "1", "--env", "preprod", "--yes", "--follow"],
    );
}

#[test]
fn a_decision_on_a_request_that_changed_since_it_was_shown_is_refused() {
    let home = released();
    filed_by_dev(&home);
    // What the console does: it passes the digest of the request as it showed it.
    let (ws, mut store) = home.demo_store();
    let err = pilote::workflow::decide(
        &ws,
        &mut store,
        1,
        "preprod",
        "approved",
        "",
        Some("the digest of an older plan"),
    )
    .expect_err("refused");
    assert!(
        err.to_string().contains("changed since it was shown"),
        "{err}"
    );
    let trail = ok(&home, "ops", &["audit", "--json"]);
    assert!(
        trail.contains("changed since it was shown"),
        "refusals are audited: {trail}"
    );
}
