//! Drawing the console from `App`'s state: reads only, never mutates.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Tabs, Wrap};

use super::app::{App, Pane};

/// Key hints of the footer, also listed by the help popup: one table for both.
const KEYS: &[(&str, &str)] = &[
    ("1-4", "switch pane"),
    ("Tab", "next pane"),
    ("j/k", "scroll"),
    ("?", "help"),
    ("q", "quit"),
];

pub fn draw(app: &App, f: &mut Frame<'_>) {
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(header_line(app), header);
    f.render_widget(
        Tabs::new(
            Pane::ALL
                .iter()
                .enumerate()
                .map(|(i, p)| format!("{} {}", i + 1, p.title())),
        )
        .select(Pane::ALL.iter().position(|p| *p == app.pane).unwrap_or(0))
        .highlight_style(Style::new().fg(Color::Black).bg(Color::Cyan).bold()),
        tabs,
    );
    draw_pane(app, f, body);
    match &app.problem {
        Some(p) => f.render_widget(
            Paragraph::new(format!(" cannot read the store: {p}")).fg(Color::Red),
            footer,
        ),
        None => f.render_widget(footer_line(), footer),
    }
    if app.show_help {
        draw_help(f, body);
    }
}

fn header_line(app: &App) -> Paragraph<'static> {
    let ws = &app.ws;
    let s = &app.summary;
    // Most important first: a narrow terminal cuts the end of the line.
    Paragraph::new(Line::from(vec![
        Span::styled(
            " pilote ",
            Style::new().fg(Color::Black).bg(Color::Cyan).bold(),
        ),
        Span::raw(format!(" {} ", ws.settings.name)).bold(),
        Span::raw(format!(
            "│ {} active run{} · {} lock{} │ ",
            s.runs_active,
            if s.runs_active == 1 { "" } else { "s" },
            s.locks,
            if s.locks == 1 { "" } else { "s" }
        )),
        Span::raw(app.actor.name.clone()).italic(),
        Span::raw(format!(" │ {}", lifecycle_line(ws))),
    ]))
}

/// The first app's default lifecycle as `uat → preprod → prod`, or the environments' names.
fn lifecycle_line(ws: &crate::settings::Workspace) -> String {
    let inv = &ws.inventory;
    let stages = inv
        .apps
        .first()
        .and_then(|a| a.lifecycles.first())
        .and_then(|l| inv.lifecycles.iter().find(|x| &x.name == l));
    match stages {
        Some(l) => l
            .stages
            .iter()
            .map(|s| s.env.as_str())
            .collect::<Vec<_>>()
            .join(" → "),
        None => inv
            .envs
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn footer_line() -> Paragraph<'static> {
    let mut spans = Vec::new();
    for (key, what) in KEYS {
        spans.push(Span::styled(
            format!(" {key} "),
            Style::new().fg(Color::Cyan).bold(),
        ));
        spans.push(Span::raw(format!("{what} ")).dim());
    }
    Paragraph::new(Line::from(spans))
}

fn empty_state(pane: Pane) -> &'static str {
    match pane {
        Pane::Requests => {
            "No deployment request yet. A request binds an app version, its package and its plan; it moves through its lifecycle's environments as it is approved."
        }
        Pane::Plan => {
            "No plan open. Plans are TOML files of ordered actions; their rollback plan is derived automatically."
        }
        Pane::Runs => {
            "No run yet. Runs execute a plan on one environment and stream every host's log here."
        }
        Pane::Dashboard => {
            "No history yet. Deployment frequency, lead time, failure rate and time to restore appear once runs have finished."
        }
    }
}

fn draw_pane(app: &App, f: &mut Frame<'_>, area: Rect) {
    let block = Block::new()
        .borders(Borders::ALL)
        .title(format!(" {} ", app.pane.title()))
        .border_style(Style::new().fg(Color::Cyan));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let list = match app.pane {
        Pane::Requests if !app.data.requests.is_empty() => Some(requests_table(app)),
        Pane::Runs if !app.data.runs.is_empty() => Some(runs_table(app)),
        _ => None,
    };
    let details = match app.pane {
        Pane::Requests => app.data.requests.get(app.selected).map(request_details),
        _ => None,
    };
    let (top, rows) = match &list {
        // The list takes what it needs, up to half the pane; the inventory the rest.
        Some((_, n)) => (
            Constraint::Length((n + 1).min(inner.height / 2)),
            Constraint::Min(1),
        ),
        None => (Constraint::Length(3), Constraint::Min(1)),
    };
    let detail_rows = details.as_ref().map_or(0, |d| d.1);
    let [message, detail_area, table] =
        Layout::vertical([top, Constraint::Length(detail_rows), rows]).areas(inner);
    if let Some((d, _)) = details {
        f.render_widget(d, detail_area);
    }
    match list {
        Some((t, _)) => f.render_widget(t, message),
        None => f.render_widget(
            Paragraph::new(empty_state(app.pane))
                .wrap(Wrap { trim: true })
                .style(Style::new().add_modifier(Modifier::DIM)),
            message,
        ),
    }
    f.render_widget(inventory_table(app, table.width), table);
}

/// "3m", "2h", "5d": how long ago, in the largest unit.
fn age(at: i64) -> String {
    let s = (crate::clock::now_ms() - at).max(0) / 1000;
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn state_style(state: &str) -> Style {
    match state {
        "succeeded" | "deployed" => Style::new().fg(Color::Green),
        "failed" | "interrupted" | "rejected" | "blocked" => Style::new().fg(Color::Red).bold(),
        "running" | "deploying" | "waiting" => Style::new().fg(Color::Yellow),
        _ => Style::new(),
    }
}

/// The picked request: what it binds, its approvals, what comes next.
fn request_details(r: &super::data::RequestLine) -> (Paragraph<'static>, u16) {
    let mut lines = vec![Line::from(vec![
        Span::raw(format!("#{} {} {}", r.id, r.app, r.version)).bold(),
        Span::raw(format!(
            " · {} · package {} · plan {}",
            r.lifecycle,
            r.package_digest.get(..12).unwrap_or(&r.package_digest),
            r.plan_path
                .as_deref()
                .and_then(|p| p.rsplit('/').next())
                .unwrap_or("-")
        ))
        .dim(),
    ])];
    if let Some(why) = &r.blocked {
        lines.push(Line::from(format!("BLOCKED: {why}")).fg(Color::Red).bold());
    }
    let approvals = if r.approvals.is_empty() {
        "none".to_string()
    } else {
        r.approvals.join(" · ")
    };
    lines.push(Line::from(format!("approvals: {approvals}")));
    lines.push(Line::from(format!("next: {}", r.next)).fg(Color::Cyan));
    let height = u16::try_from(lines.len()).unwrap_or(0);
    // One line each, cut at the pane's edge: the CLI's `request show` has it all.
    (Paragraph::new(lines), height)
}

/// The requests, newest first, and how many rows they take.
fn requests_table(app: &App) -> (Table<'static>, u16) {
    let rows: Vec<Row> = app
        .data
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let picked = i == app.selected && app.pane == Pane::Requests;
            Row::new(vec![
                Cell::from(format!("#{}", r.id)),
                Cell::from(format!("{} {}", r.app, r.version)),
                Cell::from(r.state.clone()).style(state_style(&r.state)),
                Cell::from(r.progress.clone()),
                Cell::from(r.by.clone()),
                Cell::from(age(r.updated_at)),
            ])
            .style(if picked {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            })
        })
        .collect();
    let n = u16::try_from(rows.len()).unwrap_or(u16::MAX);
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Length(15),
            Constraint::Length(10),
            Constraint::Fill(1),
            Constraint::Length(8),
            Constraint::Length(4),
        ],
    )
    .header(Row::new(["REQ", "RELEASE", "STATE", "LIFECYCLE", "BY", "AGE"]).bold());
    (table, n)
}

/// The runs, newest first, and how many rows they take.
fn runs_table(app: &App) -> (Table<'static>, u16) {
    let rows: Vec<Row> = app
        .data
        .runs
        .iter()
        .map(|r| {
            Row::new(vec![
                Cell::from(format!("#{}", r.id)),
                Cell::from(r.kind.clone()),
                Cell::from(format!("{} on {}", r.app, r.env)),
                Cell::from(r.state.clone()).style(state_style(&r.state)),
                Cell::from(r.started_by.clone()),
                Cell::from(age(r.created_at)),
            ])
        })
        .collect();
    let n = u16::try_from(rows.len()).unwrap_or(u16::MAX);
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Length(8),
            Constraint::Fill(1),
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Length(4),
        ],
    )
    .header(Row::new(["RUN", "KIND", "WHERE", "STATE", "BY", "AGE"]).bold());
    (table, n)
}

/// The inventory as a matrix: one row per app domain, one column per environment. Host lists
/// are shortened to "first +N" only when the column is too narrow for all of them.
fn inventory_table(app: &App, width: u16) -> Table<'static> {
    let inv = &app.ws.inventory;
    let column = (usize::from(width).saturating_sub(17) / inv.envs.len().max(1)).saturating_sub(1);
    let mut header = vec![Cell::from("APP/DOMAIN")];
    header.extend(inv.envs.iter().map(|e| {
        let label = if e.protected {
            format!("{} [protected]", e.name)
        } else {
            e.name.clone()
        };
        Cell::from(label)
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
        .skip(app.scroll as usize)
        .collect();
    let mut widths = vec![Constraint::Length(16)];
    widths.extend(inv.envs.iter().map(|_| Constraint::Fill(1)));
    Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().bold().underlined()))
        .block(Block::new().title(" Inventory ").borders(Borders::TOP))
}

fn draw_help(f: &mut Frame<'_>, area: Rect) {
    let height = (KEYS.len() as u16 + 2).min(area.height);
    let width = 40.min(area.width);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let lines: Vec<Line<'static>> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>6}  "), Style::new().fg(Color::Cyan).bold()),
                Span::raw(*what),
            ])
        })
        .collect();
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .title(" Keys (any key closes) "),
        ),
        popup,
    );
}
