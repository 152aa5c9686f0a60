//! The dashboard's widgets, each named as `[dashboard] widgets` lists them.

use std::path::Path;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Sparkline, Table, Widget as _, Wrap};
use toml::Spanned;

use super::Env;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::duration::human_ms;
use crate::core::metrics::Indicators;
use crate::core::metrics::{Band, Spread};
use crate::store::Summary;
use crate::tui::data::RunLine;

/// What every widget may draw from.
pub struct View<'a> {
    /// The runs listed in the Runs pane, and the header's counts.
    pub runs: &'a [RunLine],
    pub summary: &'a Summary,
    pub metrics: Option<&'a Indicators>,
    /// The incident picked in the incidents widget (Enter opens its run).
    pub incident: usize,
}

/// One dashboard widget: a title, the rows it would like, and how it draws.
pub trait Widget: std::fmt::Debug {
    fn title(&self) -> &'static str;
    fn rows(&self, env: &Env<'_>, view: &View<'_>) -> u16;
    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, view: &View<'_>);
}

/// Every widget name, in the default order.
pub const DEFAULT: [&str; 9] = [
    "dora",
    "deploys_per_day",
    "lead_time",
    "per_env",
    "incidents",
    "flow",
    "per_app",
    "recent_runs",
    "inventory",
];

/// The widget called `name`.
pub fn named(name: &str) -> Option<Box<dyn Widget>> {
    Some(match name {
        "dora" => Box::new(Dora),
        "deploys_per_day" => Box::new(DeploysPerDay),
        "lead_time" => Box::new(LeadTime),
        "per_env" => Box::new(PerEnv),
        "incidents" => Box::new(Incidents),
        "flow" => Box::new(Flow),
        "per_app" => Box::new(PerApp),
        "recent_runs" => Box::new(RecentRuns),
        "inventory" => Box::new(Inventory),
        _ => return None,
    })
}

fn median(s: &Spread) -> String {
    match (s.median_ms, s.p90_ms) {
        (Some(m), Some(p)) => format!("{} (p90 {})", human_ms(m), human_ms(p)),
        _ => "no data".into(),
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "no data".into(), |r| format!("{:.0}%", r * 100.0))
}

fn no_metrics(area: Rect, buf: &mut Buffer, env: &Env<'_>) {
    Paragraph::new("reading the history…")
        .style(env.theme.dim)
        .render(area, buf);
}

/// The four DORA keys with their bands.
#[derive(Debug)]
struct Dora;

impl Widget for Dora {
    fn title(&self) -> &'static str {
        "DORA keys"
    }

    fn rows(&self, _: &Env<'_>, _: &View<'_>) -> u16 {
        4
    }

    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, view: &View<'_>) {
        let t = env.theme;
        let Some(m) = view.metrics else {
            return no_metrics(area, buf, env);
        };
        let bands = m.bands();
        let values = [
            format!("{:.2} a day", m.frequency_per_day),
            median(&m.lead_time),
            format!(
                "{} ({} of {})",
                percent(m.change_failure.rate),
                m.change_failure.part,
                m.change_failure.whole
            ),
            median(&m.restore),
        ];
        let rows: Vec<Row> = bands
            .iter()
            .zip(values)
            .map(|((name, band), value)| {
                let style = match band {
                    Some(Band::Elite | Band::High) => t.ok,
                    Some(Band::Medium) => t.warn,
                    Some(Band::Low) => t.bad,
                    None => t.dim,
                };
                Row::new(vec![
                    Cell::from(*name),
                    Cell::from(value),
                    Cell::from(band.map_or("-", Band::as_str)).style(style),
                ])
            })
            .collect();
        Table::new(
            rows,
            [
                Constraint::Length(21),
                Constraint::Fill(1),
                Constraint::Length(7),
            ],
        )
        .render(area, buf);
    }
}

/// Successful production deploys per day over the window.
#[derive(Debug)]
struct DeploysPerDay;

impl Widget for DeploysPerDay {
    fn title(&self) -> &'static str {
        "Production deploys per day"
    }

    fn rows(&self, _: &Env<'_>, _: &View<'_>) -> u16 {
        4
    }

    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, view: &View<'_>) {
        let Some(m) = view.metrics else {
            return no_metrics(area, buf, env);
        };
        let total: u64 = m.deploys_per_day.iter().sum();
        let [label, chart] =
            ratatui::layout::Layout::vertical([Constraint::Length(1), Constraint::Min(1)])
                .areas(area);
        Paragraph::new(format!(
            "{total} in {}, most in a day: {}",
            crate::table::count(m.deploys_per_day.len(), "day"),
            m.deploys_per_day.iter().max().copied().unwrap_or(0)
        ))
        .style(env.theme.dim)
        .render(label, buf);
        // The latest days when the window is wider than the widget.
        let width = usize::from(chart.width);
        let days = &m.deploys_per_day[m.deploys_per_day.len().saturating_sub(width)..];
        Sparkline::default()
            .data(days)
            .style(env.theme.accent)
            .render(chart, buf);
    }
}

/// The median lead time of each week, as a line.
#[derive(Debug)]
struct LeadTime;

impl Widget for LeadTime {
    fn title(&self) -> &'static str {
        "Lead time, weekly median (hours)"
    }

    fn rows(&self, _: &Env<'_>, _: &View<'_>) -> u16 {
        6
    }

    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, view: &View<'_>) {
        use ratatui::symbols::Marker;
        use ratatui::widgets::{Axis, Chart, Dataset, GraphType};
        let Some(m) = view.metrics else {
            return no_metrics(area, buf, env);
        };
        let points: Vec<(f64, f64)> = m
            .lead_time_per_week
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|ms| (i as f64, ms as f64 / 3_600_000.0)))
            .collect();
        if points.is_empty() {
            Paragraph::new("no release reached production in this window")
                .style(env.theme.dim)
                .render(area, buf);
            return;
        }
        let top = points.iter().map(|(_, y)| *y).fold(1.0, f64::max);
        let weeks = m.lead_time_per_week.len().max(1) as f64;
        Chart::new(vec![
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(env.theme.accent)
                .data(&points),
        ])
        .x_axis(Axis::default().bounds([0.0, weeks - 1.0]))
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels(["0".to_string(), format!("{top:.0}")]),
        )
        .render(area, buf);
    }
}

/// Deploys, failures, rollbacks and cycle time per env, with a failure-rate bar.
#[derive(Debug)]
struct PerEnv;

impl Widget for PerEnv {
    fn title(&self) -> &'static str {
        "Per environment"
    }

    fn rows(&self, env: &Env<'_>, _: &View<'_>) -> u16 {
        u16::try_from(env.ws.inventory.envs.len() + 1).unwrap_or(u16::MAX)
    }

    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, view: &View<'_>) {
        let t = env.theme;
        let Some(m) = view.metrics else {
            return no_metrics(area, buf, env);
        };
        let rows: Vec<Row> = m
            .per_env
            .iter()
            .map(|e| {
                let rate = e.failure_rate.rate.unwrap_or(0.0);
                let filled = (rate * 10.0).round() as usize;
                let bar = format!("{}{}", "█".repeat(filled), "·".repeat(10 - filled.min(10)));
                Row::new(vec![
                    Cell::from(e.env.clone()),
                    Cell::from(e.deploys.to_string()),
                    Cell::from(e.failed.to_string()),
                    Cell::from(e.rolled_back.to_string()),
                    Cell::from(format!("{bar} {}", percent(e.failure_rate.rate)))
                        .style(if rate > 0.15 { t.bad } else { Style::new() }),
                    Cell::from(e.cycle.median_ms.map_or_else(|| "-".into(), human_ms)),
                ])
            })
            .collect();
        Table::new(
            rows,
            [
                Constraint::Length(10),
                Constraint::Length(7),
                Constraint::Length(6),
                Constraint::Length(9),
                Constraint::Length(16),
                Constraint::Fill(1),
            ],
        )
        .header(
            Row::new([
                "ENV",
                "DEPLOYS",
                "FAILED",
                "ROLLBACKS",
                "FAILURE RATE",
                "CYCLE",
            ])
            .style(t.title),
        )
        .render(area, buf);
    }
}

/// The last incidents with their time to restore and the reason given for their rollback;
/// Enter opens the picked one's run.
#[derive(Debug)]
struct Incidents;

impl Widget for Incidents {
    fn title(&self) -> &'static str {
        "Incidents (failed or rolled-back production deploys)"
    }

    fn rows(&self, _: &Env<'_>, view: &View<'_>) -> u16 {
        let n = view.metrics.map_or(0, |m| m.incidents.len());
        u16::try_from(n.clamp(1, 6) + 1).unwrap_or(7)
    }

    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, view: &View<'_>) {
        let t = env.theme;
        let Some(m) = view.metrics else {
            return no_metrics(area, buf, env);
        };
        if m.incidents.is_empty() {
            Paragraph::new("none in this window")
                .style(t.ok)
                .render(area, buf);
            return;
        }
        let visible = usize::from(area.height.saturating_sub(1)).max(1);
        let first = view.incident.saturating_sub(visible - 1);
        let rows: Vec<Row> = m
            .incidents
            .iter()
            .enumerate()
            .skip(first)
            .map(|(i, inc)| {
                let restore = inc.restore_ms().map_or_else(|| "not yet".into(), human_ms);
                Row::new(vec![
                    Cell::from(format!("#{}", inc.run)),
                    Cell::from(format!("{} on {}", inc.app, inc.env)),
                    Cell::from(crate::clock::format_ms(inc.at)),
                    Cell::from(restore).style(if inc.restored_at.is_none() {
                        t.bad
                    } else {
                        Style::new()
                    }),
                    // What the on-call engineer said when rolling it back: the incident's
                    // name, a ticket, a symptom.
                    Cell::from(inc.reason.clone().unwrap_or_default()),
                ])
                .style(if i == view.incident {
                    t.selected
                } else {
                    Style::new()
                })
            })
            .collect();
        Table::new(
            rows,
            [
                Constraint::Length(7),
                Constraint::Length(16),
                Constraint::Length(20),
                Constraint::Length(11),
                Constraint::Fill(1),
            ],
        )
        .header(Row::new(["RUN", "WHERE", "AT", "RESTORED IN", "WHY"]).style(t.title))
        .render(area, buf);
    }
}

/// How changes flow: lead time, approval wait, escape rate.
#[derive(Debug)]
struct Flow;

impl Widget for Flow {
    fn title(&self) -> &'static str {
        "Flow"
    }

    fn rows(&self, _: &Env<'_>, _: &View<'_>) -> u16 {
        3
    }

    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, view: &View<'_>) {
        let Some(m) = view.metrics else {
            return no_metrics(area, buf, env);
        };
        let lines = vec![
            Line::from(format!("lead time      {}", median(&m.lead_time))),
            Line::from(format!("approval wait  {}", median(&m.approval_wait))),
            Line::from(format!(
                "escape rate    {} ({} of {} that passed pre-production)",
                percent(m.escape.rate),
                m.escape.part,
                m.escape.whole
            )),
        ];
        Paragraph::new(lines).render(area, buf);
    }
}

/// Deploys per app and per domain, as bars.
#[derive(Debug)]
struct PerApp;

impl Widget for PerApp {
    fn title(&self) -> &'static str {
        "Deploys per app and domain"
    }

    fn rows(&self, _: &Env<'_>, view: &View<'_>) -> u16 {
        let n = view
            .metrics
            .map_or(1, |m| m.per_app.len() + m.per_domain.len());
        u16::try_from(n.clamp(1, 10)).unwrap_or(10)
    }

    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, view: &View<'_>) {
        let Some(m) = view.metrics else {
            return no_metrics(area, buf, env);
        };
        let max = m
            .per_app
            .iter()
            .chain(&m.per_domain)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0)
            .max(1);
        let width = usize::from(area.width).saturating_sub(24).max(1);
        let lines: Vec<Line> = m
            .per_app
            .iter()
            .chain(&m.per_domain)
            .map(|(k, n)| {
                Line::from(vec![
                    Span::raw(format!("{k:<16.16} {n:>4} ")),
                    Span::styled("█".repeat(n * width / max), env.theme.accent),
                ])
            })
            .collect();
        if lines.is_empty() {
            Paragraph::new("no deploy in this window")
                .style(env.theme.dim)
                .render(area, buf);
            return;
        }
        Paragraph::new(lines).render(area, buf);
    }
}

/// The last runs by state: how the listed history went.
#[derive(Debug)]
struct RecentRuns;

impl Widget for RecentRuns {
    fn title(&self) -> &'static str {
        "Recent runs"
    }

    fn rows(&self, _: &Env<'_>, _: &View<'_>) -> u16 {
        2
    }

    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, view: &View<'_>) {
        let t = env.theme;
        let runs = view.runs;
        if runs.is_empty() {
            Paragraph::new(
                "No history yet. Deployment frequency, lead time, failure rate and time to \
                 restore appear once runs have finished.",
            )
            .wrap(Wrap { trim: true })
            .style(t.dim)
            .render(area, buf);
            return;
        }
        let count = |s: &str| runs.iter().filter(|r| r.row.state == s).count();
        let rollbacks = runs.iter().filter(|r| r.row.kind == "rollback").count();
        let text = format!(
            "last {}: {} succeeded · {} failed · {} cancelled · {} interrupted · {} · {} active",
            crate::table::count(runs.len(), "run"),
            count("succeeded"),
            count("failed"),
            count("cancelled"),
            count("interrupted"),
            crate::table::count(rollbacks, "rollback"),
            view.summary.runs_active
        );
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .render(area, buf);
    }
}

/// The inventory as a matrix: one row per app domain, one column per environment.
#[derive(Debug)]
struct Inventory;

impl Widget for Inventory {
    fn title(&self) -> &'static str {
        "Inventory"
    }

    fn rows(&self, env: &Env<'_>, _: &View<'_>) -> u16 {
        let n: usize = env.ws.inventory.apps.iter().map(|a| a.domains.len()).sum();
        u16::try_from(n + 1).unwrap_or(u16::MAX)
    }

    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, _: &View<'_>) {
        let inv = &env.ws.inventory;
        let column =
            (usize::from(area.width).saturating_sub(17) / inv.envs.len().max(1)).saturating_sub(1);
        let mut header = vec![Cell::from("APP/DOMAIN")];
        header.extend(inv.envs.iter().map(|e| {
            Cell::from(if e.protected {
                format!("{} [protected]", e.name)
            } else {
                e.name.clone()
            })
        }));
        let rows: Vec<Row<'static>> = inv
            .apps
            .iter()
            .flat_map(|a| {
                a.domains.iter().map(move |d| {
                    let mut cells = vec![Cell::from(format!("{}/{}", a.name, d.name))];
                    cells.extend(inv.envs.iter().map(|e| {
                        let hosts = inv.hosts_of(&a.name, &e.name, &d.name);
                        let all = hosts.join(", ");
                        Cell::from(match hosts.len() {
                            0 => "-".to_string(),
                            _ if all.chars().count() <= column => all,
                            n => format!("{} +{}", hosts[0], n - 1),
                        })
                    }));
                    Row::new(cells)
                })
            })
            .collect();
        let mut widths = vec![Constraint::Length(16)];
        widths.extend(inv.envs.iter().map(|_| Constraint::Fill(1)));
        Table::new(rows, widths)
            .header(Row::new(header).style(env.theme.title))
            .render(area, buf);
    }
}

/// `[dashboard] widgets` checked: each one the console has.
pub fn check_widgets(widgets: &[Spanned<String>], path: &Path, src: &str, diags: &mut Diagnostics) {
    for w in widgets {
        if DEFAULT.contains(&w.get_ref().as_str()) {
            continue;
        }
        let mut d = Diagnostic::at(
            path,
            src,
            w.span(),
            format!("`{}` is not a dashboard widget", w.get_ref()),
        );
        d.line = d.line.max(1);
        diags.push(d.expected(format!("one of {}", DEFAULT.join(", "))));
    }
}
