//! Popups over the panes, kept as a stack by the app: help, a message, a confirmation of a
//! consequential action (deploy, rollback, cancel), and a one-line input.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};
use tui_textarea::TextArea;

use super::action::{Action, Effect};
use super::keymap::{Context, Keymap};
use super::palette::{Entry, matches};
use super::theme::Theme;

/// How long after a confirmation appears Enter starts to count.
pub const ARMING: std::time::Duration = std::time::Duration::from_millis(250);

/// What an input's text is for once Enter is pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    Filter,
    Search,
    /// The dashboard's window, as a duration (`14d`).
    Window,
    /// `digest`: the approval digest of the request as shown.
    Approve {
        id: i64,
        env: String,
        digest: String,
    },
    Reject {
        id: i64,
        env: String,
        digest: String,
    },
    Schedule {
        id: i64,
        env: String,
    },
    FreezeReason {
        id: i64,
        env: String,
    },
}

/// What a confirmation asks to be typed before Enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asks {
    /// This name, exactly: a protected env's. Enter does nothing until it is typed.
    Name(String),
    /// An optional reason (a rollback's): Enter with nothing typed goes on without one.
    Reason,
}

/// The line typed in a confirmation.
#[derive(Debug)]
pub struct Typed {
    pub asks: Asks,
    pub area: Box<TextArea<'static>>,
    /// Enter was pressed with the wrong name typed: the label says what is expected.
    pub wrong: bool,
}

impl Typed {
    pub fn text(&self) -> String {
        self.area.lines().join(" ").trim().to_string()
    }
}

#[derive(Debug)]
pub enum Popup {
    Help {
        context: Context,
    },
    Message {
        title: String,
        text: String,
        error: bool,
    },
    /// Enter runs `yes`; Esc (or n) closes. The text scrolls: a plan can be long.
    Confirm {
        title: String,
        text: String,
        scroll: u16,
        yes: Effect,
        danger: bool,
        /// Rows of text on screen, and rows of the wrapped text, as last drawn (viewport
        /// feedback: the scroll stops at the end).
        height: std::cell::Cell<u16>,
        rows: std::cell::Cell<u16>,
        /// Enter counts from then on: a modal that appears while the person is typing
        /// something else is not confirmed by a key meant for that.
        armed_at: std::time::Instant,
        /// What Enter does, in the prompt line: "start", "cancel the run", "save".
        yes_label: &'static str,
        /// A line to type first: the env's name, a reason. Letters go there, not to scrolling.
        typed: Option<Typed>,
    },
    Input {
        title: String,
        hint: String,
        area: Box<TextArea<'static>>,
        purpose: Purpose,
    },
    /// The `:` palette: what is typed, every entry, and the picked match.
    Palette {
        area: Box<TextArea<'static>>,
        entries: Vec<Entry>,
        selected: usize,
    },
}

impl Popup {
    pub fn message(title: &str, text: &str, error: bool) -> Self {
        Self::Message {
            title: title.to_string(),
            text: text.to_string(),
            error,
        }
    }

    pub fn read_only() -> Self {
        Self::message(
            "Read-only",
            "This console was opened with --read-only: it shows, it does not act.",
            false,
        )
    }

    pub fn input(title: &str, hint: &str, text: &str, purpose: Purpose) -> Self {
        let mut area = TextArea::new(vec![text.to_string()]);
        area.move_cursor(tui_textarea::CursorMove::End);
        Self::Input {
            title: title.to_string(),
            hint: hint.to_string(),
            area: Box::new(area),
            purpose,
        }
    }

    pub fn confirm(title: &str, text: String, yes: Effect, danger: bool) -> Self {
        Self::Confirm {
            title: title.to_string(),
            text,
            scroll: 0,
            yes,
            danger,
            height: std::cell::Cell::new(0),
            rows: std::cell::Cell::new(0),
            armed_at: std::time::Instant::now() + ARMING,
            yes_label: "start",
            typed: None,
        }
    }

    /// Asks for a line to be typed in the confirmation before (or with) Enter.
    pub fn asking(mut self, asks: Asks) -> Self {
        if let Self::Confirm { typed, .. } = &mut self {
            *typed = Some(Typed {
                asks,
                area: Box::new(TextArea::default()),
                wrong: false,
            });
        }
        self
    }

    /// Names what Enter does in a confirmation.
    pub fn with_yes(mut self, label: &'static str) -> Self {
        if let Self::Confirm { yes_label, .. } = &mut self {
            *yes_label = label;
        }
        self
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme, keys: &Keymap) {
        match self {
            Self::Help { context } => help(*context, area, buf, theme, keys),
            Self::Message { title, text, error } => {
                // Room for the text wrapped at the popup's width.
                let body =
                    Paragraph::new(format!("{text}\n\nany key closes")).wrap(Wrap { trim: false });
                let rows = body.line_count(70.min(area.width).saturating_sub(2));
                let r = centered(area, 70, u16::try_from(rows + 2).unwrap_or(u16::MAX));
                let style = if *error { theme.bad } else { theme.title };
                framed(r, buf, &format!(" {title} "), style);
                body.render(inner(r), buf);
            }
            Self::Confirm {
                title,
                text,
                scroll,
                danger,
                height,
                rows,
                yes_label,
                typed,
                ..
            } => {
                // As tall as the text (wrapped), up to the whole pane: a plan can be long.
                // Wide screens get wide popups: plan lines wrap less.
                let width = area.width.saturating_sub(4).clamp(40, 160);
                let body_text = Paragraph::new(text.as_str()).wrap(Wrap { trim: false });
                let wrapped = body_text.line_count(width.min(area.width).saturating_sub(2));
                let wrapped = u16::try_from(wrapped).unwrap_or(u16::MAX);
                rows.set(wrapped);
                let field_rows = u16::from(typed.is_some());
                let r = centered(area, width, wrapped.saturating_add(3 + field_rows));
                let style = if *danger { theme.danger } else { theme.title };
                framed(r, buf, &format!(" {title} "), style);
                let [body, field, prompt] = Layout::vertical([
                    Constraint::Min(1),
                    Constraint::Length(field_rows),
                    Constraint::Length(1),
                ])
                .areas(inner(r));
                height.set(body.height);
                body_text.scroll((*scroll, 0)).render(body, buf);
                if let Some(t) = typed {
                    typed_line(t, field, buf, theme);
                }
                // Letters typed go to the line: only the arrows scroll then.
                let scroll_keys = if typed.is_some() {
                    " ↑↓ "
                } else {
                    " j/k/G "
                };
                Line::from(vec![
                    Span::styled(" Enter ", theme.key),
                    Span::raw(format!("{yes_label}   ")),
                    Span::styled(" Esc ", theme.key),
                    Span::raw("back   "),
                    Span::styled(scroll_keys, theme.key),
                    Span::raw("scroll"),
                ])
                .render(prompt, buf);
            }
            Self::Palette {
                area: text,
                entries,
                selected,
            } => {
                let query = text.lines().join(" ");
                let found = matches(entries, &query, 12);
                let r = centered(area, 80, found.len() as u16 + 4);
                framed(
                    r,
                    buf,
                    " : command — Enter runs, ↑↓ pick, Esc closes ",
                    theme.title,
                );
                let [line, list] =
                    Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner(r));
                text.as_ref().render(line, buf);
                let mut lines: Vec<Line> = found
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        if i == *selected {
                            Line::styled(format!("› {}", e.label), theme.selected)
                        } else {
                            Line::from(format!("  {}", e.label))
                        }
                    })
                    .collect();
                if lines.is_empty() {
                    lines.push(Line::styled(
                        "  no match (run N and request N are taken as typed)",
                        theme.dim,
                    ));
                }
                Paragraph::new(lines).render(list, buf);
            }
            Self::Input {
                title,
                hint,
                area: text,
                ..
            } => {
                let r = centered(area, 70, 5);
                framed(r, buf, &format!(" {title} "), theme.title);
                let [line, help] = Layout::vertical([Constraint::Length(1), Constraint::Length(2)])
                    .areas(inner(r));
                text.as_ref().render(line, buf);
                Paragraph::new(hint.as_str())
                    .style(theme.dim)
                    .wrap(Wrap { trim: true })
                    .render(help, buf);
            }
        }
    }
}

/// `Type prod to deploy: ▏` or `Reason (optional, Enter skips): ▏`, the text after it.
fn typed_line(t: &Typed, area: Rect, buf: &mut Buffer, theme: &Theme) {
    let (label, style) = match &t.asks {
        Asks::Name(name) if t.wrong => (
            format!(" Not `{name}`: type {name} to confirm: "),
            theme.bad,
        ),
        Asks::Name(name) => (format!(" Type {name} to confirm: "), theme.danger),
        Asks::Reason => (" Reason (optional, Enter skips): ".to_string(), theme.title),
    };
    let width = u16::try_from(Span::raw(label.as_str()).width()).unwrap_or(u16::MAX);
    let [left, right] =
        Layout::horizontal([Constraint::Length(width), Constraint::Min(1)]).areas(area);
    Span::styled(label, style).render(left, buf);
    t.area.as_ref().render(right, buf);
}

/// Every key of `context`, then the global ones, in as many columns as the height needs.
fn help(context: Context, area: Rect, buf: &mut Buffer, theme: &Theme, keys: &Keymap) {
    let mut lines = Vec::new();
    for (c, title) in [(context, "This pane"), (Context::Global, "Everywhere")] {
        lines.push(Line::styled(title, theme.title));
        for (label, action) in keys.hints(c) {
            lines.push(Line::from(vec![
                Span::styled(format!("{label:>10}  "), theme.key),
                Span::raw(describe(action)),
            ]));
        }
        if c == Context::Plan {
            // The editor's own keys, from tui-textarea.
            for (k, what) in [
                ("^u / ^r", "undo / redo (editing)"),
                ("^w", "delete a word (editing)"),
            ] {
                lines.push(Line::from(vec![
                    Span::styled(format!("{k:>10}  "), theme.key),
                    Span::raw(what),
                ]));
            }
        }
    }
    lines.push(Line::styled("any key closes", theme.dim));
    const COLUMN: u16 = 38;
    let per_column = usize::from(area.height.saturating_sub(2)).max(1);
    let columns = lines.len().div_ceil(per_column);
    let width = (COLUMN * u16::try_from(columns).unwrap_or(1)).saturating_add(2);
    let height = u16::try_from(lines.len().min(per_column)).unwrap_or(0) + 2;
    let r = centered(area, width, height);
    framed(r, buf, " Keys ", theme.title);
    let body = inner(r);
    for (i, chunk) in lines.chunks(per_column).enumerate() {
        let x = body.x + COLUMN * u16::try_from(i).unwrap_or(0);
        if x >= body.right() {
            break;
        }
        let col = Rect {
            x,
            width: COLUMN.min(body.right() - x),
            ..body
        };
        Paragraph::new(chunk.to_vec()).render(col, buf);
    }
}

fn describe(a: Action) -> &'static str {
    a.describe()
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

fn framed(r: Rect, buf: &mut Buffer, title: &str, style: ratatui::style::Style) {
    Clear.render(r, buf);
    Block::new()
        .borders(Borders::ALL)
        .border_style(style)
        .title(Span::styled(title.to_string(), style))
        .render(r, buf);
}

fn inner(r: Rect) -> Rect {
    Block::new().borders(Borders::ALL).inner(r)
}
