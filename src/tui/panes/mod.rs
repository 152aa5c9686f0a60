//! The four panes. Each owns its state, turns actions into effects and draws itself from
//! that state only; none reaches into another's (the app routes what crosses panes).

pub mod dashboard;
pub mod log;
pub mod plan;
pub mod requests;
pub mod runs;
pub mod widgets;

use super::action::Effect;
use super::popup::Popup;
use super::theme::Theme;
use crate::settings::Workspace;
pub use crate::tui::pane::Pane;

/// What a pane asks the app to do besides changing its own state.
#[derive(Debug)]
pub enum Out {
    Effect(Effect),
    Popup(Popup),
    Show(Pane),
    /// Shows a run in the Runs pane, its log followed (a drill-down).
    OpenRun(i64),
}

/// What every pane may read: the workspace, the theme, whether actions are allowed.
pub struct Env<'a> {
    pub ws: &'a Workspace,
    /// Who is at the keyboard (an OS account name).
    pub actor: &'a str,
    pub theme: &'a Theme,
    pub read_only: bool,
}

/// "3m", "2h", "5d": how long ago, in the largest unit.
pub fn age(at: i64, now: i64) -> String {
    let s = (now - at).max(0) / 1000;
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Output is stored raw; escape sequences and other control characters are shown, not
/// obeyed, so a remote script cannot rewrite the operator's screen (`core::printable` says
/// how); a tab becomes a space, as a cell holds one character.
pub fn sanitize(line: &str) -> String {
    crate::core::printable::escape_controls(line, &['\t']).replace('\t', " ")
}

/// Moves `i` by `delta` within `0..len`.
pub fn step(i: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    i.saturating_add_signed(delta).min(len - 1)
}

/// The value after `now` in `values`, `None` after the last, the first after `None` (or
/// after a value no longer listed): how `a`, `e`, `h` and `^e` go round their choices.
pub fn cycle(values: &[&str], now: Option<&str>) -> Option<String> {
    let next = match now.and_then(|v| values.iter().position(|x| *x == v)) {
        Some(i) => values.get(i + 1),
        None => values.first(),
    };
    next.map(|v| (*v).to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cycle_goes_round_through_none() {
        let v = ["uat", "preprod", "prod"];
        assert_eq!(super::cycle(&v, None).as_deref(), Some("uat"));
        assert_eq!(super::cycle(&v, Some("uat")).as_deref(), Some("preprod"));
        assert_eq!(super::cycle(&v, Some("prod")), None);
        assert_eq!(super::cycle(&v, Some("gone")).as_deref(), Some("uat"));
        assert_eq!(super::cycle(&[], None), None);
    }
}
