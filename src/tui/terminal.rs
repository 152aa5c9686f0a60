//! Entering and leaving the terminal's raw, alternate-screen mode.
//!
//! Restoring is done by the guard's `Drop` on every exit path and by the panic hook (main.rs),
//! so a panic's report is printed on a usable terminal, not lost in the alternate screen.

use std::io::{Stdout, stdout};
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

use crate::error::{Error, Result};

/// Whether the console currently owns the terminal; the panic hook restores only then, so a
/// panic in a headless command prints no stray escape sequences.
static ACTIVE: AtomicBool = AtomicBool::new(false);

pub struct Guard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Guard {
    pub fn enter() -> Result<Self> {
        let fail = |e| Error::io("cannot set up the terminal")(e);
        enable_raw_mode().map_err(fail)?;
        ACTIVE.store(true, Ordering::SeqCst);
        execute!(stdout(), EnterAlternateScreen, EnableMouseCapture).map_err(|e| {
            restore();
            fail(e)
        })?;
        let terminal = Terminal::new(CrosstermBackend::new(stdout())).map_err(|e| {
            restore();
            fail(e)
        })?;
        Ok(Self { terminal })
    }

    pub fn terminal(&mut self) -> &mut Terminal<CrosstermBackend<Stdout>> {
        &mut self.terminal
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
        let _ = self.terminal.show_cursor();
    }
}

/// Leaves raw mode and the alternate screen if the console had entered them. Never panics.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(stdout(), DisableMouseCapture, LeaveAlternateScreen);
        let _ = disable_raw_mode();
    }
}
