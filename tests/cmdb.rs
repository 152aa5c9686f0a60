//! The CMDB: `pilote inventory import` (from a file and from a URL served on loopback) shows
//! the diff, writes only when told, and leaves the file byte-identical on any bad input;
//! `pilote inventory check` probes hosts through a real sshd and prints the integrity.

mod common;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::sshd::Sshd;
use common::{Home, edit, run};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cmdb")
}

/// `pilote --workspace WS ARGS...`, returning (code, stdout, stderr).
fn pilote(home: &Home, ws: &Path, args: &[&str]) -> (i32, String, String) {
    let (code, out, err) = run(home.pilote().arg("--workspace").arg(ws).args(args));
    assert!(!err.contains("panicked"), "panic in: {err}");
    (code, out, err)
}

/// Paths, the import time and loopback ports, replaced so snapshots are stable.
fn redact(home: &Home, text: &str) -> String {
    let text = home
        .redact(text)
        .replace(&fixtures().display().to_string(), "[FIXTURES]");
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").expect("regex");
    let port = regex::Regex::new(r"127\.0\.0\.1:\d+").expect("regex");
    let ssh_port = regex::Regex::new(r"\bport \d+").expect("regex");
    let text = time.replace_all(&text, "[TIME]");
    let text = port.replace_all(&text, "127.0.0.1:[PORT]");
    ssh_port.replace_all(&text, "port [PORT]").into_owned()
}

/// A tiny HTTP server on 127.0.0.1: `/pets.json` and `/bad.json` serve those fixtures,
/// `/missing` answers 404, `/broken` 500, `/huge` announces more than the size limit.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            // The query (an api key, say) is ignored, as is any authorization.
            let target = request.split_whitespace().nth(1).unwrap_or("/");
            let path = target.split('?').next().unwrap_or("/").to_string();
            let file =
                |name: &str| std::fs::read_to_string(fixtures().join(name)).expect("fixture");
            let (status, body, length) = match path.as_str() {
                "/pets.json" => ("200 OK", file("pets.json"), None),
                "/bad.json" => ("200 OK", file("invalid/cross_references.json"), None),
                "/missing" => ("404 Not Found", "no such export\n".to_string(), None),
                "/broken" => ("500 Internal Server Error", "oops\n".to_string(), None),
                "/huge" => ("200 OK", String::new(), Some(17_000_000)),
                _ => ("404 Not Found", String::new(), None),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                length.unwrap_or(body.len())
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn an_import_shows_the_diff_and_writes_nothing_without_yes() {
    let home = Home::new();
    let ws = home.demo_config();
    let before = std::fs::read(ws.join("inventory.toml")).expect("read");
    let from = fixtures().join("pets.json").display().to_string();
    let (code, out, err) = pilote(&home, &ws, &["inventory", "import", "--from", &from]);
    // Not a terminal and no --yes: the diff is shown, nothing is written, exit 1.
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("not written: pass --yes to write it"), "{err}");
    assert_eq!(
        std::fs::read(ws.join("inventory.toml")).expect("read"),
        before
    );
    insta::assert_snapshot!("import_preview", redact(&home, &out));
}

#[test]
fn an_import_with_yes_writes_a_workspace_that_loads_and_keeps_pilotes_own_settings() {
    let home = Home::new();
    let ws = home.demo_config();
    // pilote's own per-env settings, which the CMDB knows nothing of.
    edit(
        &ws,
        "inventory.toml",
        "protected = true\n",
        "protected = true\n[envs.prod.vars]\nlb_pool = \"pets-prod\"\n[[envs.prod.freeze]]\nfrom = \"2031-12-20\"\nto = \"2032-01-04\"\nreason = \"year-end\"\n",
    );
    let path = ws.join("inventory.toml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let from = fixtures().join("pets.json").display().to_string();
    let (code, out, err) = pilote(
        &home,
        &ws,
        &["inventory", "import", "--from", &from, "--yes"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("wrote "), "{err}");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.starts_with(&format!(
            "# Generated by `pilote inventory import` from {from} at "
        )),
        "{text}"
    );
    assert!(text.contains("lb_pool = \"pets-prod\""), "{text}");
    assert!(text.contains("reason = \"year-end\""), "{text}");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the file's mode is kept");
    let leftovers: Vec<_> = std::fs::read_dir(&ws)
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("pilote-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The workspace loads with it: a fourth JBoss host with its attributes as vars.
    let (code, out, err) = pilote(&home, &ws, &["inventory", "--json"]);
    assert_eq!(code, 0, "{err}");
    let inv: serde_json::Value = serde_json::from_str(&out).expect("json");
    let host = inv["hosts"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["name"] == "prod-jboss-4"))
        .expect("prod-jboss-4");
    assert_eq!(host["vars"]["jvm_route"], "node4");
    let prod = inv["envs"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["name"] == "prod"))
        .expect("prod");
    assert_eq!(
        prod["freezes"][0]["label"],
        "2031-12-20 → 2032-01-04 (year-end)"
    );

    // Importing the same document again changes nothing, not even the header's time.
    let (code, out, err) = pilote(&home, &ws, &["inventory", "import", "--from", &from]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out.trim(), format!("inventory is up to date with {from}"));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);

    let (_, audit, _) = pilote(&home, &ws, &["audit", "--json"]);
    let events: serde_json::Value = serde_json::from_str(&audit).expect("json");
    let imported: Vec<&serde_json::Value> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["action"] == "inventory.imported")
        .collect();
    assert_eq!(imported.len(), 1, "{audit}");
    assert_eq!(imported[0]["payload"]["source"], from.as_str());
    assert_eq!(
        imported[0]["payload"]["cmdb"],
        "acme-cmdb export 2026-05-04"
    );
}

#[test]
fn every_malformed_document_is_refused_with_its_position_and_changes_nothing() {
    let home = Home::new();
    let ws = home.demo_config();
    let path = ws.join("inventory.toml");
    let before = std::fs::read(&path).expect("read");
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("invalid"))
        .expect("corpus")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus lost files: {files:?}");
    for file in files {
        let name = file
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let from = file.display().to_string();
        let (code, out, err) = pilote(
            &home,
            &ws,
            &["inventory", "import", "--from", &from, "--yes"],
        );
        assert_eq!(code, 2, "{name}: {out}\n{err}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            before,
            "{name} changed the file"
        );
        insta::assert_snapshot!(format!("malformed_{name}"), redact(&home, &err));
    }
    let names: Vec<String> = std::fs::read_dir(&ws)
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("pilote-")), "{names:?}");
}

#[test]
fn an_import_from_a_url_writes_what_the_server_sent() {
    let base = serve();
    let home = Home::new();
    let ws = home.demo_config();
    let url = format!("{base}/pets.json");
    let (code, out, err) = pilote(
        &home,
        &ws,
        &["inventory", "import", "--from", &url, "--yes", "--json"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(summary["written"], true);
    assert_eq!(
        summary["hosts"]["added"],
        serde_json::json!(["prod-jboss-4"])
    );
    assert_eq!(
        summary["hosts"]["changed"],
        serde_json::json!(["prod-jboss-1", "prod-jboss-2", "prod-jboss-3"])
    );
    assert_eq!(summary["envs"]["changed"], serde_json::json!(["prod"]));
    assert_eq!(summary["apps"]["changed"], serde_json::json!([]));
    let text = std::fs::read_to_string(ws.join("inventory.toml")).expect("read");
    // The URL is named by its scheme, host and port only, as anywhere it is kept.
    assert!(text.starts_with(&format!(
        "# Generated by `pilote inventory import` from {base}/… at "
    )));
    let (code, _, err) = pilote(&home, &ws, &["config", "check"]);
    assert_eq!(code, 0, "{err}");
}

/// Every file under `dir`, recursively, with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("ls").filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

#[test]
fn the_credentials_of_a_cmdb_url_reach_only_the_request() {
    const TOKEN: &str = "tok3n-0f-the-cmdb";
    const KEY: &str = "k3y-0f-the-cmdb";
    let base = serve();
    let home = Home::new();
    let ws = home.demo_config();
    let authority = base.trim_start_matches("http://");
    let url = |path: &str| format!("http://pilote:{TOKEN}@{authority}{path}?api_key={KEY}");
    let masked = format!("http://{authority}/…");
    let mut said = String::new();
    for (args, expected) in [
        // The preview (diff labels, summary), its --json form, the write (header, audit
        // event, log line), then "up to date", a refused request and a bad document.
        (vec!["--from", &url("/pets.json")], 1),
        (vec!["--from", &url("/pets.json"), "--json"], 1),
        (vec!["--from", &url("/pets.json"), "--yes"], 0),
        (vec!["--from", &url("/pets.json")], 0),
        (vec!["--from", &url("/missing"), "--yes"], 2),
        (vec!["--from", &url("/bad.json"), "--yes"], 2),
    ] {
        let mut argv = vec!["inventory", "import"];
        argv.extend(&args);
        let (code, out, err) = pilote(&home, &ws, &argv);
        assert_eq!(code, expected, "{args:?}: {out}\n{err}");
        let _ = writeln!(said, "{out}\n{err}");
    }
    assert!(!said.contains(TOKEN) && !said.contains(KEY), "{said}");
    // What is shown instead: scheme, host and port.
    assert!(
        said.contains(&format!("inventory is up to date with {masked}")),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "error: cannot fetch {masked}: the server answered 404"
        )),
        "{said}"
    );
    assert!(said.contains(&format!("error: {masked}:16:42: ")), "{said}");

    let text = std::fs::read_to_string(ws.join("inventory.toml")).expect("read");
    assert!(
        text.starts_with(&format!(
            "# Generated by `pilote inventory import` from {masked} at "
        )),
        "{text}"
    );
    let (_, audit, _) = pilote(&home, &ws, &["audit", "--json"]);
    let events: serde_json::Value = serde_json::from_str(&audit).expect("json");
    let imported = events["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["action"] == "inventory.imported"))
        .expect("the import's audit event");
    assert_eq!(imported["payload"]["source"], masked.as_str());

    // Nothing under the home: workspace, store (and its WAL), log files.
    let files = files_under(home.path());
    let logs: Vec<&(PathBuf, Vec<u8>)> = files
        .iter()
        .filter(|(p, _)| p.starts_with(home.path().join("state")))
        .collect();
    assert!(
        logs.iter()
            .any(|(_, b)| String::from_utf8_lossy(b).contains("inventory imported")),
        "the import was not logged, so the log proves nothing: {:?}",
        logs.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    assert!(
        files
            .iter()
            .any(|(p, _)| p.starts_with(home.path().join("data"))),
        "the store is not under the home, so it went unsearched"
    );
    let found =
        |needle: &str, bytes: &[u8]| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    let leaks: Vec<&PathBuf> = files
        .iter()
        .filter(|(_, b)| found(TOKEN, b) || found(KEY, b))
        .map(|(p, _)| p)
        .collect();
    assert!(leaks.is_empty(), "the URL's credentials are in {leaks:?}");
}

#[test]
fn a_url_that_fails_is_a_clear_error_and_changes_nothing() {
    let base = serve();
    let home = Home::new();
    let ws = home.demo_config();
    let path = ws.join("inventory.toml");
    let before = std::fs::read(&path).expect("read");
    // A port nothing listens on any more: connection refused, at once.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let mut report = String::new();
    for (url, expected) in [
        (format!("{base}/missing"), 2),
        (format!("{base}/broken"), 1),
        (format!("{base}/huge"), 2),
        (format!("{base}/bad.json"), 2),
        (format!("http://{closed}/pets.json"), 1),
    ] {
        let started = Instant::now();
        let (code, out, err) = pilote(
            &home,
            &ws,
            &["inventory", "import", "--from", &url, "--yes"],
        );
        assert_eq!(code, expected, "{url}: {out}\n{err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{url} took too long"
        );
        assert_eq!(std::fs::read(&path).expect("read"), before, "{url}");
        let _ = writeln!(report, "$ import --from {url}\n{err}");
    }
    insta::assert_snapshot!("url_errors", redact(&home, &report));
}

/// A workspace whose hosts are reached through `sshd`: web-1 passes its check, web-2 fails
/// it, web-3 is an address where nothing listens, lab-1 (env lab) is web-1's machine under
/// another name, and bastion is claimed by both envs but shared.
fn remote_workspace(home: &Home, sshd: &Sshd) -> PathBuf {
    let dir = home.path().join("ws");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("pilote.toml"),
        format!(
            "name = \"cmdb\"\ndata_dir = \"data\"\n[ssh]\nconfig = \"{}\"\n",
            sshd.client_config().display()
        ),
    )
    .expect("write");
    let a = &sshd.addresses;
    std::fs::write(
        dir.join("inventory.toml"),
        format!(
            r#"[apps.site]
lifecycles = ["std"]
[apps.site.domains.web]
check = 'test -e "$HOST_PROBE"'
[apps.site.domains.jump]

[hosts.web-1]
address = "{a0}"
vars = {{ probe = "/" }}
[hosts.web-2]
address = "{a1}"
vars = {{ probe = "/nonexistent-pilote-probe" }}
[hosts.web-3]
address = "127.0.0.1"
vars = {{ probe = "/" }}
[hosts.lab-1]
address = "{a0}"
vars = {{ probe = "/" }}
[hosts.bastion]
address = "{a2}"
shared = true

[envs.test.apps.site]
web = ["web-1", "web-2", "web-3"]
jump = ["bastion"]
[envs.lab.apps.site]
web = ["lab-1"]
jump = ["bastion"]
"#,
            a0 = a[0],
            a1 = a[1],
            a2 = a[2],
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("lifecycles.toml"),
        "[[lifecycles.std.stages]]\nenv = \"test\"\n[[lifecycles.std.stages]]\nenv = \"lab\"\n",
    )
    .expect("write");
    dir
}

#[test]
fn a_check_over_ssh_reports_each_host_and_the_integrity() {
    let sshd = Sshd::start(3, "");
    let home = Home::new();
    let ws = remote_workspace(&home, &sshd);
    // Its own runtime dir, to see the master connections' sockets and processes go.
    let runtime = home.path().join("run");
    std::fs::create_dir(&runtime).expect("mkdir");
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let (code, out, err) = run(home
        .pilote()
        .env("XDG_RUNTIME_DIR", &runtime)
        .arg("--workspace")
        .arg(&ws)
        .args(["inventory", "check", "--timeout", "5s"]));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("error: 5 of 14 checks failed"), "{err}");
    insta::assert_snapshot!("check_over_ssh", redact(&home, &out));
    let sockets: Vec<_> = std::fs::read_dir(runtime.join("pilote"))
        .expect("sockets dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(sockets.is_empty(), "left behind: {sockets:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ps = std::process::Command::new("ps")
            .args(["-eo", "args="])
            .output()
            .expect("ps");
        let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
        let left: Vec<&str> = ps
            .lines()
            .filter(|l| l.contains(&runtime.display().to_string()))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "masters left: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // One env: its hosts only, but a machine claimed by another env is still reported.
    let (code, out, err) = pilote(
        &home,
        &ws,
        &["inventory", "check", "--env", "lab", "--json"],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (report["passed"].as_u64(), report["total"].as_u64()),
        (Some(4), Some(5))
    );
    assert_eq!(report["integrity"], 80);
    let lab = &report["hosts"][0];
    assert_eq!(lab["host"], "lab-1");
    assert_eq!(lab["reach"], "ok");
    assert_eq!(lab["checks"][0]["passed"], true);
    assert_eq!(lab["claim"]["others"], serde_json::json!(["web-1 (test)"]));
    assert_eq!(lab["claim"]["allowed"], false);
    assert_eq!(report["hosts"][1]["claim"]["allowed"], true);

    let (code, _, err) = pilote(&home, &ws, &["inventory", "check", "--env", "nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown environment `nope`; expected one of `test`, `lab`"),
        "{err}"
    );
}

#[test]
fn the_demo_checks_pass_until_a_host_loses_its_part_and_hosts_run_in_parallel() {
    let home = Home::new();
    let (code, _, err) = run(home.pilote().args(["demo", "--no-open"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(home.pilote().args(["inventory", "check"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.ends_with("integrity: 100% (24 of 24 checks passed)\n"),
        "{out}"
    );

    let db = home
        .path()
        .join("data/pilote/workspaces/demo/sandbox/prod/prod-db/pets.db");
    std::fs::remove_file(&db).expect("rm");
    let (code, out, err) = run(home.pilote().args(["inventory", "check", "--env", "prod"]));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("integrity: 90% (9 of 10 checks passed)"),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.contains("prod-db"))
        .expect("prod-db row");
    assert!(
        line.contains("0/1     sql check failed: exit 1: `test -s"),
        "{line}"
    );

    // Six JBoss hosts whose check takes a second and three batch hosts whose check never
    // ends: one after the other that is 12 s; in parallel, about the slowest (its timeout,
    // then its grace). The bound leaves room for a loaded 2-core CI machine and still
    // fails if the hosts were checked one at a time.
    let config = home.path().join("config/pilote");
    edit(
        &config,
        "inventory.toml",
        "check = 'test -f \"$PILOTE_DATA_DIR/sandbox/$PILOTE_ENV/$PILOTE_HOST/configuration/standalone.xml\"'",
        "check = 'sleep 1'",
    );
    edit(
        &config,
        "inventory.toml",
        "check = 'test -d \"$PILOTE_DATA_DIR/sandbox/$PILOTE_ENV/$PILOTE_HOST/projects/pets-batch\"'",
        "check = 'sleep 30'",
    );
    let started = Instant::now();
    let (code, out, err) = run(home
        .pilote()
        .args(["inventory", "check", "--timeout", "2s"]));
    let took = started.elapsed();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("batch check failed: timed out after 2s"),
        "{out}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}:\n{out}");
}

#[test]
fn on_a_terminal_the_import_asks_and_writes_only_after_yes() {
    let home = Home::new();
    let ws = home.demo_config();
    let path = ws.join("inventory.toml");
    let before = std::fs::read(&path).expect("read");
    let from = fixtures().join("pets.json").display().to_string();
    let args = [
        "--workspace",
        ws.to_str().expect("utf-8 path"),
        "inventory",
        "import",
        "--from",
        &from,
    ];
    let mut t = common::pty::Pty::start(&home, &args, 120, 40);
    t.wait_for("the question", |s| {
        s.contains("Write this inventory? [y/N]")
    });
    t.send("n\r");
    assert_eq!(t.wait_exit(), 1);
    assert_eq!(std::fs::read(&path).expect("read"), before);

    let mut t = common::pty::Pty::start(&home, &args, 120, 40);
    t.wait_for("the question", |s| {
        s.contains("Write this inventory? [y/N]")
    });
    t.send("y\r");
    assert_eq!(t.wait_exit(), 0);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains("[hosts.prod-jboss-4]"), "{text}");
}

#[test]
fn the_import_refuses_to_write_over_a_file_edited_while_its_diff_was_read() {
    let home = Home::new();
    let ws = home.demo_config();
    let path = ws.join("inventory.toml");
    let from = fixtures().join("pets.json").display().to_string();
    let args = [
        "--workspace",
        ws.to_str().expect("utf-8 path"),
        "inventory",
        "import",
        "--from",
        &from,
    ];
    let mut t = common::pty::Pty::start(&home, &args, 120, 40);
    t.wait_for("the question", |s| {
        s.contains("Write this inventory? [y/N]")
    });
    // A colleague's edit lands while the operator reads the diff.
    edit(
        &ws,
        "inventory.toml",
        "protected = true\n",
        "protected = true # hands off\n",
    );
    let edited = std::fs::read(&path).expect("read");
    t.send("y\r");
    let screen = t.wait_for("the refusal", |s| s.contains("nothing was written"));
    assert_eq!(t.wait_exit(), 2, "{screen}");
    assert!(
        screen.contains("inventory.toml changed since the diff was made; nothing was written: run the import again"),
        "{screen}"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        edited,
        "the edit is kept"
    );
    let (_, audit, _) = pilote(&home, &ws, &["audit", "--json"]);
    assert!(!audit.contains("inventory.imported"), "{audit}");
}

#[test]
fn a_shared_host_may_serve_two_environments_and_an_empty_check_is_refused() {
    let home = Home::new();
    let ws = home.demo_config();
    edit(
        &ws,
        "inventory.toml",
        "war = [\"uat-jboss-1\"]",
        "war = [\"uat-jboss-1\", \"prod-jboss-1\"]",
    );
    let (code, _, err) = pilote(&home, &ws, &["config", "check"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`shared = true` in `[hosts.prod-jboss-1]`"),
        "{err}"
    );
    edit(
        &ws,
        "inventory.toml",
        "[hosts.prod-jboss-1]\n",
        "[hosts.prod-jboss-1]\nshared = true\n",
    );
    let (code, _, err) = pilote(&home, &ws, &["config", "check"]);
    assert_eq!(code, 0, "{err}");

    let text = std::fs::read_to_string(ws.join("inventory.toml")).expect("read");
    let sql_check = text
        .lines()
        .find(|l| l.starts_with("check = 'test -s"))
        .expect("the sql check");
    edit(&ws, "inventory.toml", sql_check, "check = '  '");
    let (code, _, err) = pilote(&home, &ws, &["config", "check"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the check of domain `sql` is empty"), "{err}");
}
