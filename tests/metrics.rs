//! Delivery metrics on a small fixed history whose every figure is computed by hand below,
//! with the edge cases: no deploys, a failure not restored yet, a rollback of a rollback,
//! deploys across the window's edges, a cancelled deploy.

mod common;

use common::{Home, run};
use pilote::core::metrics::Band;
use pilote::workflow::metrics::{Query, compute};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// The window: [T0, T0 + 10 days).
const T0: i64 = 1_780_000_000_000;

fn demo() -> (Home, pilote::settings::Workspace, pilote::store::Store) {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let (ws, store) = home.demo_store();
    (home, ws, store)
}

/// Writes the history straight into the store's file (its own connection, foreign keys off).
fn seed(ws: &pilote::settings::Workspace) {
    let db = rusqlite::Connection::open(ws.data_dir.join("pilote.db")).expect("db");
    db.execute_batch("PRAGMA foreign_keys = OFF")
        .expect("pragma");
    let deploy = |id: i64, env: &str, state: &str, start: i64, end: i64, pkg: &str, req: i64| {
        db.execute(
            "INSERT INTO runs (id, kind, app, env, request_id, state, started_by, created_at,
                               started_at, finished_at, package_digest)
             VALUES (?1, 'deploy', 'pets', ?2, ?7, ?3, 'ops', ?4, ?4, ?5, ?6)",
            rusqlite::params![id, env, state, start, end, pkg, req],
        )
        .expect("deploy");
    };
    db.execute_batch(&format!(
        "INSERT INTO requests (id, app, version, lifecycle, title, state, created_by, created_at, updated_at)
         VALUES (1, 'pets', '1.4.0', 'standard', 't', 'rolled_back', 'dev', {T0}, {T0}),
                (2, 'pets', '1.5.0', 'standard', 't', 'deployed', 'dev', {r2}, {r2});",
        r2 = T0 + 4 * DAY
    ))
    .expect("requests");
    deploy(1, "uat", "succeeded", T0 + DAY, T0 + DAY + 10 * MIN, "A", 1);
    deploy(
        2,
        "preprod",
        "succeeded",
        T0 + 2 * DAY,
        T0 + 2 * DAY + 20 * MIN,
        "A",
        1,
    );
    deploy(
        3,
        "prod",
        "succeeded",
        T0 + 3 * DAY,
        T0 + 3 * DAY + 30 * MIN,
        "A",
        1,
    );
    deploy(
        5,
        "prod",
        "failed",
        T0 + 5 * DAY,
        T0 + 5 * DAY + 10 * MIN,
        "B",
        2,
    );
    deploy(
        6,
        "prod",
        "succeeded",
        T0 + 6 * DAY,
        T0 + 6 * DAY + 20 * MIN,
        "B",
        2,
    );
    deploy(
        7,
        "prod",
        "failed",
        T0 + 9 * DAY,
        T0 + 9 * DAY + 5 * MIN,
        "C",
        2,
    );
    // Ended before the window, and after it: neither counts (and #9, a failure, restores
    // nothing).
    deploy(8, "prod", "succeeded", T0 - 2 * HOUR, T0 - HOUR, "A", 3);
    deploy(
        9,
        "prod",
        "failed",
        T0 + 10 * DAY - HOUR,
        T0 + 10 * DAY + HOUR,
        "B",
        3,
    );
    // Cancelled: not a change either way.
    deploy(
        10,
        "prod",
        "cancelled",
        T0 + 4 * DAY,
        T0 + 4 * DAY + MIN,
        "B",
        2,
    );
    // Interrupted, then rolled back: not a judged change, so not an incident either.
    deploy(
        12,
        "prod",
        "interrupted",
        T0 + 8 * DAY,
        T0 + 8 * DAY + MIN,
        "C",
        2,
    );
    db.execute_batch(&format!(
        "-- Run 3 rolled back two hours after it started; then that rollback rolled back.
         INSERT INTO runs (id, kind, app, env, rollback_of, state, started_by, created_at, started_at, finished_at)
         VALUES (4, 'rollback', 'pets', 'prod', 3, 'succeeded', 'ops', {a}, {a}, {b}),
                (11, 'rollback', 'pets', 'prod', 4, 'succeeded', 'ops', {c}, {c}, {d}),
                (13, 'rollback', 'pets', 'prod', 12, 'succeeded', 'ops', {g}, {g}, {g});
         INSERT INTO step_runs (run_id, position, action_id, step_name, host, state)
         VALUES (3, 0, 'deploy-war', 'copy', 'prod-jboss-1', 'succeeded'),
                (3, 0, 'deploy-war', 'copy', 'prod-jboss-2', 'succeeded'),
                (3, 1000, 'run-sql', 'run', 'prod-db', 'succeeded');
         INSERT INTO approvals (request_id, env, approver, decision, bound_digest, decided_at)
         VALUES (1, 'preprod', 'alice', 'approved', 'x', {e});
         INSERT INTO audit_events (seq, at, actor_uid, actor, action, subject, payload, prev_hash, hash)
         VALUES (100000, {f}, 1, 'dev', 'request.submitted', 'request:1', '{{}}', 'p', 'fixture-1');",
        a = T0 + 3 * DAY + HOUR,
        b = T0 + 3 * DAY + 2 * HOUR,
        c = T0 + 3 * DAY + 2 * HOUR + MIN,
        d = T0 + 3 * DAY + 3 * HOUR,
        e = T0 + DAY + 12 * HOUR,
        f = T0 + HOUR,
        g = T0 + 8 * DAY + 10 * MIN,
    ))
    .expect("history");
}

fn window() -> Query {
    Query {
        since: T0,
        until: T0 + 10 * DAY,
        app: None,
        env: None,
    }
}

#[test]
fn every_indicator_on_a_small_history() {
    let (_home, ws, store) = demo();
    seed(&ws);
    let m = compute(&ws, &store, &window()).expect("metrics");
    assert_eq!(m.production, "prod");
    // Successful prod deploys ended in the window: #3 and #6, over 10 days.
    assert!(
        (m.frequency_per_day - 0.2).abs() < 1e-9,
        "{}",
        m.frequency_per_day
    );
    assert_eq!(m.deploys_per_day, vec![0, 0, 0, 1, 0, 0, 1, 0, 0, 0]);
    // Request 1: created T0, first prod success T0+3d30m; request 2: created T0+4d, first
    // prod success T0+6d20m (the failed #5 does not count).
    assert_eq!(m.lead_time.n, 2);
    assert_eq!(m.lead_time.median_ms, Some(2 * DAY + 20 * MIN));
    assert_eq!(m.lead_time.p90_ms, Some(3 * DAY + 30 * MIN));
    // Judged: #3 (rolled back), #5 (failed), #6, #7 (failed); #10 was cancelled.
    assert_eq!((m.change_failure.part, m.change_failure.whole), (3, 4));
    // Incidents: #3 restored by its rollback (ended 1h30m after it), #5 by #6 (1d10m later),
    // #7 not yet.
    assert_eq!(m.incidents.len(), 3);
    let restore: Vec<Option<i64>> = m.incidents.iter().map(|i| i.restore_ms()).collect();
    assert_eq!(restore, vec![None, Some(DAY + 10 * MIN), Some(90 * MIN)]);
    assert_eq!(m.restore.median_ms, Some(90 * MIN));
    assert_eq!(m.restore.p90_ms, Some(DAY + 10 * MIN));
    // Only #3's package had succeeded on preprod first, and it was rolled back.
    assert_eq!((m.escape.part, m.escape.whole), (1, 1));
    // Submitted T0+1h, approved T0+1d12h.
    assert_eq!(m.approval_wait.median_ms, Some(DAY + 11 * HOUR));
    let prod = m.per_env.iter().find(|e| e.env == "prod").expect("prod");
    assert_eq!((prod.deploys, prod.failed, prod.rolled_back), (6, 2, 2));
    assert_eq!(
        prod.cycle.median_ms,
        Some(5 * MIN),
        "1, 1, 5, 10, 20, 30 minutes"
    );
    let uat = m.per_env.iter().find(|e| e.env == "uat").expect("uat");
    assert_eq!((uat.deploys, uat.failure_rate.part), (1, 0));
    assert_eq!(m.per_app, vec![("pets".to_string(), 8)]);
    assert_eq!(
        m.per_domain,
        vec![("pets/sql".to_string(), 1), ("pets/war".to_string(), 1)]
    );
    let bands = m.bands();
    assert_eq!(bands[0].1, Some(Band::High), "0.2 a day: weekly or better");
    assert_eq!(bands[1].1, Some(Band::High), "2d20m: under a week");
    assert_eq!(bands[2].1, Some(Band::Low), "75%");
    assert_eq!(bands[3].1, Some(Band::High), "1h30m: under a day");
}

#[test]
fn an_empty_window_has_no_figures_and_no_bands() {
    let (_home, ws, store) = demo();
    seed(&ws);
    let m = compute(
        &ws,
        &store,
        &Query {
            since: T0 + 20 * DAY,
            until: T0 + 27 * DAY,
            ..window()
        },
    )
    .expect("metrics");
    assert_eq!(m.frequency_per_day, 0.0);
    assert_eq!(m.change_failure.rate, None);
    assert_eq!(m.lead_time.median_ms, None);
    assert!(m.incidents.is_empty() && m.per_env.is_empty());
    assert!(m.bands().iter().all(|(_, b)| b.is_none()));
}

#[test]
fn a_scope_on_an_env_judges_that_env() {
    let (_home, ws, store) = demo();
    seed(&ws);
    let m = compute(
        &ws,
        &store,
        &Query {
            env: Some("uat".into()),
            ..window()
        },
    )
    .expect("metrics");
    assert_eq!(m.production, "uat");
    assert!((m.frequency_per_day - 0.1).abs() < 1e-9);
    assert_eq!((m.change_failure.part, m.change_failure.whole), (0, 1));
    assert_eq!(m.per_env.len(), 1);
}

#[test]
fn the_export_formats() {
    let (home, ws, _store) = demo();
    seed(&ws);
    // The CLI measures up to now: the fixed history is long past, so the window is empty
    // but every format must still be well formed.
    for (format, expect) in [
        ("table", "change failure rate   no data (0 of 0)"),
        ("json", "\"change_failure\""),
        (
            "csv",
            "indicator,label,value\ndeployment_frequency_per_day,,0",
        ),
        (
            "prometheus",
            "pilote_deployment_frequency_per_day{window=\"30d\"",
        ),
    ] {
        let (code, out, err) = run(home.pilote().args(["metrics", "--format", format]));
        assert_eq!(code, 0, "{format}: {err}");
        assert!(out.contains(expect), "{format}: {out}");
    }
    let (code, out, _) = run(home.pilote().args(["metrics", "--explain"]));
    assert_eq!(code, 0);
    assert!(out.contains("change failure rate"), "{out}");
    let (code, _, err) = run(home.pilote().args(["metrics", "--since", "soon"]));
    assert_eq!(code, 2);
    assert!(err.contains("expected a duration like 7d"), "{err}");
}

#[test]
fn the_prometheus_export_passes_promtool() {
    let (home, ws, _store) = demo();
    seed(&ws);
    // Far enough back to hold the fixed history: every family has samples.
    // Far enough back to hold the fixed history, whatever today is.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    let since = format!("{}d", (now - T0) / DAY + 2);
    let (code, out, err) =
        run(home
            .pilote()
            .args(["metrics", "--since", &since, "--format", "prometheus"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pilote_change_failure_rate{"), "{out}");
    assert!(out.contains("pilote_domain_deploys{"), "{out}");
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`; .ci/run installs it)");
    use std::io::Write as _;
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(out.as_bytes())
        .expect("write");
    let result = check.wait_with_output().expect("promtool");
    assert!(
        result.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}

#[test]
fn the_demo_history_gives_the_dashboards_something_to_show_once() {
    let home = Home::new();
    let (code, _, err) = run(home.pilote().args(["demo", "--no-open", "--history", "6"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("month(s) of made-up history"), "{err}");
    let (code, out, _) = run(home
        .pilote()
        .args(["metrics", "--since", "90d", "--format", "json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let m = &v["indicators"];
    assert!(m["frequency_per_day"].as_f64().unwrap_or(0.0) > 0.0, "{m}");
    assert!(
        m["incidents"].as_array().is_some_and(|i| !i.is_empty()),
        "{m}"
    );
    assert!(
        m["change_failure"]["whole"].as_u64().unwrap_or(0) > 10,
        "{m}"
    );
    assert!(
        m["per_domain"].as_array().is_some_and(|d| d.len() == 3),
        "{m}"
    );
    // The past ends now, not a fortnight ago: the last week (the dashboard's first window)
    // has deploys too.
    let (code, out, _) = run(home
        .pilote()
        .args(["metrics", "--since", "7d", "--format", "json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let week = &v["indicators"];
    assert!(
        week["frequency_per_day"].as_f64().unwrap_or(0.0) > 0.0,
        "{week}"
    );
    // The made-up approvals count as given for their requests (not as stale).
    let (_, shown, _) = run(home.pilote().args(["request", "show", "1"]));
    assert!(shown.contains("approved by alice"), "{shown}");
    // Chained like any other change.
    assert_eq!(run(home.pilote().args(["audit", "verify"])).0, 0);
    // Once per demo.
    let (code, _, err) = run(home.pilote().args(["demo", "--no-open", "--history", "6"]));
    assert_eq!(code, 0);
    assert!(err.contains("already has its made-up history"), "{err}");
}
