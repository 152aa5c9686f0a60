//! Writes `docs/reliability.md` from the rows the fault-injection tests recorded (see
//! `tests/common/reliability.rs`): the published figures are the suite's own results.
//!
//! Ignored by a plain `cargo test`, which runs the tests it reads in parallel with it:
//! `.ci/run` runs it once the suite and the fuzzers are done, with
//! `cargo test --test reliability_report -- --ignored`.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use common::reliability;

/// The areas of the report, in order, with a title each. An area the suite never recorded a
/// row for is a failure: a fault the report claims to cover must have been tried.
const AREAS: &[(&str, &str, bool)] = &[
    ("crash", "Runner crashes at each persistence point", true),
    ("disk", "Disk full", true),
    ("terminal", "Terminal loss", true),
    ("concurrency", "Concurrency", true),
    ("input", "Hostile input", true),
    ("secrets", "Secrets", true),
    ("files", "File modes", true),
    ("audit", "Audit trail tampering", true),
    ("people", "A team on one jump host, as real people", true),
    // Fuzzing needs a nightly toolchain and cargo-fuzz: without them, the report says so.
    ("fuzz", "Fuzzing", false),
];

/// Every row the suite records when it can run everything (as root, with a nightly toolchain
/// for the fuzzers). One missing from a run is listed as not run, so a fault the last run did
/// not try is never published with an old figure nor silently dropped.
const EXPECTED: &[&str] = &[
    "audit-delete",
    "audit-edit",
    "audit-edit-duplicate-key",
    "audit-rebuilt-whole",
    "audit-reorder",
    "audit-truncate",
    "audit-truncate-and-head",
    "concurrency-gate-waiting-keeps-lock",
    "concurrency-sixteen-race-one-lock",
    "concurrency-two-consoles-one-request",
    "crash-kill-9-output",
    "crash-lock_released",
    "crash-lock_taken",
    "crash-output_committed",
    "crash-release-build",
    "crash-silence_expired",
    "crash-silence_opened",
    "crash-step_finished",
    "crash-step_ran",
    "crash-step_started",
    "disk-full-at-a-gate",
    "disk-full-in-last-step",
    "disk-full-two-runs",
    "disk-injected-nth-write",
    "disk-preflight",
    "disk-rollback-without-spare",
    "disk-tmpfs-fills-mid-run",
    "files-modes-umask-022",
    "fuzz-archive",
    "fuzz-cmdb",
    "fuzz-escape",
    "fuzz-plan_check",
    "input-archives",
    "input-cmdb",
    "input-configs",
    "input-escapes-local",
    "input-escapes-names",
    "input-plans",
    "people-copy-killed-half-way",
    "people-lease-unreadable-or-deleted",
    "people-not-a-person",
    "people-own-workspace-through-sudo",
    "people-step-against-the-store",
    "secrets-full-demo",
    "secrets-ssh-host",
    "terminal-tmux-kill-server-console",
    "terminal-tmux-kill-server-follow",
];

#[derive(serde::Deserialize)]
struct Row {
    id: String,
    area: String,
    fault: String,
    tries: u64,
    outcome: String,
    lost: String,
    /// Fuzz rows: how long the target ran.
    #[serde(default)]
    seconds: Option<u64>,
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[test]
#[ignore = "run by .ci/run after the suite: it reads what the other tests recorded"]
fn write_the_report() {
    let dir = reliability::dir();
    let mut rows: Vec<Row> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no rows in {}: {e}; run the suite first", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read row");
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let mut by_area: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        assert!(
            AREAS.iter().any(|(a, _, _)| *a == r.area),
            "row {} has an unknown area {}",
            r.id,
            r.area
        );
        by_area.entry(r.area.as_str()).or_default().push(r);
    }
    let missing: Vec<&str> = AREAS
        .iter()
        .filter(|(a, _, required)| *required && !by_area.contains_key(a))
        .map(|(a, _, _)| *a)
        .collect();
    assert!(missing.is_empty(), "no row recorded for {missing:?}");

    let not_run: Vec<&str> = EXPECTED
        .iter()
        .copied()
        .filter(|id| !rows.iter().any(|r| r.id == *id))
        .collect();
    let unexpected: Vec<&str> = rows
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !EXPECTED.contains(id))
        .collect();
    assert!(
        unexpected.is_empty(),
        "rows {unexpected:?} are not in EXPECTED: add them there"
    );
    let tries: u64 = rows
        .iter()
        .filter(|r| r.area != "fuzz")
        .map(|r| r.tries)
        .sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# pilote's reliability figures\n\n\
         Written by `tests/reliability_report.rs` from the results of the fault-injection suite \
         (`cargo test --locked`, then the fuzzers, as `.ci/run` runs them): each row is recorded \
         by the test that tried the fault, once its assertions passed. Do not edit by hand; run \
         `.ci/run` (or the suite, then `cargo test --test reliability_report -- --ignored`).\n\n\
         **The goal:** nothing committed is ever lost; at most the last 50 ms of output of a \
         runner killed with -9 (its batch not yet committed). {} faults tried {} times in all.\n",
        rows.iter().filter(|r| r.area != "fuzz").count(),
        tries,
    );
    if !not_run.is_empty() {
        let _ = writeln!(
            out,
            "**Not run in this run of the suite** (not root, no mount namespace, or no nightly \
             toolchain for the fuzzers; each test said why): {}.\n",
            not_run
                .iter()
                .map(|id| format!("`{id}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for (area, title, _) in AREAS {
        let _ = writeln!(out, "## {title}\n");
        let Some(list) = by_area.get(area) else {
            let _ = writeln!(
                out,
                "Not run here: fuzzing needs a nightly toolchain and `cargo-fuzz` (`.ci/run` \
                 installs cargo-fuzz when nightly is there).\n"
            );
            continue;
        };
        if *area == "fuzz" {
            let seconds: u64 = list.iter().filter_map(|r| r.seconds).sum();
            let inputs: u64 = list.iter().map(|r| r.tries).sum();
            let _ = writeln!(
                out,
                "{:.2} hours of fuzzing, {inputs} inputs executed.\n\n\
                 | target | what it is fed | time | inputs executed | outcome |\n|---|---|---|---|---|",
                seconds as f64 / 3600.0
            );
            for r in list {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} s | {} | {} |",
                    r.id.trim_start_matches("fuzz-"),
                    cell(&r.fault),
                    r.seconds.unwrap_or(0),
                    r.tries,
                    cell(&r.outcome)
                );
            }
            out.push('\n');
            continue;
        }
        let _ = writeln!(out, "| fault | tries | outcome | lost |\n|---|---|---|---|");
        for r in list {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&r.fault),
                r.tries,
                cell(&r.outcome),
                cell(&r.lost)
            );
        }
        out.push('\n');
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reliability.md");
    std::fs::create_dir_all(path.parent().expect("docs dir")).expect("mkdir docs");
    std::fs::write(&path, out).expect("write docs/reliability.md");
    eprintln!("wrote {} ({} rows)", path.display(), rows.len());
}
