//! What a command can fail with, and the exit code each failure maps to.
//!
//! Exit codes: 0 ok, 1 the operation failed, 2 bad usage or bad input (a file, a flag, a
//! directory the person must fix); a followed run: 3 cancelled, 4 interrupted, 130 no longer
//! followed (Ctrl-C; the run goes on). Bad input never prints a backtrace.

use crate::settings::{Diagnostics, LoadError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A plan (or another input file) has errors; each says where and what was expected.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// Only warnings, but the caller asked for them to fail (`--strict`).
    #[error("{0}")]
    Warnings(Diagnostics),
    /// A followed run ended other than by success: exit with its outcome (1 failed,
    /// 3 cancelled, 4 interrupted); the log already said why.
    #[error("run #{run} {state}")]
    RunEnded { run: i64, state: String },
    /// The person stopped following a run (Ctrl-C): the run goes on in its runner.
    #[error("detached: run #{run} is still running; pilote cancel {run} stops it")]
    Detached { run: i64 },
    /// The input is wrong in a way a person must fix; the message says how.
    #[error("{0}")]
    BadInput(String),
    /// A check ran and found problems (`vault verify`, `audit verify`); they were listed.
    #[error("{0}")]
    CheckFailed(String),
    /// An operation failed (I/O, a broken invariant); the message says what was attempted.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Load(_) | Self::BadInput(_) | Self::Invalid(_) => 2,
            Self::Warnings(_) | Self::CheckFailed(_) => 1,
            Self::RunEnded { state, .. } => match state.as_str() {
                "cancelled" => 3,
                "interrupted" => 4,
                _ => 1,
            },
            // As a shell reports a command Ctrl-C ended: the follow ended, not the run.
            Self::Detached { .. } => 130,
            Self::Store(e) if e.is_bad_input() => 2,
            Self::Store(_) | Self::Io { .. } => 1,
        }
    }

    /// The diagnostics behind a config error, for `--json` output.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            Self::Load(LoadError::Invalid(d)) | Self::Invalid(d) | Self::Warnings(d) => Some(d),
            _ => None,
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
