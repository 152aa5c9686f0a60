//! What the fault-injection tests tried and what came of it: each test records its rows here,
//! and `tests/reliability_report.rs` turns every row into the table of `docs/reliability.md`,
//! so the published figures are the suite's own results, never written by hand.
//!
//! A row is one file, `<target>/tmp/reliability/<id>.json`, written whole by the test that
//! owns it (tests run in parallel: one writer per file, no append races). A row is written
//! only once the test's assertions for it passed: a failing test leaves no row, and the report
//! says which expected rows are missing.

use std::path::PathBuf;

/// The directory rows are written to.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reliability")
}

/// One fault tried by a test.
pub struct Row<'a> {
    /// Unique and stable: the file name, and the row's sort key in the report.
    pub id: &'a str,
    /// The group it is listed under: `crash`, `disk`, `terminal`, `concurrency`, `input`,
    /// `secrets`, `files`, `audit`, `fuzz`.
    pub area: &'a str,
    /// What was done to pilote, for a person ("runner killed with -9 after `step started`").
    pub fault: &'a str,
    /// How many times it was done in this run of the suite.
    pub tries: u64,
    /// What pilote did about it, as the test checked it.
    pub outcome: &'a str,
    /// What was lost, as the test measured it ("nothing", "the last 40 ms of output").
    pub lost: &'a str,
}

/// Records `row` (after its assertions passed).
pub fn record(row: &Row<'_>) {
    let dir = dir();
    std::fs::create_dir_all(&dir).expect("reliability dir");
    let value = serde_json::json!({
        "id": row.id,
        "area": row.area,
        "fault": row.fault,
        "tries": row.tries,
        "outcome": row.outcome,
        "lost": row.lost,
    });
    let tmp = dir.join(format!(".{}.json.tmp", row.id));
    std::fs::write(&tmp, format!("{value:#}\n")).expect("write row");
    std::fs::rename(&tmp, dir.join(format!("{}.json", row.id))).expect("rename row");
}
