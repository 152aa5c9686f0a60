//! What a step's process is (program, arguments, input, environment, limits) and how it
//! ended: the words the process layer and the executor share.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::redact::Redactor;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// How a child process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    Exited {
        code: i32,
    },
    Signalled {
        signal: i32,
    },
    TimedOut,
    Cancelled,
    SpawnFailed {
        error: String,
    },
    /// The process exited but something it started kept its output open past the deadline.
    Leaked {
        code: i32,
    },
}

impl Outcome {
    pub fn success(&self) -> bool {
        matches!(self, Self::Exited { code: 0 } | Self::Leaked { code: 0 })
    }
}

/// What a child reads. Never the terminal: a password prompt must not reach the console.
#[derive(Debug, Clone, Default)]
pub enum Input {
    #[default]
    Null,
    /// A pipe that gets these bytes, then stays open until the child ends or this process
    /// dies: `ssh` passes its end to the remote side, which then stops the remote command.
    Held(Vec<u8>),
    /// A file's content (a package sent over `ssh`).
    File(PathBuf),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub input: Input,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// How long to keep reading output after the process exits before calling it a leak.
    pub leak_timeout: Duration,
    /// The run's secrets: a line too long to store whole is cut where no form of one
    /// straddles the cut. (Whole lines are masked where they are stored.)
    pub mask: Redactor,
}
