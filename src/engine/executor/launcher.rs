//! This process's executor: started once by a runner (or `inventory check`) before any step,
//! as `[steps] run_as` through sudo in a team's workspace, as the person in a personal one.

use std::sync::{Arc, OnceLock};

use super::Executor;

static EXECUTOR: OnceLock<Result<Arc<Executor>, String>> = OnceLock::new();

/// Starts this process's executor. A failure is kept: no step then runs (never as this
/// account in place of `run_as`).
pub async fn prepare(steps: &crate::settings::Steps) -> Result<Arc<Executor>, String> {
    let started = match std::env::current_exe() {
        Ok(binary) => Executor::start(steps.run_as.as_deref(), &binary, steps.umask).await,
        Err(e) => Err(format!("cannot find pilote: {e}")),
    };
    let _ = EXECUTOR.set(started.clone());
    started
}

/// The executor steps start through, or why there is none.
pub fn executor() -> Result<Arc<Executor>, String> {
    EXECUTOR.get().cloned().unwrap_or_else(|| {
        Err("no executor: steps start only in a runner or `pilote inventory check`".into())
    })
}

/// The executor of this process, if it has one.
pub fn current() -> Option<Arc<Executor>> {
    executor().ok()
}

/// A socket pair whose far end serves in a thread of this process, as `__executor` would:
/// the protocol, tested without sudo. Its steps' umask is 027, which no test process has, so
/// a test sees whether it reached them.
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
    Executor::connect(ours, None, None, std::path::Path::new("pilote"), 0o027)
        .await
        .expect("executor")
}
