//! Webhooks: run and request events posted to the receivers of `[webhooks.NAME]`.
//!
//! The audit trail is the source: every state change is already an audit event, written in
//! the same transaction as the change. A detached deliverer process (`pilote __notify`)
//! reads the trail past its cursor, queues one delivery per subscribed webhook in the
//! store's outbox, posts them concurrently and retries failures with backoff. It never runs
//! inside a runner: a receiver that hangs can delay a message, never a deployment.
//!
//! [`kick`] is called after a state change commits. It starts a deliverer unless no webhook
//! is configured, one already holds the lease (a file lock in the spool, like a runner's),
//! or there is nothing to deliver. A deliverer that is about to exit releases its lease and
//! then reads the trail once more, so a kick that found the lease still held is never lost.

mod deliver;
mod trail;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

pub use deliver::{Sent, serve, test};

use crate::engine::runner::spool_dir;
use crate::engine::unix::spawn_detached;
use crate::settings::Workspace;
use crate::store::{Store, StoreError};

fn lease_path(ws: &Workspace) -> PathBuf {
    spool_dir(ws).join("notify.lock")
}

/// Whether a deliverer holds the lease (see `runner_alive`: the kernel releases a file
/// lock when its holder dies, however it dies).
pub fn deliverer_alive(ws: &Workspace) -> bool {
    let Ok(f) = File::open(lease_path(ws)) else {
        return false;
    };
    matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// Takes the deliverer's lease; `None` if another deliverer has it. A kick checking
/// liveness holds the lock for an instant: that is retried for a moment.
fn take_lease(ws: &Workspace) -> std::io::Result<Option<File>> {
    std::fs::create_dir_all(spool_dir(ws))?;
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(lease_path(ws))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(Some(f)),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Notifications on or off in the store, as the config says: with webhooks, the trail is
/// read from now on (never from before they were configured); without, the cursor goes,
/// so turning them on again later does not post what happened meanwhile.
pub fn arm(ws: &Workspace, store: &mut Store) -> Result<(), StoreError> {
    if ws.settings.webhooks.is_empty() {
        store.notify_disarm()
    } else {
        store.notify_arm()
    }
}

/// After a state change committed: makes sure a deliverer will post what it means. Never
/// fails the caller (the change is done; a lost message is logged).
pub fn kick(ws: &Workspace, store: &Store) {
    if ws.settings.webhooks.is_empty() || deliverer_alive(ws) {
        return;
    }
    match store.notify_backlog() {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the notification outbox");
            return;
        }
    }
    if let Err(e) = start(ws) {
        tracing::warn!(error = %e, "notifications wait for the next state change");
    }
}

/// Starts `pilote __notify` detached, as a runner is (see `spawn_detached`).
fn start(ws: &Workspace) -> crate::error::Result<()> {
    let mut child = spawn_detached(
        ws,
        "notification deliverer",
        ["__notify"],
        &spool_dir(ws).join("notify.stderr"),
    )?;
    // A console or a runner lives long and kicks often: a thread reaps each deliverer so no
    // zombie piles up. A short command exits first, and init reaps it then.
    std::thread::spawn(move || child.wait());
    Ok(())
}
