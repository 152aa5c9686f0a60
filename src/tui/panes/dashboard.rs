//! The Dashboard pane: a grid of widgets over the delivery metrics of a window (7, 30 or 90
//! days) and a scope (every app, or one). Which widgets, in which order, is set per
//! workspace (`[dashboard] widgets` in pilote.toml); each is a [`Widget`] in `widgets.rs`,
//! so a new indicator is a new widget, nothing else.

use std::time::{Duration, Instant};

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Widget as _};

use super::widgets::{self, View, Widget};
use super::{Env, Out};
use crate::core::metrics::Indicators;
use crate::store::Summary;
use crate::tui::action::{Action, Effect};
use crate::tui::data::RunLine;

/// The windows `w` cycles through.
pub const WINDOWS: [(&str, i64); 3] = [
    ("7d", 7 * 86_400_000),
    ("30d", 30 * 86_400_000),
    ("90d", 90 * 86_400_000),
];

/// Metrics are read again this often while the pane is shown.
const REFRESH: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct DashboardPane {
    pub widgets: Vec<Box<dyn Widget>>,
    /// Index into [`WINDOWS`].
    pub window: usize,
    /// A window typed in (`W`), in ms, instead of the preset.
    pub custom: Option<(String, i64)>,
    /// Every app (`None`) or one.
    pub app: Option<String>,
    /// The env the DORA keys are about: the inventory's last (`None`) or another.
    pub env: Option<String>,
    pub metrics: Option<Indicators>,
    pub incident: usize,
    /// Which question the last answer is for: a window or scope changed since drops it.
    asked: u64,
    asked_at: Option<Instant>,
}

impl Default for DashboardPane {
    fn default() -> Self {
        Self::with(&[])
    }
}

impl DashboardPane {
    /// The widgets named, in order (names are checked when the config is loaded); none
    /// named: every widget, in the default order.
    pub fn with(names: &[String]) -> Self {
        let widgets = if names.is_empty() {
            widgets::DEFAULT
                .iter()
                .filter_map(|n| widgets::named(n))
                .collect()
        } else {
            names.iter().filter_map(|n| widgets::named(n)).collect()
        };
        Self {
            widgets,
            window: 1,
            custom: None,
            app: None,
            env: None,
            metrics: None,
            incident: 0,
            asked: 0,
            asked_at: None,
        }
    }

    pub fn window_label(&self) -> &str {
        match &self.custom {
            Some((label, _)) => label,
            None => WINDOWS[self.window % WINDOWS.len()].0,
        }
    }

    /// A window typed by the person; `false` when it is not a duration.
    pub fn set_window(&mut self, text: &str) -> bool {
        match crate::core::duration::parse(text)
            .ok()
            .filter(|d| !d.is_zero())
        {
            Some(d) => {
                let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2);
                self.custom = Some((text.trim().to_string(), ms));
                self.asked_at = None;
                true
            }
            None => false,
        }
    }

    /// The metrics read due: every ten seconds, and at once after a change of window or scope.
    pub fn poll(&mut self, now: Instant, now_ms: i64) -> Option<Effect> {
        if self
            .asked_at
            .is_some_and(|t| now.duration_since(t) < REFRESH)
        {
            return None;
        }
        self.asked_at = Some(now);
        self.asked += 1;
        let span = match &self.custom {
            Some((_, ms)) => *ms,
            None => WINDOWS[self.window % WINDOWS.len()].1,
        };
        Some(Effect::Metrics {
            query: crate::workflow::metrics::Query {
                since: now_ms - span,
                until: now_ms,
                app: self.app.clone(),
                env: self.env.clone(),
            },
            asked: self.asked,
        })
    }

    pub fn arrived(&mut self, asked: u64, metrics: Indicators) {
        if asked == self.asked {
            self.incident = self.incident.min(metrics.incidents.len().saturating_sub(1));
            self.metrics = Some(metrics);
        }
    }

    pub fn on_action(&mut self, action: Action, env: &Env<'_>) -> Vec<Out> {
        match action {
            Action::NextWindow => {
                // From a custom window, back to the presets where they were.
                if self.custom.take().is_none() {
                    self.window = (self.window + 1) % WINDOWS.len();
                }
                self.asked_at = None;
            }
            Action::CustomWindow => {
                return vec![Out::Popup(crate::tui::popup::Popup::input(
                    "Dashboard window",
                    "how far back, as a duration: 14d, 48h, 180d",
                    "",
                    crate::tui::popup::Purpose::Window,
                ))];
            }
            Action::NextScope => {
                let apps: Vec<&str> = env
                    .ws
                    .inventory
                    .apps
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect();
                self.app = super::cycle(&apps, self.app.as_deref());
                self.asked_at = None;
            }
            Action::NextEnv => {
                let envs: Vec<&str> = env
                    .ws
                    .inventory
                    .envs
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect();
                self.env = super::cycle(&envs, self.env.as_deref());
                self.asked_at = None;
            }
            Action::Down | Action::Up => {
                let n = self.metrics.as_ref().map_or(0, |m| m.incidents.len());
                self.incident = super::step(
                    self.incident,
                    if action == Action::Down { 1 } else { -1 },
                    n,
                );
            }
            // Drill-down: the picked incident's run, in the Runs pane.
            Action::Open => {
                if let Some(i) = self
                    .metrics
                    .as_ref()
                    .and_then(|m| m.incidents.get(self.incident))
                {
                    return vec![Out::OpenRun(i.run)];
                }
            }
            _ => {}
        }
        Vec::new()
    }

    pub fn render(
        &self,
        area: Rect,
        buf: &mut Buffer,
        env: &Env<'_>,
        runs: &[RunLine],
        summary: &Summary,
    ) {
        let view = View {
            runs,
            summary,
            metrics: self.metrics.as_ref(),
            incident: self.incident,
        };
        let production = self
            .metrics
            .as_ref()
            .map_or("production", |m| m.production.as_str());
        let title = Line::from(format!(
            " Dashboard — last {} · {} · keys about {} · w/W window · a app · e env · j/k Enter incident ",
            self.window_label(),
            self.app.as_deref().unwrap_or("every app"),
            production
        ));
        let block = Block::new()
            .borders(Borders::TOP)
            .border_style(env.theme.accent)
            .title(title);
        let inner = block.inner(area);
        block.render(area, buf);
        // Two columns on a wide screen, widgets in order, left then right.
        let columns = if inner.width >= 150 { 2 } else { 1 };
        let cols =
            Layout::horizontal(vec![Constraint::Ratio(1, columns); columns as usize]).split(inner);
        for (c, col) in cols.iter().enumerate() {
            let mine: Vec<&Box<dyn Widget>> = self
                .widgets
                .iter()
                .enumerate()
                .filter(|(i, _)| i % columns as usize == c)
                .map(|(_, w)| w)
                .collect();
            // Widgets in order, each as tall as it asks, while they fit: a short terminal
            // shows the first ones whole rather than every one crushed.
            let mut used = 0u16;
            let mut heights = Vec::new();
            for w in &mine {
                let h = w.rows(env, &view) + 2;
                if used + h > col.height {
                    break;
                }
                used += h;
                heights.push(Constraint::Length(h));
            }
            let shown = heights.len();
            let areas =
                Layout::vertical(heights.into_iter().chain([Constraint::Min(0)])).split(*col);
            if shown < mine.len() {
                let rest = areas[shown];
                if rest.height > 0 {
                    Line::styled(
                        format!("{} more widget(s) on a taller terminal", mine.len() - shown),
                        env.theme.dim,
                    )
                    .render(rest, buf);
                }
            }
            let mine = &mine[..shown];
            for (w, a) in mine.iter().zip(areas.iter()) {
                let block = Block::new()
                    .borders(Borders::ALL)
                    .border_style(env.theme.dim)
                    .title(format!(" {} ", w.title()));
                let inner = block.inner(*a);
                block.render(*a, buf);
                w.render(inner, buf, env, &view);
            }
        }
    }
}
