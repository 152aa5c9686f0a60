//! Entry point: set the process up, install hooks, hand off to the CLI.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Everything pilote writes (DB, logs, spool, vault) is private to the user; a step's copy
    // (`__copy`) gets back the umask it was started with (the step's).
    let inherited = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    pilote::fsutil::inherit_umask(inherited.bits());
    install_panic_hook();
    ExitCode::from(pilote::cli::main())
}

/// color-eyre's panic report, printed after the console has given the terminal back.
fn install_panic_hook() {
    let (panic_hook, eyre_hook) = color_eyre::config::HookBuilder::default()
        .display_env_section(false)
        .into_hooks();
    let _ = eyre_hook.install();
    std::panic::set_hook(Box::new(move |info| {
        pilote::tui::terminal::restore();
        eprintln!("{}", panic_hook.panic_report(info));
    }));
}
