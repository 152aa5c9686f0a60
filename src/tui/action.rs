//! The messages of the console's loop: what a key asks for ([`Action`]), what the loop asks
//! the store workers to do ([`Effect`]), and what they answer ([`Msg`]).

use serde::Deserialize;

use crate::store::{LogAnchor, LogFilter, LogLine};
use crate::workflow::{DeployPreview, RollbackPreview};

/// What a key press asks for. Bindable in `[console.keys]` under these snake_case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Help,
    NextPane,
    PrevPane,
    RequestsPane,
    PlanPane,
    RunsPane,
    DashboardPane,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Into the selected thing (a run's log, the plan editor).
    Open,
    /// Out of it again.
    Back,
    Filter,
    Search,
    SearchNext,
    SearchPrev,
    Submit,
    Approve,
    Reject,
    Deploy,
    Schedule,
    /// Opens the selected request's plan in the Plan pane.
    EditPlan,
    Rollback,
    CancelRun,
    Resume,
    GateConfirm,
    GateAbort,
    /// Cycles the log through the run's hosts.
    HostFilter,
    /// Cycles the log through stdout, stderr and pilote's own lines.
    StreamFilter,
    /// Cycles the log through the run's steps.
    StepFilter,
    /// Shows or hides the step tree beside the log.
    StepTree,
    /// Writes the plan being edited.
    Save,
    /// Shows the plan's expansion for the next environment.
    NextEnv,
    /// Jumps to the next problem the validator found.
    NextProblem,
    /// Opens the `:` command palette.
    Palette,
    /// The dashboard's next window (7, 30, 90 days).
    NextWindow,
    /// The dashboard's next scope (every app, then each app).
    NextScope,
    /// A window of the person's choosing for the dashboard.
    CustomWindow,
}

impl Action {
    /// The words of the footer and of the help popup.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Quit => "quit",
            Self::Help => "help",
            Self::NextPane => "next pane",
            Self::PrevPane => "previous pane",
            Self::RequestsPane => "requests",
            Self::PlanPane => "plan",
            Self::RunsPane => "runs/log",
            Self::DashboardPane => "dashboard",
            Self::Up => "up",
            Self::Down => "down",
            Self::PageUp => "page up",
            Self::PageDown => "page down",
            Self::Top => "top",
            Self::Bottom => "bottom, follow",
            Self::Open => "open",
            Self::Back => "back",
            Self::Filter => "filter",
            Self::Search => "search",
            Self::SearchNext => "next match",
            Self::SearchPrev => "previous match",
            Self::Submit => "submit",
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Deploy => "deploy next env",
            Self::Schedule => "schedule",
            Self::EditPlan => "edit plan",
            Self::Rollback => "ROLLBACK",
            Self::CancelRun => "cancel run",
            Self::Resume => "resume",
            Self::GateConfirm => "confirm gate",
            Self::GateAbort => "abort gate",
            Self::HostFilter => "host filter",
            Self::StreamFilter => "stream filter",
            Self::StepFilter => "step filter",
            Self::StepTree => "step tree",
            Self::Save => "save",
            Self::NextEnv => "next env",
            Self::NextProblem => "next problem",
            Self::Palette => "command palette",
            Self::NextWindow => "window 7d/30d/90d",
            Self::NextScope => "app scope",
            Self::CustomWindow => "custom window",
        }
    }

    /// Acts on the config (a deploy, a decision, a plan): refused while it has errors.
    pub fn needs_config(self) -> bool {
        matches!(
            self,
            Self::Submit
                | Self::Approve
                | Self::Reject
                | Self::Deploy
                | Self::Schedule
                | Self::EditPlan
                | Self::Save
        )
    }

    /// Whether the action changes anything (hidden in `--read-only`).
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Self::Submit
                | Self::Approve
                | Self::Reject
                | Self::Deploy
                | Self::Schedule
                | Self::Rollback
                | Self::CancelRun
                | Self::Resume
                | Self::GateConfirm
                | Self::GateAbort
                | Self::Save
        )
    }
}

/// Which part of a log a reply fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogPart {
    /// The tail, replacing the window (following).
    Tail,
    /// Lines before the window (scrolling back).
    Older,
    /// Lines after the window (scrolling forward).
    Newer,
    /// A new window starting at a line (top, a search hit).
    Jump,
}

/// Work for the store workers: everything that touches SQLite, files or processes.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Read the lists, the header's counts and the selected run's steps again.
    Refresh {
        request: Option<i64>,
        run: Option<i64>,
    },
    Log {
        run: i64,
        filter: LogFilter,
        anchor: LogAnchor,
        part: LogPart,
        /// Which request this is: only the answer to the latest one is used.
        generation: u64,
    },
    Find {
        run: i64,
        filter: LogFilter,
        needle: String,
        from: i64,
        backward: bool,
    },
    Transition {
        id: i64,
        to: &'static str,
    },
    Decide {
        id: i64,
        env: String,
        decision: &'static str,
        comment: String,
        /// The approval digest of the request as shown: a change since refuses.
        shown: String,
    },
    Schedule {
        id: i64,
        env: String,
        at: String,
    },
    PrepareDeploy {
        id: i64,
        env: String,
        override_freeze: Option<String>,
    },
    StartDeploy {
        preview: Box<DeployPreview>,
        override_freeze: Option<String>,
    },
    PrepareRollback {
        app: String,
        env: String,
    },
    /// `reason`: why, as typed in the confirmation (recorded with the run).
    StartRollback {
        preview: Box<RollbackPreview>,
        reason: Option<String>,
    },
    /// `cancel`, or `confirm` / `abort` of a gate.
    Command {
        run: i64,
        command: &'static str,
    },
    Resume {
        run: i64,
    },
    /// Opens a plan file in the editor; `request`: the request it was opened from.
    OpenPlan {
        path: String,
        request: Option<i64>,
    },
    CheckPlan {
        path: String,
        text: String,
        env: Option<String>,
        version: u64,
    },
    /// Reads the delivery metrics of a window; `asked` numbers the question.
    Metrics {
        query: crate::workflow::metrics::Query,
        asked: u64,
    },
    /// Writes the plan, and replaces the plan of `request` (the one it was opened from).
    SavePlan(Box<SavePlan>),
}

impl Effect {
    /// The effect with the reason typed in its confirmation, when it takes one and one
    /// was typed.
    pub fn with_reason(self, text: String) -> Self {
        match self {
            Self::StartRollback { preview, .. } if !text.is_empty() => Self::StartRollback {
                preview,
                reason: Some(text),
            },
            other => other,
        }
    }

    /// Whether the reading worker serves it (lists, pages, checks): actions, which may take
    /// seconds, go to the other one so the log keeps moving meanwhile.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Self::Refresh { .. }
                | Self::Log { .. }
                | Self::Find { .. }
                | Self::OpenPlan { .. }
                | Self::CheckPlan { .. }
                | Self::Metrics { .. }
        )
    }
}

/// A plan to write.
#[derive(Debug, Clone)]
pub struct SavePlan {
    pub path: String,
    pub text: String,
    /// The file's text when it was opened or last saved: a file changed on disk since
    /// (another console, an editor) is not overwritten without asking.
    pub base: String,
    pub request: Option<i64>,
    /// The person saw the warnings (voided approvals, a file changed on disk) and said yes.
    pub confirmed: bool,
}

/// A problem the plan validator found, where the editor can jump to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub col: usize,
    pub error: bool,
    pub message: String,
}

/// What the workers answer.
#[derive(Debug)]
pub enum Msg {
    Data(Box<super::data::Data>),
    /// The config's first error now (`None`: it is sound again), when its files changed.
    Config(Option<String>),
    Log {
        run: i64,
        part: LogPart,
        generation: u64,
        /// The run's last line when the page was read.
        upto: i64,
        lines: Vec<LogLine>,
    },
    /// A log page could not be read.
    LogFailed {
        generation: u64,
        error: String,
    },
    Found {
        run: i64,
        needle: String,
        seq: Option<i64>,
    },
    DeployPreview {
        preview: Box<DeployPreview>,
        override_freeze: Option<String>,
    },
    RollbackPreview(Box<RollbackPreview>),
    /// A run was started from this console: show it, followed.
    Started {
        run: i64,
        what: String,
    },
    /// An action went through.
    Done(String),
    Metrics {
        asked: u64,
        indicators: Box<crate::core::metrics::Indicators>,
    },
    /// The lists could not be read (shown in the footer until a read works).
    ReadFailed(String),
    /// The store file was deleted or replaced under the console: nothing it holds is true.
    StoreGone(String),
    /// An action was refused or failed; the text says why.
    Failed(String),
    PlanOpened {
        path: String,
        text: String,
        request: Option<i64>,
    },
    PlanChecked {
        version: u64,
        problems: Vec<Problem>,
        side: String,
    },
    /// The plan was written (`note` says what else happened).
    Saved {
        text: String,
        note: String,
    },
    /// Saving needs a confirmation first (approvals would be voided, the file changed).
    SaveNeedsConfirm {
        save: Box<SavePlan>,
        warning: String,
    },
}
