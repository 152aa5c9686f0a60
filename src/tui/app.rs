//! The console's state and its update functions: keys, mouse, worker answers and the clock
//! go in, effects for the workers come out. No IO here: the loop in `mod.rs` does that,
//! which is what lets tests drive an `App` without a terminal.

use std::time::{Duration, Instant};

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind,
};

use super::action::{Action, Effect, Msg};
use super::data::Data;
use super::keymap::{Context, Keymap};
use super::panes::dashboard::DashboardPane;
use super::panes::plan::PlanPane;
use super::panes::requests::RequestsPane;
use super::panes::runs::RunsPane;
use super::panes::{Env, Out, Pane};
use super::popup::{Asks, Popup, Purpose};
use super::theme::Theme;
use crate::identity::Actor;
use crate::settings::Workspace;
use crate::store::is_finished;

/// Lists and counts are read again this often: other operators' actions show up without
/// a key press.
const REFRESH: Duration = Duration::from_secs(1);
/// A followed live log is read again this often.
const LOG_POLL: Duration = Duration::from_millis(150);
/// How long an outcome stays in the footer.
const STATUS: Duration = Duration::from_secs(8);

/// How the console was opened.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Hide every action that changes something.
    pub read_only: bool,
    pub theme: Option<Theme>,
    pub keys: Keymap,
    /// Where the workspace config was found, to read it again before each action.
    pub source: Option<(crate::settings::Located, crate::settings::Overrides)>,
    /// The dashboard's widgets, in order (`[dashboard] widgets`).
    pub widgets: Vec<String>,
}

impl Options {
    /// The console's options from the workspace's `[console]` (theme, keys).
    pub fn of(
        ws: &Workspace,
        source: (crate::settings::Located, crate::settings::Overrides),
        read_only: bool,
    ) -> Self {
        let theme = match ws.settings.console.theme {
            crate::settings::ConsoleTheme::Light => "light",
            crate::settings::ConsoleTheme::Dark => "dark",
        };
        // Keys were checked when the settings were loaded.
        let (keys, _) = Keymap::with(&ws.settings.console.keys);
        Self {
            read_only,
            theme: Some(Theme::pick(theme)),
            keys,
            source: Some(source),
            // A widget the console does not have was reported at load; it is not drawn.
            widgets: (ws.settings.dashboard.iter())
                .filter(|w| crate::tui::DASHBOARD_WIDGETS.contains(&w.as_str()))
                .cloned()
                .collect(),
        }
    }
}

pub struct App {
    pub ws: Workspace,
    pub actor: Actor,
    pub read_only: bool,
    pub theme: Theme,
    pub keys: Keymap,
    pub pane: Pane,
    /// Top-most last.
    pub popups: Vec<Popup>,
    /// The header's counts, as last read (the lists live in their panes).
    pub summary: crate::store::Summary,
    /// The workspace's plan files, for the palette.
    pub plans: Vec<String>,
    pub requests: RequestsPane,
    pub plan: PlanPane,
    pub runs: RunsPane,
    pub dashboard: DashboardPane,
    /// The outcome of the last action, and when it came.
    pub status: Option<(String, Instant)>,
    /// Why the last read failed, until the next one works.
    pub problem: Option<String>,
    /// The config's first error (`file:line:col: message`) while it has errors: deploys,
    /// approvals and edits wait for it to be fixed.
    pub config_problem: Option<String>,
    /// The store was deleted or replaced: said instead of the panes, until the console ends.
    pub store_gone: Option<String>,
    pub quit: bool,
    /// Something changed since the last frame.
    pub dirty: bool,
    /// A refresh is on its way; `again` asks for one more as soon as it lands.
    refreshing: bool,
    again: bool,
    refreshed_at: Option<Instant>,
    polled_at: Option<Instant>,
    /// `q` pressed once with unsaved plan edits.
    quit_armed: bool,
    /// A plan asked to be opened once over unsaved edits.
    discard_armed: bool,
}

impl App {
    /// Says why an action that acts on the config waits: the config has errors.
    fn refuse_broken_config(&mut self) {
        self.popups.push(Popup::message(
            "The config has errors",
            &format!(
                "{}\n\nDeploys, approvals and plan edits need a sound config: fix it \
                 (`pilote config check` lists every error). Runs, logs, cancel and \
                 rollback work from the store meanwhile.",
                self.config_problem.clone().unwrap_or_default()
            ),
            false,
        ));
    }

    pub fn new(ws: Workspace, actor: Actor, options: Options) -> Self {
        let config_problem = ws.broken.as_ref().map(crate::settings::Broken::headline);
        Self {
            ws,
            actor,
            read_only: options.read_only,
            theme: options.theme.unwrap_or_else(Theme::dark),
            keys: options.keys,
            pane: Pane::Requests,
            popups: Vec::new(),
            summary: crate::store::Summary::default(),
            plans: Vec::new(),
            requests: RequestsPane::default(),
            plan: PlanPane::default(),
            runs: RunsPane::default(),
            dashboard: DashboardPane::with(&options.widgets),
            status: None,
            problem: None,
            config_problem,
            store_gone: None,
            quit: false,
            dirty: true,
            refreshing: false,
            again: false,
            refreshed_at: None,
            polled_at: None,
            quit_armed: false,
            discard_armed: false,
        }
    }

    pub fn env(&self) -> Env<'_> {
        Env {
            ws: &self.ws,
            actor: &self.actor.name,
            theme: &self.theme,
            read_only: self.read_only,
        }
    }

    /// The key context of what has the keys now.
    pub fn context(&self) -> Context {
        match self.pane {
            Pane::Requests => Context::Requests,
            Pane::Plan => Context::Plan,
            Pane::Runs => self.runs.context(),
            Pane::Dashboard => Context::Dashboard,
        }
    }

    /// The status line's text, while it is fresh.
    pub fn status(&self, now: Instant) -> Option<&str> {
        self.status
            .as_ref()
            .filter(|(_, at)| now.duration_since(*at) < STATUS)
            .map(|(s, _)| s.as_str())
    }

    fn refresh_effect(&mut self) -> Effect {
        self.refreshing = true;
        self.again = false;
        self.refreshed_at = Some(Instant::now());
        Effect::Refresh {
            request: self.requests.selected().map(|r| r.id),
            run: self.runs.picked,
        }
    }

    /// What the clock makes due: a refresh, a log read, a plan check.
    pub fn tick(&mut self, now: Instant) -> Vec<Effect> {
        let mut out = Vec::new();
        let due = self
            .refreshed_at
            .is_none_or(|t| now.duration_since(t) >= REFRESH);
        if !self.refreshing && (due || self.again) {
            out.push(self.refresh_effect());
            // Ages and ETAs move with the clock.
            self.dirty = true;
        }
        let live = self
            .runs
            .selected()
            .is_some_and(|r| !is_finished(&r.row.state));
        let poll_due = self
            .polled_at
            .is_none_or(|t| now.duration_since(t) >= LOG_POLL);
        if self.pane == Pane::Runs && live && poll_due {
            self.polled_at = Some(now);
            out.extend(self.runs.log.poll());
        }
        out.extend(self.plan.poll(now));
        if self.pane == Pane::Dashboard {
            out.extend(self.dashboard.poll(now, crate::clock::now_ms()));
        }
        out
    }

    fn apply(&mut self, outs: Vec<Out>) -> Vec<Effect> {
        let mut effects = Vec::new();
        for o in outs {
            match o {
                // Opening another plan over unsaved edits asks first: the second `e` opens.
                Out::Effect(Effect::OpenPlan { path, .. })
                    if self.plan.modified() && !std::mem::take(&mut self.discard_armed) =>
                {
                    self.discard_armed = true;
                    self.popups.push(Popup::message(
                        "Unsaved plan",
                        &format!(
                            "{} has unsaved changes. Save them in the Plan pane (^s), or press \
                             the same key again to open {path} and lose them.",
                            self.plan.path.as_deref().unwrap_or("the plan")
                        ),
                        false,
                    ));
                }
                Out::Effect(e) => {
                    // Re-hashing a package takes a moment: say that something is coming.
                    let note = match &e {
                        Effect::PrepareDeploy { .. } => {
                            Some("checking the request and its package…")
                        }
                        Effect::PrepareRollback { .. } => Some("deriving the rollback…"),
                        _ => None,
                    };
                    if let Some(n) = note {
                        self.status = Some((n.to_string(), Instant::now()));
                    }
                    effects.push(e);
                }
                Out::Popup(p) => self.popups.push(p),
                Out::Show(p) => self.pane = p,
                Out::OpenRun(id) => {
                    self.pane = Pane::Runs;
                    self.again = true;
                    effects.extend(self.runs.follow(id));
                }
            }
        }
        effects
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind != KeyEventKind::Press {
            return Vec::new();
        }
        self.dirty = true;
        if let Some(popup) = self.popups.pop() {
            return self.on_popup_key(popup, key);
        }
        let context = self.context();
        let action = self.keys.action(context, &key);
        // While editing a plan, the text gets every key but Esc, Ctrl-C (quit, which still
        // asks about unsaved edits) and the pane's own ^ keys.
        let ctrl_c = key.code == KeyCode::Char('c')
            && key
                .modifiers
                .contains(ratatui::crossterm::event::KeyModifiers::CONTROL);
        if self.pane == Pane::Plan && self.plan.editing && !ctrl_c {
            let own = self.keys.action(Context::Plan, &key).filter(|a| {
                matches!(
                    a,
                    Action::Save | Action::NextEnv | Action::NextProblem | Action::Back
                )
            });
            return match own {
                Some(a) if a.needs_config() && self.config_problem.is_some() => {
                    self.refuse_broken_config();
                    Vec::new()
                }
                Some(a) => {
                    let env = Env {
                        ws: &self.ws,
                        actor: &self.actor.name,
                        theme: &self.theme,
                        read_only: self.read_only,
                    };
                    let outs = self.plan.on_action(a, &env);
                    self.apply(outs)
                }
                None => {
                    self.plan.input(key);
                    Vec::new()
                }
            };
        }
        let Some(action) = action else {
            return Vec::new();
        };
        if action != Action::Quit {
            self.quit_armed = false;
        }
        match action {
            Action::Quit => {
                if self.plan.modified() && !self.quit_armed {
                    self.quit_armed = true;
                    self.status = Some((
                        "the plan has unsaved changes: ^s in the Plan pane saves them; q again quits"
                            .into(),
                        Instant::now(),
                    ));
                } else {
                    self.quit = true;
                }
                Vec::new()
            }
            Action::Help => {
                self.popups.push(Popup::Help { context });
                Vec::new()
            }
            Action::Palette => {
                self.popups.push(Popup::Palette {
                    area: Box::new(tui_textarea::TextArea::default()),
                    entries: super::palette::entries(
                        &self.ws,
                        &self.requests.all,
                        &self.runs.runs,
                        &self.plans,
                    ),
                    selected: 0,
                });
                Vec::new()
            }
            Action::RequestsPane => self.show(Pane::Requests),
            Action::PlanPane => self.show(Pane::Plan),
            Action::RunsPane => self.show(Pane::Runs),
            Action::DashboardPane => self.show(Pane::Dashboard),
            Action::NextPane => self.show(Pane::ALL[(self.pane.index() + 1) % Pane::ALL.len()]),
            Action::PrevPane => {
                self.show(Pane::ALL[(self.pane.index() + Pane::ALL.len() - 1) % Pane::ALL.len()])
            }
            a if a.needs_config() && self.config_problem.is_some() => {
                self.refuse_broken_config();
                Vec::new()
            }
            a => {
                let env = Env {
                    ws: &self.ws,
                    actor: &self.actor.name,
                    theme: &self.theme,
                    read_only: self.read_only,
                };
                let outs = match self.pane {
                    Pane::Requests => {
                        let before = self.requests.selected().map(|r| r.id);
                        let outs = self.requests.on_action(a, &env);
                        // Another request picked: read its details now, not in a second.
                        if self.requests.selected().map(|r| r.id) != before {
                            self.again = true;
                        }
                        outs
                    }
                    Pane::Plan => self.plan.on_action(a, &env),
                    Pane::Runs => self.runs.on_action(a, &env),
                    Pane::Dashboard => self.dashboard.on_action(a, &env),
                };
                self.apply(outs)
            }
        }
    }

    fn show(&mut self, pane: Pane) -> Vec<Effect> {
        self.pane = pane;
        // The log may be stale after time in another pane.
        self.polled_at = None;
        Vec::new()
    }

    fn on_popup_key(&mut self, popup: Popup, key: KeyEvent) -> Vec<Effect> {
        match popup {
            Popup::Help { .. } => Vec::new(),
            Popup::Message { .. } => {
                if !matches!(
                    key.code,
                    KeyCode::Enter | KeyCode::Esc | KeyCode::Char('q' | ' ')
                ) {
                    self.popups.push(popup);
                }
                Vec::new()
            }
            popup @ Popup::Confirm { .. } => self.on_confirm_key(popup, key),
            Popup::Palette {
                mut area,
                entries,
                selected,
            } => {
                let query = area.lines().join(" ");
                let found = super::palette::matches(&entries, &query, 12);
                let selected = match key.code {
                    KeyCode::Esc => return Vec::new(),
                    KeyCode::Enter => {
                        // A run or request number typed out wins: it may be older than the
                        // lists hold.
                        let command = super::palette::exact(&query)
                            .or_else(|| found.get(selected).map(|e| e.command.clone()));
                        return match command {
                            Some(c) => self.run_command(c),
                            None => Vec::new(),
                        };
                    }
                    KeyCode::Down => (selected + 1).min(found.len().saturating_sub(1)),
                    KeyCode::Up => selected.saturating_sub(1),
                    _ => {
                        area.input(key);
                        0
                    }
                };
                self.popups.push(Popup::Palette {
                    area,
                    entries,
                    selected,
                });
                Vec::new()
            }
            Popup::Input {
                title,
                hint,
                mut area,
                purpose,
            } => match key.code {
                KeyCode::Enter => {
                    let text = area.lines().join(" ").trim().to_string();
                    self.submit(purpose, text)
                }
                KeyCode::Esc => {
                    if purpose == Purpose::Filter {
                        self.requests.filter.clear();
                    }
                    Vec::new()
                }
                _ => {
                    area.input(key);
                    if purpose == Purpose::Filter {
                        // The list narrows as the person types.
                        self.requests.filter = area.lines().join(" ");
                    }
                    self.popups.push(Popup::Input {
                        title,
                        hint,
                        area,
                        purpose,
                    });
                    Vec::new()
                }
            },
        }
    }

    /// Enter (once the confirmation has been on screen a moment) runs its effect; Esc, q
    /// and n close it; the other keys scroll it. A confirmation that asks for a line takes
    /// letters into it (only Esc closes, only the arrows scroll), and Enter then needs the
    /// name asked for, or gives the reason typed to the effect.
    fn on_confirm_key(&mut self, mut popup: Popup, key: KeyEvent) -> Vec<Effect> {
        if let Popup::Confirm {
            scroll,
            yes,
            height,
            rows,
            armed_at,
            typed,
            ..
        } = &mut popup
        {
            let last = rows.get().saturating_sub(height.get().max(1));
            // Letters are typed into the line when there is one.
            let keys = typed.is_none();
            *scroll = match key.code {
                KeyCode::Enter if Instant::now() >= *armed_at => match typed {
                    None => return vec![yes.clone()],
                    Some(t) => match &t.asks {
                        Asks::Name(name) if t.text() != *name => {
                            t.wrong = true;
                            *scroll
                        }
                        Asks::Name(_) => return vec![yes.clone()],
                        Asks::Reason => return vec![yes.clone().with_reason(t.text())],
                    },
                },
                KeyCode::Esc => return Vec::new(),
                KeyCode::Char('q' | 'n') if keys => return Vec::new(),
                KeyCode::Down => scroll.saturating_add(1),
                KeyCode::Char('j') if keys => scroll.saturating_add(1),
                KeyCode::Up => scroll.saturating_sub(1),
                KeyCode::Char('k') if keys => scroll.saturating_sub(1),
                KeyCode::PageDown => scroll.saturating_add(10),
                KeyCode::Char(' ') if keys => scroll.saturating_add(10),
                KeyCode::PageUp => scroll.saturating_sub(10),
                KeyCode::End => u16::MAX,
                KeyCode::Char('G') if keys => u16::MAX,
                KeyCode::Home => 0,
                KeyCode::Char('g') if keys => 0,
                _ => {
                    if let Some(t) = typed {
                        t.area.input(key);
                        t.wrong = false;
                    }
                    *scroll
                }
            }
            .min(last);
        }
        self.popups.push(popup);
        Vec::new()
    }

    /// What a palette entry does: the same as its key would.
    fn run_command(&mut self, command: super::palette::Command) -> Vec<Effect> {
        use super::palette::Command;
        match command {
            Command::Show(p) => self.show(p),
            Command::Help => {
                self.popups.push(Popup::Help {
                    context: self.context(),
                });
                Vec::new()
            }
            Command::Quit => {
                self.quit = true;
                Vec::new()
            }
            Command::OpenRun(id) if !self.runs.runs.iter().any(|r| r.row.id == id) => {
                self.popups.push(Popup::message(
                    "Not listed",
                    &format!(
                        "run #{id} is not among the {} newest runs listed here; \
                         see it with `pilote logs {id}`",
                        self.runs.runs.len()
                    ),
                    false,
                ));
                Vec::new()
            }
            Command::OpenRun(id) => {
                self.show(Pane::Runs);
                self.again = true;
                self.runs.follow(id)
            }
            Command::OpenRequest(id) if !self.requests.all.iter().any(|r| r.id == id) => {
                self.popups.push(Popup::message(
                    "Not listed",
                    &format!(
                        "request #{id} is not among the {} newest requests listed here; \
                         see it with `pilote request show {id}`",
                        self.requests.all.len()
                    ),
                    false,
                ));
                Vec::new()
            }
            Command::OpenRequest(id) => {
                self.show(Pane::Requests);
                self.requests.filter.clear();
                self.requests.picked = Some(id);
                self.again = true;
                Vec::new()
            }
            Command::Rollback { .. } if self.read_only => {
                self.popups.push(Popup::read_only());
                Vec::new()
            }
            Command::Rollback { app, env } => vec![Effect::PrepareRollback { app, env }],
            Command::OpenPlan(path) => {
                let outs = vec![
                    Out::Effect(Effect::OpenPlan {
                        path,
                        request: None,
                    }),
                    Out::Show(Pane::Plan),
                ];
                self.apply(outs)
            }
        }
    }

    fn submit(&mut self, purpose: Purpose, text: String) -> Vec<Effect> {
        match purpose {
            Purpose::Filter => {
                self.requests.filter = text;
                Vec::new()
            }
            Purpose::Window => {
                if !self.dashboard.set_window(&text) {
                    self.popups.push(Popup::message(
                        "Not a window",
                        &format!("`{text}` is not a window; expected a duration like 14d, 48h or 90d (at most 3650d)"),
                        false,
                    ));
                }
                Vec::new()
            }
            Purpose::Search if self.pane == Pane::Plan => {
                self.plan.search(&text);
                Vec::new()
            }
            Purpose::Search => self.runs.log.find(Some(text), false).into_iter().collect(),
            Purpose::Approve { id, env, digest } => vec![Effect::Decide {
                id,
                env,
                decision: "approved",
                comment: text,
                shown: digest,
            }],
            Purpose::Reject { id, env, digest } => vec![Effect::Decide {
                id,
                env,
                decision: "rejected",
                comment: text,
                shown: digest,
            }],
            Purpose::Schedule { id, env } => vec![Effect::Schedule { id, env, at: text }],
            Purpose::FreezeReason { .. } if text.is_empty() => {
                self.popups.push(Popup::message(
                    "Not deployed",
                    "A frozen env needs a reason to deploy anyway; none was given.",
                    false,
                ));
                Vec::new()
            }
            Purpose::FreezeReason { id, env } => vec![Effect::PrepareDeploy {
                id,
                env,
                override_freeze: Some(text),
            }],
        }
    }

    pub fn on_mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
        let key = |code| KeyEvent::new(code, ratatui::crossterm::event::KeyModifiers::NONE);
        match m.kind {
            MouseEventKind::ScrollDown => self.on_key(key(KeyCode::Down)),
            MouseEventKind::ScrollUp => self.on_key(key(KeyCode::Up)),
            // The tab bar is the second row: a click there picks a pane.
            MouseEventKind::Down(MouseButton::Left) if m.row == 1 && self.popups.is_empty() => {
                let mut x = 0;
                for (i, p) in Pane::ALL.iter().enumerate() {
                    let w = u16::try_from(format!(" {} {} ", i + 1, p.title()).chars().count() + 1)
                        .unwrap_or(0);
                    if m.column < x + w {
                        self.dirty = true;
                        return self.show(*p);
                    }
                    x += w;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    pub fn on_msg(&mut self, msg: Msg) -> Vec<Effect> {
        self.dirty = true;
        let now = Instant::now();
        match msg {
            Msg::Config(problem) => {
                self.config_problem = problem;
                Vec::new()
            }
            Msg::Data(d) => {
                self.refreshing = false;
                self.problem = None;
                let before = self.runs.selected().map(|r| r.row.state.clone());
                // Each list goes to the pane that shows it: no second copy.
                let Data {
                    requests,
                    detail,
                    runs,
                    steps,
                    plans,
                    summary,
                } = *d;
                self.requests.set(requests, detail);
                let mut effects = self.runs.set(runs);
                if let Some((run, steps)) = steps {
                    self.runs.set_steps(run, steps);
                }
                // The followed run just ended: read its last lines once more.
                let after = self.runs.selected().map(|r| r.row.state.clone());
                if before.as_deref().is_some_and(|s| !is_finished(s))
                    && after.as_deref().is_some_and(is_finished)
                {
                    effects.extend(self.runs.log.poll());
                }
                self.summary = summary;
                self.plans = plans;
                effects
            }
            Msg::Log {
                run,
                part,
                generation,
                upto,
                lines,
            } => {
                self.runs.log.arrived(run, part, generation, upto, lines);
                Vec::new()
            }
            Msg::LogFailed { generation, error } => {
                self.runs.log.failed(generation);
                self.status = Some((format!("cannot read the log: {error}"), now));
                Vec::new()
            }
            Msg::Found { run, needle, seq } => match seq {
                Some(seq) => self.runs.log.found(run, seq).into_iter().collect(),
                None if self.runs.log.hit.is_some() => {
                    self.status =
                        Some((format!("no more `{needle}` that way (n: down, N: up)"), now));
                    Vec::new()
                }
                None => {
                    self.status = Some((format!("`{needle}` not found"), now));
                    Vec::new()
                }
            },
            Msg::DeployPreview {
                preview,
                override_freeze,
            } => {
                self.status = None;
                let r = &preview.request;
                let mut text = format!(
                    "Request #{} — {} {}\nTo:      {}\nPackage: sha256 {}\n",
                    r.id, r.app, r.version, preview.env, preview.package.digest
                );
                if let (Some(f), Some(why)) = (&preview.freeze, &override_freeze) {
                    text.push_str(&format!("FREEZE {f} overridden: {why}\n"));
                }
                text.push_str(&preview.text);
                let title = format!("Deploy #{} to {}?", r.id, preview.env);
                // Deploys to a protected env get the danger colours.
                let danger = self
                    .ws
                    .inventory
                    .env(&preview.env)
                    .is_some_and(|e| e.protected);
                let env = preview.env.clone();
                let confirm = Popup::confirm(
                    &title,
                    text,
                    Effect::StartDeploy {
                        preview,
                        override_freeze,
                    },
                    danger,
                );
                // Production is told apart by its name typed, as on the command line: an
                // Enter comes out of habit after a day of deploys to uat.
                self.popups.push(if danger {
                    confirm.asking(Asks::Name(env))
                } else {
                    confirm
                });
                Vec::new()
            }
            Msg::RollbackPreview(p) => {
                self.status = None;
                if p.actions == 0 {
                    self.popups.push(Popup::message(
                        "Nothing to roll back",
                        &format!(
                            "{}\nrun #{} started nothing that declares an undo.",
                            p.text.trim_end(),
                            p.of.id
                        ),
                        false,
                    ));
                    return Vec::new();
                }
                let title = format!("ROLL BACK {} on {}?", p.app, p.env);
                // R undoes what was done last on that env, whichever run is picked: say so
                // when they differ.
                let text = match self.runs.picked {
                    Some(picked) if picked != p.of.id => format!(
                        "R rolls back the last run of {} on {}: run #{}, not the run picked (#{picked}).\n\n{}",
                        p.app, p.env, p.of.id, p.text
                    ),
                    _ => p.text.clone(),
                };
                // R then Enter stays the whole of it: the reason is there for whoever has
                // the incident's ticket at hand, and skipped by Enter alone.
                self.popups.push(
                    Popup::confirm(
                        &title,
                        text,
                        Effect::StartRollback {
                            preview: p,
                            reason: None,
                        },
                        true,
                    )
                    .asking(Asks::Reason),
                );
                Vec::new()
            }
            Msg::Started { run, what } => {
                self.status = Some((format!("{what} started: run #{run}"), now));
                self.pane = Pane::Runs;
                self.polled_at = Some(now);
                self.again = true;
                self.runs.follow(run)
            }
            Msg::Done(text) => {
                self.status = Some((text, now));
                self.again = true;
                Vec::new()
            }
            Msg::Metrics { asked, indicators } => {
                self.dashboard.arrived(asked, *indicators);
                Vec::new()
            }
            Msg::ReadFailed(text) => {
                self.refreshing = false;
                self.problem = Some(text);
                Vec::new()
            }
            Msg::StoreGone(text) => {
                self.refreshing = false;
                // A confirmation of a deploy read from the old store must not be answered.
                self.popups.clear();
                self.store_gone = Some(text);
                Vec::new()
            }
            Msg::Failed(text) => {
                self.popups.push(Popup::message("Refused", &text, true));
                Vec::new()
            }
            Msg::PlanOpened {
                path,
                text,
                request,
            } => {
                self.plan.open(path, text, request);
                Vec::new()
            }
            Msg::PlanChecked {
                version,
                problems,
                side,
            } => {
                self.plan.checked(version, problems, side);
                Vec::new()
            }
            Msg::Saved { text, note } => {
                self.plan.saved(&text);
                self.status = Some((note, now));
                self.again = true;
                Vec::new()
            }
            Msg::SaveNeedsConfirm { mut save, warning } => {
                save.confirmed = true;
                self.popups.push(
                    Popup::confirm("Save anyway?", warning, Effect::SavePlan(save), true)
                        .with_yes("save"),
                );
                Vec::new()
            }
        }
    }
}
