//! A request passes its own lifecycle: its plan and package must run on each stage before
//! the next, whatever other requests of the same package did; an identical plan is said so;
//! after a rollback, a stage that needs approvals needs fresh ones.

mod common;

use common::people::{
    approved_for_prod, as_user, deploy_args, deployed_to, filed_by_dev, ok, refused, released,
};

fn request_json(home: &common::Home, id: &str) -> serde_json::Value {
    let (_, out, _) = as_user(home, "ops", &["request", "show", id, "--json"]);
    serde_json::from_str(&out).expect("json")
}

/// Request #1 (the demo's plan) deployed on uat, preprod and prod.
fn in_prod() -> common::Home {
    let home = released();
    filed_by_dev(&home);
    deployed_to(&home, "prod");
    home
}

#[test]
fn another_plan_for_the_same_package_passes_every_stage_itself() {
    let home = in_prod();
    let config = home.path().join("config/pilote");
    let plan = std::fs::read_to_string(config.join("plans/pets-1.4.0.toml")).expect("plan");
    std::fs::write(
        config.join("plans/other.toml"),
        plan.replace("pets 1.4.0: vaccination records", "pets 1.4.0, another way"),
    )
    .expect("plan");
    ok(&home, "dev", &common::filing("plans/other.toml"));
    // A draft of its own: nothing passed, though #1 deployed the same package everywhere.
    let shown = ok(&home, "ops", &["request", "show", "2"]);
    assert!(shown.contains("uat ·  preprod ·  prod ·"), "{shown}");
    ok(&home, "dev", &["request", "submit", "2"]);
    // Approvals for prod before preprod passed: allowed, and shown as waiting.
    approved_for_prod(&home, "2");
    let shown = ok(&home, "ops", &["request", "show", "2"]);
    assert!(shown.contains("(waiting for preprod)"), "{shown}");
    let v = request_json(&home, "2");
    assert_eq!(v["progress"][2]["env"], "prod", "{v}");
    assert_eq!(v["progress"][2]["approvals_given"], 2, "{v}");
    assert_eq!(v["progress"][2]["waiting_for"], "preprod", "{v}");
    assert_eq!(v["progress"][0]["passed"], false, "{v}");
    assert_eq!(v["next"], "deploy to uat", "{v}");
    // Straight to prod with prod's approvals only: no, its plan never ran on preprod.
    let err = refused(&home, "ops", &deploy_args("2", "prod", false));
    assert!(
        err.contains("request #2 has not succeeded on preprod yet"),
        "{err}"
    );

    // The very same plan (by digest) and package, filed again: passed by #1's runs, said so.
    ok(&home, "dev", &common::filing(common::people::DEMO_PLAN));
    let shown = ok(&home, "ops", &["request", "show", "3"]);
    assert!(shown.contains("uat ✓=  preprod ✓=  prod ✓="), "{shown}");
    assert!(
        shown.contains("preprod passed by run #2 of request #1: the same plan"),
        "{shown}"
    );
}

#[test]
fn after_a_rollback_in_prod_a_new_deploy_needs_fresh_approvals() {
    let home = in_prod();
    ok(
        &home,
        "ops",
        &["rollback", "pets", "--env", "prod", "--yes", "--follow"],
    );
    let shown = ok(&home, "ops", &["request", "show", "1"]);
    assert!(shown.contains("prod ·"), "{shown}");
    assert!(
        shown.contains("(spent: a deploy failed or was rolled back there since)"),
        "{shown}"
    );
    let err = refused(&home, "ops", &deploy_args("1", "prod", false));
    assert!(
        err.contains("prod needs 2 approval(s) of request #1, it has 0 (2 given before the last failed deploy or rollback on prod are spent: approve again)"),
        "{err}"
    );
    assert_eq!(
        request_json(&home, "1")["next"],
        "prod needs 2 approval(s), 0 given"
    );
    approved_for_prod(&home, "1");
    ok(&home, "ops", &deploy_args("1", "prod", true));
    let shown = ok(&home, "ops", &["request", "show", "1"]);
    assert!(shown.contains("uat ✓  preprod ✓  prod ✓"), "{shown}");
}

#[test]
fn a_stage_can_keep_its_approvals_after_a_rollback() {
    let home = released();
    common::edit(
        &home.path().join("config/pilote"),
        "lifecycles.toml",
        "env = \"prod\"\napprovals = 2",
        "env = \"prod\"\napprovals = 2\nreapprove_after_failure = false",
    );
    filed_by_dev(&home);
    deployed_to(&home, "prod");
    ok(
        &home,
        "ops",
        &["rollback", "pets", "--env", "prod", "--yes", "--follow"],
    );
    ok(&home, "ops", &deploy_args("1", "prod", true));
}
