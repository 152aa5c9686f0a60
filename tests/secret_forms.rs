//! Secrets stay masked in the forms a shell produces, through the real binary: base64 of text
//! holding a secret at any offset, base64 and upper-case hex wrapped in lines (a PEM key), a
//! secret across the 64 KiB split of a long line (which is cut on characters), an `http`
//! step's URL credentials, and its headers and basic auth from secret parameters. Secrets too
//! short to be masked are refused; a mistyped `--from` scheme never echoes its credential.
//!
//! What is searched each time: every file pilote wrote under the home (the store, its WAL,
//! the state log), the store dumped as text, and what `runs --json`, `audit --json` and
//! `logs` show.

mod common;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use common::http::Answer;
use common::workspace::Ws;
use common::{base64, run};

/// 20 bytes with `/`, `+`, `=`, `&` and `%`: its base64, URL and hex forms all differ.
const TOKEN: &str = "Zq8/t0k+3n=R&x%v9_Wp";
const PASSWORD: &str = "hunter2-Correct-Horse-7c1d";

/// The plan's `with` for a `token` from `PILOTE_TEST_TOKEN`.
const TOKEN_FROM_ENV: &str = "{ token = { env = \"PILOTE_TEST_TOKEN\" } }";

/// A demo workspace with `automations` as `automations/forms.toml` and a plan of one action
/// using `uses` with `with`, as `plans/forms.toml`.
fn workspace(automations: &str, uses: &str, with: &str) -> Ws {
    let ws = Ws::demo_config();
    std::fs::write(ws.dir.join("automations/forms.toml"), automations).expect("write");
    std::fs::write(
        ws.dir.join("plans/forms.toml"),
        format!(
            "app = \"pets\"\n[[actions]]\nid = \"forms\"\ntitle = \"Forms\"\nuses = \"{uses}\"\nwith = {with}\n"
        ),
    )
    .expect("write");
    ws
}

/// Automation `name`, changing nothing, with secret parameters `secrets` and one step of
/// `kind` whose fields are `fields` (TOML lines).
fn automation(name: &str, secrets: &[&str], kind: &str, fields: &str) -> String {
    let mut text = format!("[{name}]\ndescription = \"{name}\"\nchanges_state = false\n");
    for p in secrets {
        let _ = writeln!(text, "[{name}.params.{p}]\ntype = \"secret\"");
    }
    let _ = write!(
        text,
        "[[{name}.steps]]\nname = \"{name}\"\nkind = \"{kind}\"\n{fields}"
    );
    text
}

/// A `shell` step running `script`, in a literal TOML string.
fn shell(name: &str, secrets: &[&str], script: &str) -> String {
    automation(
        name,
        secrets,
        "shell",
        &format!("script = '''\n{script}'''\n"),
    )
}

/// `pilote ARGS...` in `ws`, with `PILOTE_TEST_TOKEN` set to `token`: (code, stdout, stderr).
fn pilote(ws: &Ws, token: &str, args: &[&str]) -> (i32, String, String) {
    run(ws
        .home
        .pilote()
        .env("PILOTE_LOG", "trace")
        .env("PILOTE_TEST_TOKEN", token)
        .arg("--workspace")
        .arg(&ws.dir)
        .args(args))
}

/// Runs the plan on uat, followed: (exit code, what was shown).
fn run_forms(ws: &Ws, token: &str) -> (i32, String) {
    let (code, out, err) = pilote(
        ws,
        token,
        &["run", "plans/forms.toml", "--env", "uat", "--follow"],
    );
    (code, out + &err)
}

/// The store's own text: every table, as `sqlite3 .dump` gives it.
fn dump(ws: &Ws) -> String {
    let out = std::process::Command::new("sqlite3")
        .arg(ws.data().join("pilote.db"))
        .arg(".dump")
        .output()
        .expect("sqlite3 (Debian: apt install sqlite3)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything pilote keeps or shows of the run (see the top of the file), but the config the
/// test wrote.
fn everything(ws: &Ws, shown: &str) -> String {
    let mut text = String::from(shown);
    for dir in ["data", "state"] {
        for bytes in files_under(&ws.home.path().join(dir)) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text.push_str(&dump(ws));
    for args in [
        &["runs", "--json"][..],
        &["audit", "--json"],
        &["logs", "1"],
    ] {
        let (_, out, err) = pilote(ws, "", args);
        text.push_str(&out);
        text.push_str(&err);
    }
    text
}

fn files_under(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(std::fs::read(&p).unwrap_or_default());
        }
    }
    out
}

/// The characters of the base64 of any text holding `secret` that only the secret decides,
/// for each of the three offsets it may start at in a 3-byte group.
fn cores(secret: &[u8]) -> Vec<String> {
    (0..3)
        .map(|offset| {
            let encoded = base64(&[&vec![0u8; offset][..], secret].concat());
            encoded[(8 * offset).div_ceil(6)..8 * (offset + secret.len()) / 6].to_string()
        })
        .collect()
}

/// The pieces of 8 characters of `forms` that are in `text`: a leak (shorter pieces, at a
/// line's end or start, are left by design). ASCII case is ignored when `fold`.
fn leaked(text: &str, forms: &[String], fold: bool) -> Vec<String> {
    let norm = |s: &str| {
        if fold {
            s.to_ascii_uppercase()
        } else {
            s.to_string()
        }
    };
    let needles: HashSet<String> = forms
        .iter()
        .flat_map(|f| {
            let f = norm(f);
            (0..f.len().saturating_sub(7))
                .map(|i| f[i..i + 8].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let hay = norm(text);
    let mut found: Vec<String> = hay
        .as_bytes()
        .windows(8)
        .filter_map(|w| std::str::from_utf8(w).ok())
        .filter(|w| needles.contains(*w))
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

const ENCODE: &str = r#"for u in u us use user; do
  printf '%s:%s' "$u" "$TOKEN" | base64
  printf 'Authorization: Basic %s\n' "$(printf '%s:%s' "$u" "$TOKEN" | base64 -w0)"
  printf '%s:%s and more\n' "$u" "$TOKEN" | base64 -w0; echo
done
"#;

#[test]
fn the_base64_of_text_holding_a_secret_at_any_offset_is_masked() {
    let ws = workspace(
        &shell("encode", &["token"], ENCODE),
        "encode",
        TOKEN_FROM_ENV,
    );
    let (code, shown) = run_forms(&ws, TOKEN);
    assert_eq!(code, 0, "{shown}");
    assert_eq!(shown.matches("Authorization: Basic ").count(), 4, "{shown}");
    let all = everything(&ws, &shown);
    let leaks = leaked(&all, &cores(TOKEN.as_bytes()), false);
    assert!(
        leaks.is_empty(),
        "base64 of the secret left: {leaks:?}\n{shown}"
    );
}

/// A PEM-shaped key: 8 lines of 64 characters between its markers, 573 bytes in all, so
/// `base64` wraps its encoding over 11 lines.
fn pem() -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 0x5eed;
    let mut body = String::new();
    for _ in 0..8 {
        for _ in 0..64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            body.push(char::from(B64[((x >> 33) % 64) as usize]));
        }
        body.push('\n');
    }
    format!("-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----")
}

const WRAP: &str = r#"printf '%s\n' "$KEY" | base64
printf 'x%s' "$KEY" | base64 -w 64
printf 'xy%s' "$KEY" | base64
echo hex:
printf '%s' "$KEY" | od -An -v -tx1 | tr -d ' \n' | fold -w 60 | tr a-f A-F
"#;

#[test]
fn base64_wrapped_at_76_or_64_columns_and_wrapped_upper_case_hex_are_masked() {
    let outside = tempfile::tempdir().expect("temp dir");
    let key = pem();
    let key_file = outside.path().join("key.pem");
    std::fs::write(&key_file, format!("{key}\n")).expect("write key");
    let ws = workspace(
        &shell("wrap", &["key"], WRAP),
        "wrap",
        &format!("{{ key = {{ file = \"{}\" }} }}", key_file.display()),
    );
    let (code, shown) = run_forms(&ws, "");
    assert_eq!(code, 0, "{shown}");
    // The script printed its lines: 11 + 12 + 11 of base64, 20 of hex, each masked.
    assert!(shown.matches("****").count() >= 40, "{shown}");
    let all = everything(&ws, &shown);
    let leaks = leaked(&all, &cores(key.as_bytes()), false);
    assert!(
        leaks.is_empty(),
        "base64 of the key left: {leaks:?}\n{shown}"
    );
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    let leaks = leaked(&all, &[hex], true);
    assert!(leaks.is_empty(), "hex of the key left: {leaks:?}\n{shown}");
}

const LONG: &str = r#"printf a; yes é | head -n 40000 | tr -d '\n'; echo
for at in 65470 65480 65490 65500 65510 65520 65530; do
  head -c "$at" /dev/zero | tr '\0' x; printf '%s' "$TOKEN"; head -c 100 /dev/zero | tr '\0' y; echo
done
"#;

/// The step's stdout lines, as stored, in order.
fn stored_stdout(ws: &Ws) -> Vec<String> {
    let out = std::process::Command::new("sqlite3")
        .arg("-json")
        .arg(ws.data().join("pilote.db"))
        .arg("SELECT line FROM log_lines WHERE stream = 'stdout' ORDER BY seq")
        .output()
        .expect("sqlite3");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    rows.iter()
        .map(|r| r["line"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_line_past_64_kib_is_cut_on_a_character_and_never_through_a_secret() {
    let ws = workspace(&shell("long", &["token"], LONG), "long", TOKEN_FROM_ENV);
    let (code, shown) = run_forms(&ws, TOKEN);
    assert_eq!(code, 0, "{}", &shown[..shown.len().min(2000)]);
    let stored = stored_stdout(&ws);
    // Each line went in two pieces, none longer than 64 KiB, none holding a broken
    // character (the 65,536th byte of the first is inside an `é`).
    assert_eq!(
        stored.len(),
        16,
        "{:?}",
        stored.iter().map(String::len).collect::<Vec<_>>()
    );
    assert!(stored.iter().all(|l| l.len() <= 64 * 1024));
    assert!(
        !stored.iter().any(|l| l.contains('\u{FFFD}')),
        "a character was cut"
    );
    let mut expected = format!("a{}", "é".repeat(40000));
    for at in (65470..=65530).step_by(10) {
        expected.push_str(&format!("{}****{}", "x".repeat(at), "y".repeat(100)));
    }
    // Pieces joined: the lines as printed, each secret masked whole.
    let joined = stored.concat();
    assert!(
        joined == expected,
        "the pieces differ from the masked lines"
    );
    let leaks = leaked(&everything(&ws, &shown), &[TOKEN.to_string()], false);
    assert!(leaks.is_empty(), "the secret left: {leaks:?}");
}

/// A tiny HTTP server on loopback: `/fail` answers 503; `/auth` answers 200 to a request
/// with HTTP Basic `deploy:PASSWORD` and `X-Api-Key: TOKEN`, 401 to any other. Its address.
fn serve() -> String {
    let basic = format!("Basic {}", base64(format!("deploy:{PASSWORD}").as_bytes()));
    let addr = common::http::serve(move |request| match request.path() {
        "/auth" if request.has("authorization", &basic) && request.has("x-api-key", TOKEN) => {
            Answer::text("200 OK", "ok")
        }
        "/auth" => Answer::text("401 Unauthorized", "who are you?"),
        _ => Answer::text("503 Service Unavailable", "unavailable"),
    });
    addr.to_string()
}

#[test]
fn credentials_in_an_http_steps_url_are_masked_wherever_it_is_shown_or_stored() {
    const KEY: &str = "k3y-0f-the-health-api";
    let addr = serve();
    let url = format!("http://deploy:{PASSWORD}@{addr}/fail?api_key={KEY}&verbose=1");
    let ws = workspace(
        &automation("check", &[], "http", &format!("url = \"{url}\"\n")),
        "check",
        "{}",
    );
    let (code, shown) = run_forms(&ws, "");
    assert_ne!(code, 0, "the check fails (503): {shown}");
    let masked = format!("http://****@{addr}/fail?api_key=****&verbose=1");
    assert!(shown.contains(&format!("GET {masked}: 0/1 ok")), "{shown}");
    let (_, runs, _) = pilote(&ws, "", &["runs", "--json"]);
    assert!(runs.contains(&masked), "the outcome names the URL: {runs}");
    let (_, plan, _) = pilote(
        &ws,
        "",
        &["plan", "show", "plans/forms.toml", "--env", "uat"],
    );
    assert!(plan.contains(&masked), "{plan}");
    let all = everything(&ws, &(shown + &plan));
    for secret in [PASSWORD, KEY] {
        assert!(!all.contains(secret), "{secret} is shown or stored");
    }
}

#[test]
fn an_http_step_sends_headers_and_basic_auth_from_secret_parameters() {
    let addr = serve();
    let probe = automation(
        "probe",
        &["token", "password"],
        "http",
        &format!(
            "url = \"http://{addr}/auth?key=${{token}}\"\n\
             headers = {{ X-Api-Key = \"${{token}}\", Accept = \"text/plain\" }}\n\
             basic_auth = {{ user = \"deploy\", password = \"${{password}}\" }}\n"
        ),
    );
    let outside = tempfile::tempdir().expect("temp dir");
    let password_file = outside.path().join("password");
    std::fs::write(&password_file, PASSWORD).expect("write");
    let ws = workspace(
        &probe,
        "probe",
        &format!(
            "{{ token = {{ env = \"PILOTE_TEST_TOKEN\" }}, password = {{ file = \"{}\" }} }}",
            password_file.display()
        ),
    );
    let (code, shown) = run_forms(&ws, TOKEN);
    assert_eq!(code, 0, "the server saw both credentials: {shown}");
    // The URL took the token too (its `&` unescaped), shown masked whole.
    assert!(
        shown.contains(&format!("GET http://{addr}/auth?key=****: 1/1 ok")),
        "{shown}"
    );
    let all = everything(&ws, &shown);
    let basic = base64(format!("deploy:{PASSWORD}").as_bytes());
    for secret in [TOKEN, PASSWORD, &basic] {
        assert!(!all.contains(secret), "{secret} is shown or stored");
    }
    // Without the credentials the same check fails: the test tests something.
    let (code, shown) = run_forms(&ws, "another-token-entirely");
    assert_ne!(code, 0, "{shown}");
    assert!(shown.contains("status 401, expected 200"), "{shown}");
}

const SHORT: &str = "echo the step ran\n";

/// Paths of temp dirs, for snapshots.
fn redact(ws: &Ws, outside: &Path, text: &str) -> String {
    ws.home
        .redact(text)
        .replace(&outside.display().to_string(), "[SECRETS]")
}

#[test]
fn a_secret_too_short_to_mask_or_empty_fails_the_run_before_its_first_step() {
    let outside = tempfile::tempdir().expect("temp dir");
    let mut said = String::new();
    for (with, token) in [
        (TOKEN_FROM_ENV.to_string(), "abcd"),
        (TOKEN_FROM_ENV.to_string(), ""),
        (
            format!("{{ token = {{ file = \"{}\" }} }}", {
                let f = outside.path().join("empty");
                std::fs::write(&f, "\n").expect("write");
                f.display().to_string()
            }),
            "",
        ),
    ] {
        let ws = workspace(&shell("short", &["token"], SHORT), "short", &with);
        let (code, shown) = run_forms(&ws, token);
        assert_ne!(code, 0, "{shown}");
        assert!(!shown.contains("the step ran"), "{shown}");
        let (_, runs, _) = pilote(&ws, "", &["runs", "--json"]);
        let run = common::run_in(&runs, "1");
        assert_eq!(run["state"], "failed", "{runs}");
        let _ = writeln!(
            said,
            "{}",
            redact(
                &ws,
                outside.path(),
                run["outcome"].as_str().unwrap_or_default()
            )
        );
    }
    insta::assert_snapshot!("short_secrets_refused", said);
}

#[test]
fn config_check_refuses_a_secret_file_too_short_to_mask() {
    let outside = tempfile::tempdir().expect("temp dir");
    let short = outside.path().join("short");
    std::fs::write(&short, "abc\n").expect("write");
    let ws = workspace(
        &shell("short", &["token"], SHORT).replace(
            "type = \"secret\"\n",
            &format!(
                "type = \"secret\"\ndefault = {{ file = \"{}\" }}\n",
                short.display()
            ),
        ),
        "short",
        "{}",
    );
    let (code, out, err) = pilote(&ws, "", &["config", "check"]);
    assert_eq!(code, 2, "{out}{err}");
    insta::assert_snapshot!(
        "config_check_short_secret",
        redact(&ws, outside.path(), &err)
    );
    // Long enough, it passes.
    std::fs::write(&short, "abcdef\n").expect("write");
    let (code, out, err) = pilote(&ws, "", &["config", "check"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_mistyped_scheme_in_inventory_import_never_shows_its_credential() {
    let ws = Ws::demo_config();
    let before = std::fs::read(ws.dir.join("inventory.toml")).expect("read");
    let (code, out, err) = pilote(
        &ws,
        "",
        &[
            "inventory",
            "import",
            "--from",
            &format!("htps://pilote:{PASSWORD}@127.0.0.1:1/export"),
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(!(out.clone() + &err).contains(PASSWORD), "{out}{err}");
    assert_eq!(
        std::fs::read(ws.dir.join("inventory.toml")).expect("read"),
        before
    );
    insta::assert_snapshot!("import_mistyped_scheme", err);
}

#[test]
fn http_credential_mistakes_are_reported_without_showing_them() {
    let ws = workspace(
        r#"[bad]
description = "Credentials written wrong"
changes_state = false
[bad.params.token]
type = "string"
[[bad.steps]]
name = "probe"
kind = "http"
url = "http://127.0.0.1:1/x"
basic_auth = { user = "deploy", password = "l1teral-passw0rd" }
[bad.steps.headers]
"Bad Name" = "x"
Authorization = "Bearer l1teral-t0ken"
X-Token = "${token}"
X-Ok = "${env}"
[[bad.steps]]
name = "script"
kind = "shell"
script = "true"
headers = { Accept = "text/plain" }
"#,
        "bad",
        "{}",
    );
    let (code, out, err) = pilote(&ws, "", &["config", "check"]);
    assert_eq!(code, 2, "{out}{err}");
    for literal in ["l1teral-t0ken", "l1teral-passw0rd"] {
        assert!(!err.contains(literal), "{err}");
    }
    insta::assert_snapshot!("http_credential_mistakes", ws.home.redact(&err));
}
