//! Which pane is shown: the four the number keys and Tab reach.

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

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}
