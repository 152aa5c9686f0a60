//! Hostile input through the real binary: every file of `tests/fixtures/hostile/` (malformed
//! plans, configs, CMDB documents and archives; `generate.py` there says how each was made)
//! gets a clear error, with file:line:col where there is a position, and exit 2 (or the
//! code listed), never a panic, in bounded time, writing nothing; and a step printing terminal
//! control sequences has them stored raw and shown escaped, never obeyed.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::pty::Pty;
use common::reliability::{Row, record};
use common::workspace::Ws;
use common::{Home, run};

/// What a debug build on a busy 2-core machine may take for one file, a bomb included.
const BOUND: Duration = Duration::from_secs(20);

/// One file of the corpus: its exit code, and whether the error names a line and column.
struct Case {
    name: &'static str,
    code: i32,
    positioned: bool,
}

const fn err(name: &'static str) -> Case {
    Case {
        name,
        code: 2,
        positioned: true,
    }
}

/// An error about the whole file or archive: no position to give.
const fn whole(name: &'static str) -> Case {
    Case {
        name,
        code: 2,
        positioned: false,
    }
}

/// Accepted as it is (a BOM is not a mistake).
const fn accepted(name: &'static str) -> Case {
    Case {
        name,
        code: 0,
        positioned: false,
    }
}

const PLANS: &[Case] = &[
    accepted("bom.toml"),
    err("crlf.toml"),
    err("cyclic_phases.toml"),
    err("deep_inline_tables.toml"),
    err("duplicate_action_ids.toml"),
    err("duplicate_keys.toml"),
    err("escape_in_automation.toml"),
    err("escape_in_key.toml"),
    err("huge_integer.toml"),
    err("invalid_utf8.toml"),
    err("long_line.toml"),
    err("nul_byte.toml"),
    err("truncated.toml"),
    err("wrong_types.toml"),
];

/// `<file of the workspace it replaces>/<name>`; `automations/` ones are added as
/// `automations/hostile.toml`.
const CONFIGS: &[Case] = &[
    err("automations/absurd_timeout.toml"),
    err("automations/duplicate_keys.toml"),
    accepted("automations/escape_in_step_name.toml"),
    err("inventory/deep_arrays.toml"),
    err("inventory/duplicate_table.toml"),
    err("inventory/huge_port.toml"),
    err("inventory/invalid_utf8.toml"),
    err("lifecycles/negative_approvals.toml"),
    err("lifecycles/wrong_shape.toml"),
    err("pilote/bom_crlf.toml"),
    err("pilote/escape_in_key.toml"),
    err("pilote/huge_timeout.toml"),
    err("pilote/nul_byte.toml"),
    err("pilote/truncated.toml"),
    err("pilote/wrong_type.toml"),
];

const CMDB: &[Case] = &[
    accepted("bom.json"),
    err("crlf_error.json"),
    err("deep_nesting.json"),
    err("escape_in_host.json"),
    err("huge_port.json"),
    err("huge_string.json"),
    err("lone_surrogate.json"),
    err("nul_in_name.json"),
    err("raw_control_in_string.json"),
    err("truncated.json"),
];

const ARCHIVES: &[Case] = &[
    whole("absolute_path.tar"),
    whole("device.tar.gz"),
    whole("duplicate_entry.tar.gz"),
    whole("empty.tar"),
    whole("escape_in_name.tar.gz"),
    whole("fifo.tar"),
    whole("gzip_bomb.tar.gz"),
    whole("hardlink_out.tar"),
    whole("not_an_archive.tar.gz"),
    whole("only_dirs.tgz"),
    whole("symlink_out.tar.gz"),
    whole("truncated.tar.gz"),
    whole("zip_absolute.zip"),
    whole("zip_bomb.zip"),
    whole("zip_slip.tar.gz"),
    whole("zip_slip.zip"),
    whole("zip_symlink.zip"),
    whole("zip_truncated.zip"),
];

fn corpus(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hostile")
        .join(kind)
}

/// Every file under `dir`, as paths relative to it, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            out.extend(files(&path).into_iter().map(|f| format!("{name}/{f}")));
        } else {
            out.push(name);
        }
    }
    out.sort();
    out
}

/// The corpus and its table agree: a file added without saying what it must do, or a case
/// whose file went away, fails here rather than being skipped.
fn listed(kind: &str, cases: &[Case]) {
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    assert_eq!(files(&corpus(kind)), names, "tests/fixtures/hostile/{kind}");
}

/// Whether `text` has `<file>:LINE:COL:` for a file named `file`.
fn has_position(text: &str, file: &str) -> bool {
    text.match_indices(&format!("{file}:")).any(|(i, m)| {
        let rest = &text[i + m.len()..];
        let mut parts = rest.splitn(3, ':');
        let digits = |s: Option<&str>| {
            s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        };
        digits(parts.next()) && digits(parts.next())
    })
}

/// The checks every file gets: the code, no panic, the position, nothing a terminal would
/// obey on stderr, bounded time. Returns stderr made stable, for its snapshot.
fn judge(
    home: &Home,
    case: &Case,
    file: &str,
    took: Duration,
    result: (i32, String, String),
) -> String {
    let (code, out, err) = result;
    let name = case.name;
    assert!(
        !err.contains("panicked") && code != 101,
        "{name}: a panic: {err}"
    );
    assert_eq!(code, case.code, "{name}: {out}\n{err}");
    if case.code != 0 {
        assert!(err.contains("error: "), "{name}: {err}");
    }
    if case.positioned {
        assert!(
            has_position(&err, file),
            "{name}: no {file}:line:col in {err}"
        );
    }
    if let Some(c) = format!("{out}{err}")
        .chars()
        .find(|c| c.is_control() && *c != '\n')
    {
        panic!("{name}: {c:?} reached the terminal raw:\n{err}");
    }
    assert!(took < BOUND, "{name} took {took:?}");
    let fixtures = corpus("").display().to_string();
    home.redact(&err).replace(&fixtures, "[FIXTURES]/")
}

fn timed(cmd: &mut assert_cmd::Command) -> (Duration, (i32, String, String)) {
    let start = Instant::now();
    let result = run(cmd);
    (start.elapsed(), result)
}

fn outcome_of(cases: &[Case]) -> String {
    let refused = cases.iter().filter(|c| c.code != 0).count();
    format!(
        "{refused} refused with exit 2 and a clear error (file:line:col where there is a position), \
         {} accepted as valid; no panic, no raw control character on the terminal",
        cases.len() - refused
    )
}

#[test]
fn every_malformed_plan_gets_a_clear_error() {
    listed("plans", PLANS);
    let home = Home::new();
    let ws = home.demo_config();
    for case in PLANS {
        let path = corpus("plans").join(case.name);
        let (took, result) = timed(
            home.pilote()
                .arg("--workspace")
                .arg(&ws)
                .args(["plan", "check"])
                .arg(&path),
        );
        let err = judge(&home, case, case.name, took, result);
        insta::assert_snapshot!(format!("plan-{}", case.name), err);
    }
    record(&Row {
        id: "input-plans",
        area: "input",
        fault: &format!(
            "{} malformed plan files through `pilote plan check` (truncated, wrong types, a 29-digit \
             integer, 3000 nested tables, NUL, invalid UTF-8, BOM, CRLF, duplicate keys and ids, \
             escape sequences in keys and names, a 50 kB line, a phase cycle)",
            PLANS.len()
        ),
        tries: PLANS.len() as u64,
        outcome: &outcome_of(PLANS),
        lost: "nothing",
    });
}

#[test]
fn every_malformed_config_file_gets_a_clear_error() {
    listed("configs", CONFIGS);
    for case in CONFIGS {
        let home = Home::new();
        let ws = home.demo_config();
        let (target, _) = case.name.split_once('/').expect("target/name");
        let swapped = match target {
            "automations" => "automations/hostile.toml".to_string(),
            t => format!("{t}.toml"),
        };
        std::fs::copy(corpus("configs").join(case.name), ws.join(&swapped)).expect("swap in");
        let (took, result) = timed(
            home.pilote()
                .arg("--workspace")
                .arg(&ws)
                .args(["config", "check"]),
        );
        let err = judge(&home, case, &swapped, took, result);
        insta::assert_snapshot!(format!("config-{}", case.name.replace('/', "-")), err);
    }
    record(&Row {
        id: "input-configs",
        area: "input",
        fault: &format!(
            "{} malformed workspace files (pilote.toml, inventory.toml, lifecycles.toml, an \
             automation) swapped into a workspace, then `pilote config check`",
            CONFIGS.len()
        ),
        tries: CONFIGS.len() as u64,
        outcome: &outcome_of(CONFIGS),
        lost: "nothing",
    });
}

#[test]
fn every_malformed_cmdb_document_is_refused_and_changes_nothing() {
    listed("cmdb", CMDB);
    let home = Home::new();
    let ws = home.demo_config();
    let inventory = ws.join("inventory.toml");
    for case in CMDB {
        let before = std::fs::read(&inventory).expect("read");
        let from = corpus("cmdb").join(case.name);
        let (took, result) = timed(
            home.pilote()
                .arg("--workspace")
                .arg(&ws)
                .args(["inventory", "import", "--yes", "--from"])
                .arg(&from),
        );
        let err = judge(&home, case, case.name, took, result);
        if case.code != 0 {
            assert_eq!(
                std::fs::read(&inventory).expect("read"),
                before,
                "{} changed inventory.toml",
                case.name
            );
        }
        insta::assert_snapshot!(format!("cmdb-{}", case.name), err);
    }
    let left: Vec<String> = files(&ws)
        .into_iter()
        .filter(|f| f.contains("pilote-") || f.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
    record(&Row {
        id: "input-cmdb",
        area: "input",
        fault: &format!(
            "{} malformed CMDB documents through `pilote inventory import --yes` (truncated, 1000 \
             nested objects, 1e400 as a port, NUL and escape sequences in names, a lone \
             surrogate, a raw control character, BOM, CRLF, a 50 kB name), besides the 13 of \
             tests/cmdb.rs",
            CMDB.len()
        ),
        tries: CMDB.len() as u64,
        outcome: &outcome_of(CMDB),
        lost: "nothing: inventory.toml byte for byte as before each refused one",
    });
}

/// What a refused import must leave as it was: the vault's files and every package listed.
fn vault_state(home: &Home) -> (Vec<String>, String) {
    let vault = home.path().join("data/pilote/workspaces/demo/vault");
    let listing = run(home.pilote().args(["vault", "list", "--json"])).1;
    (files(&vault), listing)
}

#[test]
fn every_hostile_archive_is_refused_and_writes_nothing() {
    listed("archives", ARCHIVES);
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let canary = Path::new("/tmp/pilote-hostile-canary");
    let _ = std::fs::remove_file(canary);
    let before = vault_state(&home);
    for (i, case) in ARCHIVES.iter().enumerate() {
        let version = format!("9.{i}");
        let (took, result) = timed(
            home.pilote()
                .args(["vault", "import", "--app", "pets", "--version", &version])
                .arg(corpus("archives").join(case.name)),
        );
        let err = judge(&home, case, case.name, took, result);
        assert_eq!(
            vault_state(&home),
            before,
            "{} changed the vault",
            case.name
        );
        insta::assert_snapshot!(format!("archive-{}", case.name), err);
    }
    assert!(!canary.exists(), "an absolute path was written");
    let escaped: Vec<String> = files(home.path())
        .into_iter()
        .filter(|f| f.ends_with("hostile-canary") || f.ends_with("/x") || f.ends_with("passwd"))
        .collect();
    assert!(escaped.is_empty(), "written from an archive: {escaped:?}");
    record(&Row {
        id: "input-archives",
        area: "input",
        fault: &format!(
            "{} hostile packages through `pilote vault import` (zip-slip and absolute paths in tar \
             and zip, symlinks and a hard link out, a FIFO and a device, a duplicate entry, \
             empty, truncated, not an archive, an escape sequence in a name, a 64 MiB gzip \
             bomb and a 32 MiB zip bomb)",
            ARCHIVES.len()
        ),
        tries: ARCHIVES.len() as u64,
        outcome: &outcome_of(ARCHIVES),
        lost: "nothing: the vault's files and its package list as before; nothing written outside it",
    });
}

/// A step printing what a hostile host could: sequences that clear the screen, move the
/// cursor, set the clipboard (OSC 52), a link (OSC 8) and the window title, ring the bell,
/// and a `\r` followed by a line that looks like pilote's own end of run.
const ATTACK: &str = r#"
[attack]
description = "Print what a hostile host could"
changes_state = false
[[attack.steps]]
name = "print\u001b]0;pwned\u0007"
kind = "shell"
script = '''
printf 'before the attack\n'
printf '\033[2J\033[Hscreen cleared\n'
printf 'cursor\033[1;1Hmoved\n'
printf '\033]52;c;cm0gLXJmIH4K\007clipboard set\n'
printf '\033]8;;http://evil.example/\033\\a link\033]8;;\033\\\n'
printf '\033]0;pwned\007title set\n'
printf 'bell\007\n'
printf 'deploy failed: disk full\r12:00:00 pilote           - run succeeded\n'
printf 'after the attack\n'
'''
"#;

/// A plan whose action title and undo title hold sequences too, as a person could write them:
/// the rollback previews show both, and the attack's step names.
const PLAN: &str = r#"
app = "pets"
[[actions]]
id = "attack"
title = "Attack\u001b[2J\u0007"
uses = "attack"
undo = { uses = "attack", title = "Undo\u001b]2;undone\u0007 it" }
"#;

/// The lines as the step printed them, which the store must keep byte for byte.
const PRINTED: &[&str] = &[
    "before the attack",
    "\x1b[2J\x1b[Hscreen cleared",
    "cursor\x1b[1;1Hmoved",
    "\x1b]52;c;cm0gLXJmIH4K\x07clipboard set",
    "\x1b]8;;http://evil.example/\x1b\\a link\x1b]8;;\x1b\\",
    "\x1b]0;pwned\x07title set",
    "bell\x07",
    "deploy failed: disk full\r12:00:00 pilote           - run succeeded",
    "after the attack",
];

/// What an operator's terminal shows of the attack, whoever draws it: nothing obeyed.
fn shown_escaped(screen: &str, what: &str) {
    for needle in [
        "before the attack",
        "\\e[2J\\e[Hscreen cleared",
        "\\e]52;c;",
        "\\a",
    ] {
        assert!(
            screen.contains(needle),
            "{what}: no {needle:?} in\n{screen}"
        );
    }
    let spoof = screen
        .lines()
        .find(|l| l.contains("disk full"))
        .unwrap_or_else(|| panic!("{what}: no disk full line in\n{screen}"));
    assert!(
        spoof.contains("disk full\\r12:00:00 pilote"),
        "{what}: the \\r was obeyed: {spoof}"
    );
    assert!(
        !screen
            .lines()
            .any(|l| l.trim_start().starts_with("12:00:00")),
        "{what}: a spoofed line:\n{screen}"
    );
}

#[test]
fn escape_sequences_in_output_are_stored_raw_and_shown_escaped() {
    let ws = Ws::demo_config();
    std::fs::write(ws.dir.join("automations/attack.toml"), ATTACK).expect("automation");
    let plan = ws.dir.join("plans/attack.toml");
    std::fs::write(&plan, PLAN).expect("plan");
    let id = ws.start(plan.to_str().expect("utf8"), "uat");
    ws.wait_state(&id, "succeeded");

    // Stored as printed: the store keeps raw output, escaping is the viewer's job.
    let (_, store) = {
        let located = pilote::settings::Located {
            dir: ws.dir.clone(),
            origin: pilote::settings::Origin::Flag,
        };
        let overrides = pilote::settings::Overrides {
            data_dir: Some(ws.data()),
            ..pilote::settings::Overrides::default()
        };
        let w = pilote::settings::load(&located, &overrides).expect("workspace");
        let store = pilote::store::Store::open(&w.data_dir, &w.config_dir, Duration::from_secs(5))
            .expect("store");
        (w, store)
    };
    let run_id: i64 = id.parse().expect("run id");
    let stored: Vec<String> = store
        .log_page(run_id, 0, 1000)
        .expect("log")
        .into_iter()
        .filter(|l| l.stream == "stdout")
        .map(|l| l.line)
        .collect();
    assert_eq!(stored, PRINTED);

    // `pilote logs` into a pipe: not one control character but the newlines.
    let log = ws.wait_log(&id, "after the attack");
    if let Some(c) = log.chars().find(|c| c.is_control() && *c != '\n') {
        panic!("{c:?} in `pilote logs`:\n{log}");
    }
    shown_escaped(&log, "pilote logs | cat");

    // On a terminal, as an operator reads it.
    let dir = ws.dir.to_str().expect("utf8");
    let t = Pty::start(&ws.home, &["--workspace", dir, "logs", &id], 200, 50);
    let screen = t.wait_for("the log", |s| s.contains("after the attack"));
    shown_escaped(&screen, "pilote logs on a terminal");
    assert_eq!((t.title(), t.bells()), (String::new(), 0), "obeyed");

    // A step name holding a sequence, as `automation show` prints it on a terminal.
    let t = Pty::start(
        &ws.home,
        &["--workspace", dir, "automation", "show", "attack"],
        120,
        30,
    );
    let screen = t.wait_for("the automation", |s| s.contains("Steps:"));
    assert!(screen.contains("print\\e]0;pwned\\a"), "{screen}");
    assert_eq!(t.title(), "", "obeyed");

    // The rollback preview `pilote rollback` prints on a terminal before asking.
    let mut t = Pty::start(
        &ws.home,
        &["--workspace", dir, "rollback", "pets", "--env", "uat"],
        200,
        50,
    );
    let screen = t.wait_for("the rollback's question", |s| s.contains("Type `yes`"));
    for shown in ["Undo\\e]2;undone\\a it", "print\\e]0;pwned\\a"] {
        assert!(screen.contains(shown), "no {shown:?} in\n{screen}");
    }
    assert_eq!((t.title(), t.bells()), (String::new(), 0), "obeyed");
    t.send("no\r");
    assert_eq!(t.wait_exit(), 2, "{}", t.screen());

    // The console: the log pane escapes (`\e[2J`); every other cell shows a control as its
    // control picture (`␛`, `␇`). Checked once the hostile step name is drawn in the Steps
    // tree, so the title and bell checks below see it.
    let mut t = Pty::start(&ws.home, &["--workspace", dir], 200, 50);
    t.send("3");
    let screen = t.wait_for("the run's log and steps", |s| {
        s.contains("after the attack") && s.contains("print␛]0;pwned␇")
    });
    shown_escaped(&screen, "the console");
    assert_eq!((t.title(), t.bells()), (String::new(), 0), "obeyed");
    // Its rollback confirmation: the undo's title and the attack's step names.
    t.send("R");
    let screen = t.wait_for("the rollback confirmation", |s| s.contains("Rollback plan"));
    for shown in ["Undo␛]2;undone␇ it", "print␛]0;pwned␇"] {
        assert!(screen.contains(shown), "no {shown:?} in\n{screen}");
    }
    assert_eq!((t.title(), t.bells()), (String::new(), 0), "obeyed");
    t.send("\x1b");
    t.send("q");
    assert_eq!(t.wait_exit(), 0);

    record(&Row {
        id: "input-escapes-local",
        area: "input",
        fault: "a step printed terminal control sequences: clear screen, cursor moves, OSC 52 \
                clipboard, OSC 8 link, OSC 0 title, bell, and a `\\r` then a fake `run succeeded` \
                line",
        tries: PRINTED.len() as u64,
        outcome: "stored byte for byte; `pilote logs` (piped and on a terminal) and the console's \
                  log pane show them escaped (`\\e[2J`, `\\r`): screen not cleared, no title or \
                  bell, no spoofed line",
        lost: "nothing",
    });
    record(&Row {
        id: "input-escapes-names",
        area: "input",
        fault: "a step name and an undo title holding an OSC 0/2 title sequence and a bell, shown \
                where an operator reads them: `automation show`, the `pilote rollback` preview, \
                the console's Steps tree and its rollback confirmation",
        tries: 4,
        outcome: "shown, not obeyed: `\\e]0;pwned\\a` on the CLI, `␛]0;pwned␇` in the console; \
                  no title set, no bell",
        lost: "nothing",
    });
}
