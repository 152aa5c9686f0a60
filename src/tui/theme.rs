//! Colours of the console: dark (default), light, or none when `NO_COLOR` is set
//! (no-color.org): then emphasis is bold, reversed and underlined only.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub accent: Style,
    pub title: Style,
    pub dim: Style,
    pub ok: Style,
    pub bad: Style,
    pub warn: Style,
    pub selected: Style,
    pub key: Style,
    pub badge: Style,
    pub danger: Style,
}

impl Theme {
    /// The theme named in `[console] theme`, unless `NO_COLOR` asks for none.
    pub fn pick(name: &str) -> Self {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return Self::plain();
        }
        match name {
            "light" => Self::light(),
            _ => Self::dark(),
        }
    }

    pub fn dark() -> Self {
        Self {
            accent: Style::new().fg(Color::Cyan),
            title: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            dim: Style::new().fg(Color::DarkGray),
            ok: Style::new().fg(Color::Green),
            bad: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            warn: Style::new().fg(Color::Yellow),
            selected: Style::new()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD),
            key: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            badge: Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            danger: Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
        }
    }

    pub fn light() -> Self {
        Self {
            accent: Style::new().fg(Color::Blue),
            title: Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
            dim: Style::new().fg(Color::Gray),
            ok: Style::new().fg(Color::Green),
            bad: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            warn: Style::new().fg(Color::Magenta),
            selected: Style::new()
                .bg(Color::Gray)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            key: Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
            badge: Style::new()
                .fg(Color::White)
                .bg(Color::Blue)
                .add_modifier(Modifier::BOLD),
            danger: Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
        }
    }

    pub fn plain() -> Self {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        Self {
            accent: Style::new(),
            title: bold,
            dim: Style::new(),
            ok: Style::new(),
            bad: bold,
            warn: Style::new().add_modifier(Modifier::UNDERLINED),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            key: bold,
            badge: Style::new().add_modifier(Modifier::REVERSED),
            danger: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        }
    }

    /// The colour of a run, step or request state.
    pub fn state(&self, state: &str) -> Style {
        match state {
            "succeeded" | "deployed" | "approved" => self.ok,
            "failed" | "timed_out" | "rejected" | "blocked" | "interrupted" | "unknown" => self.bad,
            "running" | "deploying" | "waiting" | "submitted" => self.warn,
            "cancelled" | "rolled_back" | "skipped" | "draft" => self.dim,
            _ => Style::new(),
        }
    }
}
