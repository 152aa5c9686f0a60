//! The frame: header, pane tabs, the pane, the footer of keys, and popups on top. Reads the
//! app's state only.

use std::time::Instant;

use ratatui::Frame;
use ratatui::buffer::Buffer;
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
    draw_panes(app, f, now, now_ms);
    defuse(f.buffer_mut());
}

/// Leaves no cell of the frame holding a character the terminal would obey. Step names,
/// titles, comments, host names and files come from people and CMDBs, and ratatui puts an
/// ESC or a BEL in a cell like a letter, which crossterm then writes out raw: one pass here,
/// before the frame is flushed, so no pane or popup can forget (`core::printable` says how
/// a cell is made safe). The log pane escapes its lines before (`\e[2J`), so they pass as
/// they are.
fn defuse(buf: &mut Buffer) {
    for cell in &mut buf.content {
        if let Some(symbol) = crate::core::printable::cell_symbol(cell.symbol()) {
            cell.set_symbol(&symbol);
        }
    }
}

fn draw_panes(app: &App, f: &mut Frame<'_>, now: Instant, now_ms: i64) {
    let t = &app.theme;
    // Below this, no pane can show anything useful; say so instead of drawing rubble.
    if f.area().width < 40 || f.area().height < 10 {
        f.render_widget(
            Paragraph::new(format!(
                "pilote needs at least 40x10; this terminal is {}x{}",
                f.area().width,
                f.area().height
            ))
            .wrap(ratatui::widgets::Wrap { trim: true }),
            f.area(),
        );
        return;
    }
    // A config with errors: one red line above everything, until it is fixed.
    let broken = app.config_problem.as_ref().map(|p| {
        // Named as in the config dir: the whole path would push the error off an 80-column line.
        let dir = format!("{}/", app.ws.config_dir.display());
        format!(
            " CONFIG ERROR {} · runs, logs, cancel, rollback work",
            p.replace(&dir, "")
        )
    });
    // A store gone from under the console outranks everything: nothing shown is true.
    let broken = match &app.store_gone {
        Some(_) => Some(" STORE GONE · restart the console".to_string()),
        None => broken,
    };
    let [alert, header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(u16::from(broken.is_some())),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    if let Some(headline) = broken {
        f.render_widget(Paragraph::new(Line::styled(headline, t.danger)), alert);
    }
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
    if let Some(why) = &app.store_gone {
        f.render_widget(
            Paragraph::new(format!("\n{why}."))
                .style(t.bad)
                .block(
                    ratatui::widgets::Block::new()
                        .padding(ratatui::widgets::Padding::horizontal(1)),
                )
                .wrap(ratatui::widgets::Wrap { trim: false }),
            body,
        );
        f.render_widget(Paragraph::new(hints(app, footer.width)), footer);
        return;
    }
    let env = app.env();
    let buf = f.buffer_mut();
    match app.pane {
        Pane::Requests => app.requests.render(body, buf, &env, now_ms),
        Pane::Plan => app.plan.render(body, buf, &env),
        Pane::Runs => app.runs.render(body, buf, &env, now_ms),
        Pane::Dashboard => app
            .dashboard
            .render(body, buf, &env, &app.runs.runs, &app.summary),
    }
    let footer_line = match (&app.problem, app.status(now)) {
        (Some(p), _) => Line::styled(format!(" {p}"), t.bad),
        (None, Some(s)) => Line::styled(format!(" {s}"), t.accent),
        (None, None) => hints(app, footer.width),
    };
    f.render_widget(Paragraph::new(footer_line), footer);
    for p in &app.popups {
        p.render(body, f.buffer_mut(), t, &app.keys);
    }
}

fn header_line(app: &App) -> Paragraph<'static> {
    let t = &app.theme;
    let s = &app.summary;
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
    // The counts were the old store's.
    if app.store_gone.is_some() {
        return Paragraph::new(Line::from(spans));
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

/// The keys that work now, the pane's first; `? help` and `q quit` always show at the end,
/// and pane keys that do not fit are left for the help popup. Mutating keys are left out in
/// read-only mode.
fn hints(app: &App, width: u16) -> Line<'static> {
    use super::action::Action;
    let t = &app.theme;
    let editing = app.pane == Pane::Plan && app.plan.editing;
    let global: Vec<(String, Action)> = if editing {
        Vec::new()
    } else {
        app.keys
            .hints(super::keymap::Context::Global)
            .into_iter()
            .filter(|(_, a)| matches!(a, Action::Help | Action::Quit))
            .collect()
    };
    let pane: Vec<(String, Action)> = app
        .keys
        .hints(app.context())
        .into_iter()
        .filter(|(_, a)| !(app.read_only && a.mutates()) && *a != Action::Up)
        // While editing, only the keys the editor does not take.
        .filter(|(_, a)| {
            !editing
                || matches!(
                    a,
                    Action::Back | Action::Save | Action::NextEnv | Action::NextProblem
                )
        })
        .map(|(label, a)| match a {
            // Up and down are one hint.
            Action::Down => ("j/k".to_string(), a),
            _ => (label, a),
        })
        .collect();
    let span = |(label, a): &(String, Action)| {
        let style = if *a == Action::Rollback {
            t.danger
        } else {
            t.key
        };
        let what = if *a == Action::Down {
            "move"
        } else {
            a.describe()
        };
        [
            Span::styled(format!(" {label}"), style),
            Span::styled(format!(" {what}"), t.dim),
        ]
    };
    let tail: Vec<Span> = global.iter().flat_map(span).collect();
    let mut room = usize::from(width).saturating_sub(tail.iter().map(Span::width).sum());
    let mut spans = Vec::new();
    for h in &pane {
        let s = span(h);
        let w: usize = s.iter().map(Span::width).sum();
        if w > room {
            break;
        }
        room -= w;
        spans.extend(s);
    }
    spans.push(Span::raw(" ".repeat(room)));
    spans.extend(tail);
    Line::from(spans)
}
