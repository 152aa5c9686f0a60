//! Console state and key handling, kept apart from drawing (`view.rs`).

use std::io::Stdout;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::settings::Workspace;
use crate::store::Summary;

/// The panes, reachable by number keys and Tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Requests,
    Plan,
    Runs,
    Dashboard,
}

impl Pane {
    pub const ALL: [Pane; 4] = [Pane::Requests, Pane::Plan, Pane::Runs, Pane::Dashboard];

    pub fn title(self) -> &'static str {
        match self {
            Self::Requests => "Requests",
            Self::Plan => "Plan",
            Self::Runs => "Runs/Log",
            Self::Dashboard => "Dashboard",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

pub struct App {
    pub ws: Workspace,
    pub summary: Summary,
    pub actor: Actor,
    pub pane: Pane,
    pub show_help: bool,
    /// First inventory row shown (the overview scrolls on small terminals).
    pub scroll: u16,
    /// Requests and runs as last read from the store.
    pub data: super::data::Data,
    /// The request picked in the Requests pane (an index into `data.requests`).
    pub selected: usize,
    /// Why the last read failed, shown in the footer's place until the next one works.
    pub problem: Option<String>,
    pub store: Option<crate::store::Store>,
    quit: bool,
}

impl App {
    pub fn new(ws: Workspace, summary: Summary, actor: Actor) -> Self {
        Self {
            ws,
            summary,
            actor,
            pane: Pane::Requests,
            show_help: false,
            scroll: 0,
            data: super::data::Data::default(),
            selected: 0,
            problem: None,
            store: None,
            quit: false,
        }
    }

    /// Reads the lists again (a page each), and the header's counts.
    fn refresh(&mut self) {
        let Some(store) = &self.store else { return };
        let read = super::data::load(&self.ws, store).and_then(|d| Ok((d, store.summary()?)));
        match read {
            Ok((data, summary)) => {
                // Keep the same request picked when the list changes under it.
                let picked = self.data.requests.get(self.selected).map(|r| r.id);
                self.selected = picked
                    .and_then(|id| data.requests.iter().position(|r| r.id == id))
                    .unwrap_or(0);
                self.data = data;
                self.summary = summary;
                self.problem = None;
            }
            Err(e) => self.problem = Some(e.to_string()),
        }
    }

    pub fn run(&mut self, terminal: &mut Terminal<CrosstermBackend<Stdout>>) -> Result<()> {
        let fail = |e| Error::io("terminal error")(e);
        let mut read_at: Option<std::time::Instant> = None;
        while !self.quit {
            // Runs and requests change under our feet (runners, other consoles): read again
            // every second.
            if read_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                self.refresh();
                read_at = Some(std::time::Instant::now());
            }
            terminal
                .draw(|f| super::view::draw(self, f))
                .map_err(fail)?;
            if event::poll(Duration::from_millis(250)).map_err(fail)?
                && let Event::Key(key) = event::read().map_err(fail)?
            {
                self.on_key(key);
            }
        }
        Ok(())
    }

    /// Rows of the inventory table (one per app domain): the scroll stops at the last one.
    fn rows(&self) -> u16 {
        let n: usize = self.ws.inventory.apps.iter().map(|a| a.domains.len()).sum();
        u16::try_from(n).unwrap_or(u16::MAX)
    }

    /// Applies one key press. Pure state change, no IO.
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.kind != KeyEventKind::Press {
            return;
        }
        if self.show_help {
            self.show_help = false;
            return;
        }
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => self.quit = true,
            KeyCode::Char('?') => self.show_help = true,
            KeyCode::Char(c @ '1'..='4') => {
                self.pane = Pane::ALL[(c as usize) - ('1' as usize)];
            }
            KeyCode::Tab => self.pane = Pane::ALL[(self.pane.index() + 1) % Pane::ALL.len()],
            KeyCode::BackTab => {
                self.pane = Pane::ALL[(self.pane.index() + Pane::ALL.len() - 1) % Pane::ALL.len()];
            }
            // In the Requests pane, j/k pick a request; elsewhere they scroll the inventory.
            KeyCode::Down | KeyCode::Char('j')
                if self.pane == Pane::Requests && !self.data.requests.is_empty() =>
            {
                self.selected = (self.selected + 1).min(self.data.requests.len() - 1);
            }
            KeyCode::Up | KeyCode::Char('k')
                if self.pane == Pane::Requests && !self.data.requests.is_empty() =>
            {
                self.selected = self.selected.saturating_sub(1);
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.scroll = (self.scroll + 1).min(self.rows().saturating_sub(1));
            }
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Located, Origin, Overrides, load};
    use crate::store::Summary;

    fn app() -> App {
        let ws = load(
            &Located {
                dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/config"),
                origin: Origin::Flag,
            },
            &Overrides::default(),
        )
        .expect("demo config");
        App::new(
            ws,
            Summary::default(),
            Actor {
                uid: 1000,
                name: "ops".into(),
                uncertain: false,
            },
        )
    }

    fn press(app: &mut App, code: KeyCode) {
        app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
    }

    #[test]
    fn number_keys_and_tab_switch_panes() {
        let mut app = app();
        press(&mut app, KeyCode::Char('4'));
        assert_eq!(app.pane, Pane::Dashboard);
        press(&mut app, KeyCode::Tab);
        assert_eq!(app.pane, Pane::Requests, "tab wraps around");
        press(&mut app, KeyCode::BackTab);
        assert_eq!(app.pane, Pane::Dashboard);
    }

    #[test]
    fn help_swallows_the_next_key() {
        let mut app = app();
        press(&mut app, KeyCode::Char('?'));
        assert!(app.show_help);
        press(&mut app, KeyCode::Char('q'));
        assert!(!app.show_help);
        assert!(!app.quit, "the key that closes help does not also quit");
        press(&mut app, KeyCode::Char('q'));
        assert!(app.quit);
    }

    fn line(id: i64) -> crate::tui::data::RequestLine {
        crate::tui::data::RequestLine {
            id,
            app: "pets".into(),
            version: "1.4.0".into(),
            state: "submitted".into(),
            progress: String::new(),
            by: "dev".into(),
            updated_at: 0,
            lifecycle: "standard".into(),
            package_digest: String::new(),
            plan_path: None,
            blocked: None,
            approvals: Vec::new(),
            next: String::new(),
        }
    }

    #[test]
    fn j_and_k_pick_a_request_within_the_list() {
        let mut app = app();
        app.data.requests = vec![line(3), line(2), line(1)];
        press(&mut app, KeyCode::Char('k'));
        assert_eq!(app.selected, 0, "stops at the top");
        for _ in 0..5 {
            press(&mut app, KeyCode::Char('j'));
        }
        assert_eq!(app.selected, 2, "stops at the bottom");
        assert_eq!(app.scroll, 0, "the inventory did not scroll");
        // Elsewhere, j scrolls the inventory.
        press(&mut app, KeyCode::Char('3'));
        press(&mut app, KeyCode::Char('j'));
        assert_eq!((app.selected, app.scroll), (2, 1));
    }

    #[test]
    fn key_releases_are_ignored() {
        let mut app = app();
        let mut key = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        key.kind = KeyEventKind::Release;
        app.on_key(key);
        assert!(!app.quit);
    }
}
