//! The spool beside the store: where runners and the webhook deliverer keep their leases
//! (file locks the kernel releases when the holder dies), their stderr and the spare files,
//! and how they are started detached from the terminal. The runner, the deliverer and the
//! workflow all go through here, so each file is named, taken and probed in one place.

mod detached;
mod lease;
mod liveness;
mod paths;

pub use detached::spawn_detached;
pub use lease::{Holder, Process, held, own_start, probe, process, take, touch};
pub use liveness::{Liveness, runner_liveness};
pub use paths::{deliverer_lease, deliverer_stderr, dir, run_lease, runner_stderr, spare};
