//! The layering DESIGN.md draws, kept true: every path into the crate (`use crate::…`,
//! `super::`, `self::`, a child module's name, and the same paths written inline in code) is
//! read from `src/`, resolved to the file that defines what it names (through `pub use`
//! re-exports), and checked against two rules:
//!
//! 1. Imports run one way: faces (`cli`, `tui`, `setup`, `demo`) → `workflow` → `engine` →
//!    `integrations`, `vault` → `spool` → `error`, `logging` → `store` → `settings` → `core`,
//!    with `clock`, `identity`, `table`, `fsutil`, `assets` at the ground.
//! 2. No circle among the files of `src/`.
//!
//! The reader is a small lexer, not a compiler: it skips comments, strings and characters, and
//! follows inline `mod name { … }` blocks so that `super::` means what rustc means.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules by floor; a module may import any module on a lower floor.
const FLOORS: &[(u8, &[&str])] = &[
    (0, &["clock", "identity", "table", "fsutil", "assets"]),
    (1, &["core"]),
    (2, &["settings"]),
    (3, &["store"]),
    (4, &["error", "logging"]),
    (5, &["spool"]),
    (6, &["integrations", "vault"]),
    (7, &["engine"]),
    (8, &["workflow"]),
    (9, &["cli", "tui", "setup", "demo"]),
];

/// Imports between modules of one floor that the direction allows: the CLI opens the console,
/// sets the team up and builds the demo; the demo sets its workspace up.
const SIDEWAYS: &[(&str, &str)] = &[
    ("cli", "tui"),
    ("cli", "setup"),
    ("cli", "demo"),
    ("demo", "setup"),
];

/// The circles left to break, each the files of one (issue 18: the runner and the files
/// that reach into it with `use super::*`, until it is split). A new circle, or one of these
/// grown, fails; one broken must leave this list, so it can only shrink.
const CIRCLES_LEFT: &[&[&str]] = &[&[
    "engine/runner.rs",
    "engine/runner/append.rs",
    "engine/runner/check.rs",
    "engine/runner/copy.rs",
    "engine/runner/playbook.rs",
    "engine/runner/silence.rs",
]];

/// No file of `src/` is over this many lines: a longer one holds more than one job.
const MAX_LINES: usize = 800;

/// The files still over [`MAX_LINES`], to split (issue 18); the list can only shrink.
const LONG_LEFT: &[&str] = &[
    "core/automation.rs",
    "engine/runner.rs",
    "tui/app.rs",
    "tui/tests.rs",
];

#[test]
fn imports_run_one_way_and_no_file_circles() {
    let tree = read_tree(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path());
    assert!(tree.len() > 50, "src/ was not read: {} files", tree.len());
    let (mut report, components) = check_all(&tree);
    for (files, line) in components {
        let known = CIRCLES_LEFT
            .iter()
            .any(|c| c.iter().map(|f| f.to_string()).collect::<BTreeSet<_>>() == files);
        if !known {
            report.push(line);
        }
    }
    assert!(
        report.is_empty(),
        "the layering is broken ({} problems):\n{}",
        report.len(),
        report.join("\n")
    );
}

/// The list of circles left is exact: a circle broken leaves it.
#[test]
fn the_circles_left_are_still_there() {
    let tree = read_tree(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path());
    let (_, components) = check_all(&tree);
    for c in CIRCLES_LEFT {
        let files: BTreeSet<String> = c.iter().map(|f| f.to_string()).collect();
        assert!(
            components.iter().any(|(found, _)| *found == files),
            "the circle {c:?} is gone or changed: take it out of CIRCLES_LEFT"
        );
    }
}

#[test]
fn no_file_is_over_800_lines() {
    let tree = read_tree(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path());
    let mut report = Vec::new();
    for (file, text) in &tree {
        let lines = text.lines().count();
        let listed = LONG_LEFT.contains(&file.as_str());
        if lines > MAX_LINES && !listed {
            report.push(format!(
                "src/{file}: {lines} lines, over {MAX_LINES}: split it where its jobs part"
            ));
        }
        if lines <= MAX_LINES && listed {
            report.push(format!(
                "src/{file}: {lines} lines now: take it out of LONG_LEFT"
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// The checker finds what it is for: an upward import, a circle through a re-export, an
/// import hidden in an inline path, and none where `super::` is a test module's own file.
#[test]
fn the_checker_reports_upward_imports_and_circles() {
    let tree: BTreeMap<String, String> = [
        ("lib.rs", "pub mod core;\npub mod settings;\npub mod store;\n"),
        (
            "core/mod.rs",
            "//! use crate::store::Store; (a comment)\nmod plan;\nmod expand;\npub use plan::Plan;\n",
        ),
        (
            "core/plan.rs",
            "use crate::settings::Inventory;\nuse super::expand::go;\npub struct Plan;\n\
             #[cfg(test)]\nmod tests { use super::*; use crate::core::Plan; }\n",
        ),
        (
            "core/expand.rs",
            "pub fn go() { let s = \"crate::store::x\"; let _ = crate::core::Plan; }\n",
        ),
        ("settings/mod.rs", "pub struct Inventory;\npub fn f() { crate::store::open(); }\n"),
        ("store/mod.rs", "use crate::{settings::{self, Inventory}, core::Plan};\npub fn open() {}\n"),
    ]
    .into_iter()
    .map(|(p, s)| (p.to_string(), s.to_string()))
    .collect();
    let report = check(&tree);
    let text = report.join("\n");
    insta::assert_snapshot!(text, @r"
    src/core/plan.rs:1: `core` (floor 1) imports `settings` (floor 2): imports go only down (crate::settings::Inventory)
    src/settings/mod.rs:2: `settings` (floor 2) imports `store` (floor 3): imports go only down (crate::store::open)
    circle: src/core/expand.rs -> src/core/plan.rs (src/core/expand.rs:1 crate::core::Plan) -> src/core/expand.rs (src/core/plan.rs:2 super::expand::go); the same circle also takes in src/settings/mod.rs, src/store/mod.rs
    ");
}

fn read_tree(src: &Path) -> BTreeMap<String, String> {
    let mut tree = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("src/ is readable").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(src)
                    .expect("under src/")
                    .to_string_lossy()
                    .into_owned();
                tree.insert(
                    rel,
                    std::fs::read_to_string(&path).expect("a source file is UTF-8"),
                );
            }
        }
    }
    tree
}

/// One path into the crate, as written at a line of a file.
struct Import {
    line: usize,
    /// The path as written.
    shown: String,
    /// Absolute path, `crate::` first.
    path: Vec<String>,
}

/// What each file says: the paths it names, the names it defines, its re-exports.
#[derive(Default)]
struct FileFacts {
    imports: Vec<Import>,
    defines: BTreeSet<String>,
    /// `pub use` names → absolute paths; `*` for globs (several).
    reexports: Vec<(String, Vec<String>)>,
}

fn check(tree: &BTreeMap<String, String>) -> Vec<String> {
    let (mut report, components) = check_all(tree);
    report.extend(components.into_iter().map(|(_, line)| line));
    report
}

/// The upward imports, and each circle: its files and a line that shows it.
type Circle = (BTreeSet<String>, String);

fn check_all(tree: &BTreeMap<String, String>) -> (Vec<String>, Vec<Circle>) {
    let modules: BTreeMap<String, String> =
        tree.keys().map(|f| (module_of(f), f.clone())).collect();
    let facts: BTreeMap<String, FileFacts> = tree
        .iter()
        .map(|(f, text)| (f.clone(), read_file(&module_of(f), text, &modules)))
        .collect();
    let mut report = Vec::new();
    // file -> file -> first place it is seen
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (file, f) in &facts {
        for import in &f.imports {
            let Some(target) = resolve(&import.path, &modules, &facts, 0) else {
                continue;
            };
            if target == *file {
                continue;
            }
            if let Some(problem) = direction(file, &target) {
                report.push(format!(
                    "src/{file}:{}: {problem} ({})",
                    import.line, import.shown
                ));
            }
            edges
                .entry(file.clone())
                .or_default()
                .entry(target)
                .or_insert_with(|| format!("src/{file}:{} {}", import.line, import.shown));
        }
    }
    report.sort();
    report.dedup();
    (report, circles(&edges))
}

/// The module path of a file: `core/plan.rs` → `crate::core::plan`, `core/mod.rs` → `crate::core`.
fn module_of(file: &str) -> String {
    let mut parts: Vec<&str> = file.trim_end_matches(".rs").split('/').collect();
    if matches!(parts.last(), Some(&"mod") | Some(&"lib") | Some(&"main")) {
        parts.pop();
    }
    std::iter::once("crate")
        .chain(parts)
        .collect::<Vec<_>>()
        .join("::")
}

fn floor_of(top: &str) -> Option<u8> {
    FLOORS
        .iter()
        .find(|(_, ms)| ms.contains(&top))
        .map(|(f, _)| *f)
}

fn top_of(file: &str) -> &str {
    let first = file.split('/').next().unwrap_or(file);
    first.trim_end_matches(".rs")
}

fn direction(from: &str, to: &str) -> Option<String> {
    let (a, b) = (top_of(from), top_of(to));
    if a == b || matches!(a, "main" | "lib") {
        return None;
    }
    let (Some(fa), Some(fb)) = (floor_of(a), floor_of(b)) else {
        let unknown = if floor_of(a).is_none() { a } else { b };
        return Some(format!(
            "`{unknown}` has no floor in tests/architecture.rs (FLOORS)"
        ));
    };
    if fb < fa || SIDEWAYS.contains(&(a, b)) {
        return None;
    }
    Some(format!(
        "`{a}` (floor {fa}) imports `{b}` (floor {fb}): imports go only down"
    ))
}

/// The file that defines what `path` names, following `pub use`; `None` outside the crate.
fn resolve(
    path: &[String],
    modules: &BTreeMap<String, String>,
    facts: &BTreeMap<String, FileFacts>,
    depth: usize,
) -> Option<String> {
    if path.first().map(String::as_str) != Some("crate") || depth > 8 {
        return None;
    }
    let (file, rest) = (1..=path.len()).rev().find_map(|n| {
        modules
            .get(&path[..n].join("::"))
            .map(|f| (f.clone(), &path[n..]))
    })?;
    let Some(name) = rest.first() else {
        return Some(file);
    };
    let f = &facts[&file];
    if f.defines.contains(name) {
        return Some(file);
    }
    for (reexported, target) in &f.reexports {
        if reexported == name {
            let mut next = target.clone();
            next.extend(rest[1..].iter().cloned());
            return resolve(&next, modules, facts, depth + 1).or(Some(file));
        }
    }
    for (reexported, target) in &f.reexports {
        if reexported == "*" {
            let mut next = target.clone();
            next.extend(rest.iter().cloned());
            if let Some(found) = resolve(&next, modules, facts, depth + 1)
                && facts[&found].defines.contains(name)
            {
                return Some(found);
            }
        }
    }
    Some(file)
}

/// Every circle among files (one strongly connected component each), with a path through it.
fn circles(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Circle> {
    let nodes: BTreeSet<&String> = edges
        .keys()
        .chain(edges.values().flat_map(|m| m.keys()))
        .collect();
    let mut report = Vec::new();
    let mut done: BTreeSet<&String> = BTreeSet::new();
    for start in &nodes {
        if done.contains(start) {
            continue;
        }
        // The component of `start`: reachable from it and reaching it.
        let from = reach(start, edges, false);
        let to = reach(start, edges, true);
        let component: BTreeSet<&String> = from.intersection(&to).copied().collect();
        done.extend(component.iter().copied());
        if component.len() < 2 {
            continue;
        }
        // The shortest way back to `start` from one of its successors in the component.
        let cycle = shortest_cycle(start, edges, &component);
        let mut line = format!("circle: src/{start}");
        for pair in cycle.windows(2) {
            let why = &edges[pair[0]][pair[1]];
            line.push_str(&format!(" -> src/{} ({why})", pair[1]));
        }
        if component.len() > cycle.len() - 1 {
            let others: Vec<String> = component
                .iter()
                .filter(|f| !cycle.contains(f))
                .map(|f| format!("src/{f}"))
                .collect();
            line.push_str(&format!(
                "; the same circle also takes in {}",
                others.join(", ")
            ));
        }
        report.push((component.iter().map(|f| f.to_string()).collect(), line));
    }
    report
}

fn reach<'a>(
    start: &'a String,
    edges: &'a BTreeMap<String, BTreeMap<String, String>>,
    backwards: bool,
) -> BTreeSet<&'a String> {
    let mut seen = BTreeSet::from([start]);
    let mut todo = vec![start];
    while let Some(n) = todo.pop() {
        let next: Vec<&String> = if backwards {
            edges
                .iter()
                .filter(|(_, to)| to.contains_key(n))
                .map(|(f, _)| f)
                .collect()
        } else {
            edges.get(n).map(|m| m.keys().collect()).unwrap_or_default()
        };
        for m in next {
            if seen.insert(m) {
                todo.push(m);
            }
        }
    }
    seen
}

fn shortest_cycle<'a>(
    start: &'a String,
    edges: &'a BTreeMap<String, BTreeMap<String, String>>,
    within: &BTreeSet<&'a String>,
) -> Vec<&'a String> {
    let mut parent: BTreeMap<&String, &String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for m in edges.get(n).map(|m| m.keys()).into_iter().flatten() {
            if m == start {
                let mut path = vec![n];
                let mut at = n;
                while let Some(p) = parent.get(at) {
                    path.push(p);
                    at = p;
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if within.contains(m) && !parent.contains_key(m) {
                parent.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    vec![start, start]
}

/// Code without comments, strings or character literals (each replaced by spaces, newlines
/// kept so that lines still count).
fn strip(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident_char(prev(&c, i))
        {
            // raw string r"…" or r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (0..hashes).all(|k| c.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                blank(&mut out, c[j]);
                j += 1;
            }
            i = j;
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                }
                i += 1;
            }
            i += 1;
        } else if c[i] == '\'' {
            // 'x' or '\n' is a character; 'a without a closing quote is a lifetime.
            if next == Some('\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                out.push(c[i]);
                i += 1;
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn prev(c: &[char], i: usize) -> char {
    if i == 0 { ' ' } else { c[i - 1] }
}

fn ident_char(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String, usize),
    Punct(&'static str, usize),
}

fn tokens(code: &str) -> Vec<Tok> {
    let c: Vec<char> = code.chars().collect();
    let (mut toks, mut i, mut line) = (Vec::new(), 0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ident_char(ch) {
            let start = i;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            toks.push(Tok::Ident(c[start..i].iter().collect(), line));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            toks.push(Tok::Punct("::", line));
            i += 2;
        } else {
            let p = match ch {
                '{' => "{",
                '}' => "}",
                ',' => ",",
                ';' => ";",
                '*' => "*",
                '#' => "#",
                '!' => "!",
                '(' => "(",
                ')' => ")",
                _ => "?",
            };
            toks.push(Tok::Punct(p, line));
            i += 1;
        }
    }
    toks
}

fn read_file(module: &str, text: &str, modules: &BTreeMap<String, String>) -> FileFacts {
    let toks = tokens(&strip(text));
    let mut facts = FileFacts::default();
    // Inline modules: the brace depth each opened at, and its name.
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut depth = 0usize;
    // Names brought in by `use` (alias → absolute path), for inline paths that start with one.
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let children: BTreeSet<String> = modules
        .keys()
        .filter_map(|m| m.strip_prefix(&format!("{module}::")))
        .filter(|rest| !rest.contains("::"))
        .map(str::to_string)
        .collect();
    let mut i = 0;
    while i < toks.len() {
        let here = || {
            let mut m = module.to_string();
            for (_, name) in &inline {
                m.push_str("::");
                m.push_str(name);
            }
            m
        };
        match &toks[i] {
            Tok::Punct("{", _) => depth += 1,
            Tok::Punct("}", _) => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(d, _)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(kw, _) if kw == "mod" => {
                if let (Some(Tok::Ident(name, _)), Some(Tok::Punct("{", _))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    if inline.is_empty() {
                        facts.defines.insert(name.clone());
                    }
                    inline.push((depth, name.clone()));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Tok::Ident(kw, _)
                if matches!(
                    kw.as_str(),
                    "fn" | "struct" | "enum" | "trait" | "type" | "const" | "static" | "union"
                ) && inline.is_empty() =>
            {
                if let Some(Tok::Ident(name, _)) = toks.get(i + 1) {
                    facts.defines.insert(name.clone());
                }
            }
            Tok::Ident(kw, _) if kw == "macro_rules" => {
                if let Some(Tok::Ident(name, _)) = toks.get(i + 2) {
                    facts.defines.insert(name.clone());
                }
            }
            Tok::Ident(kw, line) if kw == "use" => {
                let public = i > 0
                    && (matches!(&toks[i - 1], Tok::Ident(p, _) if p == "pub")
                        || matches!(&toks[i - 1], Tok::Punct(")", _)));
                let mut leaves = Vec::new();
                let end = use_tree(&toks, i + 1, Vec::new(), &mut leaves);
                let base = here();
                for (path, alias, at) in leaves {
                    let Some(abs) = absolute(&path, &base, &children, inline.is_empty()) else {
                        continue;
                    };
                    let mut abs = abs;
                    let mut path = path;
                    if path.last().is_some_and(|s| s == "self") {
                        path.pop();
                        abs.pop();
                    }
                    let shown = path.join("::");
                    let name = alias.unwrap_or_else(|| path.last().cloned().unwrap_or_default());
                    if public && inline.is_empty() {
                        if name == "*" {
                            facts.reexports.push(("*".into(), abs.clone()));
                        } else {
                            facts.reexports.push((name.clone(), abs.clone()));
                        }
                    }
                    if name != "*" {
                        aliases.insert(name, abs.clone());
                    }
                    facts.imports.push(Import {
                        line: at.max(*line),
                        shown,
                        path: abs,
                    });
                }
                i = end;
                continue;
            }
            Tok::Ident(first, line) => {
                // An inline path: crate::…, super::…, self::…, or child::… / alias::….
                let after_sep = i > 0 && matches!(&toks[i - 1], Tok::Punct("::", _));
                if !after_sep && matches!(toks.get(i + 1), Some(Tok::Punct("::", _))) {
                    let (path, end) = plain_path(&toks, i);
                    let base = here();
                    let abs = match first.as_str() {
                        "crate" | "super" | "self" => {
                            absolute(&path, &base, &children, inline.is_empty())
                        }
                        _ if children.contains(first) && inline.is_empty() => {
                            absolute(&path, &base, &children, true)
                        }
                        _ => aliases.get(first).map(|a| {
                            let mut p = a.clone();
                            p.extend(path[1..].iter().cloned());
                            p
                        }),
                    };
                    if let Some(abs) = abs {
                        facts.imports.push(Import {
                            line: *line,
                            shown: path.join("::"),
                            path: abs,
                        });
                    }
                    i = end;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    facts
}

/// `a::b::c` from token `i`; returns the segments and the index after them.
fn plain_path(toks: &[Tok], mut i: usize) -> (Vec<String>, usize) {
    let mut path = Vec::new();
    while let Some(Tok::Ident(s, _)) = toks.get(i) {
        path.push(s.clone());
        if matches!(toks.get(i + 1), Some(Tok::Punct("::", _)))
            && matches!(toks.get(i + 2), Some(Tok::Ident(..)))
        {
            i += 2;
        } else {
            i += 1;
            break;
        }
    }
    (path, i)
}

/// The leaves of a use tree from token `i`: (path, alias, line); returns the index after it.
fn use_tree(
    toks: &[Tok],
    mut i: usize,
    prefix: Vec<String>,
    leaves: &mut Vec<(Vec<String>, Option<String>, usize)>,
) -> usize {
    let mut path = prefix;
    loop {
        match toks.get(i) {
            Some(Tok::Ident(s, line)) if s == "as" => {
                if let Some(Tok::Ident(alias, _)) = toks.get(i + 1) {
                    leaves.push((path.clone(), Some(alias.clone()), *line));
                }
                return i + 2;
            }
            Some(Tok::Ident(s, line)) => {
                path.push(s.clone());
                if matches!(toks.get(i + 1), Some(Tok::Punct("::", _))) {
                    i += 2;
                } else {
                    if !matches!(toks.get(i + 1), Some(Tok::Ident(a, _)) if a == "as") {
                        leaves.push((path.clone(), None, *line));
                        return i + 1;
                    }
                    i += 1;
                }
            }
            Some(Tok::Punct("*", line)) => {
                path.push("*".into());
                leaves.push((path, Some("*".into()), *line));
                return i + 1;
            }
            Some(Tok::Punct("{", _)) => {
                i += 1;
                loop {
                    match toks.get(i) {
                        Some(Tok::Punct("}", _)) => return i + 1,
                        Some(Tok::Punct(",", _)) => i += 1,
                        None => return i,
                        _ => i = use_tree(toks, i, path.clone(), leaves),
                    }
                }
            }
            _ => return i,
        }
    }
}

/// An absolute path for `path` written in module `base`; `None` for other crates and `std`.
fn absolute(
    path: &[String],
    base: &str,
    children: &BTreeSet<String>,
    top_level: bool,
) -> Option<Vec<String>> {
    let mut at: Vec<String> = base.split("::").map(str::to_string).collect();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => return Some(path.iter().filter(|s| *s != "*").cloned().collect()),
        Some("super") | Some("self") => {
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "super" => {
                        at.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        Some(first) if top_level && children.contains(first) => {}
        _ => return None,
    }
    at.extend(rest.iter().filter(|s| *s != "*").cloned());
    Some(at)
}
