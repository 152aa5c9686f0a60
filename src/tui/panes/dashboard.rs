//! The Dashboard pane: a column of widgets. The dashboards issue adds its indicators as new
//! [`Widget`]s in [`DashboardPane::widgets`], without touching the other panes.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget as _, Wrap};

use super::Env;
use crate::tui::data::Data;

/// One dashboard widget: a title, the rows it would like, and how it draws from the data.
pub trait Widget: std::fmt::Debug {
    fn title(&self) -> &'static str;
    fn rows(&self, env: &Env<'_>, data: &Data) -> u16;
    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, data: &Data);
}

#[derive(Debug)]
pub struct DashboardPane {
    pub widgets: Vec<Box<dyn Widget>>,
}

impl Default for DashboardPane {
    fn default() -> Self {
        Self {
            widgets: vec![Box::new(RecentRuns), Box::new(Inventory)],
        }
    }
}

impl DashboardPane {
    pub fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, data: &Data) {
        let constraints: Vec<Constraint> = self
            .widgets
            .iter()
            .map(|w| Constraint::Length(w.rows(env, data) + 2))
            .chain([Constraint::Min(0)])
            .collect();
        let areas = Layout::vertical(constraints).split(area);
        for (w, a) in self.widgets.iter().zip(areas.iter()) {
            let block = Block::new()
                .borders(Borders::ALL)
                .border_style(env.theme.accent)
                .title(format!(" {} ", w.title()));
            let inner = block.inner(*a);
            block.render(*a, buf);
            w.render(inner, buf, env, data);
        }
    }
}

/// The last runs by state: how the listed history went.
#[derive(Debug)]
struct RecentRuns;

impl Widget for RecentRuns {
    fn title(&self) -> &'static str {
        "Recent runs"
    }

    fn rows(&self, _: &Env<'_>, _: &Data) -> u16 {
        2
    }

    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, data: &Data) {
        let t = env.theme;
        if data.runs.is_empty() {
            Paragraph::new(
                "No history yet. Deployment frequency, lead time, failure rate and time to \
                 restore appear once runs have finished.",
            )
            .wrap(Wrap { trim: true })
            .style(t.dim)
            .render(area, buf);
            return;
        }
        let count = |s: &str| data.runs.iter().filter(|r| r.row.state == s).count();
        let rollbacks = data
            .runs
            .iter()
            .filter(|r| r.row.kind == "rollback")
            .count();
        let text = format!(
            "last {} runs: {} succeeded · {} failed · {} cancelled · {} interrupted · {} rollbacks · {} active",
            data.runs.len(),
            count("succeeded"),
            count("failed"),
            count("cancelled"),
            count("interrupted"),
            rollbacks,
            data.summary.runs_active
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

    fn rows(&self, env: &Env<'_>, _: &Data) -> u16 {
        let n: usize = env.ws.inventory.apps.iter().map(|a| a.domains.len()).sum();
        u16::try_from(n + 1).unwrap_or(u16::MAX)
    }

    fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, _: &Data) {
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
            .style(Style::new())
            .render(area, buf);
    }
}
