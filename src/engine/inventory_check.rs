//! `pilote inventory check`: is the inventory still true? Every host of the chosen envs is
//! probed in parallel (bounded): ssh hosts must accept a BatchMode connection, each domain's
//! `check` command must pass on each host of that domain, and no machine may be claimed by
//! two envs unless its hosts are `shared`.
//!
//! Connections go through the same [`ssh::Connections`] as a run's steps (the workspace's
//! `[ssh]` config, host key checking, BatchMode, one multiplexed master per host), so what
//! passes here is what a deploy will get. Local hosts are reachable by definition; their
//! checks run with `/bin/sh -c` on the jump host, with the variables a step gets.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};

use super::process::{self, Input, Outcome, Spec, Stream};
use super::ssh::{self, Connections, Remote, Target};
use crate::settings::{Connection, Env, Host, Workspace};

/// What to probe and how long to wait.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Per connection attempt (ssh `ConnectTimeout`) and per check command.
    pub timeout: Duration,
    /// Hosts probed at once.
    pub parallel: usize,
}

/// How a host was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reach {
    /// `connection = "local"`: runs on the jump host.
    Local,
    Ok,
    Failed,
}

/// One domain check on one host.
#[derive(Debug, Clone, Serialize)]
pub struct DomainCheck {
    /// `war`, or `pets/war` when the workspace has several apps.
    pub domain: String,
    pub command: String,
    /// `None`: not run, the host could not be reached.
    pub passed: Option<bool>,
    /// Why it failed: the exit code or timeout and the last line it printed.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Other envs' hosts on the same machine as this one.
#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    /// `prod-jboss-1 (prod)` for each other claim: host (env).
    pub others: Vec<String>,
    /// Every host involved says `shared = true`.
    pub allowed: bool,
}

/// One host of one env, and what was found.
#[derive(Debug, Clone, Serialize)]
pub struct HostCheck {
    pub env: String,
    pub host: String,
    pub address: String,
    pub domains: Vec<String>,
    pub reach: Reach,
    pub checks: Vec<DomainCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// What went wrong, for a person: empty when everything passed.
    pub problems: Vec<String>,
    pub elapsed_ms: u64,
}

impl HostCheck {
    /// Checks counted for this host: reaching it, each domain check, and the claim if
    /// another env claims the machine too.
    pub fn total(&self) -> usize {
        1 + self.checks.len() + usize::from(self.claim.is_some())
    }

    pub fn passed(&self) -> usize {
        usize::from(self.reach != Reach::Failed)
            + self
                .checks
                .iter()
                .filter(|c| c.passed == Some(true))
                .count()
            + usize::from(self.claim.as_ref().is_some_and(|c| c.allowed))
    }
}

/// Everything one `inventory check` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub hosts: Vec<HostCheck>,
    pub passed: usize,
    pub total: usize,
    /// Rounded down, so a failure never reads as 100%.
    pub integrity: u32,
    pub elapsed_ms: u64,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.passed == self.total
    }
}

/// A host of an env to probe, and the checks of its domains there.
struct Job {
    index: usize,
    env: String,
    host: Host,
    /// The host's domains in this env: app, domain, label, check command.
    domains: Vec<JobDomain>,
}

struct JobDomain {
    app: String,
    domain: String,
    label: String,
    check: Option<String>,
}

/// Probes every host of `envs`; claims are judged against every env of the inventory.
pub fn check(ws: &Workspace, envs: &[&Env], opts: Options) -> Result<Report, String> {
    let started = Instant::now();
    let inv = &ws.inventory;
    let several_apps = inv.apps.len() > 1;
    let mut jobs: Vec<Job> = Vec::new();
    for env in envs {
        let mut by_host: Vec<Job> = Vec::new();
        for app in &env.apps {
            for d in &app.domains {
                let check = inv
                    .app(&app.app)
                    .and_then(|a| a.domains.iter().find(|x| x.name == d.domain))
                    .and_then(|x| x.check.clone());
                for h in &d.hosts {
                    let Some(host) = inv.host(h) else { continue };
                    let i = match by_host.iter().position(|j| j.host.name == *h) {
                        Some(i) => i,
                        None => {
                            by_host.push(Job {
                                index: 0,
                                env: env.name.clone(),
                                host: host.clone(),
                                domains: Vec::new(),
                            });
                            by_host.len() - 1
                        }
                    };
                    by_host[i].domains.push(JobDomain {
                        app: app.app.clone(),
                        domain: d.domain.clone(),
                        label: label(several_apps, &app.app, &d.domain),
                        check: check.clone(),
                    });
                }
            }
        }
        jobs.extend(by_host);
    }
    for (i, j) in jobs.iter_mut().enumerate() {
        j.index = i;
    }
    let claims = claims(ws);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the checks: {e}"))?;
    let mut ssh_settings = ws.settings.ssh.clone();
    ssh_settings.connect_timeout =
        Duration::from_secs(opts.timeout.as_secs_f64().ceil().max(1.0) as u64);
    let results = runtime.block_on(async {
        // Checks are steps: in a team's workspace they run as the executor account too.
        let exec = super::executor::prepare(&ws.settings.steps).await?;
        let (cancel_tx, cancel) = watch::channel(false);
        // One set of connections per env: a protected env never accepts an unknown host key.
        let mut conns: HashMap<String, Arc<Result<Connections, String>>> = HashMap::new();
        for (n, env) in envs.iter().enumerate() {
            let needs_ssh = jobs
                .iter()
                .any(|j| j.env == env.name && j.host.connection == Connection::Ssh);
            if needs_ssh {
                let c =
                    Connections::new(exec.clone(), &ssh_settings, n as i64, env.protected).await;
                conns.insert(env.name.clone(), Arc::new(c));
            }
        }
        let limit = Arc::new(Semaphore::new(opts.parallel.max(1)));
        let data_dir = ws.data_dir.clone();
        let mut set = tokio::task::JoinSet::new();
        for job in jobs {
            let conn = conns.get(&job.env).cloned();
            let limit = limit.clone();
            let cancel = cancel.clone();
            let data_dir = data_dir.clone();
            set.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let t = Instant::now();
                let (reach, problem, checks) =
                    probe(&job, conn.as_deref(), &data_dir, opts.timeout, cancel).await;
                (job, reach, problem, checks, t.elapsed())
            });
        }
        let mut done = Vec::new();
        loop {
            tokio::select! {
                next = set.join_next() => match next {
                    Some(Ok(r)) => done.push(r),
                    Some(Err(_)) => {}
                    None => break,
                },
                _ = tokio::signal::ctrl_c() => {
                    // Stop what runs (process groups get TERM then KILL), then report.
                    let _ = cancel_tx.send(true);
                }
            }
        }
        for c in conns.values() {
            if let Ok(c) = c.as_ref() {
                c.close().await;
            }
        }
        exec.close();
        Ok::<_, String>(done)
    })?;

    let mut hosts: Vec<(usize, HostCheck)> = results
        .into_iter()
        .map(|(job, reach, problem, checks, elapsed)| {
            let mut problems: Vec<String> = problem.into_iter().collect();
            for c in &checks {
                if c.passed == Some(false) {
                    problems.push(format!("{} check failed: {}", c.domain, c.detail));
                }
            }
            let claim = claims.get(&machine(&job.host)).and_then(|all| {
                let others: Vec<&(String, Host)> =
                    all.iter().filter(|(e, _)| *e != job.env).collect();
                if others.is_empty() {
                    return None;
                }
                let allowed = job.host.shared && others.iter().all(|(_, h)| h.shared);
                let names: Vec<String> = others
                    .iter()
                    .map(|(e, h)| format!("{} ({e})", h.name))
                    .collect();
                if !allowed {
                    problems.push(format!(
                        "same machine ({}) as {}; not `shared`",
                        job.host.address,
                        names.join(", ")
                    ));
                }
                Some(Claim {
                    others: names,
                    allowed,
                })
            });
            let row = HostCheck {
                env: job.env,
                domains: job.domains.iter().map(|d| d.label.clone()).collect(),
                host: job.host.name,
                address: job.host.address,
                reach,
                checks,
                claim,
                problems,
                elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            };
            (job.index, row)
        })
        .collect();
    hosts.sort_by_key(|(i, _)| *i);
    let hosts: Vec<HostCheck> = hosts.into_iter().map(|(_, h)| h).collect();
    let total: usize = hosts.iter().map(HostCheck::total).sum();
    let passed: usize = hosts.iter().map(HostCheck::passed).sum();
    let integrity = (passed * 100)
        .checked_div(total)
        .map_or(100, |p| u32::try_from(p).unwrap_or(0));
    Ok(Report {
        hosts,
        passed,
        total,
        integrity,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

fn label(several_apps: bool, app: &str, domain: &str) -> String {
    if several_apps {
        format!("{app}/{domain}")
    } else {
        domain.to_string()
    }
}

type Machine = (String, Option<u16>);

/// What makes two host entries the same machine: the ssh destination and port; a local
/// host is only ever itself.
fn machine(h: &Host) -> Machine {
    match h.connection {
        Connection::Ssh => (h.address.clone(), h.port),
        Connection::Local => (format!("local:{}", h.name), None),
    }
}

/// Every (env, host) claiming each machine, over the whole inventory.
fn claims(ws: &Workspace) -> HashMap<Machine, Vec<(String, Host)>> {
    let mut out: HashMap<Machine, Vec<(String, Host)>> = HashMap::new();
    for env in &ws.inventory.envs {
        for app in &env.apps {
            for d in &app.domains {
                for name in &d.hosts {
                    let Some(h) = ws.inventory.host(name) else {
                        continue;
                    };
                    let list = out.entry(machine(h)).or_default();
                    if !list.iter().any(|(e, x)| *e == env.name && x.name == h.name) {
                        list.push((env.name.clone(), h.clone()));
                    }
                }
            }
        }
    }
    out
}

type Probed = (Reach, Option<String>, Vec<DomainCheck>);

async fn probe(
    job: &Job,
    conns: Option<&Result<Connections, String>>,
    data_dir: &std::path::Path,
    timeout: Duration,
    cancel: watch::Receiver<bool>,
) -> Probed {
    let checks: Vec<(String, String)> = job
        .domains
        .iter()
        .filter_map(|d| d.check.as_ref().map(|c| (d.label.clone(), c.clone())))
        .collect();
    let not_run = |checks: &[(String, String)]| {
        checks
            .iter()
            .map(|(domain, command)| DomainCheck {
                domain: domain.clone(),
                command: command.clone(),
                passed: None,
                detail: String::new(),
            })
            .collect::<Vec<_>>()
    };
    if job.host.connection == Connection::Local {
        let mut out = Vec::new();
        for (domain, command) in &checks {
            let env = vars(job, data_dir, domain);
            let spec = Spec {
                program: "/bin/sh".into(),
                args: vec!["-c".into(), command.into(), "pilote:check".into()],
                input: Input::Null,
                env,
                cwd: super::runner::step_dir(data_dir),
                timeout,
                grace: Duration::from_secs(2),
                leak_timeout: Duration::from_secs(1),
                mask: super::redact::Redactor::default(),
            };
            let (tx, last) = last_line();
            let outcome = process::run(&spec, tx, cancel.clone()).await;
            let last = last.await.unwrap_or_default();
            out.push(judge(
                domain,
                command,
                &outcome_code(&outcome),
                last,
                timeout,
            ));
        }
        return (Reach::Local, None, out);
    }
    let conns = match conns {
        Some(Ok(c)) => c,
        Some(Err(e)) => return (Reach::Failed, Some(e.clone()), not_run(&checks)),
        None => {
            return (
                Reach::Failed,
                Some("no ssh connection was prepared".into()),
                not_run(&checks),
            );
        }
    };
    let target = Target::from(&job.host);
    let (tx, drained) = last_line();
    let connected = conns.connect(&target, &tx, cancel.clone()).await;
    drop(tx);
    let _ = drained.await;
    if let Err(e) = connected {
        return (Reach::Failed, Some(e), not_run(&checks));
    }
    // Without a check, a shell must still start there: a `nologin` account connects fine.
    let to_run: Vec<(String, String)> = if checks.is_empty() {
        vec![(String::new(), "true".to_string())]
    } else {
        checks.clone()
    };
    let mut out = Vec::new();
    for (domain, command) in &to_run {
        let env = vars(job, data_dir, domain);
        let (spec, marker) = conns.command(&target, "check", command, &env, timeout);
        let (tx, last) = last_line();
        let remote = ssh::run(&spec, &marker, tx, cancel.clone(), spec.leak_timeout).await;
        let last = last.await.unwrap_or_default();
        let code = match remote {
            Remote::Exited(c) | Remote::Leaked(c) => Code::Exited(c),
            Remote::ConnectionLost => {
                conns.forget(&target).await;
                if domain.is_empty() {
                    return (
                        Reach::Failed,
                        Some(format!("connection lost: {last}")),
                        Vec::new(),
                    );
                }
                Code::Other("the connection was lost".into())
            }
            Remote::Other(o) => outcome_code(&o),
        };
        if domain.is_empty() {
            return match code {
                Code::Exited(0) => (Reach::Ok, None, Vec::new()),
                other => {
                    let c = judge("shell", command, &other, last, timeout);
                    (
                        Reach::Failed,
                        Some(format!("cannot run a shell: {}", c.detail)),
                        Vec::new(),
                    )
                }
            };
        }
        out.push(judge(domain, command, &code, last, timeout));
    }
    (Reach::Ok, None, out)
}

enum Code {
    Exited(i32),
    Other(String),
}

fn outcome_code(o: &Outcome) -> Code {
    match o {
        Outcome::Exited { code } | Outcome::Leaked { code } => Code::Exited(*code),
        Outcome::TimedOut => Code::Other("timed out".into()),
        Outcome::Cancelled => Code::Other("cancelled".into()),
        Outcome::Signalled { signal } => Code::Other(format!("killed by signal {signal}")),
        Outcome::SpawnFailed { error } => Code::Other(format!("cannot start: {error}")),
    }
}

fn judge(domain: &str, command: &str, code: &Code, last: String, timeout: Duration) -> DomainCheck {
    let (passed, why) = match code {
        Code::Exited(0) => (true, String::new()),
        Code::Exited(c) => (false, format!("exit {c}")),
        Code::Other(w) if w == "timed out" => (
            false,
            format!("timed out after {}", crate::core::duration::format(timeout)),
        ),
        Code::Other(w) => (false, w.clone()),
    };
    // A silent failure (`test -f ...`) is explained by the command itself.
    let detail = match (passed, last.trim()) {
        (true, _) => String::new(),
        (false, "") => format!("{why}: `{command}`"),
        (false, l) => format!("{why}: {l}"),
    };
    DomainCheck {
        domain: domain.to_string(),
        command: command.to_string(),
        passed: Some(passed),
        detail,
    }
}

/// The variables a check gets: those of a step on that host, without a run.
fn vars(job: &Job, data_dir: &std::path::Path, domain: &str) -> Vec<(String, String)> {
    let mut out = vec![
        ("PILOTE_ENV".to_string(), job.env.clone()),
        (
            "PILOTE_DATA_DIR".to_string(),
            data_dir.display().to_string(),
        ),
    ];
    if let Some(d) = job.domains.iter().find(|d| d.label == domain) {
        out.push(("PILOTE_APP".to_string(), d.app.clone()));
        out.push(("PILOTE_DOMAIN".to_string(), d.domain.clone()));
    }
    out.extend(super::runner::host_vars(&job.host));
    out
}

/// A sender for a process's output, and a task that drains it and returns the last
/// non-empty line (what a failing check says last is usually why).
fn last_line() -> (
    mpsc::Sender<(Stream, String)>,
    tokio::task::JoinHandle<String>,
) {
    let (tx, mut rx) = mpsc::channel::<(Stream, String)>(256);
    let task = tokio::spawn(async move {
        let mut last = String::new();
        while let Some((_, line)) = rx.recv().await {
            if !line.trim().is_empty() {
                last = line;
            }
        }
        last
    });
    (tx, task)
}
