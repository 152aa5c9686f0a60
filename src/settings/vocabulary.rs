//! The words of the faces' own sections: `[console.keys]` (contexts, actions, keys) and
//! `[dashboard] widgets` are the console's vocabulary, and only the console knows them.
//! Settings reads those sections with their spans and asks the checks the console installed
//! here ([`install`], done by the binary before any workspace is loaded), so every command
//! that loads the workspace reports a mistyped key with its `file:line:col`, as before, and
//! settings never imports the console.

use std::path::Path;
use std::sync::OnceLock;

use toml::Spanned;

use super::files::ConsoleKeys;
use crate::core::diagnostic::Diagnostics;

/// What a face checks of the sections it owns: each pushes its problems, with spans.
#[derive(Clone, Copy)]
pub struct Checks {
    pub console_keys: fn(&ConsoleKeys, &Path, &str, &mut Diagnostics),
    pub dashboard: fn(&[Spanned<String>], &Path, &str, &mut Diagnostics),
}

static CHECKS: OnceLock<Checks> = OnceLock::new();

/// Installs the console's checks; the first installed stays (they never change in a process).
pub fn install(checks: Checks) {
    let _ = CHECKS.set(checks);
}

pub(super) fn check_console_keys(
    keys: &ConsoleKeys,
    path: &Path,
    src: &str,
    diags: &mut Diagnostics,
) {
    if let Some(c) = CHECKS.get() {
        (c.console_keys)(keys, path, src, diags);
    }
}

pub(super) fn check_dashboard(
    widgets: &[Spanned<String>],
    path: &Path,
    src: &str,
    diags: &mut Diagnostics,
) {
    if let Some(c) = CHECKS.get() {
        (c.dashboard)(widgets, path, src, diags);
    }
}
