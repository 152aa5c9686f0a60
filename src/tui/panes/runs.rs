//! The Runs/Log pane: the runs of every operator, the picked run's live log and its step
//! tree, and what can be done to a run: cancel, resume, answer its gate, and `R`, the
//! one-key rollback.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget, Wrap};

use super::log::LogView;
pub use super::log::WINDOW;
use super::{Env, Out, age};
use crate::store::{LogFilter, StepRunRow, is_finished};
use crate::tui::action::{Action, Effect};
use crate::tui::data::RunLine;
use crate::tui::keymap::Context;
use crate::tui::popup::{Popup, Purpose};

#[derive(Debug, Default)]
pub struct RunsPane {
    pub runs: Vec<RunLine>,
    pub picked: Option<i64>,
    /// Keys go to the log (scroll, search, filters) rather than the list.
    pub focus_log: bool,
    pub log: LogView,
    /// The picked run's step runs, as last read.
    pub steps: Vec<StepRunRow>,
    /// The step tree beside the log (always shown on wide screens).
    pub tree: bool,
}

impl RunsPane {
    pub fn context(&self) -> Context {
        if self.focus_log {
            Context::Log
        } else {
            Context::Runs
        }
    }

    pub fn selected(&self) -> Option<&RunLine> {
        self.picked
            .and_then(|id| self.runs.iter().find(|r| r.row.id == id))
    }

    /// New lists from the store; the first run is picked (and its log opened) if none was.
    pub fn set(&mut self, runs: Vec<RunLine>) -> Vec<Effect> {
        self.runs = runs;
        if self.picked.is_none()
            && let Some(first) = self.runs.first()
        {
            let id = first.row.id;
            return self.pick(id);
        }
        Vec::new()
    }

    pub fn set_steps(&mut self, run: i64, steps: Vec<StepRunRow>) {
        if self.picked == Some(run) {
            self.steps = steps;
        }
    }

    pub fn pick(&mut self, run: i64) -> Vec<Effect> {
        if self.picked != Some(run) {
            self.steps.clear();
        }
        self.picked = Some(run);
        self.log.open(run)
    }

    /// A run started from this console: shown at once, its log followed.
    pub fn follow(&mut self, run: i64) -> Vec<Effect> {
        self.focus_log = true;
        self.log.open(run);
        self.pick(run)
    }

    fn index(&self) -> usize {
        self.picked
            .and_then(|id| self.runs.iter().position(|r| r.row.id == id))
            .unwrap_or(0)
    }

    pub fn on_action(&mut self, action: Action, env: &Env<'_>) -> Vec<Out> {
        let effects = |v: Vec<Effect>| v.into_iter().map(Out::Effect).collect();
        let one = |e: Option<Effect>| e.into_iter().map(Out::Effect).collect();
        match (action, self.focus_log) {
            (Action::Down | Action::Up, false) => {
                let delta = if action == Action::Down { 1 } else { -1 };
                let i = super::step(self.index(), delta, self.runs.len());
                return match self.runs.get(i).map(|r| r.row.id) {
                    Some(id) => effects(self.pick(id)),
                    None => Vec::new(),
                };
            }
            (Action::Open, false) if self.picked.is_some() => {
                self.focus_log = true;
                return Vec::new();
            }
            (Action::Back, true) => {
                self.focus_log = false;
                return Vec::new();
            }
            (Action::Down, true) => return one(self.log.scroll(1)),
            (Action::Up, true) => return one(self.log.scroll(-1)),
            (Action::PageDown, true) => return one(self.log.scroll(self.log.page())),
            (Action::PageUp, true) => return one(self.log.scroll(-self.log.page())),
            (Action::Top, true) => return one(self.log.go_top()),
            (Action::Bottom, true) => return one(self.log.go_bottom()),
            (Action::Search, true) => {
                return vec![Out::Popup(Popup::input(
                    "Search the log",
                    "text to find, any case (n next, N previous)",
                    "",
                    Purpose::Search,
                ))];
            }
            (Action::SearchNext, true) => return one(self.log.find(None, false)),
            (Action::SearchPrev, true) => return one(self.log.find(None, true)),
            (Action::HostFilter, true) => {
                let filter = LogFilter {
                    host: self.next_host(),
                    ..self.log.filter.clone()
                };
                return effects(self.log.refilter(filter));
            }
            (Action::StreamFilter, true) => {
                let stream = match self.log.filter.stream.as_deref() {
                    None => Some("stdout"),
                    Some("stdout") => Some("stderr"),
                    Some("stderr") => Some("system"),
                    _ => None,
                };
                let filter = LogFilter {
                    stream: stream.map(str::to_string),
                    ..self.log.filter.clone()
                };
                return effects(self.log.refilter(filter));
            }
            (Action::StepFilter, true) => {
                let filter = LogFilter {
                    step: self.next_step(),
                    ..self.log.filter.clone()
                };
                return effects(self.log.refilter(filter));
            }
            (Action::StepTree, true) => {
                self.tree = !self.tree;
                return Vec::new();
            }
            _ => {}
        }
        let Some(run) = self.selected().map(|r| r.row.clone()) else {
            return Vec::new();
        };
        if action.mutates() && env.read_only {
            return vec![Out::Popup(Popup::read_only())];
        }
        let id = run.id;
        let refuse = |text: String| vec![Out::Popup(Popup::message("Not now", &text, false))];
        match action {
            // The rollback of the app on the env, derived by the store worker and shown
            // before anything starts; Enter in the modal starts it.
            Action::Rollback => vec![Out::Effect(Effect::PrepareRollback {
                app: run.app,
                env: run.env,
            })],
            Action::CancelRun if is_finished(&run.state) => {
                refuse(format!("run #{id} already {}", run.state))
            }
            Action::CancelRun => vec![Out::Popup(
                Popup::confirm(
                    &format!("Cancel run #{id}?"),
                    format!(
                        "Cancel run #{id} ({} of {} on {})?\n\nIts running steps are stopped \
                     (TERM, then KILL after the grace period). Nothing is undone: roll back \
                     with R afterwards if needed.",
                        run.kind, run.app, run.env
                    ),
                    Effect::Command {
                        run: id,
                        command: "cancel",
                    },
                    true,
                )
                .with_yes("cancel the run"),
            )],
            Action::Resume if run.state != "interrupted" => refuse(format!(
                "run #{id} is {}; only an interrupted run resumes",
                run.state
            )),
            Action::Resume => vec![Out::Popup(
                Popup::confirm(
                    &format!("Resume run #{id}?"),
                    format!(
                        "Resume run #{id} ({} of {} on {}): a new runner starts from the first \
                     step not known to be done; the step whose outcome is unknown runs again.\n\n\
                     If that step did finish, mark it done first instead: \
                     pilote mark-done {id}",
                        run.kind, run.app, run.env
                    ),
                    Effect::Resume { run: id },
                    false,
                )
                .with_yes("resume"),
            )],
            Action::GateConfirm | Action::GateAbort if run.state != "waiting" => {
                refuse(format!("run #{id} is not waiting at a gate"))
            }
            Action::GateConfirm => {
                let at = self
                    .selected()
                    .and_then(|r| r.progress.current.clone())
                    .unwrap_or_else(|| "its gate".into());
                vec![Out::Popup(Popup::confirm(
                    &format!("Confirm the gate of run #{id}?"),
                    format!(
                        "Run #{id} ({} of {} on {}) waits at {at}.\n\nConfirming lets it go on.",
                        run.kind, run.app, run.env
                    ),
                    Effect::Command {
                        run: id,
                        command: "confirm",
                    },
                    false,
                )
                .with_yes("confirm the gate"))]
            }
            Action::GateAbort => vec![Out::Popup(
                Popup::confirm(
                    &format!("Abort run #{id} at its gate?"),
                    format!("The gate of run #{id} is answered no: the run stops there as failed."),
                    Effect::Command {
                        run: id,
                        command: "abort",
                    },
                    true,
                )
                .with_yes("abort at the gate"),
            )],
            _ => Vec::new(),
        }
    }

    /// The step filter's next value: each step the run started, in order, then none.
    fn next_step(&self) -> Option<i64> {
        let mut steps: Vec<i64> = self.steps.iter().map(|s| s.position).collect();
        steps.sort_unstable();
        steps.dedup();
        match self.log.filter.step {
            Some(now) => steps.into_iter().find(|p| *p > now),
            None => steps.first().copied(),
        }
    }

    /// The step at `position`, as "action/step".
    fn step_name(&self, position: i64) -> String {
        self.steps
            .iter()
            .find(|s| s.position == position)
            .map_or_else(
                || format!("step {position}"),
                |s| format!("{}/{}", s.action_id, s.step_name),
            )
    }

    /// The host filter's next value: every host the run touched, then none.
    fn next_host(&self) -> Option<String> {
        let mut hosts: Vec<&str> = self
            .steps
            .iter()
            .map(|s| s.host.as_str())
            .filter(|h| !h.is_empty())
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        super::cycle(&hosts, self.log.filter.host.as_deref())
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, now: i64) {
        let t = env.theme;
        let block = Block::new()
            .borders(Borders::ALL)
            .title(" Runs/Log ")
            .border_style(t.accent);
        let inner = block.inner(area);
        block.render(area, buf);
        if self.runs.is_empty() {
            Paragraph::new(
                "No run yet. Runs execute a plan on one environment and stream every host's \
                 log here. Deploy a request from the Requests pane (d), or: pilote run PLAN --env ENV",
            )
            .wrap(Wrap { trim: true })
            .style(t.dim)
            .render(inner, buf);
            return;
        }
        // The list shrinks to a few rows when the log has the keys.
        let list_rows = if self.focus_log {
            4
        } else {
            (inner.height / 3).max(5)
        };
        let [list, rest] = Layout::vertical([
            Constraint::Length(list_rows.min(self.runs.len() as u16 + 1)),
            Constraint::Min(3),
        ])
        .areas(inner);
        self.render_list(list, buf, env, now);
        let show_tree = self.tree || rest.width >= 150;
        let [log_area, tree_area] = if show_tree {
            Layout::horizontal([Constraint::Percentage(68), Constraint::Percentage(32)]).areas(rest)
        } else {
            [rest, Rect::default()]
        };
        self.log.render(log_area, buf, t, self.log_title(env));
        if show_tree {
            self.render_tree(tree_area, buf, env);
        }
    }

    fn log_title(&self, env: &Env<'_>) -> Line<'static> {
        let t = env.theme;
        let Some(r) = self.selected() else {
            return Line::from(" Log ");
        };
        let mut spans = vec![Span::styled(
            format!(
                " Log #{} {} {} on {} ",
                r.row.id, r.row.kind, r.row.app, r.row.env
            ),
            if self.focus_log { t.title } else { t.accent },
        )];
        if r.row.state == "waiting" {
            spans.push(Span::styled(" GATE: y confirm · A abort ", t.danger));
        }
        let f = &self.log.filter;
        let mut tags = Vec::new();
        if self.log.follow {
            tags.push("following".to_string());
        }
        if let Some(h) = &f.host {
            tags.push(format!("host {h}"));
        }
        if let Some(s) = &f.stream {
            tags.push(s.clone());
        }
        if let Some(p) = f.step {
            tags.push(format!("step {}", self.step_name(p)));
        }
        if let Some(s) = &self.log.search {
            tags.push(format!("/{s}"));
        }
        let lines = r.row.last_seq.max(self.log.upto());
        tags.push(crate::table::count(
            usize::try_from(lines).unwrap_or(0),
            "line",
        ));
        spans.push(Span::styled(format!(" {} ", tags.join(" · ")), t.dim));
        Line::from(spans)
    }

    fn render_list(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, now: i64) {
        let t = env.theme;
        let visible = usize::from(area.height.saturating_sub(1)).max(1);
        let first = self.index().saturating_sub(visible - 1);
        let wide = area.width >= 120;
        let rows: Vec<Row> = self
            .runs
            .iter()
            .skip(first)
            .map(|r| {
                let mut cells = vec![
                    Cell::from(format!("#{}", r.row.id)),
                    Cell::from(r.row.kind.clone()),
                    Cell::from(format!("{} on {}", r.row.app, r.row.env)),
                    Cell::from(r.row.state.clone()).style(t.state(&r.row.state)),
                    Cell::from(progress(r, now)),
                ];
                if wide {
                    // The step a finished run ended on says little; a live one's says a lot.
                    let live = !is_finished(&r.row.state);
                    cells.push(Cell::from(
                        r.progress
                            .current
                            .clone()
                            .filter(|_| live)
                            .unwrap_or_default(),
                    ));
                    cells.push(Cell::from(format!(
                        "{}/{}",
                        r.progress.hosts - r.progress.hosts_failed,
                        r.progress.hosts_failed
                    )));
                }
                cells.push(Cell::from(r.row.started_by.clone()));
                cells.push(Cell::from(age(r.row.created_at, now)));
                Row::new(cells).style(if Some(r.row.id) == self.picked {
                    t.selected
                } else {
                    Style::new()
                })
            })
            .collect();
        let mut widths = vec![
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(18),
            Constraint::Length(12),
            Constraint::Length(22),
        ];
        let mut header = vec!["RUN", "KIND", "WHERE", "STATE", "PROGRESS"];
        if wide {
            widths.extend([Constraint::Fill(1), Constraint::Length(7)]);
            header.extend(["CURRENT STEP", "OK/BAD"]);
        }
        widths.extend([Constraint::Length(8), Constraint::Length(4)]);
        header.extend(["BY", "AGE"]);
        Table::new(rows, widths)
            .header(Row::new(header).style(t.title))
            .render(area, buf);
    }

    /// One line per action and step, its hosts' states after it.
    fn render_tree(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>) {
        let t = env.theme;
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(t.dim)
            .title(" Steps ");
        let inner = block.inner(area);
        block.render(area, buf);
        let mut lines: Vec<Line> = Vec::new();
        let mut last_action = "";
        let mut i = 0;
        // Parallel steps start interleaved: in plan order, each step's hosts together.
        let mut steps: Vec<&StepRunRow> = self.steps.iter().collect();
        steps.sort_by(|a, b| (a.position, &a.host).cmp(&(b.position, &b.host)));
        while i < steps.len() {
            let s = steps[i];
            if s.action_id != last_action {
                lines.push(Line::styled(s.action_id.clone(), t.title));
                last_action = &s.action_id;
            }
            // The step runs of one step (one per host) are adjacent.
            let start = i;
            while i < steps.len() && steps[i].position == s.position {
                i += 1;
            }
            let hosts = &steps[start..i];
            let marks = |state: &str| match state {
                "succeeded" => "✓",
                "failed" | "timed_out" => "✗",
                "running" => "▶",
                "unknown" => "?",
                "skipped" | "cancelled" => "-",
                _ => "·",
            };
            if hosts.len() == 1 && hosts[0].host.is_empty() {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {} ", marks(&s.state)), t.state(&s.state)),
                    Span::raw(s.step_name.clone()),
                ]));
                continue;
            }
            lines.push(Line::from(format!("  {}", s.step_name)));
            // Beside its hosts, the jump host's row is a playbook's run as a whole.
            let label = |h: &StepRunRow| {
                if h.host.is_empty() {
                    "(playbook)".to_string()
                } else {
                    h.host.clone()
                }
            };
            if hosts.len() <= FEW_HOSTS {
                for h in hosts {
                    lines.push(Line::styled(
                        format!("    {} {}", marks(&h.state), label(h)),
                        t.state(&h.state),
                    ));
                }
            } else {
                // A fleet: counts, then only the hosts that need a look.
                let count = |m: &str| hosts.iter().filter(|h| marks(&h.state) == m).count();
                lines.push(Line::from(format!(
                    "    ✓ {}  ✗ {}  ▶ {}  · {}",
                    count("✓"),
                    count("✗"),
                    count("▶"),
                    count("·")
                )));
                for h in hosts
                    .iter()
                    .filter(|h| matches!(marks(&h.state), "✗" | "?"))
                {
                    lines.push(Line::styled(
                        format!("    {} {}", marks(&h.state), label(h)),
                        t.state(&h.state),
                    ));
                }
            }
        }
        if lines.is_empty() {
            lines.push(Line::styled("no step started yet", t.dim));
        }
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(inner, buf);
    }
}

/// What is left, in three columns at most and rounded up (an estimate has no tenths):
/// `45s`, `12m`, `3h`.
fn eta(ms: i64) -> String {
    let secs = (ms + 999) / 1000;
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 99 * 60 {
        format!("{}m", (secs + 59) / 60)
    } else {
        format!("{}h", (secs + 3599) / 3600)
    }
}

/// Up to this many hosts, the step tree lists each; beyond, counts and the failed ones.
const FEW_HOSTS: usize = 8;

/// `[██████····] ETA 3m` for a live run whose plan ran on its env before (from how long
/// those runs took), `6 done, 0 failed` else, `9 steps` once finished. At most 20 columns:
/// the PROGRESS column is no wider at 80x24.
fn progress(r: &RunLine, now: i64) -> String {
    let p = &r.progress;
    if is_finished(&r.row.state) {
        return format!("{} step{}", p.steps, if p.steps == 1 { "" } else { "s" });
    }
    let elapsed = r.row.started_at.map_or(0, |s| now - s);
    match p.typical_ms.filter(|t| *t > 0) {
        Some(typical) => {
            let ratio = (elapsed as f64 / typical as f64).clamp(0.0, 0.99);
            let filled = (ratio * 10.0) as usize;
            let left = typical - elapsed;
            let eta = if left > 0 {
                format!("ETA {}", eta(left))
            } else {
                // Longer than it used to take: no made-up figure.
                "overdue".into()
            };
            format!("[{}{}] {eta}", "█".repeat(filled), "·".repeat(10 - filled))
        }
        None => format!("{} done, {} failed", p.done, p.failed),
    }
}
