//! The dashboard's cost on a large history: every indicator for a 90-day window over a store
//! of 100,000 runs (300,000 step runs, 33,000 requests and their approvals), then a 200x50
//! frame of the Dashboard pane, against `sqlite3` counting the same window's deploys by env
//! and state (the plain tool's simplest dashboard query).
//!
//! Run: `cargo bench --bench metrics`. The store is built once (seconds) and kept in
//! `target/metrics-bench`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: i64 = 100_000;
const DAY: i64 = 86_400_000;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/metrics-bench");
    let home = root.join("home");
    let config = home.join("config/pilote");
    let data = home.join("data/pilote/workspaces/demo");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    if !root.join("built").exists() {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&home).expect("mkdir");
        let out = Command::new(env!("CARGO_BIN_EXE_pilote"))
            .args(["demo", "--no-open"])
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_STATE_HOME", home.join("state"))
            .output()
            .expect("demo");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("building the store: {RUNS} runs over two years…");
        let db = rusqlite::Connection::open(data.join("pilote.db")).expect("db");
        // Two years of history ending now: every 3rd run a prod deploy, 8% of deploys
        // failed, every 20th prod deploy rolled back; hosts from the demo inventory.
        db.execute_batch(&format!(
            "PRAGMA foreign_keys = OFF; PRAGMA synchronous = OFF;
             BEGIN;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {q})
             INSERT INTO requests (id, app, version, lifecycle, title, state, created_by, created_at, updated_at)
               SELECT i, 'pets', '1.' || i, 'standard', 't', 'deployed', 'dev',
                      {start} + i * 3 * {step}, {start} + i * 3 * {step} FROM n;
             INSERT INTO approvals (request_id, env, approver, decision, bound_digest, decided_at)
               SELECT id, 'prod', 'bob', 'approved', 'x', created_at + 3600000 FROM requests;
             INSERT INTO audit_events (seq, at, actor_uid, actor, action, subject, payload, prev_hash, hash)
               SELECT 1000000 + id, created_at + 600000, 0, 'dev', 'request.submitted',
                      'request:' || id, '{{}}', 'x', 'bench-' || id FROM requests;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {RUNS})
             INSERT INTO runs (id, kind, app, env, request_id, state, started_by, created_at,
                               started_at, finished_at, package_digest)
               SELECT i, 'deploy', 'pets', CASE i % 3 WHEN 1 THEN 'uat' WHEN 2 THEN 'preprod' ELSE 'prod' END,
                      (i + 2) / 3, CASE WHEN i % 13 = 0 THEN 'failed' ELSE 'succeeded' END, 'ops',
                      {start} + i * {step}, {start} + i * {step}, {start} + i * {step} + 600000,
                      'pkg-' || ((i + 2) / 3) FROM n;
             INSERT INTO runs (kind, app, env, rollback_of, state, started_by, created_at, started_at, finished_at)
               SELECT 'rollback', 'pets', 'prod', id, 'succeeded', 'ops', finished_at + 1800000,
                      finished_at + 1800000, finished_at + 2400000
               FROM runs WHERE kind = 'deploy' AND env = 'prod' AND id % 60 = 0;
             INSERT INTO step_runs (run_id, position, action_id, step_name, host, state)
               SELECT r.id, 0, 'deploy', 'deploy', h.host, r.state FROM runs r
               JOIN (SELECT 'uat' AS env, 'uat-jboss-1' AS host UNION ALL SELECT 'uat', 'uat-db'
                     UNION ALL SELECT 'uat', 'uat-ds' UNION ALL SELECT 'preprod', 'preprod-jboss-1'
                     UNION ALL SELECT 'preprod', 'preprod-db' UNION ALL SELECT 'preprod', 'preprod-ds'
                     UNION ALL SELECT 'prod', 'prod-jboss-1' UNION ALL SELECT 'prod', 'prod-db'
                     UNION ALL SELECT 'prod', 'prod-ds') h ON h.env = r.env
               WHERE r.kind = 'deploy';
             COMMIT;",
            q = RUNS / 3,
            start = now - 730 * DAY,
            step = 730 * DAY / RUNS,
        ))
        .expect("fill");
        std::fs::write(root.join("built"), "").expect("marker");
    }
    let ws = pilote::settings::load(
        &pilote::settings::Located {
            dir: config.clone(),
            origin: pilote::settings::Origin::Flag,
        },
        &pilote::settings::Overrides {
            data_dir: Some(data.clone()),
            ..pilote::settings::Overrides::default()
        },
    )
    .expect("workspace");
    let store = pilote::store::Store::open(&ws.data_dir, &ws.config_dir, Duration::from_secs(5))
        .expect("store");
    let query = pilote::workflow::metrics::Query {
        since: now - 90 * DAY,
        until: now,
        app: None,
        env: None,
    };
    // Where the time goes, query by query.
    let scope = pilote::store::Scope {
        since: query.since,
        until: query.until,
        app: None,
        env: None,
        production: "prod",
        preprod: Some("preprod"),
    };
    let timed = |what: &str, f: &dyn Fn() -> usize| {
        let start = Instant::now();
        let n = f();
        println!(
            "  {what:<24} {:>8.2} ms ({n} rows)",
            start.elapsed().as_secs_f64() * 1000.0
        );
    };
    timed("deploy records", &|| {
        store.deploy_records(&scope).map_or(0, |v| v.len())
    });
    timed("incidents", &|| {
        store.incidents(&scope).map_or(0, |v| v.len())
    });
    timed("lead times", &|| {
        store.lead_times(&scope).map_or(0, |v| v.len())
    });
    timed("approval waits", &|| {
        store.approval_waits(&scope).map_or(0, |v| v.len())
    });
    let hosts: Vec<(String, String, String, String)> = ["uat", "preprod", "prod"]
        .iter()
        .flat_map(|e| {
            ["jboss-1", "db", "ds"].map(|h| {
                (
                    "pets".to_string(),
                    (*e).to_string(),
                    format!("{e}-{h}"),
                    format!("pets/{h}"),
                )
            })
        })
        .collect();
    timed("deploys per domain", &|| {
        store
            .deploys_per_domain(&scope, &hosts)
            .map_or(0, |v| v.len())
    });
    let mut times = Vec::new();
    let mut m = None;
    for _ in 0..9 {
        let start = Instant::now();
        m = Some(pilote::workflow::metrics::compute(&ws, &store, &query).expect("metrics"));
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let m = m.expect("metrics");
    // The frame drawn from them.
    let mut app = pilote::tui::App::new(
        ws.clone(),
        pilote::identity::Actor::current(),
        pilote::tui::Options::default(),
    );
    app.dashboard.metrics = Some(m.clone());
    app.pane = pilote::tui::Pane::Dashboard;
    let mut term =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 50)).expect("terminal");
    let start = Instant::now();
    for _ in 0..200 {
        term.draw(|f| pilote::tui::draw(&app, f)).expect("draw");
    }
    let frame = start.elapsed().as_secs_f64() * 1000.0 / 200.0;
    let mut base = Vec::new();
    for _ in 0..9 {
        let start = Instant::now();
        let out = Command::new("sqlite3")
            .arg(data.join("pilote.db"))
            .arg(format!(
                "SELECT env, state, count(*) FROM runs WHERE kind = 'deploy' AND finished_at >= {} GROUP BY env, state",
                now - 90 * DAY
            ))
            .output()
            .expect("sqlite3");
        assert!(out.status.success());
        base.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    base.sort_by(f64::total_cmp);
    let (p, b) = (times[4], base[4]);
    println!(
        "  ({} deploys in the window, {} incidents, {} lead times)",
        m.per_env.iter().map(|e| e.deploys).sum::<usize>(),
        m.incidents.len(),
        m.lead_time.n
    );
    println!(
        "{:<44} pilote {p:>8.2} ms   sqlite3 count {b:>8.2} ms   ratio {:>5.2}x   (target <= 50 ms with the frame)",
        "every indicator, 90 days of 100k runs",
        p / b
    );
    println!(
        "{:<44} pilote {frame:>8.2} ms   (median of 9 reads; the frame: mean of 200)",
        "one 200x50 Dashboard frame from them"
    );
}
