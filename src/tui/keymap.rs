//! Which key does what, per context. The defaults are below; `[console.keys.<context>]` in
//! `pilote.toml` rebinds any action (`rollback = "ctrl-r"`, or a list of keys). The footer
//! and the help popup are generated from the same table, so they never disagree with it.

use std::path::Path;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::settings::{ConsoleKeys, KeyBinding};

/// Where a binding applies. The pane's context is tried first, then `Global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Context {
    Global,
    Requests,
    Plan,
    /// The Runs pane with the run list focused.
    Runs,
    /// The Runs pane with the log focused.
    Log,
    Dashboard,
}

/// One key with its modifiers (shift is part of the character: `R`, `?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn of(ev: &KeyEvent) -> Self {
        Self {
            code: ev.code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        }
    }

    /// Parses `q`, `R`, `?`, `ctrl-s`, `alt-x`, `enter`, `esc`, `tab`, `backtab`, `up`,
    /// `down`, `left`, `right`, `pgup`, `pgdn`, `home`, `end`, `space`, `f1`..`f12`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut key = Self {
            code: KeyCode::Null,
            ctrl: false,
            alt: false,
        };
        let mut rest = text;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                key.ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                key.alt = true;
                rest = r;
            } else {
                break;
            }
        }
        key.code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" => KeyCode::PageUp,
            "pgdn" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "space" => KeyCode::Char(' '),
            f if f.len() > 1 && f.starts_with('f') => KeyCode::F(f[1..].parse().ok()?),
            c if c.chars().count() == 1 => KeyCode::Char(c.chars().next()?),
            _ => return None,
        };
        Some(key)
    }

    /// How the footer and help write it.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Enter => "Enter".to_string(),
            KeyCode::Esc => "Esc".to_string(),
            KeyCode::Tab => "Tab".to_string(),
            KeyCode::BackTab => "S-Tab".to_string(),
            KeyCode::Up => "↑".to_string(),
            KeyCode::Down => "↓".to_string(),
            KeyCode::Left => "←".to_string(),
            KeyCode::Right => "→".to_string(),
            KeyCode::PageUp => "PgUp".to_string(),
            KeyCode::PageDown => "PgDn".to_string(),
            KeyCode::Home => "Home".to_string(),
            KeyCode::End => "End".to_string(),
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Char(c) => c.to_string(),
            _ => "?".to_string(),
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("^{base}"),
            (_, true) => format!("M-{base}"),
            _ => base,
        }
    }

    fn matches(&self, ev: &KeyEvent) -> bool {
        let k = Self::of(ev);
        // Terminals report `R` with or without SHIFT: the character alone decides.
        k.code == self.code && k.ctrl == self.ctrl && k.alt == self.alt
    }
}

/// The bindings, in the order the footer lists them.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<(Context, Key, Action)>,
}

const DEFAULTS: &[(Context, &str, Action)] = {
    use Action as A;
    use Context::*;
    &[
        (Requests, "j", A::Down),
        (Requests, "down", A::Down),
        (Requests, "k", A::Up),
        (Requests, "up", A::Up),
        (Requests, "/", A::Filter),
        (Requests, "a", A::Approve),
        (Requests, "x", A::Reject),
        (Requests, "d", A::Deploy),
        (Requests, "s", A::Submit),
        (Requests, "S", A::Schedule),
        (Requests, "e", A::EditPlan),
        (Plan, "enter", A::Open),
        (Plan, "i", A::Open),
        (Plan, "ctrl-s", A::Save),
        (Plan, "ctrl-e", A::NextEnv),
        (Plan, "ctrl-n", A::NextProblem),
        (Plan, "esc", A::Back),
        (Plan, "/", A::Search),
        (Plan, "n", A::SearchNext),
        (Plan, "j", A::Down),
        (Plan, "down", A::Down),
        (Plan, "k", A::Up),
        (Plan, "up", A::Up),
        (Plan, "pgdn", A::PageDown),
        (Plan, "pgup", A::PageUp),
        (Runs, "j", A::Down),
        (Runs, "down", A::Down),
        (Runs, "k", A::Up),
        (Runs, "up", A::Up),
        (Runs, "enter", A::Open),
        (Runs, "R", A::Rollback),
        (Runs, "c", A::CancelRun),
        (Runs, "r", A::Resume),
        (Runs, "y", A::GateConfirm),
        (Runs, "A", A::GateAbort),
        (Log, "j", A::Down),
        (Log, "down", A::Down),
        (Log, "k", A::Up),
        (Log, "up", A::Up),
        (Log, "pgdn", A::PageDown),
        (Log, "ctrl-d", A::PageDown),
        (Log, "pgup", A::PageUp),
        (Log, "ctrl-u", A::PageUp),
        (Log, "g", A::Top),
        (Log, "G", A::Bottom),
        (Log, "/", A::Search),
        (Log, "n", A::SearchNext),
        (Log, "N", A::SearchPrev),
        (Log, "h", A::HostFilter),
        (Log, "s", A::StreamFilter),
        (Log, "f", A::StepFilter),
        (Log, "t", A::StepTree),
        (Log, "R", A::Rollback),
        (Log, "c", A::CancelRun),
        (Log, "r", A::Resume),
        (Log, "y", A::GateConfirm),
        (Log, "A", A::GateAbort),
        (Log, "esc", A::Back),
        (Dashboard, "w", A::NextWindow),
        (Dashboard, "W", A::CustomWindow),
        (Dashboard, "a", A::NextScope),
        (Dashboard, "e", A::NextEnv),
        (Dashboard, "j", A::Down),
        (Dashboard, "down", A::Down),
        (Dashboard, "k", A::Up),
        (Dashboard, "up", A::Up),
        (Dashboard, "enter", A::Open),
        (Global, "1", A::RequestsPane),
        (Global, "2", A::PlanPane),
        (Global, "3", A::RunsPane),
        (Global, "4", A::DashboardPane),
        (Global, "tab", A::NextPane),
        (Global, "backtab", A::PrevPane),
        (Global, ":", A::Palette),
        (Global, "?", A::Help),
        (Global, "q", A::Quit),
        (Global, "ctrl-c", A::Quit),
    ]
};

impl Default for Keymap {
    fn default() -> Self {
        Self {
            bindings: DEFAULTS
                .iter()
                .filter_map(|(c, k, a)| Key::parse(k).map(|k| (*c, k, *a)))
                .collect(),
        }
    }
}

impl Keymap {
    /// The defaults with `[console.keys]` applied: an action given keys loses its default
    /// keys in that context. Returns the keys that could not be read; a context or action
    /// the console does not have is skipped (the load reported it, see [`check_keys`]).
    pub fn with(bindings: &[KeyBinding]) -> (Self, Vec<String>) {
        let mut map = Self::default();
        let mut bad = Vec::new();
        for b in bindings {
            let (Ok(context), Ok(action)) =
                (word::<Context>(&b.context), word::<Action>(&b.action))
            else {
                continue;
            };
            map.bindings
                .retain(|(c, _, a)| !(*c == context && *a == action));
            for k in &b.keys {
                match Key::parse(k) {
                    Some(key) => map.bindings.push((context, key, action)),
                    None => bad.push(k.clone()),
                }
            }
        }
        (map, bad)
    }

    /// The action bound to `ev` in `context`, else globally.
    pub fn action(&self, context: Context, ev: &KeyEvent) -> Option<Action> {
        [context, Context::Global].iter().find_map(|c| {
            self.bindings
                .iter()
                .find(|(bc, k, _)| bc == c && k.matches(ev))
                .map(|(_, _, a)| *a)
        })
    }

    /// Each action of `context` with its keys joined (`j/↓`), in table order.
    pub fn hints(&self, context: Context) -> Vec<(String, Action)> {
        let mut out: Vec<(String, Action)> = Vec::new();
        for (c, k, a) in &self.bindings {
            if *c != context {
                continue;
            }
            match out.iter_mut().find(|(_, x)| x == a) {
                Some((label, _)) => {
                    label.push('/');
                    label.push_str(&k.label());
                }
                None => out.push((k.label(), *a)),
            }
        }
        out
    }
}

/// A context or action by its `[console.keys]` name; the error is serde's own
/// ("unknown variant `x`, expected one of ..."), as a typo has always been told.
fn word<T: serde::de::DeserializeOwned>(name: &str) -> Result<T, String> {
    use serde::de::IntoDeserializer;
    T::deserialize(IntoDeserializer::<serde::de::value::Error>::into_deserializer(name))
        .map_err(|e| e.to_string())
}

/// `[console.keys]` checked: contexts and actions the console has, keys it can read.
pub fn check_keys(keys: &ConsoleKeys, path: &Path, src: &str, diags: &mut Diagnostics) {
    let at = |span, message: String| {
        let mut d = Diagnostic::at(path, src, span, message);
        d.line = d.line.max(1);
        d
    };
    for (context, actions) in keys {
        if let Err(e) = word::<Context>(context.get_ref()) {
            diags.push(at(context.span(), e));
            continue;
        }
        for (action, list) in actions {
            if let Err(e) = word::<Action>(action.get_ref()) {
                diags.push(at(action.span(), e));
                continue;
            }
            let words = list.get_ref().words();
            if let Some(bad) = words.iter().find(|k| Key::parse(k).is_none()) {
                diags.push(at(list.span(), format!("`{bad}` is not a key")).expected(
                    "a key like \"R\", \"ctrl-r\", \"alt-x\", \"enter\", \"esc\", \"pgdn\" or \"f5\"",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn pane_keys_win_over_global_ones() {
        let map = Keymap::default();
        let r = press(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert_eq!(map.action(Context::Runs, &r), Some(Action::Rollback));
        assert_eq!(map.action(Context::Requests, &r), None);
        let q = press(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(map.action(Context::Log, &q), Some(Action::Quit));
        let c = press(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(
            map.action(Context::Runs, &c),
            Some(Action::Quit),
            "ctrl-c is not c"
        );
    }

    #[test]
    fn overrides_rebind_and_report_bad_keys() {
        let o: crate::settings::ConsoleKeys = toml::from_str(
            "[runs]\nrollback = \"ctrl-r\"\n[global]\nquit = [\"Q\", \"ctrl-q\"]\nhelp = \"hyper-x\"\n",
        )
        .expect("toml");
        let bindings: Vec<KeyBinding> = o
            .iter()
            .flat_map(|(c, actions)| {
                actions.iter().map(|(a, keys)| KeyBinding {
                    context: c.get_ref().clone(),
                    action: a.get_ref().clone(),
                    keys: keys.get_ref().words(),
                })
            })
            .collect();
        let (map, bad) = Keymap::with(&bindings);
        assert_eq!(bad, vec!["hyper-x".to_string()]);
        let shift_r = press(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert_eq!(map.action(Context::Runs, &shift_r), None);
        let ctrl_r = press(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(map.action(Context::Runs, &ctrl_r), Some(Action::Rollback));
        let q = press(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(map.action(Context::Runs, &q), None);
        let hints = map.hints(Context::Global);
        assert!(
            hints.contains(&("Q/^q".to_string(), Action::Quit)),
            "{hints:?}"
        );
    }
}
