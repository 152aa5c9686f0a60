//! The core services both faces call (DESIGN.md "one core, two faces"): where a request
//! stands, approvals and deploys, runs and rollbacks. Nothing here prints or prompts: the
//! CLI and the console each show the results their own way.

pub mod metrics;
mod open;
mod people;
mod plans;
mod requests;
mod runs;
mod stages;

pub use open::{open_sound, open_tolerant, reload};
pub use people::require_person;
pub use plans::{checked, known_env, read_plan, render, same_version};
pub use requests::{
    DeployPreview, decide, find_request, lifecycle, prepare_deploy, replan, schedule, start_deploy,
    transition,
};
pub use runs::{
    RollbackPreview, STARTUP, enough_space, interrupted, launch, prepare_rollback, recover_stale,
    resume, runner_gone, send_command, start_rollback, verified_package,
};
pub use stages::{next_step, open_requests};
