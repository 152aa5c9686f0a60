//! A line diff (Myers' O(ND) algorithm) and its unified rendering, for showing what a
//! generated file would change before it is written.
//!
//! Small on purpose: config files are thousands of lines at most, and a diff past
//! `MAX_EDITS` differing lines falls back to "all of the middle replaced", which is still a
//! correct diff, only a longer one.

use std::fmt::Write as _;

/// Past this many differing lines the search stops (its memory grows with the square).
const MAX_EDITS: usize = 4_000;

/// One line of a diff: kept, only in the old text, or only in the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// The lines of `old` and `new` as a shortest edit script.
pub fn diff<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // The common head and tail cost nothing; the search runs on what is left between them.
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out: Vec<Line<'a>> = a[..head].iter().map(|l| Line::Same(l)).collect();
    match middle(ma, mb) {
        Some(lines) => out.extend(lines),
        None => {
            out.extend(ma.iter().map(|l| Line::Removed(l)));
            out.extend(mb.iter().map(|l| Line::Added(l)));
        }
    }
    out.extend(a[a.len() - tail..].iter().map(|l| Line::Same(l)));
    out
}

/// Myers' greedy search with its trace kept for the walk back; `None` past `MAX_EDITS`.
fn middle<'a>(a: &[&'a str], b: &[&'a str]) -> Option<Vec<Line<'a>>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (n + m) as usize;
    if max == 0 {
        return Some(Vec::new());
    }
    let offset = max as isize + 1;
    let at = |k: isize| (k + offset) as usize;
    let mut v = vec![0isize; 2 * max + 3];
    // trace[d] holds v[k] for k in -d..=d as it was before round d.
    let mut trace: Vec<Vec<isize>> = Vec::new();
    for d in 0..=max.min(MAX_EDITS) as isize {
        trace.push(v[at(-d)..=at(d)].to_vec());
        let mut k = -d;
        while k <= d {
            let mut x = if k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]) {
                v[at(k + 1)]
            } else {
                v[at(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[at(k)] = x;
            if x >= n && y >= m {
                return Some(walk_back(a, b, &trace, d));
            }
            k += 2;
        }
    }
    None
}

fn walk_back<'a>(
    a: &[&'a str],
    b: &[&'a str],
    trace: &[Vec<isize>],
    d_end: isize,
) -> Vec<Line<'a>> {
    let mut out = Vec::new();
    let (mut x, mut y) = (a.len() as isize, b.len() as isize);
    for d in (0..=d_end).rev() {
        let v = &trace[d as usize];
        let get = |k: isize| v[(k + d) as usize];
        let k = x - y;
        let prev_k = if d == 0 {
            0
        } else if k == -d || (k != d && get(k - 1) < get(k + 1)) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = if d == 0 { 0 } else { get(prev_k) };
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            x -= 1;
            y -= 1;
            out.push(Line::Same(a[x as usize]));
        }
        if d > 0 {
            if x == prev_x {
                y -= 1;
                out.push(Line::Added(b[y as usize]));
            } else {
                x -= 1;
                out.push(Line::Removed(a[x as usize]));
            }
        }
        (x, y) = (prev_x, prev_y);
    }
    out.reverse();
    out
}

/// Renders `lines` as a unified diff with `context` kept lines around each change, under
/// `--- old_label` / `+++ new_label`; empty when nothing changed.
pub fn unified(lines: &[Line<'_>], old_label: &str, new_label: &str, context: usize) -> String {
    let changed: Vec<usize> = (0..lines.len())
        .filter(|&i| !matches!(lines[i], Line::Same(_)))
        .collect();
    if changed.is_empty() {
        return String::new();
    }
    // Hunks: runs of changes whose context windows touch, as index ranges into `lines`.
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let start = i.saturating_sub(context);
        let end = (i + context + 1).min(lines.len());
        match hunks.last_mut() {
            Some((_, e)) if start <= *e => *e = end,
            _ => hunks.push((start, end)),
        }
    }
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    // Line numbers (1-based) in old and new at the start of `lines[i]`.
    let (mut old_no, mut new_no, mut i) = (1usize, 1usize, 0usize);
    for (start, end) in hunks {
        while i < start {
            match lines[i] {
                Line::Same(_) => (old_no, new_no) = (old_no + 1, new_no + 1),
                Line::Removed(_) => old_no += 1,
                Line::Added(_) => new_no += 1,
            }
            i += 1;
        }
        let body = &lines[start..end];
        let old_len = body.iter().filter(|l| !matches!(l, Line::Added(_))).count();
        let new_len = body
            .iter()
            .filter(|l| !matches!(l, Line::Removed(_)))
            .count();
        // An empty side is numbered by the line before it, as `diff -u` does.
        let _ = writeln!(
            out,
            "@@ -{},{old_len} +{},{new_len} @@",
            if old_len == 0 { old_no - 1 } else { old_no },
            if new_len == 0 { new_no - 1 } else { new_no },
        );
        for l in body {
            let _ = match l {
                Line::Same(t) => writeln!(out, " {t}"),
                Line::Removed(t) => writeln!(out, "-{t}"),
                Line::Added(t) => writeln!(out, "+{t}"),
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(lines: &[Line<'_>]) -> (String, String) {
        let (mut old, mut new) = (String::new(), String::new());
        for l in lines {
            match l {
                Line::Same(t) => {
                    old.push_str(t);
                    old.push('\n');
                    new.push_str(t);
                    new.push('\n');
                }
                Line::Removed(t) => {
                    old.push_str(t);
                    old.push('\n');
                }
                Line::Added(t) => {
                    new.push_str(t);
                    new.push('\n');
                }
            }
        }
        (old, new)
    }

    #[test]
    fn a_diff_rebuilds_both_texts_with_the_fewest_edits() {
        let old = "a\nb\nc\nd\ne\nf\n";
        let new = "a\nc\nd\nx\ne\nf\ny\n";
        let lines = diff(old, new);
        assert_eq!(apply(&lines), (old.to_string(), new.to_string()));
        let edits = lines.iter().filter(|l| !matches!(l, Line::Same(_))).count();
        assert_eq!(edits, 3, "{lines:?}");
    }

    #[test]
    fn unified_output_numbers_hunks_like_diff_u() {
        let old: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replace("line 3\n", "line three\n")
            .replace("line 18\n", "");
        let text = unified(&diff(&old, &new), "old", "new", 2);
        assert_eq!(
            text,
            "--- old\n+++ new\n@@ -1,5 +1,5 @@\n line 1\n line 2\n-line 3\n+line three\n line 4\n line 5\n\
             @@ -16,5 +16,4 @@\n line 16\n line 17\n-line 18\n line 19\n line 20\n"
        );
    }

    #[test]
    fn from_or_to_nothing() {
        assert_eq!(
            unified(&diff("", "a\nb\n"), "o", "n", 3),
            "--- o\n+++ n\n@@ -0,0 +1,2 @@\n+a\n+b\n"
        );
        assert_eq!(
            unified(&diff("a\n", ""), "o", "n", 3),
            "--- o\n+++ n\n@@ -1,1 +0,0 @@\n-a\n"
        );
        assert_eq!(unified(&diff("same\n", "same\n"), "o", "n", 3), "");
    }

    proptest::proptest! {
        #[test]
        fn any_two_texts_round_trip(
            old in proptest::collection::vec("[abc]", 0..30),
            new in proptest::collection::vec("[abc]", 0..30),
        ) {
            let (old, new) = (old.join("\n"), new.join("\n"));
            let (o, n) = apply(&diff(&old, &new));
            proptest::prop_assert_eq!(o.lines().collect::<Vec<_>>(), old.lines().collect::<Vec<_>>());
            proptest::prop_assert_eq!(n.lines().collect::<Vec<_>>(), new.lines().collect::<Vec<_>>());
        }
    }
}
