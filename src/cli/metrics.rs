//! `pilote metrics`: the delivery indicators as a table, JSON, CSV or the Prometheus text
//! format (for node_exporter's textfile collector).

use std::fmt::Write as _;

use serde_json::json;

use super::args::MetricsFormat;
use crate::core::duration::human_ms;
use crate::core::metrics::{Band, Indicators, Spread};
use crate::error::{Error, Result};
use crate::settings::Workspace;
use crate::store::Store;

pub fn metrics(
    ws: &Workspace,
    store: &Store,
    since: &str,
    app: Option<String>,
    env: Option<String>,
    format: MetricsFormat,
) -> Result<()> {
    let window = crate::core::duration::parse(since)
        .ok()
        // Up to ten years: beyond, no history this tool keeps.
        .filter(|d| !d.is_zero() && d.as_secs() <= 3650 * 86_400)
        .ok_or_else(|| {
            Error::BadInput(format!(
                "--since {since}: expected a duration like 7d, 30d, 90d or 12h (at most 3650d)"
            ))
        })?;
    if let Some(a) = &app
        && !ws.inventory.apps.iter().any(|x| &x.name == a)
    {
        return Err(Error::BadInput(format!("unknown app `{a}`")));
    }
    if let Some(e) = &env {
        crate::workflow::known_env(ws, e)?;
    }
    let until = crate::clock::now_ms();
    let query = crate::workflow::metrics::Query {
        since: until - i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 2),
        until,
        app: app.clone(),
        env,
    };
    let m = crate::workflow::metrics::compute(ws, store, &query)?;
    let scope = Scope {
        window: since.to_string(),
        app,
    };
    let text = match format {
        MetricsFormat::Table => table(&m, &scope),
        MetricsFormat::Json => format!("{:#}", as_json(&m, &scope)),
        MetricsFormat::Csv => csv(&m),
        MetricsFormat::Prometheus => prometheus(&m, &scope),
    };
    outln!("{}", text.trim_end());
    Ok(())
}

struct Scope {
    window: String,
    app: Option<String>,
}

fn spread(s: &Spread) -> String {
    match (s.median_ms, s.p90_ms) {
        (Some(m), Some(p)) => format!("median {}, p90 {} (n={})", human_ms(m), human_ms(p), s.n),
        _ => "no data".into(),
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "no data".into(), |r| format!("{:.1}%", r * 100.0))
}

fn band(b: Option<Band>) -> &'static str {
    b.map_or("-", Band::as_str)
}

fn table(m: &Indicators, s: &Scope) -> String {
    let bands = m.bands();
    let mut out = format!(
        "Delivery over the last {} ({}, production = {})\n\n",
        s.window,
        s.app.as_deref().unwrap_or("every app"),
        m.production
    );
    let rows = [
        (
            "deployment frequency",
            format!("{:.2} per day", m.frequency_per_day),
            band(bands[0].1),
        ),
        ("lead time", spread(&m.lead_time), band(bands[1].1)),
        (
            "change failure rate",
            format!(
                "{} ({} of {})",
                percent(m.change_failure.rate),
                m.change_failure.part,
                m.change_failure.whole
            ),
            band(bands[2].1),
        ),
        ("time to restore", spread(&m.restore), band(bands[3].1)),
        ("approval wait", spread(&m.approval_wait), "-"),
        (
            "escape rate",
            format!(
                "{} ({} of {})",
                percent(m.escape.rate),
                m.escape.part,
                m.escape.whole
            ),
            "-",
        ),
    ];
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(k, v, b)| vec![(*k).to_string(), v.clone(), (*b).to_string()])
        .collect();
    out.push_str(&crate::table::render(
        &["INDICATOR", "VALUE", "DORA"],
        &rows,
    ));
    out.push('\n');
    let envs: Vec<Vec<String>> = m
        .per_env
        .iter()
        .map(|e| {
            vec![
                e.env.clone(),
                e.deploys.to_string(),
                e.failed.to_string(),
                e.rolled_back.to_string(),
                percent(e.failure_rate.rate),
                spread(&e.cycle),
            ]
        })
        .collect();
    out.push_str(&crate::table::render(
        &[
            "ENV",
            "DEPLOYS",
            "FAILED",
            "ROLLED BACK",
            "FAILURE RATE",
            "CYCLE",
        ],
        &envs,
    ));
    out.push('\n');
    let per = |list: &[(String, usize)]| {
        list.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "deploys per app:    {}", per(&m.per_app));
    let _ = writeln!(out, "deploys per domain: {}", per(&m.per_domain));
    if !m.incidents.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = m
            .incidents
            .iter()
            .map(|i| {
                vec![
                    format!("#{}", i.run),
                    format!("{} on {}", i.app, i.env),
                    crate::clock::format_ms(i.at),
                    i.restore_ms().map_or_else(|| "not yet".into(), human_ms),
                    i.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&crate::table::render(
            &["INCIDENT", "WHERE", "AT", "RESTORED IN", "WHY"],
            &rows,
        ));
    }
    out
}

fn as_json(m: &Indicators, s: &Scope) -> serde_json::Value {
    let bands: serde_json::Map<String, serde_json::Value> = m
        .bands()
        .iter()
        .map(|(k, b)| ((*k).to_string(), json!(b.map(Band::as_str))))
        .collect();
    json!({
        "window": s.window,
        "app": s.app,
        "indicators": m,
        "dora": bands,
    })
}

fn csv(m: &Indicators) -> String {
    let mut out = String::from("indicator,label,value\n");
    let mut row = |k: &str, label: &str, v: Option<f64>| {
        if let Some(v) = v {
            let _ = writeln!(out, "{k},{label},{v}");
        }
    };
    let secs = |ms: Option<i64>| ms.map(|v| v as f64 / 1000.0);
    row(
        "deployment_frequency_per_day",
        "",
        Some(m.frequency_per_day),
    );
    row("lead_time_seconds", "median", secs(m.lead_time.median_ms));
    row("lead_time_seconds", "p90", secs(m.lead_time.p90_ms));
    row("change_failure_rate", "", m.change_failure.rate);
    row(
        "time_to_restore_seconds",
        "median",
        secs(m.restore.median_ms),
    );
    row("time_to_restore_seconds", "p90", secs(m.restore.p90_ms));
    row(
        "approval_wait_seconds",
        "median",
        secs(m.approval_wait.median_ms),
    );
    row("escape_rate", "", m.escape.rate);
    for e in &m.per_env {
        row("env_deploys", &e.env, Some(e.deploys as f64));
        row("env_failure_rate", &e.env, e.failure_rate.rate);
        row("env_rollbacks", &e.env, Some(e.rolled_back as f64));
        row("env_cycle_seconds_median", &e.env, secs(e.cycle.median_ms));
    }
    for (a, n) in &m.per_app {
        row("app_deploys", a, Some(*n as f64));
    }
    for (d, n) in &m.per_domain {
        row("domain_deploys", d, Some(*n as f64));
    }
    out
}

/// Label values escaped as the text format wants (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn prometheus(m: &Indicators, s: &Scope) -> String {
    let mut out = String::new();
    let base = format!(
        "window=\"{}\",app=\"{}\",production=\"{}\"",
        label(&s.window),
        label(s.app.as_deref().unwrap_or("")),
        label(&m.production)
    );
    let mut family = |name: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP pilote_{name} {help}");
        let _ = writeln!(out, "# TYPE pilote_{name} gauge");
        for (extra, v) in samples {
            let labels = if extra.is_empty() {
                base.clone()
            } else {
                format!("{base},{extra}")
            };
            let _ = writeln!(out, "pilote_{name}{{{labels}}} {v}");
        }
    };
    let secs = |ms: Option<i64>| ms.map(|v| v as f64 / 1000.0);
    let stats = |sp: &Spread| -> Vec<(String, f64)> {
        [("median", secs(sp.median_ms)), ("p90", secs(sp.p90_ms))]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (format!("stat=\"{k}\""), v)))
            .collect()
    };
    let one = |v: Option<f64>| v.map(|v| vec![(String::new(), v)]).unwrap_or_default();
    family(
        "deployment_frequency_per_day",
        "Successful production deploys per day over the window.",
        vec![(String::new(), m.frequency_per_day)],
    );
    family(
        "lead_time_seconds",
        "Request created to its first successful production deploy.",
        stats(&m.lead_time),
    );
    family(
        "change_failure_rate",
        "Production deploys that failed or were rolled back, over those that succeeded or failed.",
        one(m.change_failure.rate),
    );
    family(
        "time_to_restore_seconds",
        "A failed or rolled-back production deploy to the next success or its rollback.",
        stats(&m.restore),
    );
    family(
        "incidents_open",
        "Failed or rolled-back production deploys not restored yet.",
        vec![(
            String::new(),
            m.incidents
                .iter()
                .filter(|i| i.restored_at.is_none())
                .count() as f64,
        )],
    );
    family(
        "approval_wait_seconds",
        "Request submitted to an approval.",
        stats(&m.approval_wait),
    );
    family(
        "escape_rate",
        "Production deploys of packages that passed pre-production, then failed or were rolled back.",
        one(m.escape.rate),
    );
    family(
        "env_deploys",
        "Deploy runs that ended in the window, per env.",
        m.per_env
            .iter()
            .map(|e| (format!("env=\"{}\"", label(&e.env)), e.deploys as f64))
            .collect(),
    );
    family(
        "env_rollbacks",
        "Deploys rolled back, per env.",
        m.per_env
            .iter()
            .map(|e| (format!("env=\"{}\"", label(&e.env)), e.rolled_back as f64))
            .collect(),
    );
    family(
        "env_failure_rate",
        "Deploys that failed or were rolled back, over those that succeeded or failed, per env.",
        m.per_env
            .iter()
            .filter_map(|e| {
                e.failure_rate
                    .rate
                    .map(|r| (format!("env=\"{}\"", label(&e.env)), r))
            })
            .collect(),
    );
    family(
        "deploy_cycle_seconds",
        "Deploy run duration per env.",
        m.per_env
            .iter()
            .flat_map(|e| {
                stats(&e.cycle)
                    .into_iter()
                    .map(|(k, v)| (format!("env=\"{}\",{k}", label(&e.env)), v))
                    .collect::<Vec<_>>()
            })
            .collect(),
    );
    family(
        "app_deploys",
        "Deploy runs per app.",
        m.per_app
            .iter()
            .map(|(a, n)| (format!("deployed_app=\"{}\"", label(a)), *n as f64))
            .collect(),
    );
    family(
        "domain_deploys",
        "Deploy runs per app domain.",
        m.per_domain
            .iter()
            .map(|(d, n)| (format!("domain=\"{}\"", label(d)), *n as f64))
            .collect(),
    );
    out
}
