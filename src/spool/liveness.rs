//! Whether a run's runner lives: its lease asked first, its recorded process second.

use super::lease::{self, Holder, Process};
use super::paths::run_lease;
use crate::settings::Workspace;
use crate::store::RunRow;

/// Whether a run's runner lives, as far as anyone can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// Provably gone: its lease is free and its pid (if it ever had one) is not its process.
    Gone,
    /// Cannot be told (an unreadable lease, a pid that lives): never treated as gone.
    Unknown(String),
}

/// Whether the runner of `row` lives. The lease (a file lock the kernel releases when the
/// runner dies, however it dies) is asked first; a lease found free is believed only if the
/// runner's recorded process is gone too, since a lease file can be deleted under a live
/// runner (which then holds a lock nobody can see).
pub fn runner_liveness(ws: &Workspace, row: &RunRow) -> Liveness {
    let lease = lease::probe(&run_lease(ws, row.id));
    if lease == Holder::Held {
        return Liveness::Alive;
    }
    let runner_lives = match row.runner_pid {
        None => Ok(false),
        Some(pid) => match lease::process(pid) {
            Process::Gone => Ok(false),
            Process::Running { started } => match row.runner_start {
                Some(s) => Ok(s == started),
                None => Err(format!("its runner's pid {pid} still lives")),
            },
            Process::Unknown(why) => Err(why),
        },
    };
    match (runner_lives, lease) {
        (Ok(true), _) => Liveness::Alive,
        (Err(why), _) | (Ok(false), Holder::Unknown(why)) => Liveness::Unknown(why),
        (Ok(false), _) => Liveness::Gone,
    }
}
