//! Decisions in the chain: an approval, a block or a gate answer counts only when its audit
//! event holds in the chain and says the same. Each forgery below is what someone who can
//! write the store file could do with `sqlite3`; none of them counts, and `pilote audit
//! verify` names each one (exit 1).

mod common;

use std::time::{Duration, Instant};

use common::Home;
use common::people::{as_user, deploy_args, filed_by_dev, ok, refused, released, sqlite3};
use sha2::Digest as _;

/// `pilote audit verify` as ops: (exit code, what it printed), for the snapshots.
fn verify(home: &Home) -> (i32, String) {
    let (code, out, err) = as_user(home, "ops", &["audit", "verify"]);
    (code, format!("{out}{err}"))
}

/// `sql` through sqlite3, expecting it to succeed.
fn forge(home: &Home, sql: &str) {
    let (code, out, err) = sqlite3(home, sql);
    assert_eq!(code, 0, "{sql}: {out}{err}");
}

/// One value from the store.
fn query(home: &Home, sql: &str) -> String {
    let (code, out, err) = sqlite3(home, sql);
    assert_eq!(code, 0, "{sql}: {err}");
    out.trim().to_string()
}

/// ops deploys request #1 to `env`, following it to success.
fn deploy(home: &Home, env: &str) {
    ok(home, "ops", &deploy_args("1", env, true));
}

/// Why ops may not deploy request #1 to `env`.
fn deploy_refused(home: &Home, env: &str) -> String {
    refused(home, "ops", &deploy_args("1", env, false))
}

/// `who` approves request #1 for `env`.
fn approve(home: &Home, who: &str, env: &str) {
    ok(home, who, &["request", "approve", "1", "--env", env]);
}

#[test]
fn an_approval_inserted_with_sqlite3_does_not_count_and_verify_names_it() {
    let home = released();
    filed_by_dev(&home);
    deploy(&home, "uat");
    approve(&home, "alice", "prod");
    let (code, out) = verify(&home);
    assert_eq!(code, 0, "{out}");
    insta::assert_snapshot!("verify_intact", out);

    // bob's approval of preprod, written into the file with the digest of alice's row (an
    // approval binds to the request, plan and package, whatever the env).
    forge(
        &home,
        "INSERT INTO approvals (request_id, env, approver, decision, bound_digest, decided_at)
         SELECT request_id, 'preprod', 'bob', 'approved', bound_digest, decided_at + 1
         FROM approvals WHERE approver = 'alice'",
    );
    let err = deploy_refused(&home, "preprod");
    assert!(
        err.contains("preprod needs 1 approval(s) of request #1, it has 0;"),
        "{err}"
    );
    let shown = ok(&home, "ops", &["request", "show", "1"]);
    assert!(!shown.contains("by bob"), "{shown}");
    let (code, out) = verify(&home);
    assert_eq!(code, 1, "{out}");
    insta::assert_snapshot!("verify_forged_approval", out);

    // bob's own approval counts.
    approve(&home, "bob", "preprod");
    deploy(&home, "preprod");
}

#[test]
fn sqlite_refuses_to_update_or_delete_a_decision() {
    let home = released();
    filed_by_dev(&home);
    approve(&home, "alice", "preprod");
    ok(
        &home,
        "dev",
        &["request", "replan", "1", "--plan", "plans/pets-1.4.0.toml"],
    );
    for (sql, says) in [
        (
            "UPDATE approvals SET approver = 'bob'",
            "approvals are append-only",
        ),
        ("DELETE FROM approvals", "approvals are append-only"),
        (
            "UPDATE approval_voids SET audit_seq = NULL",
            "approval voids are append-only",
        ),
        (
            "DELETE FROM approval_voids",
            "approval voids are append-only",
        ),
    ] {
        let (code, _, err) = sqlite3(&home, sql);
        assert_ne!(code, 0, "{sql} was allowed");
        assert!(err.contains(says), "{sql}: {err}");
    }
    assert_eq!(query(&home, "SELECT approver FROM approvals"), "alice");
}

/// The hash `pilote` gives an event chained after `prev_hash` (see `store/audit.rs`).
fn chain_hash(prev_hash: &str, e: &pilote::store::AuditEvent) -> String {
    let mut h = sha2::Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(serde_json::to_vec(e).expect("json"));
    hex::encode(h.finalize())
}

#[test]
fn an_approval_event_forged_in_place_breaks_the_chain_and_does_not_count() {
    for rehash in [false, true] {
        let home = released();
        filed_by_dev(&home);
        deploy(&home, "uat");
        approve(&home, "alice", "preprod");
        deploy(&home, "preprod");
        deploy_refused(&home, "prod");
        // The event after a rehashed one no longer chains from it: neither counts, as either
        // may be the forgery. A date comes between the refusal and alice's approval.
        let date = ["--env", "prod", "--at", "2040-01-15 22:00"];
        ok(
            &home,
            "dev",
            &[&["request", "schedule", "1"][..], &date].concat(),
        );
        approve(&home, "alice", "prod");
        // The refusal's event becomes bob's approval of prod, with its approvals row. (An
        // event in the middle: the last one can be replaced as an event can be appended,
        // which only a head anchored elsewhere catches, see tests/audit.rs.)
        let seq: i64 = query(
            &home,
            "SELECT max(seq) FROM audit_events WHERE action = 'deploy.refused'",
        )
        .parse()
        .expect("seq");
        let at: i64 = query(
            &home,
            &format!("SELECT at FROM audit_events WHERE seq = {seq}"),
        )
        .parse()
        .expect("at");
        let digest = query(
            &home,
            "SELECT bound_digest FROM approvals WHERE env = 'prod'",
        );
        let payload = serde_json::json!({
            "bound_digest": digest, "comment": "", "decision": "approved", "env": "prod",
        });
        let hash = if rehash {
            // Its own hash recomputed, as a forger who read store/audit.rs would.
            let prev = query(
                &home,
                &format!("SELECT prev_hash FROM audit_events WHERE seq = {seq}"),
            );
            let event = pilote::store::AuditEvent {
                seq,
                at,
                actor_uid: 2003,
                actor: "bob".into(),
                action: "request.approved".into(),
                subject: "request:1".into(),
                payload: payload.clone(),
            };
            format!(", hash = '{}'", chain_hash(&prev, &event))
        } else {
            String::new()
        };
        forge(
            &home,
            &format!(
                "DROP TRIGGER audit_events_no_update;
                 UPDATE audit_events SET actor = 'bob', actor_uid = 2003,
                   action = 'request.approved', payload = '{payload}'{hash} WHERE seq = {seq};
                 INSERT INTO approvals (request_id, env, approver, decision, bound_digest,
                                        decided_at, audit_seq)
                 VALUES (1, 'prod', 'bob', 'approved', '{digest}', {at}, {seq});"
            ),
        );
        let err = deploy_refused(&home, "prod");
        assert!(
            err.contains("prod needs 2 approval(s) of request #1, it has 1;"),
            "rehash {rehash}: {err}"
        );
        let (code, out) = verify(&home);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains(&format!(
                "approvals row 3 (bob approved request #1 for prod) matches audit event #{seq}, which does not hold in the chain: not counted"
            )),
            "rehash {rehash}: {out}"
        );
        let broken = if rehash {
            format!(
                "audit trail broken at event #{}: event #{} does not follow event #{seq}",
                seq + 1,
                seq + 1
            )
        } else {
            format!("audit trail broken at event #{seq}: event #{seq} was altered")
        };
        assert!(out.contains(&broken), "rehash {rehash}: {out}");
    }
}

#[test]
fn a_decision_event_whose_row_is_gone_is_named_and_a_rejection_still_stands() {
    let home = released();
    filed_by_dev(&home);
    deploy(&home, "uat");
    approve(&home, "alice", "preprod");
    ok(
        &home,
        "bob",
        &[
            "request",
            "reject",
            "1",
            "--env",
            "prod",
            "--comment",
            "no rollback tested",
        ],
    );
    forge(
        &home,
        "DROP TRIGGER IF EXISTS approvals_no_delete; DELETE FROM approvals",
    );
    // alice's approval has no row: it does not count.
    let err = deploy_refused(&home, "preprod");
    assert!(
        err.contains("preprod needs 1 approval(s) of request #1, it has 0;"),
        "{err}"
    );
    approve(&home, "alice", "preprod");
    deploy(&home, "preprod");
    // bob's rejection has no row either: it still stands (fail closed).
    approve(&home, "alice", "prod");
    approve(&home, "carol", "prod");
    let err = deploy_refused(&home, "prod");
    assert!(
        err.contains("bob rejected request #1 for prod: no rollback tested"),
        "{err}"
    );
    let (code, out) = verify(&home);
    assert_eq!(code, 1, "{out}");
    insta::assert_snapshot!("verify_rows_deleted", out);
}

#[test]
fn a_block_lifted_behind_pilotes_back_still_blocks() {
    let home = released();
    filed_by_dev(&home);
    ok(
        &home,
        "alice",
        &["request", "block", "1", "--reason", "CVE in a dependency"],
    );
    forge(&home, "UPDATE requests SET blocked = NULL WHERE id = 1");
    let err = deploy_refused(&home, "uat");
    assert!(
        err.contains("request #1 is blocked (alice: CVE in a dependency)"),
        "{err}"
    );
    let (code, out) = verify(&home);
    assert_eq!(code, 1, "{out}");
    insta::assert_snapshot!("verify_forged_unblock", out);
    // Unblocked on record, it goes.
    ok(&home, "alice", &["request", "unblock", "1"]);
    deploy(&home, "uat");
    assert_eq!(verify(&home).0, 0);
}

/// Waits up to 30 s for `done` to hold, saying `what` if it never does.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_gate_confirmation_inserted_with_sqlite3_does_not_open_the_gate() {
    let home = released();
    common::hold_plan(&home.path().join("config/pilote"));
    let id = ok(&home, "ops", &["run", "plans/hold.toml", "--env", "uat"]);
    let id = id.trim();
    assert_eq!(id, "1");
    let state = || query(&home, "SELECT state FROM runs WHERE id = 1");
    wait_for("the run waits at its gate", || state() == "waiting");
    forge(
        &home,
        "INSERT INTO run_commands (run_id, command, issued_by, issued_at)
         VALUES (1, 'confirm', 'alice', strftime('%s', 'now') * 1000)",
    );
    // The runner takes the command, says it ignored it, and keeps waiting.
    let logs = || ok(&home, "ops", &["logs", "1"]);
    wait_for("the runner notes the forged confirmation", || {
        logs().contains("a gate confirmation with no matching audit event was ignored")
    });
    assert_eq!(
        query(
            &home,
            "SELECT handled_at IS NOT NULL FROM run_commands WHERE id = 1"
        ),
        "1"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(state(), "waiting");
    assert!(!logs().contains("| confirmed"), "{}", logs());
    let (code, out) = verify(&home);
    assert_eq!(code, 1, "{out}");
    insta::assert_snapshot!("verify_forged_confirm", out);

    // alice's answer through pilote opens it.
    ok(&home, "alice", &["gate", "1", "--confirm"]);
    let out = ok(&home, "ops", &["logs", "1", "--follow"]);
    assert!(out.contains("| confirmed"), "{out}");
    assert_eq!(state(), "succeeded");
}
