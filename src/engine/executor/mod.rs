//! The executor: the one process of a run that starts step processes, running as the
//! executor account (`[steps] run_as`), so no step ever runs as the account that owns the
//! store, the spool and the vault.
//!
//! A runner starts it once (`sudo -n -u RUN_AS -- pilote __executor`) with one end of a
//! `SOCK_SEQPACKET` socket pair as its stdin; sudo passes fd 0 and nothing else. Each request
//! is one message: spawn this program with these three fds (stdin, stdout, stderr: the
//! runner keeps the other ends of the pipes, so output never goes through the executor),
//! signal that step's process group, write a file in the executor's work dir. The executor
//! answers with the pid and, later, the exit status. When the runner goes away however it
//! goes (its end of the socket closes), the executor kills every group it started and
//! exits: a step never outlives its run unwatched.
//!
//! Steps get a clean environment: the executor's own basics (`PATH`, `HOME`, `USER`,
//! `LOGNAME`, `LANG`, `LC_*`, `TZ`) and what the step is given, never `SUDO_*` nor anything
//! of whoever started the run.

mod client;
mod launcher;
mod protocol;
mod serve;

pub use client::{Executor, Exit, Remote};
#[cfg(test)]
pub(crate) use launcher::in_process;
pub use launcher::{current, executor, prepare};
pub use serve::serve;
