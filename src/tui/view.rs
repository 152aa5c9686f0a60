//! The frame: header, pane tabs, the pane, the footer of keys, and popups on top. Reads the
//! app's state only.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};

use super::app::App;
use super::panes::Pane;

pub fn draw(app: &App, f: &mut Frame<'_>) {
    draw_at(app, f, Instant::now(), crate::clock::now_ms());
}

/// Draws as of `now` (`now_ms` for ages): tests pass a fixed time.
pub fn draw_at(app: &App, f: &mut Frame<'_>, now: Instant, now_ms: i64) {
    let t = &app.theme;
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
        .select(app.pane.index())
        .highlight_style(t.badge),
        tabs,
    );
    let env = app.env();
    let buf = f.buffer_mut();
    match app.pane {
        Pane::Requests => app.requests.render(body, buf, &env, now_ms),
        Pane::Plan => app.plan.render(body, buf, &env),
        Pane::Runs => app.runs.render(body, buf, &env, now_ms),
        Pane::Dashboard => app.dashboard.render(body, buf, &env, &app.data),
    }
    let footer_line = match (&app.problem, app.status(now)) {
        (Some(p), _) => Line::styled(format!(" {p}"), t.bad),
        (None, Some(s)) => Line::styled(format!(" {s}"), t.accent),
        (None, None) => hints(app),
    };
    f.render_widget(Paragraph::new(footer_line), footer);
    for p in &app.popups {
        p.render(body, f.buffer_mut(), t, &app.keys);
    }
}

fn header_line(app: &App) -> Paragraph<'static> {
    let t = &app.theme;
    let s = &app.data.summary;
    let plural = |n: i64| if n == 1 { "" } else { "s" };
    // Most important first: a narrow terminal cuts the end of the line.
    let mut spans = vec![
        Span::styled(" pilote ", t.badge),
        Span::styled(format!(" {} ", app.ws.settings.name), t.title),
    ];
    if app.read_only {
        spans.push(Span::styled(" READ-ONLY ", t.danger));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::raw(format!(
        "│ {} active run{} · {} lock{} │ ",
        s.runs_active,
        plural(s.runs_active),
        s.locks,
        plural(s.locks)
    )));
    spans.push(Span::styled(
        app.actor.name.clone(),
        if app.actor.uncertain { t.bad } else { t.accent },
    ));
    let context = match app.pane {
        Pane::Runs => app
            .runs
            .selected()
            .map(|r| format!("{} on {}", r.row.app, r.row.env)),
        _ => app
            .requests
            .selected()
            .map(|r| format!("{} {}", r.app, r.version)),
    };
    if let Some(c) = context {
        spans.push(Span::raw(format!(" │ {c}")));
    }
    Paragraph::new(Line::from(spans))
}

/// The keys that work now: the pane's first, then the global ones; mutating ones are left
/// out in read-only mode.
fn hints(app: &App) -> Line<'static> {
    let t = &app.theme;
    let mut spans = Vec::new();
    let context = app.context();
    let global = app.keys.hints(super::keymap::Context::Global);
    let pane = app.keys.hints(context);
    let editing = app.pane == Pane::Plan && app.plan.editing;
    for (label, action) in pane.iter().chain(global.iter().filter(|(_, a)| {
        // Pane numbers and Tab are on the tab bar already.
        !editing && matches!(a, super::action::Action::Help | super::action::Action::Quit)
    })) {
        if app.read_only && action.mutates() {
            continue;
        }
        if matches!(action, super::action::Action::Up) {
            continue;
        }
        let label = if matches!(action, super::action::Action::Down) {
            "j/k".to_string()
        } else {
            label.clone()
        };
        let style = if matches!(action, super::action::Action::Rollback) {
            t.danger
        } else {
            t.key
        };
        spans.push(Span::styled(format!(" {label}"), style));
        spans.push(Span::styled(format!(" {}", action.describe()), t.dim));
    }
    Line::from(spans)
}
