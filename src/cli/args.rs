//! Command-line arguments (clap derive). Every command has `--help`; data commands have `--json`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use clap_complete::Shell;

pub use crate::setup::team::SetupTeam;

/// pilote: a terminal console for driving deployments.
///
/// Without a command, opens the console on the workspace (on a terminal), or prints the
/// workspace summary (when output is not a terminal).
#[derive(Debug, Parser)]
#[command(
    name = "pilote",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Workspace config dir (default: /etc/pilote for the members of its team, else
    /// $XDG_CONFIG_HOME/pilote).
    #[arg(
        long,
        short = 'w',
        global = true,
        env = "PILOTE_WORKSPACE",
        value_name = "DIR"
    )]
    pub workspace: Option<PathBuf>,

    /// Open the console without any action that changes something (for watching).
    #[arg(long, global = true)]
    pub read_only: bool,

    /// Files the person's own pilote read before going through sudo come on stdin (see
    /// `cli/sudo.rs`); never typed by people.
    #[arg(long, global = true, hide = true)]
    pub handover: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new workspace in DIR from the shipped template.
    Init {
        /// Directory to create; must be missing or empty.
        dir: PathBuf,
        /// Workspace name (default: the directory's name); names the data dir.
        #[arg(long)]
        name: Option<String>,
    },
    /// Create the pets demo workspace (or reuse it) and open it.
    ///
    /// The demo lives where the workspace resolves (--workspace, PILOTE_WORKSPACE or the
    /// default); it never replaces a workspace that is not a demo.
    Demo {
        /// Delete the demo's config and data and create them afresh. Refused while a run
        /// is going, or when the demo holds requests or runs made in it, unless --force.
        #[arg(long)]
        reset: bool,
        /// With --reset: delete whatever the demo holds, cancelling its runs first.
        #[arg(long, requires = "reset")]
        force: bool,
        /// Prepare the demo but do not open the console.
        #[arg(long)]
        no_open: bool,
        /// Also write MONTHS of made-up delivery history, so the dashboards have something
        /// to show (once per demo).
        #[arg(long, value_name = "MONTHS", value_parser = clap::value_parser!(u32).range(1..=36))]
        history: Option<u32>,
    },
    /// Show the workspace summary: where it is, what it holds, what is running.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check the workspace configuration: every file, every problem at once.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Check a plan, or show what it will run and its derived rollback.
    Plan {
        #[command(subcommand)]
        command: PlanCommand,
    },
    /// List or show the automations of the catalog.
    Automation {
        #[command(subcommand)]
        command: AutomationCommand,
    },
    /// Run a plan on an environment (an ad-hoc run: runbooks, benchmarks).
    ///
    /// Prints the run id and returns at once; the run goes on in a detached runner process
    /// that survives the terminal. With --follow, streams its log and exits with its outcome:
    /// 0 succeeded, 1 failed, 3 cancelled, 4 interrupted (130: Ctrl-C stopped following; the
    /// run goes on).
    Run {
        /// The plan file (a relative path is also looked up in the workspace's config dir).
        file: PathBuf,
        /// The environment to run on.
        #[arg(long)]
        env: String,
        /// Directory holding the release's artifacts, for copy steps.
        #[arg(long, value_name = "DIR")]
        package: Option<PathBuf>,
        /// The vault package of the plan's app at this version, for copy steps.
        #[arg(long, value_name = "VERSION", conflicts_with = "package")]
        release: Option<String>,
        /// Run inside a freeze window of the environment, for this reason (recorded).
        #[arg(long, value_name = "REASON")]
        override_freeze: Option<String>,
        /// Stream the log until the run ends, and exit with its outcome.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Roll back the last run of an app on an environment: the undo of each action that
    /// started, in reverse order.
    Rollback {
        /// The app to roll back.
        app: String,
        /// The environment to roll back.
        #[arg(long)]
        env: String,
        /// Start without asking (the rollback plan is printed either way).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Why (the incident, the ticket): recorded with the run and in the audit trail.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Stream the log until the rollback ends, and exit with its outcome.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// The release vault: immutable packages, named by their digest.
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// Deployment requests: file one, submit it, approve or reject it env by env.
    Request {
        #[command(subcommand)]
        command: RequestCommand,
    },
    /// Deploy a request to an environment, once its lifecycle allows it: the previous
    /// environment succeeded with the same package, and the approvals are there.
    ///
    /// Prints the run id and returns, or with --follow streams the log and exits with the
    /// run's outcome (0 succeeded, 1 failed, 3 cancelled, 4 interrupted; 130: Ctrl-C stopped
    /// following, the run goes on). A protected env asks for its name typed.
    Deploy {
        /// The request id.
        request: i64,
        #[arg(long)]
        env: String,
        /// Deploy inside a freeze window of the environment, for this reason (recorded).
        #[arg(long, value_name = "REASON")]
        override_freeze: Option<String>,
        /// Do not ask for confirmation (a protected env also needs --confirm-env).
        #[arg(long)]
        yes: bool,
        /// With --yes, the env's name again: what a person types to deploy to a protected
        /// env, so a script reused for the wrong env is refused, not run.
        #[arg(long, value_name = "ENV", requires = "yes")]
        confirm_env: Option<String>,
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// The audit trail: every state change, hash-chained. `pilote audit verify` checks it.
    Audit {
        #[command(subcommand)]
        command: Option<AuditCommand>,
        /// How many of the latest events to list.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delivery metrics: the four DORA keys and the whitepaper's indicators.
    ///
    /// `--explain` prints how each is computed and the DORA bands.
    Metrics {
        /// The window, ending now: 7d, 30d, 90d, 12h...
        #[arg(long, default_value = "30d")]
        since: String,
        /// Only this app.
        #[arg(long)]
        app: Option<String>,
        /// The env the DORA keys are about (default: the inventory's last env).
        #[arg(long)]
        env: Option<String>,
        #[arg(long, value_enum, default_value_t = MetricsFormat::Table)]
        format: MetricsFormat,
        /// Print the definitions instead.
        #[arg(long)]
        explain: bool,
    },
    /// List runs, newest first.
    Runs {
        #[arg(long)]
        app: Option<String>,
        #[arg(long)]
        env: Option<String>,
        /// How many runs to list.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Monitoring silences opened by runs: those still open, or every one of a run.
    Silences {
        /// Every silence of this run, whatever its state.
        #[arg(long)]
        run: Option<i64>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a run's log, from the start; with --follow, until the run ends.
    ///
    /// Ctrl-C stops following (exit 130); the run goes on.
    Logs {
        /// The run id.
        run: i64,
        /// Keep streaming until the run ends, and exit with its outcome.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only lines of this host.
        #[arg(long)]
        host: Option<String>,
    },
    /// Ask a run to stop: its running steps get SIGTERM, then SIGKILL after a grace period.
    Cancel {
        /// The run id.
        run: i64,
    },
    /// Confirm or abort a run waiting at a gate.
    Gate {
        /// The run id.
        run: i64,
        /// Let the run go on.
        #[arg(long, conflicts_with = "abort", required_unless_present = "abort")]
        confirm: bool,
        /// Stop the run here (it fails).
        #[arg(long)]
        abort: bool,
    },
    /// Resume an interrupted run: steps that succeeded are skipped, the step left `unknown`
    /// runs again (use mark-done first if its effect already happened).
    Resume {
        /// The run id.
        run: i64,
        /// Stream the log until the run ends, and exit with its outcome.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Mark the `unknown` step(s) of an interrupted run as done, so a resume goes on after them.
    MarkDone {
        /// The run id.
        run: i64,
        /// Only this step run (its id in `pilote logs`/`runs --json`); default: every unknown step.
        #[arg(long)]
        step: Option<i64>,
    },
    /// Webhook deliveries of run and request events, newest first (`test NAME`: try one).
    ///
    /// `pilote notifications test NAME` posts a test event to one webhook of pilote.toml
    /// and says what the receiver answered.
    Notifications {
        #[command(subcommand)]
        command: Option<NotificationsCommand>,
        /// How many of the latest deliveries to list.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The runner itself (started by `run` and `rollback`, detached from the terminal).
    #[command(name = "__runner", hide = true)]
    Runner { run: i64 },
    /// The notification deliverer (started after state changes when webhooks are set).
    #[command(name = "__notify", hide = true)]
    Notify,
    /// List apps, domains, environments and hosts; import them from the CMDB; check them.
    Inventory {
        #[command(subcommand)]
        command: Option<InventoryCommand>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// Shell to generate for.
        shell: Shell,
    },
    /// Write the manual pages (pilote.1 and one per command) into DIR.
    Man {
        /// Directory to write them in (created if missing).
        dir: PathBuf,
    },
    /// Set this machine up for a team, as root: accounts, dirs, workspace, sudoers drop-in.
    ///
    /// Idempotent; says what it did. Makes the service account that owns the store, the
    /// executor account steps run as, the group whose members use pilote, the data dir, the
    /// drop dir, the team workspace and the sudoers drop-in (checked with `visudo -c`).
    SetupTeam(SetupTeam),
    /// Runs steps as the executor account (started through sudo by a runner).
    #[command(name = "__executor", hide = true)]
    Executor,
    /// Copies stdin to DEST (a local `copy` step, as the executor account).
    #[command(name = "__copy", hide = true)]
    Copy {
        dest: PathBuf,
        /// Octal mode of the copy.
        mode: String,
        /// The SHA-256 the copy must have.
        sha256: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load every config file and report all problems with file:line:col (exit 2 on errors).
    Check {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Replace inventory.toml by a CMDB inventory document (JSON): shows the diff first, and
    /// writes only with --yes or once confirmed on a terminal.
    ///
    /// Exit code 0 when written or already up to date, 1 when it differs but was not
    /// written (a script learns the CMDB and the workspace disagree), 2 when the document
    /// is malformed or the workspace would not load with it (nothing is written).
    Import {
        /// A file, or an http:// or https:// URL.
        #[arg(long, value_name = "FILE|URL")]
        from: String,
        /// Write without asking.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Print the summary of changes and the diff as JSON (never asks).
        #[arg(long)]
        json: bool,
    },
    /// Check that the inventory is true: ssh hosts reachable (BatchMode), each domain's
    /// `check` passing on its hosts, no machine claimed by two environments unless shared.
    ///
    /// Exit code 0 when every check passed, 1 when one failed, 2 on bad input.
    Check {
        /// Only this environment's hosts (claims are still judged against every env).
        #[arg(long)]
        env: Option<String>,
        /// Per connection attempt and per check command.
        #[arg(long, default_value = "5s")]
        timeout: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// File a request: a vault package, a plan and a lifecycle (prints the request id).
    #[command(disable_version_flag = true)]
    New {
        #[arg(long)]
        app: String,
        /// The package version, already in the vault.
        #[arg(long = "version", id = "package_version", value_name = "VERSION")]
        version: String,
        #[arg(long)]
        plan: PathBuf,
        /// The release kind: the lifecycle is the app's first that lists it in `kinds`
        /// (else its first lifecycle).
        #[arg(long, default_value = "release")]
        kind: String,
        /// Choose the lifecycle instead of the rule (recorded in the audit trail).
        #[arg(long)]
        lifecycle: Option<String>,
        #[arg(long)]
        title: Option<String>,
    },
    /// List requests with their lifecycle progress.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A request, its plan and package digests, and its approvals.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Submit a draft for approval.
    Submit { id: i64 },
    /// Cancel a request.
    Cancel { id: i64 },
    /// Approve a request for one environment (never your own request or plan).
    Approve {
        id: i64,
        #[arg(long)]
        env: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Reject a request for one environment, saying why.
    Reject {
        id: i64,
        #[arg(long)]
        env: String,
        #[arg(long)]
        comment: String,
    },
    /// Plan the date of a request's deploy to one environment.
    Schedule {
        id: i64,
        #[arg(long)]
        env: String,
        /// Local "YYYY-MM-DD" or "YYYY-MM-DD HH:MM".
        #[arg(long)]
        at: String,
    },
    /// Stop a request from being deployed anywhere, saying why (audited).
    Block {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Let a blocked request go on.
    Unblock { id: i64 },
    /// Replace a request's plan; the approvals given so far no longer count.
    Replan {
        id: i64,
        #[arg(long)]
        plan: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Post a test event to webhook NAME now (once, no retry) and show its answer; exit 1
    /// if it was not accepted.
    Test {
        /// The webhook, as named in `[webhooks.NAME]`.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the chain; name the first event that was edited, deleted, reordered or cut
    /// off (exit 1).
    Verify {
        /// A head exported earlier (a run summary's `audit_head`, as `SEQ:HASH`): the chain
        /// must still pass through it, which a trail rebuilt with fresh hashes does not.
        #[arg(long, value_name = "SEQ:HASH")]
        anchor: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Store a file or a directory as the package of an app's version. Importing the same
    /// content again changes nothing; another content under the same version is refused.
    #[command(disable_version_flag = true)]
    Import {
        /// The file or directory to import.
        path: PathBuf,
        #[arg(long)]
        app: String,
        // Not `version`: that id is clap's `--version` flag.
        #[arg(long = "version", id = "package_version", value_name = "VERSION")]
        version: String,
    },
    /// List the packages, newest first.
    List {
        #[arg(long)]
        app: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a package's artifacts and digests.
    Show {
        app: String,
        #[arg(id = "package_version", value_name = "VERSION")]
        version: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Import what is ready in the drop directory (`<data dir>/drop/APP-VERSION[.tar.gz]`):
    /// imported entries move to `drop/imported/`, bad ones to `drop/rejected/` with a reason.
    Sweep {
        /// Take only entries left untouched for this many seconds (still being copied
        /// otherwise).
        #[arg(long, default_value_t = 10)]
        settle: u64,
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every blob (of one package, or of all) and name any that does not match.
    Verify {
        app: Option<String>,
        #[arg(id = "package_version", value_name = "VERSION")]
        version: Option<String>,
        /// Print JSON instead of text (the exit code is the same: 1 when one is altered).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Validate a plan against the catalog and the inventory; every problem at once.
    ///
    /// Exit code 0 when clean, 2 on errors, 1 on warnings with --strict.
    Check {
        /// The plan file (a relative path is also looked up in the workspace's config dir).
        file: PathBuf,
        /// Check for this environment only (default: every environment of the lifecycle).
        #[arg(long)]
        env: Option<String>,
        /// Fail (exit 1) on warnings too.
        #[arg(long)]
        strict: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show the concrete steps a plan runs on an environment, and its derived rollback plan.
    Show {
        /// The plan file (a relative path is also looked up in the workspace's config dir).
        file: PathBuf,
        /// The environment to expand the plan for.
        #[arg(long)]
        env: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AutomationCommand {
    /// List the automations of the catalog.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one automation: parameters and steps.
    Show {
        /// The automation's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    /// Whether the command's output is JSON, so errors can be reported as JSON too.
    pub fn wants_json(&self) -> bool {
        matches!(
            self.command,
            Some(
                Command::Status { json: true }
                    | Command::Inventory {
                        command: None,
                        json: true
                    }
                    | Command::Inventory {
                        command: Some(
                            InventoryCommand::Import { json: true, .. }
                                | InventoryCommand::Check { json: true, .. }
                        ),
                        ..
                    }
                    | Command::Runs { json: true, .. }
                    | Command::Silences { json: true, .. }
                    | Command::Audit { json: true, .. }
                    | Command::Notifications {
                        command: None,
                        json: true,
                        ..
                    }
                    | Command::Metrics {
                        format: MetricsFormat::Json,
                        ..
                    }
                    | Command::Request {
                        command: RequestCommand::List { json: true }
                            | RequestCommand::Show { json: true, .. }
                    }
                    | Command::Vault {
                        command: VaultCommand::List { json: true, .. }
                            | VaultCommand::Show { json: true, .. }
                            | VaultCommand::Sweep { json: true, .. }
                            | VaultCommand::Verify { json: true, .. }
                    }
                    | Command::Config {
                        command: ConfigCommand::Check { json: true }
                    }
                    | Command::Plan {
                        command: PlanCommand::Check { json: true, .. }
                            | PlanCommand::Show { json: true, .. }
                    }
                    | Command::Automation {
                        command: AutomationCommand::List { json: true }
                            | AutomationCommand::Show { json: true, .. }
                    }
            )
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

/// How `pilote metrics` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsFormat {
    Table,
    Json,
    Csv,
    /// The Prometheus text format, for node_exporter's textfile collector.
    Prometheus,
}
