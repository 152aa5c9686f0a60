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
//!
//! A `url_env` URL is read from the deliverer's environment, which is that of the process
//! that kicked it (a console, a runner, a CLI command). Deliveries to a webhook a deliverer
//! cannot read the URL of are left pending, no attempt counted, saying why; a process that
//! cannot read it starts no deliverer for it, and one that can sends them. (A kick that
//! finds the lease held by a deliverer without the URL waits for the next state change.)

mod deliver;
mod kick;
mod trail;

pub use deliver::{Sent, serve, test};
pub use kick::{Kick, arm, kick};
