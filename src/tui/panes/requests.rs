//! The Requests pane: the request list with a filter, the picked request's details, and
//! its actions (submit, approve/reject, deploy to the next env, schedule, edit its plan).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget, Wrap};

use super::{Env, Out, Pane, age};
use crate::tui::action::{Action, Effect};
use crate::tui::data::{RequestDetail, RequestLine};
use crate::tui::popup::{Popup, Purpose};

#[derive(Debug, Default)]
pub struct RequestsPane {
    pub all: Vec<RequestLine>,
    pub detail: Option<RequestDetail>,
    /// Shown are the requests whose line contains this (case-insensitive).
    pub filter: String,
    /// The picked request's id: it stays picked when the list changes under it.
    pub picked: Option<i64>,
}

impl RequestsPane {
    /// The requests the filter lets through.
    pub fn shown(&self) -> Vec<&RequestLine> {
        let f = self.filter.to_lowercase();
        self.all
            .iter()
            .filter(|r| {
                f.is_empty()
                    || format!(
                        "#{} {} {} {} {} {}",
                        r.id, r.app, r.version, r.state, r.by, r.title
                    )
                    .to_lowercase()
                    .contains(&f)
            })
            .collect()
    }

    pub fn selected(&self) -> Option<&RequestLine> {
        let shown = self.shown();
        self.picked
            .and_then(|id| shown.iter().find(|r| r.id == id).copied())
            .or_else(|| shown.first().copied())
    }

    fn index(&self) -> usize {
        let shown = self.shown();
        self.picked
            .and_then(|id| shown.iter().position(|r| r.id == id))
            .unwrap_or(0)
    }

    pub fn set(&mut self, requests: Vec<RequestLine>, detail: Option<RequestDetail>) {
        self.all = requests;
        self.detail = detail;
        if self.selected().is_none() || self.picked.is_none() {
            self.picked = self.shown().first().map(|r| r.id);
        }
    }

    pub fn on_action(&mut self, action: Action, env: &Env<'_>) -> Vec<Out> {
        let shown_len = self.shown().len();
        match action {
            Action::Down | Action::Up => {
                let i = super::step(
                    self.index(),
                    if action == Action::Down { 1 } else { -1 },
                    shown_len,
                );
                self.picked = self.shown().get(i).map(|r| r.id);
                return Vec::new();
            }
            Action::Filter => {
                return vec![Out::Popup(Popup::input(
                    "Filter requests",
                    "text in the id, app, version, state, author or title; Esc clears",
                    &self.filter,
                    Purpose::Filter,
                ))];
            }
            _ => {}
        }
        let Some(r) = self.selected() else {
            return Vec::new();
        };
        if action.mutates() && env.read_only {
            return vec![Out::Popup(Popup::read_only())];
        }
        let id = r.id;
        let next = r.next_env().map(str::to_string);
        let no_env = || {
            vec![Out::Popup(Popup::message(
                "Nothing left",
                &format!("request #{id} has succeeded on every env of its lifecycle"),
                false,
            ))]
        };
        match action {
            Action::Submit => vec![Out::Effect(Effect::Transition {
                id,
                to: "submitted",
            })],
            Action::Approve | Action::Reject => {
                let Some(env_name) = next else {
                    return no_env();
                };
                let (env_name, digest) = (env_name.clone(), r.digest.clone());
                // Four eyes: asked at once, without a comment to type first. The refusal
                // comes from the core, which records it.
                if r.by == env.actor {
                    return vec![Out::Effect(Effect::Decide {
                        id,
                        env: env_name,
                        decision: if action == Action::Approve {
                            "approved"
                        } else {
                            "rejected"
                        },
                        comment: String::new(),
                        shown: digest,
                    })];
                }
                let target = env_name.clone();
                let (verb, purpose) = if action == Action::Approve {
                    let p = Purpose::Approve {
                        id,
                        env: target,
                        digest,
                    };
                    ("Approve", p)
                } else {
                    let p = Purpose::Reject {
                        id,
                        env: target,
                        digest,
                    };
                    ("Reject", p)
                };
                vec![Out::Popup(Popup::input(
                    &format!("{verb} request #{id} for {env_name}"),
                    "comment (Enter sends, Esc cancels)",
                    "",
                    purpose,
                ))]
            }
            Action::Deploy => {
                let Some(env_name) = next else {
                    return no_env();
                };
                let frozen = env
                    .ws
                    .inventory
                    .env(&env_name)
                    .and_then(|e| e.frozen_at(crate::clock::now_ms()));
                match frozen {
                    // A freeze needs a reason on record before anything is shown.
                    Some(f) => vec![Out::Popup(Popup::input(
                        &format!("{env_name} is frozen ({})", f.label),
                        "reason to deploy anyway (recorded), or Esc",
                        "",
                        Purpose::FreezeReason { id, env: env_name },
                    ))],
                    None => vec![Out::Effect(Effect::PrepareDeploy {
                        id,
                        env: env_name,
                        override_freeze: None,
                    })],
                }
            }
            Action::Schedule => {
                let Some(env_name) = next else {
                    return no_env();
                };
                vec![Out::Popup(Popup::input(
                    &format!("Schedule request #{id} on {env_name}"),
                    "when: YYYY-MM-DD or YYYY-MM-DD HH:MM (local time)",
                    "",
                    Purpose::Schedule { id, env: env_name },
                ))]
            }
            Action::EditPlan => match &r.plan_path {
                Some(path) => vec![
                    Out::Effect(Effect::OpenPlan {
                        path: path.clone(),
                        request: Some(id),
                    }),
                    Out::Show(Pane::Plan),
                ],
                None => vec![Out::Popup(Popup::message(
                    "No plan file",
                    &format!("request #{id} was filed without a plan file"),
                    false,
                ))],
            },
            _ => Vec::new(),
        }
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer, env: &Env<'_>, now: i64) {
        let t = env.theme;
        let title = if self.filter.is_empty() {
            " Requests ".to_string()
        } else {
            format!(" Requests — filter: {} ", self.filter)
        };
        let block = Block::new()
            .borders(Borders::ALL)
            .title(title)
            .border_style(t.accent);
        let inner = block.inner(area);
        block.render(area, buf);
        let shown = self.shown();
        if self.all.is_empty() {
            Paragraph::new(
                "No deployment request yet. A request binds an app version, its package in the \
                 vault and its plan; it moves through its lifecycle's environments as it is \
                 approved.\n\nFile one: pilote request new --app APP --version V --plan FILE",
            )
            .wrap(Wrap { trim: true })
            .style(t.dim)
            .render(inner, buf);
            return;
        }
        // Wide screens put the details beside the list; narrow ones below it.
        let wide = inner.width >= 150;
        let [list_area, detail_area] = if wide {
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(inner)
        } else {
            let rows = u16::try_from(shown.len() + 1).unwrap_or(u16::MAX);
            Layout::vertical([
                // Never `clamp`: on a very small terminal half the height is below 2.
                Constraint::Length(rows.min(inner.height / 2).max(2)),
                Constraint::Min(0),
            ])
            .areas(inner)
        };
        self.render_list(&shown, list_area, buf, env, now);
        if let Some(r) = self.selected() {
            let detail = self.detail.as_ref().filter(|d| d.id == r.id);
            let block = if wide {
                Block::new().borders(Borders::LEFT).border_style(t.dim)
            } else {
                Block::new().borders(Borders::TOP).border_style(t.dim)
            };
            let inner = block.inner(detail_area);
            block.render(detail_area, buf);
            Paragraph::new(details(r, detail, env))
                .wrap(Wrap { trim: false })
                .render(inner, buf);
        }
    }

    fn render_list(
        &self,
        shown: &[&RequestLine],
        area: Rect,
        buf: &mut Buffer,
        env: &Env<'_>,
        now: i64,
    ) {
        let t = env.theme;
        let picked = self.selected().map(|r| r.id);
        // Keep the picked row in view.
        let visible = usize::from(area.height.saturating_sub(1)).max(1);
        let first = self.index().saturating_sub(visible - 1);
        let with_next = area.width >= 100;
        let rows: Vec<Row> = shown
            .iter()
            .skip(first)
            .map(|r| {
                let mut cells = vec![
                    Cell::from(format!("#{}", r.id)),
                    Cell::from(format!("{} {}", r.app, r.version)),
                    Cell::from(r.state.clone()).style(t.state(&r.state)),
                    Cell::from(r.progress()),
                ];
                if with_next {
                    cells.push(Cell::from(r.next.clone()).style(t.accent));
                }
                cells.push(Cell::from(r.by.clone()));
                cells.push(Cell::from(age(r.created_at, now)));
                Row::new(cells).style(if Some(r.id) == picked {
                    t.selected
                } else {
                    Style::new()
                })
            })
            .collect();
        let mut widths = vec![
            Constraint::Length(4),
            Constraint::Length(14),
            Constraint::Length(11),
            Constraint::Length(25),
        ];
        let mut header = vec!["REQ", "RELEASE", "STATE", "LIFECYCLE"];
        if with_next {
            widths.push(Constraint::Fill(1));
            header.push("NEXT");
        }
        widths.extend([Constraint::Length(8), Constraint::Length(4)]);
        header.extend(["BY", "AGE"]);
        Table::new(rows, widths)
            .header(Row::new(header).style(t.title))
            .render(area, buf);
    }
}

/// The picked request: what it binds, its approvals, what comes next, its plan, its trail.
fn details(r: &RequestLine, detail: Option<&RequestDetail>, env: &Env<'_>) -> Vec<Line<'static>> {
    let t = env.theme;
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("#{} {} {}", r.id, r.app, r.version), t.title),
        Span::styled(
            format!(
                "  {} · by {} · {}",
                r.lifecycle,
                r.by,
                if r.title.is_empty() { "-" } else { &r.title }
            ),
            t.dim,
        ),
    ])];
    if let Some(why) = &r.blocked {
        lines.push(Line::styled(format!("BLOCKED: {why}"), t.bad));
    }
    lines.push(Line::from(format!("package sha256 {}", r.package_digest)));
    lines.push(Line::from(format!(
        "plan {}",
        r.plan_path
            .as_deref()
            .unwrap_or("(stored with the request)")
    )));
    lines.push(Line::from(vec![
        Span::raw("progress "),
        Span::raw(r.progress()),
    ]));
    lines.push(Line::from(format!(
        "approvals: {}",
        if r.approvals.is_empty() {
            "none".to_string()
        } else {
            r.approvals.join(" · ")
        }
    )));
    lines.push(Line::styled(format!("next: {}", r.next), t.accent));
    if let Some(d) = detail {
        if !d.schedule.is_empty() {
            lines.push(Line::from(format!("planned: {}", d.schedule.join(" · "))));
        }
        lines.push(Line::styled("plan actions", t.title));
        lines.extend(d.plan.iter().map(|a| Line::from(format!("  {a}"))));
        lines.push(Line::styled("audit (newest first)", t.title));
        lines.extend(
            d.audit
                .iter()
                .map(|a| Line::styled(format!("  {a}"), t.dim)),
        );
    }
    lines
}
