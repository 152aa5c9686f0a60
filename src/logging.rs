//! Logging to a file in the XDG state dir: never to the terminal, which the console owns.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

use crate::settings::{LogLevel, state_dir};

static STARTED: AtomicBool = AtomicBool::new(false);

/// Starts file logging at `level` (once per process; later calls do nothing).
///
/// A log dir that cannot be created costs the log, not the command: the problem is returned
/// for the caller to mention, and the command goes on.
pub fn init(level: LogLevel) -> Result<(), String> {
    if STARTED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    let dir = state_dir()?;
    // The appender prunes old files at start and complains on stderr if the dir is missing.
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot log to {}: {e}", dir.display()))?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("pilote")
        .filename_suffix("log")
        .max_log_files(7)
        .build(&dir)
        .map_err(|e| format!("cannot log to {}: {e}", dir.display()))?;
    // Written synchronously: a background writer loses its last lines when the process exits
    // (statics are never dropped), and those are the lines that explain a failure.
    let filter = EnvFilter::new(format!("pilote={}", level.as_str()));
    // Another subscriber already installed (tests) is fine: keep it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(appender)
        .with_ansi(false)
        .try_init();
    Ok(())
}
