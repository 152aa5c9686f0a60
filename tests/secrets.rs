//! Secrets and files after a whole demo deployment: the demo's plan goes through a request
//! and its lifecycle (uat, preprod, prod, then a rollback) with an action whose script
//! prints two secrets every way a script may print them; afterwards no form of either is in
//! any file pilote wrote, and every file and directory pilote created has its documented mode,
//! though pilote was started under `umask 022`.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::people::deploy_args;
use common::reliability::{Row, record};
use common::{Home, base64, run};

/// Has `/`, `+`, `=`, `&` and `%` in it, so its URL-encoded form differs from it, and its
/// base64 has a `+` or `/` a naive search could miss.
const TOKEN: &str = "Zq8/t0k+3n=R&x%v9_Wp";
/// Read from a file by the runner; kept outside the home, whose every file is scanned.
const DB_PASS: &str = "hunter2-Correct-Horse-7c1d";

/// Prints `$TOKEN` and `$DB_PASS` raw, on stderr, base64 (without and with the newline `echo`
/// adds), URL-encoded (both hex cases), hex (both cases), split across two writes a moment
/// apart, and at the very end without a newline.
const LEAK: &str = r#"
[leak]
description = "Print the secrets every way a script may"
changes_state = false
[leak.params.token]
type = "secret"
[leak.params.db_pass]
type = "secret"
[[leak.steps]]
name = "leak"
kind = "shell"
script = '''
urlenc() {
  printf '%s' "$1" | od -An -v -tu1 | awk -v f="$2" '{ for (i = 1; i <= NF; i++) { c = $i;
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 46 || c == 95 || c == 126)
      printf "%c", c; else printf f, c } } END { print "" }'
}
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; echo; }
for s in "$TOKEN" "$DB_PASS"; do
  echo "raw $s"
  echo "on stderr $s" >&2
  printf '%s' "$s" | base64
  echo "$s" | base64
  printf 'url '; urlenc "$s" '%%%02X'
  printf 'url lower '; urlenc "$s" '%%%02x'
  printf 'hex '; hex "$s"
  printf 'HEX '; hex "$s" | tr a-f A-F
  head=${s%????????}
  printf 'split %s' "$head"; sleep 0.2; printf '%s\n' "${s#"$head"}"
done
printf 'no newline %s %s' "$TOKEN" "$DB_PASS"
'''
"#;

/// Every form of `secret` the script prints, as bytes to look for.
fn forms(secret: &str) -> Vec<(String, String)> {
    let b = secret.as_bytes();
    let b64 = base64(b);
    let b64_nl = base64(&[b, b"\n"].concat());
    let hex: String = b.iter().map(|c| format!("{c:02x}")).collect();
    let url = |upper: bool| -> String {
        b.iter()
            .map(|&c| {
                if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                    (c as char).to_string()
                } else if upper {
                    format!("%{c:02X}")
                } else {
                    format!("%{c:02x}")
                }
            })
            .collect()
    };
    let whole = (b.len() / 3) * 4;
    vec![
        ("raw".into(), secret.to_string()),
        ("base64".into(), b64.trim_end_matches('=').to_string()),
        (
            "base64 of it and a newline".into(),
            b64_nl[..whole].to_string(),
        ),
        ("URL-encoded".into(), url(true)),
        ("URL-encoded, lower-case hex".into(), url(false)),
        ("hex".into(), hex.clone()),
        ("HEX".into(), hex.to_uppercase()),
        // A fragment shorter than the whole, in case the split write slipped through.
        ("its first 12 bytes".into(), secret[..12].to_string()),
    ]
}

/// pilote as `who`, at trace level, with the secrets where the plan says they are.
fn pilote(home: &Home, pass_file: &Path, who: &str, args: &[&str]) -> (i32, String, String) {
    let uid = match who {
        "dev" => "2001",
        "alice" => "2002",
        "bob" => "2004",
        _ => "2003",
    };
    run(home
        .pilote()
        .env("PILOTE_TEST_ACTOR", format!("{who}:{uid}"))
        .env("PILOTE_LOG", "trace")
        .env("PILOTE_TEST_TOKEN", TOKEN)
        .env("PILOTE_TEST_DB_PASS_FILE", pass_file)
        .args(args))
}

fn ok(home: &Home, pass_file: &Path, who: &str, args: &[&str]) -> String {
    let (code, out, err) = pilote(home, pass_file, who, args);
    assert_eq!(code, 0, "{who} {args:?}: {out}{err}");
    out + &err
}

/// Every file and directory under `dir`, with its metadata, not following links.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, std::fs::Metadata)>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let is_dir = meta.is_dir();
        out.push((p.clone(), meta));
        if is_dir {
            walk(&p, out);
        }
    }
}

/// The mode pilote documents for `path` (relative to the home), or `None` for what it does
/// not own: the sandbox (the demo's scripts' own output: what a deployment writes on its
/// hosts) and the files this test wrote.
fn documented_mode(rel: &Path, is_dir: bool, written_by_test: &[PathBuf]) -> Option<u32> {
    if written_by_test.iter().any(|w| w == rel) {
        return None;
    }
    let s = rel.to_string_lossy();
    if s.contains("/sandbox") {
        return None;
    }
    Some(if is_dir {
        0o700
    } else if s.contains("/vault/blobs/") {
        // Read-only: a package never changes.
        0o400
    } else {
        0o600
    })
}

/// The contents of every file in `entries`, read at once (while a runner holds the store).
fn read_all(entries: &[(PathBuf, std::fs::Metadata)]) -> Vec<(PathBuf, Vec<u8>)> {
    entries
        .iter()
        .filter(|(_, m)| m.is_file())
        .map(|(p, _)| (p.clone(), std::fs::read(p).unwrap_or_default()))
        .collect()
}

/// Looks for every needle in every file but the sandbox: (files, bytes, hits).
fn scan(
    home: &Path,
    files: &[(PathBuf, Vec<u8>)],
    needles: &[(String, String)],
) -> (usize, usize, Vec<String>) {
    let mut hits = Vec::new();
    let (mut n, mut bytes) = (0, 0);
    for (p, content) in files {
        let rel = p.strip_prefix(home).expect("under home");
        if rel.to_string_lossy().contains("/sandbox") {
            continue;
        }
        n += 1;
        bytes += content.len();
        for (what, needle) in needles {
            if content
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                hits.push(format!("{what} ({needle}) in {}", rel.display()));
            }
        }
    }
    (n, bytes, hits)
}

#[test]
fn a_full_demo_deployment_leaves_no_secret_on_disk_and_every_file_private() {
    // What pilote is started under, as on a default Debian account: pilote must not rely on
    // it. Set for this whole test binary (its only test), inherited by every pilote started.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let home = Home::new();
    let outside = tempfile::tempdir().expect("temp dir");
    let pass_file = outside.path().join("db_pass");
    std::fs::write(&pass_file, DB_PASS).expect("write secret file");
    let pf = pass_file.as_path();

    ok(&home, pf, "dev", &["demo", "--no-open"]);
    let config = home.path().join("config/pilote");
    std::fs::write(config.join("automations/leak.toml"), LEAK).expect("write");
    let plan = std::fs::read_to_string(config.join("plans/pets-1.4.0.toml")).expect("plan");
    let leaky = format!(
        "{plan}\n[[actions]]\nid = \"leak\"\ntitle = \"Print the secrets\"\nuses = \"leak\"\n\
         phase = \"start\"\n\
         with = {{ token = {{ env = \"PILOTE_TEST_TOKEN\" }}, db_pass = {{ file = \"{}\" }} }}\n",
        pass_file.display()
    );
    std::fs::write(config.join("plans/leaky.toml"), leaky).expect("write");
    let written_by_test = [
        PathBuf::from("config/pilote/automations/leak.toml"),
        PathBuf::from("config/pilote/plans/leaky.toml"),
    ];

    // The request and its lifecycle: uat, then preprod (one approval), then prod (two).
    ok(&home, pf, "dev", &["vault", "sweep", "--settle", "0"]);
    ok(&home, pf, "dev", &common::filing("plans/leaky.toml"));
    ok(&home, pf, "dev", &["request", "submit", "1"]);
    let mut followed = String::new();
    let deploy = |env: &str| ok(&home, pf, "ops", &deploy_args("1", env, true));
    followed += &deploy("uat");
    ok(
        &home,
        pf,
        "alice",
        &["request", "approve", "1", "--env", "preprod"],
    );
    followed += &deploy("preprod");
    ok(
        &home,
        pf,
        "alice",
        &["request", "approve", "1", "--env", "prod"],
    );
    ok(
        &home,
        pf,
        "bob",
        &["request", "approve", "1", "--env", "prod"],
    );
    followed += &deploy("prod");
    followed += &ok(
        &home,
        pf,
        "ops",
        &["rollback", "pets", "--env", "prod", "--yes", "--follow"],
    );
    // The script did print them (masked): the test tests something.
    assert_eq!(followed.matches("raw ****").count(), 6, "{followed}");
    assert!(followed.contains("no newline **** ****"), "{followed}");
    assert!(followed.contains("url ****"), "{followed}");
    assert!(followed.contains("hex ****"), "{followed}");
    assert!(followed.contains("split ****"), "{followed}");

    // While a run waits at a gate its runner holds the store open: the WAL, the shared
    // memory file and the run's lease exist, and are stat'ed with the rest.
    std::fs::write(
        config.join("automations/hold.toml"),
        "[hold]\ndescription = \"Wait\"\nchanges_state = false\n\
         [[hold.steps]]\nname = \"ask\"\nkind = \"gate\"\nprompt = \"go?\"\n",
    )
    .expect("write");
    std::fs::write(
        config.join("plans/hold.toml"),
        "app = \"pets\"\n[[actions]]\nid = \"hold\"\ntitle = \"Hold\"\nuses = \"hold\"\n",
    )
    .expect("write");
    let written_by_test = [
        &written_by_test[..],
        &[
            PathBuf::from("config/pilote/automations/hold.toml"),
            PathBuf::from("config/pilote/plans/hold.toml"),
        ],
    ]
    .concat();
    let id = ok(
        &home,
        pf,
        "ops",
        &["run", "plans/hold.toml", "--env", "uat"],
    );
    let id = id.lines().next().unwrap_or_default().trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok(&home, pf, "ops", &["runs", "--json"]).contains("\"waiting\"") {
        assert!(
            Instant::now() < deadline,
            "run {id} never waited at its gate"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut entries = Vec::new();
    walk(home.path(), &mut entries);
    let held = read_all(&entries);
    ok(&home, pf, "ops", &["gate", &id, "--abort"]);
    let _ = pilote(&home, pf, "ops", &["logs", &id, "--follow"]);

    // Modes: everything pilote created, against what docs/recovery-guarantees.md documents.
    let uid = rustix::process::getuid().as_raw();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (p, meta) in &entries {
        let rel = p.strip_prefix(home.path()).expect("under home");
        let Some(want) = documented_mode(rel, meta.is_dir(), &written_by_test) else {
            continue;
        };
        checked += 1;
        let mode = meta.permissions().mode() & 0o7777;
        if mode != want || meta.uid() != uid {
            wrong.push(format!(
                "{} is {mode:o}, documented {want:o}",
                rel.display()
            ));
        }
    }
    assert!(wrong.is_empty(), "modes:\n{}", wrong.join("\n"));
    let present = |rel: &str| entries.iter().any(|(p, _)| p.ends_with(rel));
    for must in [
        "data/pilote/workspaces/demo/pilote.db",
        "data/pilote/workspaces/demo/pilote.db-wal",
        "data/pilote/workspaces/demo/pilote.db-shm",
        &format!("data/pilote/workspaces/demo/spool/run-{id}.lock"),
    ] {
        assert!(present(must), "{must} was not there to check");
    }
    assert!(
        entries
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains("/vault/blobs/")),
        "no vault blob checked"
    );
    assert!(
        entries
            .iter()
            .any(|(p, _)| p.starts_with(home.path().join("state"))
                && p.extension().is_some_and(|e| e == "log")),
        "no state log checked"
    );

    // Secrets: every form, in every file under the home but the sandbox, as it was while
    // the runner held the store open (the WAL then) and once every process was gone.
    let all: Vec<(String, String)> = forms(TOKEN).into_iter().chain(forms(DB_PASS)).collect();
    let (held_files, _, mut leaks) = scan(home.path(), &held, &all);
    let mut files = Vec::new();
    walk(home.path(), &mut files);
    let files = read_all(&files);
    let (scanned, bytes_scanned, after) = scan(home.path(), &files, &all);
    leaks.extend(after);
    assert!(leaks.is_empty(), "secrets on disk:\n{}", leaks.join("\n"));
    let log_lines = std::fs::read_dir(home.path().join("state/pilote"))
        .expect("state log dir")
        .flatten()
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .count()
        })
        .sum::<usize>();
    assert!(
        log_lines > 0,
        "the trace log is empty: nothing was scanned there"
    );

    record(&Row {
        id: "secrets-full-demo",
        area: "secrets",
        fault: "the demo's plan through a request, uat → preprod → prod and a rollback, with an action printing 2 secrets (from env and from a file) raw, on stderr, base64 with and without newline, URL-encoded (both hex cases), hex (both cases), split across two writes 200 ms apart, and without a final newline",
        tries: 3,
        outcome: &format!(
            "every line shown masked (`****`); {held_files} files while a runner held the store open and {scanned} files ({bytes_scanned} bytes) at the end (DB, -wal, -shm, spool, vault, drop, config, state log at trace level, {log_lines} lines) scanned for {} forms: 0 hits (the sandbox, the scripts' own output on their \"hosts\", is not scanned)",
            all.len()
        ),
        lost: "nothing: no secret bytes on disk",
    });
    record(&Row {
        id: "files-modes-umask-022",
        area: "files",
        fault: "the same deployment and a run held at a gate, every pilote started under umask 022; every file and directory stat'ed while the runner held the store open",
        tries: 1,
        outcome: &format!(
            "{checked} paths pilote created, each as documented: directories 0700, files 0600 (DB, -wal, -shm, spool, state log, config), vault blobs 0400, all owned by the user"
        ),
        lost: "nothing",
    });
}

/// The same script as an `ssh` step on a host of a real sshd on loopback: the secrets travel
/// on the wrapper's stdin, come back in the output, and are masked as well; the control
/// sockets' directory is private.
#[test]
fn secrets_printed_on_an_ssh_host_are_masked_too() {
    let sshd = common::sshd::Sshd::start(1, "");
    let home = Home::new();
    let runtime = home.path().join("run");
    std::fs::create_dir(&runtime).expect("runtime dir");
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let dir = home.path().join("ws");
    std::fs::create_dir_all(dir.join("automations")).expect("mkdir");
    std::fs::create_dir_all(dir.join("plans")).expect("mkdir");
    let files = [
        (
            "pilote.toml",
            format!(
                "name = \"remote\"\ndata_dir = \"data\"\n[ssh]\nconfig = \"{}\"\n",
                sshd.client_config().display()
            ),
        ),
        (
            "inventory.toml",
            format!(
                "[apps.site]\nlifecycles = [\"std\"]\n[apps.site.domains.web]\n\
                 [envs.test.apps.site]\nweb = [\"h0\"]\n[hosts.h0]\naddress = \"{}\"\n",
                sshd.addresses[0]
            ),
        ),
        (
            "lifecycles.toml",
            "[[lifecycles.std.stages]]\nenv = \"test\"\n".to_string(),
        ),
        (
            "automations/leak.toml",
            LEAK.replace("kind = \"shell\"", "kind = \"ssh\"").replace(
                "changes_state = false",
                "domain = \"web\"\nchanges_state = false",
            ),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).expect("write");
    }
    let outside = tempfile::tempdir().expect("temp dir");
    let pass_file = outside.path().join("db_pass");
    std::fs::write(&pass_file, DB_PASS).expect("write secret file");
    let plan = dir.join("plans/leak.toml");
    std::fs::write(
        &plan,
        format!(
            "app = \"site\"\n[[actions]]\nid = \"leak\"\ntitle = \"Leak\"\nuses = \"leak\"\n\
             with = {{ token = {{ env = \"PILOTE_TEST_TOKEN\" }}, db_pass = {{ file = \"{}\" }} }}\n",
            pass_file.display()
        ),
    )
    .expect("plan");
    let (code, out, err) = run(home
        .pilote()
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("PILOTE_LOG", "trace")
        .env("PILOTE_TEST_TOKEN", TOKEN)
        .arg("--workspace")
        .arg(&dir)
        .args([
            "run",
            plan.to_str().expect("utf8"),
            "--env",
            "test",
            "--follow",
        ]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("raw ****").count(), 2, "{out}");
    assert!(
        out.contains("hex ****") && out.contains("url ****"),
        "{out}"
    );
    let mut entries = Vec::new();
    walk(home.path(), &mut entries);
    let control = runtime.join("pilote");
    let mode = std::fs::metadata(&control)
        .map(|m| m.permissions().mode() & 0o7777)
        .expect("the ssh control dir");
    assert_eq!(mode, 0o700, "{}", control.display());
    let all: Vec<(String, String)> = forms(TOKEN).into_iter().chain(forms(DB_PASS)).collect();
    let (scanned, bytes, leaks) = scan(home.path(), &read_all(&entries), &all);
    assert!(leaks.is_empty(), "secrets on disk:\n{}", leaks.join("\n"));
    record(&Row {
        id: "secrets-ssh-host",
        area: "secrets",
        fault: "the same script as an `ssh` step on a host of a real sshd on loopback, the 2 secrets sent on the remote wrapper's stdin",
        tries: 1,
        outcome: &format!(
            "every form masked in the output; {scanned} files ({bytes} bytes) under the home scanned for {} forms: 0 hits; the ssh control dir is 0700",
            all.len()
        ),
        lost: "nothing: no secret bytes on disk",
    });
}
