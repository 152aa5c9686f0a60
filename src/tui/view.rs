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
    f.render_widget(footer_line(), footer);
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
    let [message, table] =
        Layout::vertical([Constraint::Length(3), Constraint::Min(1)]).areas(inner);
    f.render_widget(
        Paragraph::new(empty_state(app.pane))
            .wrap(Wrap { trim: true })
            .style(Style::new().add_modifier(Modifier::DIM)),
        message,
    );
    f.render_widget(inventory_table(app, table.width), table);
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
