//! Which way this process starts steps: directly (a personal workspace: as the person) or
//! through the executor (a team's: as the executor account).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Executor;

/// How this process starts steps.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// As this process's own account (a personal workspace: steps run as the person).
    Direct,
    /// Through the executor, as the executor account.
    Executor(Arc<Executor>),
    /// Steps must run as another account, but its executor could not start: no step runs.
    Broken(String),
}

static LAUNCHER: std::sync::OnceLock<Launcher> = std::sync::OnceLock::new();

/// Sets how this process starts steps, once (a runner, `inventory check`).
pub fn set_launcher(l: Launcher) {
    let _ = LAUNCHER.set(l);
}

/// How this process starts steps: directly unless set.
pub fn launcher() -> &'static Launcher {
    LAUNCHER.get().unwrap_or(&Launcher::Direct)
}

/// The executor of this process, if steps go through one.
pub fn current() -> Option<Arc<Executor>> {
    match launcher() {
        Launcher::Executor(e) => Some(e.clone()),
        _ => None,
    }
}

/// The umask steps run with (`[steps] umask`); set with the launcher.
static UMASK: std::sync::atomic::AtomicU32 =
    std::sync::atomic::AtomicU32::new(crate::settings::DEFAULT_STEP_UMASK);

pub fn set_umask(mask: u32) {
    UMASK.store(mask, Ordering::Relaxed);
}

pub fn umask() -> u32 {
    UMASK.load(Ordering::Relaxed)
}

/// Starts this process's executor: as `run_as` through sudo when set (a team's workspace),
/// else as this account. A failure is kept: no step then runs (never as this account in
/// place of `run_as`).
pub async fn prepare(steps: &crate::settings::Steps) -> Result<(), String> {
    set_umask(steps.umask);
    let binary = std::env::current_exe().map_err(|e| format!("cannot find pilote: {e}"))?;
    match Executor::start(steps.run_as.as_deref(), &binary).await {
        Ok(e) => {
            set_launcher(Launcher::Executor(e));
            Ok(())
        }
        Err(why) => {
            set_launcher(Launcher::Broken(why.clone()));
            Err(why)
        }
    }
}

/// A socket pair whose far end serves in a thread of this process, as `__executor` would:
/// the protocol, tested without sudo.
#[cfg(test)]
pub(crate) async fn in_process() -> Arc<Executor> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socketpair");
    std::thread::spawn(move || super::serve::serve_on(theirs));
    Executor::connect(ours, None, None, std::path::Path::new("pilote"))
        .await
        .expect("executor")
}
