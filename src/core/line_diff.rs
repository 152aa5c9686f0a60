//! A unified line diff, for showing what a generated file would change before it is written.
//!
//! Myers' algorithm in its linear-space form, from the `similar` crate: memory grows with the
//! length of the two texts, never with the square of their differences, so a CMDB export
//! that rewrites a large inventory cannot exhaust the jump host. Time is bounded too: past
//! `TIME_LIMIT` the part not yet explored is shown as removed then added, which is still a
//! correct diff, only a longer one.

use std::time::Duration;

use similar::{Algorithm, TextDiff};

/// How long the search for the shortest diff may take before it settles for a longer one.
const TIME_LIMIT: Duration = Duration::from_secs(1);

/// `old` to `new` as a unified diff with `context` kept lines around each change, under
/// `--- old_label` / `+++ new_label` and numbered as `diff -u` does; empty when nothing
/// changed.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str, context: usize) -> String {
    TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .timeout(TIME_LIMIT)
        .diff_lines(old, new)
        .unified_diff()
        // similar doubles the radius when it groups changes into hunks.
        .context_radius(context.min(usize::MAX / 2))
        .header(old_label, new_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Instant;

    use super::*;

    /// Both texts back from a diff with all of its context: kept and removed lines make the
    /// old text, kept and added lines the new one.
    fn apply(diff: &str) -> (String, String) {
        let (mut old, mut new) = (String::new(), String::new());
        for line in diff.lines().skip(2).filter(|l| !l.starts_with("@@")) {
            let (tag, text) = line.split_at(1);
            match tag {
                " " => {
                    old.push_str(text);
                    old.push('\n');
                    new.push_str(text);
                    new.push('\n');
                }
                "-" => {
                    old.push_str(text);
                    old.push('\n');
                }
                "+" => {
                    new.push_str(text);
                    new.push('\n');
                }
                // "\ No newline at end of file"
                _ => {}
            }
        }
        (old, new)
    }

    fn edits(diff: &str) -> usize {
        diff.lines()
            .skip(2)
            .filter(|l| l.starts_with('-') || l.starts_with('+'))
            .count()
    }

    #[test]
    fn a_diff_rebuilds_both_texts_with_the_fewest_edits() {
        let old = "a\nb\nc\nd\ne\nf\n";
        let new = "a\nc\nd\nx\ne\nf\ny\n";
        let diff = unified(old, new, "o", "n", usize::MAX);
        assert_eq!(apply(&diff), (old.to_string(), new.to_string()));
        assert_eq!(edits(&diff), 3, "{diff}");
    }

    #[test]
    fn unified_output_numbers_hunks_like_diff_u() {
        let old: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replace("line 3\n", "line three\n")
            .replace("line 18\n", "");
        // What `diff -U2 --label old --label new` prints for these two files.
        assert_eq!(
            unified(&old, &new, "old", "new", 2),
            "--- old\n+++ new\n@@ -1,5 +1,5 @@\n line 1\n line 2\n-line 3\n+line three\n line 4\n line 5\n\
             @@ -16,5 +16,4 @@\n line 16\n line 17\n-line 18\n line 19\n line 20\n"
        );
    }

    #[test]
    fn from_or_to_nothing() {
        assert_eq!(
            unified("", "a\nb\n", "o", "n", 3),
            "--- o\n+++ n\n@@ -0,0 +1,2 @@\n+a\n+b\n"
        );
        assert_eq!(
            unified("a\n", "", "o", "n", 3),
            "--- o\n+++ n\n@@ -1 +0,0 @@\n-a\n"
        );
        assert_eq!(unified("same\n", "same\n", "o", "n", 3), "");
    }

    #[test]
    fn a_last_line_without_newline_is_marked_as_diff_u_does() {
        assert_eq!(
            unified("a\nb", "a\nb\n", "o", "n", 3),
            "--- o\n+++ n\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"
        );
    }

    #[test]
    fn an_inventory_sized_change_gets_the_shortest_diff() {
        // 5,000 lines, one in ten changed: far within the time limit, so nothing is lumped.
        let old: String = (0..5_000)
            .map(|i| format!("address = \"10.0.{i}\"\n"))
            .collect();
        let new = old
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i % 10 == 3 {
                    format!("{l} # moved\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect::<String>();
        let diff = unified(&old, &new, "o", "n", 3);
        assert_eq!(edits(&diff), 1_000);
    }

    /// Set in the child process that measures a large diff with nothing else running.
    const MEASURE: &str = "PILOTE_TEST_MEASURE_LINE_DIFF";

    /// The process's peak resident memory so far, in KiB.
    fn peak_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// 60,000 host lines, every other one renamed: 60,000 edits, each between two kept
    /// lines, the slowest shape for Myers' search and ~15x past where a quadratic trace
    /// needed 128 MB.
    fn large() -> (String, String) {
        let old: String = (0..60_000).map(|i| format!("host-{i}\n")).collect();
        let new: String = (0..60_000)
            .map(|i| {
                if i % 2 == 0 {
                    format!("host-{i}\n")
                } else {
                    format!("node-{i}\n")
                }
            })
            .collect();
        (old, new)
    }

    #[test]
    fn a_large_diff_stays_fast_and_its_memory_bounded() {
        if std::env::var_os(MEASURE).is_some() {
            let (old, new) = large();
            let before = peak_kib();
            let started = Instant::now();
            let diff = unified(&old, &new, "o", "n", usize::MAX);
            let ms = started.elapsed().as_millis();
            let grew = peak_kib() - before;
            assert_eq!(apply(&diff), (old, new), "the diff is still correct");
            println!("measured: {grew} KiB {ms} ms {} edits", edits(&diff));
            return;
        }
        // Peak memory is per process: measured in a process of its own, not beside the
        // other tests of this binary.
        let out = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "core::line_diff::tests::a_large_diff_stays_fast_and_its_memory_bounded",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(MEASURE, "1")
            .output()
            .expect("run the measure");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let measured: Vec<u64> = stdout
            .lines()
            // libtest may print the test's name on the same line first.
            .find_map(|l| l.split_once("measured: ").map(|(_, m)| m))
            .unwrap_or_else(|| panic!("the measure did not run: {stdout}"))
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let [kib, ms, edits] = measured[..] else {
            panic!("{stdout}")
        };
        // The texts are 1.8 MB together; the diff is ~2 MB of text.
        assert!(kib < 48 * 1024, "the diff took {kib} KiB");
        // One second of search, then rendering: well under this even on a loaded machine.
        assert!(ms < 10_000, "the diff took {ms} ms");
        assert!(edits >= 60_000, "{edits} edits");
    }

    proptest::proptest! {
        #[test]
        fn any_two_texts_round_trip(
            old in proptest::collection::vec("[abc]", 0..30),
            new in proptest::collection::vec("[abc]", 0..30),
        ) {
            let (old, new) = (old.join("\n"), new.join("\n"));
            let (o, n) = apply(&unified(&old, &new, "o", "n", usize::MAX));
            if old != new {
                proptest::prop_assert_eq!(o.lines().collect::<Vec<_>>(), old.lines().collect::<Vec<_>>());
                proptest::prop_assert_eq!(n.lines().collect::<Vec<_>>(), new.lines().collect::<Vec<_>>());
            }
        }
    }
}
