//! The Plan pane: a plan editor (tui-textarea: line numbers, undo ^u / redo ^r, search),
//! validated by the plans validator on every pause in typing, with the plan's expansion
//! for a chosen env and its derived rollback beside it.

use std::time::{Duration, Instant};

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};
use tui_textarea::{CursorMove, TextArea};

use super::{Env, Out};
use crate::tui::action::{Action, Effect, Problem, SavePlan};
use crate::tui::popup::{Popup, Purpose};

/// A pause in typing this long re-validates the plan.
const DEBOUNCE: Duration = Duration::from_millis(300);

#[derive(Debug)]
pub struct PlanPane {
    pub path: Option<String>,
    /// The request the plan was opened from: saving replaces its plan too.
    pub request: Option<i64>,
    pub editor: TextArea<'static>,
    /// Keys go to the text (only Esc and the ^ keys of this pane are kept).
    pub editing: bool,
    /// Bumped on every change; a check answers for one version.
    version: u64,
    checked: u64,
    changed_at: Instant,
    saved: String,
    pub problems: Vec<Problem>,
    problem: usize,
    /// The expansion and rollback for `env`, from the last check.
    pub side: String,
    /// The env the side view expands for; `None` hides it.
    pub env: Option<String>,
}

impl Default for PlanPane {
    fn default() -> Self {
        Self {
            path: None,
            request: None,
            editor: TextArea::default(),
            editing: false,
            version: 0,
            checked: 0,
            changed_at: Instant::now(),
            saved: String::new(),
            problems: Vec::new(),
            problem: 0,
            side: String::new(),
            env: None,
        }
    }
}

impl PlanPane {
    pub fn text(&self) -> String {
        let mut t = self.editor.lines().join("\n");
        t.push('\n');
        t
    }

    pub fn modified(&self) -> bool {
        self.path.is_some() && self.text() != self.saved
    }

    pub fn open(&mut self, path: String, text: String, request: Option<i64>) {
        self.request = request;
        let mut editor = TextArea::new(text.lines().map(str::to_string).collect());
        editor.set_line_number_style(Style::new().add_modifier(Modifier::DIM));
        editor.set_cursor_line_style(Style::new());
        self.editor = editor;
        self.saved = text;
        self.path = Some(path);
        self.editing = false;
        self.problems.clear();
        self.side.clear();
        self.touch();
        // Checked at once, not after a pause.
        self.changed_at = Instant::now() - DEBOUNCE;
    }

    fn touch(&mut self) {
        self.version += 1;
        self.changed_at = Instant::now();
    }

    /// A key while editing; returns whether the text changed.
    pub fn input(&mut self, key: ratatui::crossterm::event::KeyEvent) -> bool {
        let changed = self.editor.input(key);
        if changed {
            self.touch();
        }
        changed
    }

    /// The check due after a pause in typing.
    pub fn poll(&mut self, now: Instant) -> Option<Effect> {
        let path = self.path.clone()?;
        if self.version == self.checked || now.duration_since(self.changed_at) < DEBOUNCE {
            return None;
        }
        self.checked = self.version;
        Some(Effect::CheckPlan {
            path,
            text: self.text(),
            env: self.env.clone(),
            version: self.version,
        })
    }

    pub fn checked(&mut self, version: u64, problems: Vec<Problem>, side: String) {
        if version == self.version {
            self.problems = problems;
            self.problem = 0;
            self.side = side;
        }
    }

    pub fn saved(&mut self, text: &str) {
        self.saved = text.to_string();
    }

    pub fn search(&mut self, needle: &str) {
        // A literal search: the person types text, not a regex.
        let _ = self.editor.set_search_pattern(regex::escape(needle));
        self.editor.search_forward(true);
    }

    pub fn on_action(&mut self, action: Action, env: &Env<'_>) -> Vec<Out> {
        if (action.mutates() || action == Action::Open) && env.read_only {
            return vec![Out::Popup(Popup::read_only())];
        }
        match action {
            Action::Open if self.path.is_some() => self.editing = true,
            // Outside editing, j/k and the pages move through the text.
            Action::Down => self.editor.move_cursor(CursorMove::Down),
            Action::Up => self.editor.move_cursor(CursorMove::Up),
            Action::PageDown => self.editor.scroll(tui_textarea::Scrolling::PageDown),
            Action::PageUp => self.editor.scroll(tui_textarea::Scrolling::PageUp),
            Action::Back => self.editing = false,
            Action::Search => {
                return vec![Out::Popup(Popup::input(
                    "Search the plan",
                    "text to find",
                    "",
                    Purpose::Search,
                ))];
            }
            Action::SearchNext => {
                self.editor.search_forward(false);
            }
            Action::Save => {
                if let Some(path) = &self.path {
                    return vec![Out::Effect(Effect::SavePlan(Box::new(SavePlan {
                        path: path.clone(),
                        text: self.text(),
                        base: self.saved.clone(),
                        request: self.request,
                        confirmed: false,
                    })))];
                }
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
                self.touch();
                self.changed_at = Instant::now() - DEBOUNCE;
            }
            Action::NextProblem => {
                if let Some(p) = self.problems.get(self.problem) {
                    let row = u16::try_from(p.line.saturating_sub(1)).unwrap_or(0);
                    let col = u16::try_from(p.col.saturating_sub(1)).unwrap_or(0);
                    self.editor.move_cursor(CursorMove::Jump(row, col));
                    self.problem = (self.problem + 1) % self.problems.len();
                }
            }
            _ => {}
        }
        Vec::new()
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>) {
        let t = env.theme;
        let Some(path) = &self.path else {
            let block = Block::new()
                .borders(Borders::ALL)
                .title(" Plan ")
                .border_style(t.accent);
            let inner = block.inner(area);
            block.render(area, buf);
            Paragraph::new(
                "No plan open. Plans are TOML files of ordered actions; their rollback plan is \
                 derived automatically.\n\nPick a request in the Requests pane and press e to \
                 edit its plan here.",
            )
            .wrap(Wrap { trim: true })
            .style(t.dim)
            .render(inner, buf);
            return;
        };
        let side = self.env.is_some();
        let [left, right] = if side && area.width >= 120 {
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(area)
        } else {
            [area, Rect::default()]
        };
        // The problems box as tall as its wrapped lines, within 3 to 8 rows.
        let wrapped = Paragraph::new(self.problem_lines(env))
            .wrap(Wrap { trim: false })
            .line_count(left.width.saturating_sub(2));
        let problem_rows = u16::try_from(wrapped + 2).unwrap_or(8).clamp(3, 8);
        let [editor_area, problems_area, narrow_side] = if side && area.width < 120 {
            Layout::vertical([
                Constraint::Min(5),
                Constraint::Length(problem_rows),
                Constraint::Percentage(35),
            ])
            .areas(left)
        } else {
            let [a, b] = Layout::vertical([Constraint::Min(5), Constraint::Length(problem_rows)])
                .areas(left);
            [a, b, Rect::default()]
        };
        let mode = if self.editing {
            "editing — Esc stops"
        } else {
            "Enter edits"
        };
        let title = Line::from(vec![
            Span::styled(
                format!(
                    " Plan {} ",
                    std::path::Path::new(path)
                        .strip_prefix(&env.ws.config_dir)
                        .map_or_else(|_| path.clone(), |p| p.display().to_string())
                ),
                t.title,
            ),
            Span::styled(if self.modified() { "[modified] " } else { "" }, t.warn),
            Span::styled(format!("{mode} "), t.dim),
        ]);
        let block = Block::new()
            .borders(Borders::ALL)
            .title(title)
            .border_style(if self.editing { t.title } else { t.accent });
        let inner = block.inner(editor_area);
        block.render(editor_area, buf);
        self.editor.render(inner, buf);
        self.render_problems(problems_area, buf, env);
        let side_area = if right.width > 0 { right } else { narrow_side };
        if side_area.height > 0 {
            let block = Block::new()
                .borders(Borders::ALL)
                .border_style(t.dim)
                .title(format!(
                    " Expanded for {} (^e next env) ",
                    self.env.as_deref().unwrap_or("-")
                ));
            let inner = block.inner(side_area);
            block.render(side_area, buf);
            let side = if self.side.trim().is_empty() && self.problems.iter().any(|p| p.error) {
                "The expansion shows once the plan has no error."
            } else {
                self.side.trim_start()
            };
            Paragraph::new(side).render(inner, buf);
        }
    }

    fn problem_lines(&self, env: &Env<'_>) -> Vec<Line<'static>> {
        let t = env.theme;
        if self.problems.is_empty() {
            return vec![Line::styled("valid", t.ok)];
        }
        self.problems
            .iter()
            .map(|p| {
                Line::from(vec![
                    Span::styled(
                        format!("{}:{} ", p.line, p.col),
                        if p.error { t.bad } else { t.warn },
                    ),
                    Span::raw(p.message.clone()),
                ])
            })
            .collect()
    }

    fn render_problems(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>) {
        let t = env.theme;
        let errors = self.problems.iter().filter(|p| p.error).count();
        let title = format!(
            " {} error(s), {} warning(s) · ^n next problem · ^e expand for an env ",
            errors,
            self.problems.len() - errors
        );
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(if errors > 0 { t.bad } else { t.dim })
            .title(title);
        let inner = block.inner(area);
        block.render(area, buf);
        let lines = self.problem_lines(env);
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(inner, buf);
    }
}
