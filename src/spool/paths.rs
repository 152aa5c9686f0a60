//! Where the spool's files are: runner and deliverer stderr, leases, spare files.

use std::path::PathBuf;

use crate::settings::Workspace;

/// The run spool: runner stderr files, lease files and spare files, beside the store.
pub fn dir(ws: &Workspace) -> PathBuf {
    ws.data_dir.join("spool")
}

/// The lease run `run`'s runner holds while it works (see `lease`).
pub fn run_lease(ws: &Workspace, run: i64) -> PathBuf {
    dir(ws).join(format!("run-{run}.lock"))
}

/// Where run `run`'s runner writes what it cannot put in the store (it could not open it).
pub fn runner_stderr(ws: &Workspace, run: i64) -> PathBuf {
    dir(ws).join(format!("run-{run}.stderr"))
}

/// The lease of the one webhook deliverer.
pub fn deliverer_lease(ws: &Workspace) -> PathBuf {
    dir(ws).join("notify.lock")
}

pub fn deliverer_stderr(ws: &Workspace) -> PathBuf {
    dir(ws).join("notify.stderr")
}

/// Run `run`'s spare file: room held back for its last records on a full disk.
pub fn spare(ws: &Workspace, run: i64) -> PathBuf {
    dir(ws).join(format!("spare-{run}"))
}
