//! The command line: clap types and the headless commands, thin over the core.

/// `println!` for command output: a reader that goes away (`pilote inventory | head`) ends
/// the process quietly instead of panicking on a broken pipe.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` for messages to the person: a line on stderr can quote a step name, a request
/// title, a diagnostic about a hostile file; it is shown escaped (see `write_stderr`).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stderr(&format!("{}\n", format_args!($($arg)*)))
    };
}

mod args;
mod audit;
mod commands;
mod inventory;
mod metrics;
mod notifications;
mod open;
mod output;
mod plan;
mod requests;
mod runs;
mod sudo;
mod vault;

pub use args::{
    AuditCommand, AutomationCommand, Cli, Command, ConfigCommand, InventoryCommand,
    NotificationsCommand, PlanCommand, RequestCommand, SetupTeam, VaultCommand,
};

use clap::{CommandFactory, FromArgMatches, parser::ValueSource};

use crate::error::Error;

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> u8 {
    // Before any workspace is loaded: the console's words in pilote.toml are its to check.
    crate::settings::vocabulary::install(crate::tui::vocabulary());
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            // clap prints help and version to stdout with code 0, usage errors with code 2.
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    let workspace_from_env = matches.value_source("workspace") == Some(ValueSource::EnvVariable);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return 2;
        }
    };
    let json = cli.wants_json();
    let located = match crate::settings::Located::resolve(cli.workspace.clone(), workspace_from_env)
        .map_err(Error::BadInput)
        .and_then(|l| {
            let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
            sudo::route(&cli, l, &argv)
        }) {
        Ok(sudo::Route::Here(l)) => l,
        Ok(sudo::Route::Sudo(r)) => return sudo::reexec(r),
        Err(e) => {
            report(&e, json);
            return e.exit_code();
        }
    };
    if cli.handover
        && let Err(e) = crate::settings::handover::receive()
    {
        report(&Error::BadInput(e), json);
        return 2;
    }
    match commands::run(cli, located) {
        Ok(()) => 0,
        Err(e) => {
            report(&e, json);
            e.exit_code()
        }
    }
}

/// Prints an error for a person on stderr; with `--json`, config diagnostics also go to
/// stdout as data so scripts need not parse the text.
fn report(e: &Error, json: bool) {
    if json && let Some(d) = e.diagnostics() {
        let body = serde_json::json!({
            "ok": false,
            "errors": d.error_count(),
            "warnings": d.warning_count(),
            "diagnostics": d,
        });
        outln!("{body:#}");
    }
    let text = match e {
        Error::Load(crate::settings::LoadError::Invalid(diags))
        | Error::Invalid(diags)
        | Error::Warnings(diags) => diags.to_string(),
        // Not an error: the person asked to stop watching.
        Error::Detached { .. } => e.to_string(),
        other => format!("error: {other}"),
    };
    errln!("{text}");
}
