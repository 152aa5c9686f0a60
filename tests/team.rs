//! A team on one jump host, played by real people: `pilote setup-team` as root, then a
//! requester, two approvers and an operator, each typing `pilote ...` as themselves (their
//! pilote goes through the real sudo to the team's service account), and the attacks a
//! team member could try. Needs root and sudo (`.ci/run` installs it); each test has
//! accounts of its own, removed at its end.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::people::deploy_args;
use common::reliability::{Row, record};
use common::team::{Team, available, sh};

/// Skips (saying so) where the machine cannot play people.
macro_rules! needs_team {
    () => {
        if !available() {
            eprintln!("skipped: needs root and sudo");
            return;
        }
    };
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Files, submits and returns the request of `alice`'s plan (pets 1.4.0 in the vault).
fn file_request(team: &Team, alice: &str) -> String {
    team.person_writes(alice, "plans/pets.toml", Team::plan_text());
    let out = team.ok(alice, &common::filing("plans/pets.toml"));
    let id = out.trim().to_string();
    team.ok(alice, &["request", "submit", &id]);
    id
}

#[test]
fn four_people_carry_a_request_to_protected_prod() {
    needs_team!();
    let team = Team::new(&["alice", "bob", "carol", "dave"]);
    team.pets(&["bob", "carol"], false);
    let (alice, bob, carol, dave) = (
        team.name("alice"),
        team.name("bob"),
        team.name("carol"),
        team.name("dave"),
    );
    team.drop_release(&alice, 4096);
    let id = file_request(&team, &alice);

    // Everyone sees the same store: no `no request #1` for the second person.
    let shown = json(&team.ok(&bob, &["request", "show", &id, "--json"]));
    assert_eq!(shown["request"]["created_by"], alice.as_str(), "{shown}");

    // uat needs no approval: the requester deploys it herself.
    team.ok(
        &alice,
        &["deploy", &id, "--env", "uat", "--yes", "--follow"],
    );

    // Four eyes: her own approval is refused, and says why.
    let (code, _, err) = team.as_person(&alice, &["request", "approve", &id, "--env", "preprod"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("someone else must approve it"), "{err}");

    team.ok(&bob, &["request", "approve", &id, "--env", "preprod"]);
    team.ok(
        &dave,
        &["deploy", &id, "--env", "preprod", "--yes", "--follow"],
    );
    // prod takes two of the board; dave is not on it.
    let (code, _, err) = team.as_person(&dave, &["request", "approve", &id, "--env", "prod"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("only members of group `board`"), "{err}");
    team.ok(&bob, &["request", "approve", &id, "--env", "prod"]);
    let (code, _, err) = team.as_person(&dave, &deploy_args(&id, "prod", false));
    assert_eq!(code, 2, "one approval is not two: {err}");
    assert!(err.contains("prod needs 2 approval(s)"), "{err}");
    team.ok(&carol, &["request", "approve", &id, "--env", "prod"]);
    team.ok(&dave, &deploy_args(&id, "prod", true));

    // The trail names each person, from sudo's word, and holds.
    team.ok(&carol, &["audit", "verify"]);
    let trail = json(&team.ok(&carol, &["audit", "--json", "--limit", "500"]));
    let who = |action: &str| -> Vec<String> {
        trail["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e["actor"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(who("request.created"), std::slice::from_ref(&alice));
    assert_eq!(
        who("request.approved"),
        [bob.clone(), bob.clone(), carol.clone()]
    );
    let runs = json(&team.ok(&alice, &["runs", "--json"]));
    let operators: Vec<&str> = runs["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["started_by"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(operators, [dave.as_str(), dave.as_str(), alice.as_str()]);

    // What the steps wrote is the executor's, with the step umask and the copy's own mode;
    // the store is the service account's alone.
    let host = team.host("prod", "prod-1");
    let war = std::fs::metadata(host.join("deployments/pets.war")).expect("war");
    let exec_uid = pilote::identity::account(&team.exec).expect("exec").uid;
    assert_eq!(war.uid(), exec_uid);
    assert_eq!(war.mode() & 0o7777, 0o444);
    let made = std::fs::metadata(host.join("made-by-step")).expect("made");
    assert_eq!(made.uid(), exec_uid);
    assert_eq!(made.mode() & 0o777, 0o644, "the step's umask is 022");
    let store = std::fs::metadata(team.data.join("pilote.db")).expect("store");
    let svc_uid = pilote::identity::account(&team.svc).expect("svc").uid;
    assert_eq!((store.uid(), store.mode() & 0o777), (svc_uid, 0o600));
    let log = team.ok(&dave, &["logs", "3"]);
    assert!(
        log.contains(&format!(
            "as {}, umask 0022, started in {}",
            team.exec,
            team.exec_home.display()
        )),
        "{log}"
    );
}

#[test]
fn a_team_config_someone_else_can_write_is_not_read() {
    needs_team!();
    let team = Team::new(&["alice"]);
    team.pets(&["alice"], false);
    let alice = team.name("alice");
    team.ok(&alice, &["status"]);
    // An automation of the catalog that a member could rewrite: the service account would
    // run what she writes in it.
    let automation = team.config.join("automations/app.toml");
    sh(std::process::Command::new("chown")
        .arg(format!("{alice}:"))
        .arg(&automation));
    let (code, _, err) = team.as_person(&alice, &["status"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("refusing the team workspace") && err.contains(&format!("belongs to {alice}")),
        "{err}"
    );
    // Root's again, but writable by its group.
    sh(std::process::Command::new("chown")
        .arg("root:")
        .arg(&automation));
    sh(std::process::Command::new("chmod")
        .arg("664")
        .arg(&automation));
    let (code, _, err) = team.as_person(&alice, &["status"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("can be written by others than root"), "{err}");
}

#[test]
fn the_service_account_and_root_are_nobody() {
    needs_team!();
    let team = Team::new(&["alice"]);
    team.pets(&["alice"], false);
    let alice = team.name("alice");
    team.drop_release(&alice, 100);
    let id = file_request(&team, &alice);
    // The service account itself (someone who became it without sudo's word for who they
    // are), root through sudo, and root directly: none of them approves.
    let direct = sh(std::process::Command::new("/usr/sbin/runuser")
        .args(["-u", &team.svc, "--"])
        .arg(env!("CARGO_BIN_EXE_pilote"))
        .args(["request", "approve", &id, "--env", "preprod"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/"));
    let via_sudo = sh(std::process::Command::new("sudo")
        .args(["-n", "-u", &team.svc, "--"])
        .arg(env!("CARGO_BIN_EXE_pilote"))
        .arg("--workspace")
        .arg(&team.config)
        .args(["request", "approve", &id, "--env", "preprod"])
        .current_dir("/"));
    let root = sh(std::process::Command::new(env!("CARGO_BIN_EXE_pilote"))
        .arg("--workspace")
        .arg(&team.config)
        .args(["request", "approve", &id, "--env", "preprod"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin"));
    assert_eq!(direct.0, 2, "{direct:?}");
    assert!(
        direct
            .2
            .contains("is pilote's service account, not a person"),
        "{direct:?}"
    );
    for (what, r) in [("root through sudo", &via_sudo), ("root", &root)] {
        assert_eq!(r.0, 2, "{what}: {r:?}");
        assert!(r.2.contains("root is not a person"), "{what}: {r:?}");
    }
    let shown = json(&team.ok(&alice, &["request", "show", &id, "--json"]));
    assert_eq!(shown["approvals"], serde_json::json!([]), "{shown}");
    // Looking stays open to them.
    assert_eq!(direct_status(&team).0, 0);
    record(&Row {
        id: "people-not-a-person",
        area: "people",
        fault: "the service account (no sudo), root through sudo and root directly approve a request",
        tries: 3,
        outcome: "each refused, saying how to act as yourself; no approval recorded",
        lost: "nothing",
    });
}

fn direct_status(team: &Team) -> (i32, String, String) {
    sh(std::process::Command::new("/usr/sbin/runuser")
        .args(["-u", &team.svc, "--"])
        .arg(env!("CARGO_BIN_EXE_pilote"))
        .arg("status")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/"))
}

#[test]
fn a_workspace_of_ones_own_never_runs_as_the_service_account() {
    needs_team!();
    let team = Team::new(&["alice"]);
    team.pets(&["alice"], false);
    let alice = team.name("alice");
    // Her own workspace, whose automation would run as whoever runs it.
    let own = team.home(&alice).join("mine");
    let copy = std::process::Command::new("cp")
        .arg("-r")
        .arg(&team.config)
        .arg(&own)
        .status()
        .expect("cp");
    assert!(copy.success());
    std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("{alice}:"))
        .arg(&own)
        .status()
        .expect("chown");
    let sudo = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new("/usr/sbin/runuser");
        cmd.args(["-u", &alice, "--", "sudo", "-n"]);
        for (k, v) in env {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.args(["-u", &team.svc, "--"])
            .arg(env!("CARGO_BIN_EXE_pilote"))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir("/");
        sh(&mut cmd)
    };
    let own_text = own.display().to_string();
    // Her `-w` under sudo: refused, not silently replaced by the team's.
    let (code, _, err) = sudo(&["--workspace", &own_text, "status"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not it, and it serves no other"), "{err}");
    // Variables through sudo are not hers to set (the rule does not allow it), and any that
    // reach the service account are refused.
    let (code, _, err) = sudo(&["status"], &[("PILOTE_DATA_DIR", "/tmp")]);
    assert_ne!(code, 0, "{err}");
    // Her own copy typed plainly: it claims to be the team's, so her pilote goes through
    // sudo with it, and the service account refuses it.
    let args: Vec<String> = vec!["--workspace".into(), own_text.clone(), "status".into()];
    let (code, out, err) = sh_as(&team, &alice, &args);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("is not it, and it serves no other"), "{err}");
    record(&Row {
        id: "people-own-workspace-through-sudo",
        area: "people",
        fault: "a member runs her own workspace as the service account: her `-w` through sudo, her copy of the team's config, a variable through sudo",
        tries: 3,
        outcome: "each refused with an error (never honoured, never replaced by an empty store)",
        lost: "nothing",
    });
}

fn sh_as(team: &Team, person: &str, args: &[String]) -> (i32, String, String) {
    sh(std::process::Command::new("/usr/sbin/runuser")
        .args(["-u", person, "--"])
        .arg(env!("CARGO_BIN_EXE_pilote"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", team.home(person))
        .current_dir(team.home(person)))
}

#[test]
fn a_step_cannot_touch_the_store_nor_decide() {
    needs_team!();
    let team = Team::new(&["alice", "bob"]);
    team.pets(&["bob"], false);
    let (alice, bob) = (team.name("alice"), team.name("bob"));
    team.drop_release(&alice, 100);
    let id = file_request(&team, &alice);
    // An ad-hoc plan of the requester's whose step tries everything: read and write the
    // store, approve her own request through pilote, read the spool and the vault.
    let db = team.data.join("pilote.db").display().to_string();
    let bin = env!("CARGO_BIN_EXE_pilote");
    team.admin_writes(
        "automations/evil.toml",
        &format!(
            r#"[evil]
description = "What a deploy script could try"
domain = "war"
changes_state = false

[[evil.steps]]
name = "try"
kind = "ssh"
script = '''
echo "as $(id -un)"
sqlite3 {db} "INSERT INTO approvals (request_id, env, approver, decision, comment, bound_digest, decided_at) VALUES ({id}, 'preprod', '{bob}', 'approved', '', 'x', 0)" && echo WROTE-THE-STORE
cat {db} > /dev/null && echo READ-THE-STORE
ls {data}/spool {data}/vault && echo READ-THE-SPOOL
{bin} --workspace {config} request approve {id} --env preprod && echo APPROVED
env | grep -E '^(SUDO_|PILOTE_WORKSPACE)' && echo LEAKED-ENV
ls /proc/$PPID/fd > /dev/null 2>&1 && echo REACHED-THE-EXECUTOR
true
'''
"#,
            data = team.data.display(),
            config = team.config.display(),
        ),
    );
    team.person_writes(
        &alice,
        "evil.toml",
        r#"app = "pets"
[[actions]]
id = "try"
title = "Try"
uses = "evil"
"#,
    );
    let (code, out, err) =
        team.as_person(&alice, &["run", "evil.toml", "--env", "uat", "--follow"]);
    assert_eq!(code, 0, "{out}{err}");
    let log = team.ok(&alice, &["logs", "1"]);
    assert!(log.contains(&format!("as {}", team.exec)), "{log}");
    for bad in [
        "WROTE-THE-STORE",
        "READ-THE-STORE",
        "READ-THE-SPOOL",
        "APPROVED",
        "LEAKED-ENV",
        "REACHED-THE-EXECUTOR",
    ] {
        assert!(!log.contains(bad), "{bad}: {log}");
    }
    let approvals = team.sql(&format!(
        "SELECT count(*) FROM approvals WHERE request_id = {id}"
    ));
    assert_eq!(approvals.trim(), "0");
    let (code, _, err) = team.as_person(&bob, &["deploy", &id, "--env", "preprod", "--yes"]);
    assert_eq!(code, 2, "{err}");
    record(&Row {
        id: "people-step-against-the-store",
        area: "people",
        fault: "a step of the team's catalog writes the store with sqlite3, reads it, lists the spool and vault, approves through pilote, looks for SUDO_*, opens its executor's fds",
        tries: 6,
        outcome: "the step ran as the executor account; each attempt denied; the store unchanged",
        lost: "nothing",
    });
}

#[test]
fn a_live_run_with_an_unreadable_or_deleted_lease_is_never_declared_dead() {
    needs_team!();
    let team = Team::new(&["alice", "bob"]);
    team.pets(&["bob"], true);
    let (alice, bob) = (team.name("alice"), team.name("bob"));
    team.drop_release(&alice, 100);
    let id = file_request(&team, &alice);
    let run = team
        .ok(&alice, &["deploy", &id, "--env", "uat", "--yes"])
        .trim()
        .to_string();
    team.wait_state(&bob, &run, "waiting");
    let lease = team.data.join(format!("spool/run-{run}.lock"));
    // The lease the service account cannot open (root's now, as if root had started it).
    std::process::Command::new("chown")
        .args(["root:root"])
        .arg(&lease)
        .status()
        .expect("chown");
    for args in [vec!["runs"], vec!["resume", &run], vec!["logs", &run]] {
        let _ = team.as_person(&bob, &args);
    }
    assert_eq!(team.wait_state(&bob, &run, "waiting")["state"], "waiting");
    let (code, _, err) = team.as_person(&bob, &["resume", &run]);
    assert_eq!(code, 2, "{err}");
    // Then deleted: the runner's own process still lives, and says so.
    std::fs::remove_file(&lease).expect("rm");
    let _ = team.as_person(&bob, &["runs"]);
    let (code, _, err) = team.as_person(&bob, &["resume", &run]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(team.wait_state(&bob, &run, "waiting")["state"], "waiting");
    // The one runner goes on when told, and its effect happens once.
    team.ok(&bob, &["gate", &run, "--confirm"]);
    team.wait_state(&bob, &run, "succeeded");
    let effects =
        std::fs::read_to_string(team.host("uat", "uat-1").join("effects")).expect("effects");
    assert_eq!(effects, "deployed\n");
    record(&Row {
        id: "people-lease-unreadable-or-deleted",
        area: "people",
        fault: "the lease of a live run made unreadable to the service account (root's), then deleted; `runs`, `logs` and `resume` by another person",
        tries: 2,
        outcome: "never declared interrupted, resume refused; confirmed, the one runner ended it, its effect done once",
        lost: "nothing",
    });
}

#[test]
fn deploy_rollback_deploy_and_a_copy_killed_half_way() {
    needs_team!();
    let team = Team::new(&["alice"]);
    team.pets(&["alice"], false);
    let alice = team.name("alice");
    // Large enough that the copy is under way when the runner is killed.
    team.drop_release(&alice, 256 * 1024 * 1024);
    let id = file_request(&team, &alice);
    let war = team.host("uat", "uat-1").join("deployments/pets.war");

    let run = team
        .ok(&alice, &["deploy", &id, "--env", "uat", "--yes"])
        .trim()
        .to_string();
    // Kill the runner (-9) while its copy runs: nothing under the final name. (Other
    // tests run beside this one: processes are found by this team's own paths.)
    let copy_of_this_team = format!("__copy {}", team.hosts.display());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let copying = std::process::Command::new("pgrep")
            .args(["-f", &copy_of_this_team])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if copying {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the copy never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::process::Command::new("pkill")
        .args([
            "-KILL",
            "-f",
            &format!("{} __runner {run}$", team.config.display()),
        ])
        .status()
        .expect("pkill");
    team.wait_state(&alice, &run, "interrupted");
    assert!(!war.exists(), "a killed copy left {}", war.display());
    std::thread::sleep(Duration::from_millis(500));
    let leftover = std::process::Command::new("pgrep")
        .args(["-f", &copy_of_this_team])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(!leftover, "the copy outlived its runner");
    // Resume does it again, whole.
    team.ok(&alice, &["resume", &run, "--follow"]);
    assert_eq!(
        std::fs::metadata(&war).expect("war").len(),
        256 * 1024 * 1024
    );

    // Roll back, deploy again: the read-only copy of the first deploy is replaced.
    team.ok(
        &alice,
        &["rollback", "pets", "--env", "uat", "--yes", "--follow"],
    );
    let again = team.ok(
        &alice,
        &["deploy", &id, "--env", "uat", "--yes", "--follow"],
    );
    let _ = again;
    let effects =
        std::fs::read_to_string(team.host("uat", "uat-1").join("effects")).expect("effects");
    assert_eq!(effects, "deployed\nrestored\ndeployed\n");
    record(&Row {
        id: "people-copy-killed-half-way",
        area: "people",
        fault: "runner killed with -9 during a 256 MiB local copy, as the executor account; then resume, rollback, deploy again over the read-only copy",
        tries: 1,
        outcome: "nothing under the final name, no copy left running; resume copied it whole; the redeploy replaced it",
        lost: "nothing",
    });
}

#[test]
fn a_person_outside_the_team_is_told_what_is_missing() {
    needs_team!();
    let mut team = Team::new(&["alice"]);
    team.pets(&["alice"], false);
    let eve = team.outsider("eve");
    let (code, _, err) = team.as_person(&eve, &["status"]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&format!("no sudo rule lets {eve} run")) && err.contains(&team.group),
        "{err}"
    );
}

#[test]
fn root_refuses_a_data_dir_of_someone_else_or_a_link() {
    needs_team!();
    let mut team = Team::new(&["alice"]);
    let mallory = team.outsider("mallory");
    let home = common::Home::new();
    let ws = home.demo_config();
    let (code, out, err) = common::run(home.pilote().arg("--workspace").arg(&ws).arg("status"));
    assert_eq!(code, 0, "{out}{err}");
    let data = home.path().join("data/pilote/workspaces/demo");
    // Another user swaps in a data dir of her own (her store, her requests).
    let theirs = home.path().join("theirs");
    std::fs::rename(&data, &theirs).expect("move");
    sh(std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("{mallory}:"))
        .arg(&theirs));
    std::os::unix::fs::symlink(&theirs, &data).expect("link");
    let (code, _, err) = common::run(home.pilote().arg("--workspace").arg(&ws).arg("status"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is a symbolic link"), "{err}");
    std::fs::remove_file(&data).expect("rm link");
    std::fs::rename(&theirs, &data).expect("move back");
    let (code, _, err) = common::run(
        home.pilote()
            .arg("--workspace")
            .arg(&ws)
            .args(["request", "list"]),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("it is owned by {mallory}")) && err.contains("not by root"),
        "{err}"
    );
}

#[test]
fn someone_elses_workspace_is_a_permission_problem_not_a_missing_one() {
    needs_team!();
    let mut team = Team::new(&["alice"]);
    let (erin, frank) = (team.outsider("erin"), team.outsider("frank"));
    let ws = team.home(&erin).join("ws");
    let (code, out, err) = sh(&mut {
        let mut c = std::process::Command::new("/usr/sbin/runuser");
        c.args(["-u", &erin, "--"])
            .arg(env!("CARGO_BIN_EXE_pilote"))
            .arg("init")
            .arg(&ws)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", team.home(&erin));
        c
    });
    assert_eq!(code, 0, "{out}{err}");
    let args: Vec<String> = vec![
        "--workspace".into(),
        ws.display().to_string(),
        "status".into(),
    ];
    let (code, _, err) = sh_as(&team, &frank, &args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains(&format!("belongs to {erin}")), "{err}");
    assert!(!err.contains("pilote init"), "{err}");
}

#[test]
fn pilotes_own_internal_commands_are_not_a_way_in() {
    needs_team!();
    let team = Team::new(&["alice"]);
    team.pets(&["alice"], false);
    let alice = team.name("alice");
    team.ok(&alice, &["status"]);
    let db = team.data.join("pilote.db");
    let before = std::fs::read(&db).expect("store");
    let through_sudo = |args: &[&str]| {
        let mut cmd = std::process::Command::new("/usr/sbin/runuser");
        cmd.args(["-u", &alice, "--", "sudo", "-n", "-u", &team.svc, "--"])
            .arg(env!("CARGO_BIN_EXE_pilote"))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir("/")
            .stdin(std::process::Stdio::null());
        sh(&mut cmd)
    };
    // The digest of nothing: stdin is empty, so the copy would pass its own check and put an
    // empty file in place of the store.
    let forged = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_string();
    let db_text = db.display().to_string();
    let config = team.config.display().to_string();
    for (args, why) in [
        (
            vec!["__copy", db_text.as_str(), "0600", forged.as_str()],
            "never runs steps nor their copies",
        ),
        (vec!["__executor"], "never runs steps nor their copies"),
        (
            vec!["--workspace", config.as_str(), "__runner", "1"],
            "started by pilote, not through sudo",
        ),
        (
            vec!["man", "/tmp"],
            "keeps no workspace or files of its own",
        ),
        (
            vec!["init", "/tmp/pilote-not-made"],
            "keeps no workspace or files of its own",
        ),
        (
            vec!["demo", "--no-open"],
            "keeps no workspace or files of its own",
        ),
    ] {
        let (code, _, err) = through_sudo(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
    // Through her own pilote too: it goes through sudo, and is refused the same way.
    let (code, _, err) = team.as_person(&alice, &["__copy", &db_text, "0600", &forged]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        std::fs::read(&db).expect("store"),
        before,
        "the store is untouched"
    );
}

#[test]
fn a_secret_is_kept_for_its_env_and_never_reaches_another() {
    needs_team!();
    let team = Team::new(&["alice"]);
    team.pets(&["alice"], false);
    let alice = team.name("alice");
    for env in ["uat", "prod"] {
        team.admin_writes(
            &format!("secrets/{env}/db"),
            &format!("{env}-db-password-s3cr3t\n"),
        );
        let path = team.config.join(format!("secrets/{env}/db"));
        // The admins' file, readable by the service account alone.
        sh(std::process::Command::new("chgrp")
            .arg(&team.svc)
            .arg(&path));
        sh(std::process::Command::new("chmod").arg("640").arg(&path));
    }
    team.admin_writes(
        "automations/db.toml",
        r#"[db-login]
description = "Use the database password"
domain = "war"
changes_state = false

[db-login.params.password]
type = "secret"

[[db-login.steps]]
name = "log in"
kind = "ssh"
script = 'test -n "$PASSWORD" && echo "logged in with ${#PASSWORD} characters"'
"#,
    );
    let plan = |env: &str| {
        format!(
            r#"app = "pets"
[[actions]]
id = "login"
title = "Log in"
uses = "db-login"
with = {{ password = {{ file = "{}" }} }}
"#,
            team.config.join(format!("secrets/{env}/db")).display()
        )
    };
    team.person_writes(&alice, "own.toml", &plan("uat"));
    team.person_writes(&alice, "other.toml", &plan("prod"));
    let (code, out, err) = team.as_person(&alice, &["run", "own.toml", "--env", "uat", "--follow"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("logged in with 22 characters"), "{out}");
    assert!(!out.contains("s3cr3t"), "{out}");
    let (code, out, err) =
        team.as_person(&alice, &["run", "other.toml", "--env", "uat", "--follow"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(out.contains("is not one of uat's secrets"), "{out}");
    assert!(!out.contains("logged in"), "{out}");
}

#[test]
fn a_member_lists_and_rolls_back_through_sudo_with_a_broken_inventory() {
    needs_team!();
    let team = Team::new(&["alice"]);
    team.pets(&["alice"], false);
    let alice = team.name("alice");
    team.drop_release(&alice, 1024);
    let id = file_request(&team, &alice);
    team.ok(
        &alice,
        &["deploy", &id, "--env", "uat", "--yes", "--follow"],
    );
    // The admins' typo in the inventory, root's file as before.
    let inventory = std::fs::read_to_string(team.config.join("inventory.toml")).expect("read");
    team.admin_writes("inventory.toml", &format!("{inventory}\nbogus = 1\n"));

    // As alice, through sudo to the service account: the runs, with the warning.
    let (code, out, err) = team.as_person(&alice, &["runs", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("warning: the config has errors ("), "{err}");
    assert_eq!(common::run_in(&out, "1")["state"], "succeeded", "{out}");
    // A deploy waits for the fix; the rollback runs, as the executor account, from the
    // config recorded with the run.
    let (code, _, err) = team.as_person(&alice, &["deploy", &id, "--env", "uat", "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bogus"), "the refusal names the error: {err}");
    team.ok(
        &alice,
        &["rollback", "pets", "--env", "uat", "--yes", "--follow"],
    );
    let effects =
        std::fs::read_to_string(team.host("uat", "uat-1").join("effects")).expect("effects");
    assert_eq!(effects, "deployed\nrestored\n");

    // A pilote.toml of the team that does not parse gives the service account no store to
    // fall back on: refused, nothing read.
    let settings = std::fs::read_to_string(team.config.join("pilote.toml")).expect("read");
    team.admin_writes("pilote.toml", &format!("{settings}\n[ssh\n"));
    let (code, out, err) = team.as_person(&alice, &["runs", "--json"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(!out.contains("\"runs\""), "{out}");
}
