//! Writing to the person: control characters escaped so no output can drive the terminal,
//! a reader that goes away ends the process quietly. `outln!` and `errln!` call these.

use std::io::{IsTerminal, Write};

/// Writes a message for the person to stderr, control characters (from a step name, a
/// request title, a key of a hostile file) escaped so it cannot move the cursor, set the
/// title or clear the screen. Always, not only on a terminal as `write_stdout` does: stderr
/// is read by people, not parsed by scripts (they have `--json` on stdout), and a CI log
/// holding it is read later on a terminal (`cat job.log`, the attack of CVE-2021-25743).
pub(crate) fn write_stderr(text: &str) {
    let text = crate::core::printable::escape_controls(text, &['\n', '\t']);
    let mut err = std::io::stderr().lock();
    // Nothing better to do when stderr itself is gone than to go on.
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Writes command output to stdout; see `outln!`. On a terminal, control characters (from a
/// step name, a request title, anything read from a file or a person) are shown escaped, so
/// no output can drive the terminal; piped, the bytes go out as they are, for scripts.
pub(crate) fn write_stdout(text: &str) {
    static TERMINAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let text = if *TERMINAL.get_or_init(|| std::io::stdout().is_terminal()) {
        crate::core::printable::escape_controls(text, &['\n', '\t'])
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        errln!("error: cannot write output: {e}");
        std::process::exit(1);
    }
}
