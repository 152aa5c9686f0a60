//! The `ansible` step: `ansible-playbook` over an inventory generated from the env's hosts of
//! the step's domain, its output streamed into the run's log (each line tagged with the host
//! it is about, where that can be told) and its play recap read back into one result per host.
//!
//! What is here is pure, or touches only the step's own files: the inventory and extra-vars
//! files, the command and its environment, reading the output. The runner starts the process
//! as it does for any step (own process group, timeout, cancel) and records the results.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;

use super::process::{Input, Outcome, Spec};
use super::ssh;
use crate::core::expand::ExpandedAction;
use crate::core::value::Value;
use crate::settings::{self, Connection, HostKeyChecking};

/// The program run, looked up on `PATH`.
pub const PROGRAM: &str = "ansible-playbook";

/// How ansible reaches the hosts that are this machine (`connection = "local"`).
#[derive(Debug, Clone)]
struct Local {
    /// `ansible_python_interpreter`: the Python ansible itself runs under, so it does not
    /// go looking for one (and warn about what it found) on every host.
    python: String,
    /// `ansible_remote_tmp`: ansible would otherwise put its module files in the operator's
    /// `~/.ansible/tmp` (from the passwd entry, whatever `$HOME` says).
    remote_tmp: PathBuf,
}

/// A value in a file pilote writes for ansible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// Tagged `!unsafe`: ansible never templates it, so `{{ ... }}` in a value is data.
    Text(String),
    Integer(i64),
}

impl Var {
    fn yaml(&self) -> String {
        match self {
            Self::Text(s) => format!("!unsafe {}", quoted(s)),
            Self::Integer(n) => n.to_string(),
        }
    }
}

/// A YAML double-quoted scalar holding `s` exactly. Everything outside printable ASCII is
/// escaped: YAML reads some characters as line breaks (U+0085, U+2028) and refuses others.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08X}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// The inventory: one group named after the domain, each host with how to reach it, then
/// its `vars` (which may override those, e.g. `ansible_python_interpreter` for one host).
fn inventory(group: &str, hosts: &[&settings::Host], local: &Local) -> String {
    let mut out =
        String::from("# Written by pilote for one ansible step; removed when the step ends.\n");
    let _ = writeln!(out, "{}:\n  hosts:", quoted(group));
    for h in hosts {
        let _ = writeln!(out, "    {}:", quoted(&h.name));
        for (k, v) in host_vars(h, local) {
            let _ = writeln!(out, "      {}: {}", quoted(&k), v.yaml());
        }
    }
    out
}

fn host_vars(h: &settings::Host, local: &Local) -> IndexMap<String, Var> {
    let mut vars = IndexMap::new();
    let mut set = |k: &str, v: Var| {
        vars.insert(k.to_string(), v);
    };
    set("ansible_host", Var::Text(h.address.clone()));
    match h.connection {
        Connection::Local => {
            set("ansible_connection", Var::Text("local".into()));
            set(
                "ansible_python_interpreter",
                Var::Text(local.python.clone()),
            );
            set(
                "ansible_remote_tmp",
                Var::Text(local.remote_tmp.display().to_string()),
            );
        }
        Connection::Ssh => {
            set("ansible_connection", Var::Text("ssh".into()));
            if let Some(u) = &h.user {
                set("ansible_user", Var::Text(u.clone()));
            }
            if let Some(p) = h.port {
                set("ansible_port", Var::Integer(i64::from(p)));
            }
        }
    }
    for (k, v) in &h.vars {
        set(k, Var::Text(v.clone()));
    }
    vars
}

/// The extra vars of a playbook: `pilote_run`, `pilote_app`, `pilote_env`, `pilote_action`,
/// `pilote_domain`, then the action's parameters by name. A secret is left out: it reaches
/// the playbook only through the environment (`lookup('env', 'NAME')`), never a file.
pub fn extra_vars(action: &ExpandedAction, run: i64, app: &str, env: &str) -> Vec<(String, Var)> {
    let mut out = vec![
        ("pilote_run".to_string(), Var::Integer(run)),
        ("pilote_app".to_string(), Var::Text(app.to_string())),
        ("pilote_env".to_string(), Var::Text(env.to_string())),
        ("pilote_action".to_string(), Var::Text(action.id.clone())),
    ];
    if let Some(d) = &action.domain {
        out.push(("pilote_domain".to_string(), Var::Text(d.clone())));
    }
    for p in &action.params {
        let v = match &p.value {
            Value::Secret(_) => continue,
            Value::Integer(n) => Var::Integer(*n),
            v => Var::Text(v.to_string()),
        };
        out.push((p.name.clone(), v));
    }
    out
}

/// The extra-vars file (given as `-e @FILE`).
fn vars_file(vars: &[(String, Var)]) -> String {
    let mut out =
        String::from("# Written by pilote for one ansible step; removed when the step ends.\n");
    for (k, v) in vars {
        let _ = writeln!(out, "{}: {}", quoted(k), v.yaml());
    }
    out
}

/// `ANSIBLE_SSH_ARGS` for ssh hosts: the options pilote's own ssh steps use. They replace
/// ansible's defaults, so the connection sharing those gave is asked for again.
fn ssh_args(s: &settings::Ssh, checking: HostKeyChecking, config: &Path) -> String {
    format!(
        "-F {} -o BatchMode=yes -o ConnectTimeout={} -o ServerAliveInterval={} \
         -o ServerAliveCountMax={} -o StrictHostKeyChecking={} \
         -o ControlMaster=auto -o ControlPersist=60s",
        ssh::quote(&config.display().to_string()),
        s.connect_timeout.as_secs(),
        s.keepalive_interval.as_secs(),
        s.keepalive_count,
        checking.as_str(),
    )
}

/// What ssh hosts need: the options, and where ansible keeps its control sockets.
struct SshEnv {
    args: String,
    control_dir: PathBuf,
    connect_timeout: Duration,
}

/// The environment ansible runs with besides the step's own variables: plain output, line by
/// line, and nothing written outside the step's directory on this machine.
fn environment(dir: &Path, ssh: Option<&SshEnv>) -> Vec<(String, String)> {
    let path = |name: &str| dir.join(name).display().to_string();
    let mut env: Vec<(String, String)> = [
        ("ANSIBLE_NOCOLOR", "1".to_string()),
        ("ANSIBLE_FORCE_COLOR", "0".to_string()),
        ("ANSIBLE_STDOUT_CALLBACK", "default".to_string()),
        ("ANSIBLE_RETRY_FILES_ENABLED", "0".to_string()),
        // pilote never lets ssh accept a changed key, and a new one only where the
        // settings allow it (see ssh_args): ansible itself never turns checking off.
        ("ANSIBLE_HOST_KEY_CHECKING", "True".to_string()),
        // The group is the domain's name as written (`jboss-war`), without a warning.
        (
            "ANSIBLE_TRANSFORM_INVALID_GROUP_CHARS",
            "ignore".to_string(),
        ),
        ("ANSIBLE_HOME", path("home")),
        ("ANSIBLE_LOCAL_TEMP", path("tmp")),
        ("ANSIBLE_PERSISTENT_CONTROL_PATH_DIR", path("pc")),
        ("PYTHONUNBUFFERED", "1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(s) = ssh {
        env.push(("ANSIBLE_SSH_ARGS".into(), s.args.clone()));
        env.push((
            "ANSIBLE_SSH_CONTROL_PATH_DIR".into(),
            s.control_dir.display().to_string(),
        ));
        env.push((
            "ANSIBLE_TIMEOUT".into(),
            s.connect_timeout.as_secs().max(1).to_string(),
        ));
    }
    env
}

/// What one playbook run is given.
struct Invocation<'a> {
    program: &'a Path,
    playbook: &'a Path,
    inventory: &'a Path,
    vars: &'a Path,
    /// `--forks`; 0 leaves ansible's own (its config's `forks`, 5 by default).
    forks: u32,
    tags: Option<&'a str>,
    env: Vec<(String, String)>,
    timeout: Duration,
}

/// The process: run from the playbook's directory, so an `ansible.cfg` beside it applies
/// (the environment above still wins over it).
fn spec(i: Invocation<'_>) -> Spec {
    let mut vars = OsString::from("@");
    vars.push(i.vars);
    let mut args: Vec<OsString> = vec!["-i".into(), i.inventory.into(), "-e".into(), vars];
    if i.forks > 0 {
        args.push("--forks".into());
        args.push(i.forks.to_string().into());
    }
    if let Some(t) = i.tags {
        args.push("--tags".into());
        args.push(t.into());
    }
    args.push(i.playbook.into());
    Spec {
        program: i.program.to_path_buf(),
        args,
        input: Input::Null,
        env: i.env,
        cwd: i.playbook.parent().map(Path::to_path_buf),
        timeout: i.timeout,
        grace: Duration::from_secs(5),
        leak_timeout: Duration::from_secs(2),
        mask: super::redact::Redactor::default(),
    }
}

/// What a playbook run is made of, from the runner.
pub struct Step<'a> {
    pub run: i64,
    /// The playbook's own step run.
    pub step_run: i64,
    pub program: &'a Path,
    pub playbook: &'a Path,
    pub tags: Option<&'a str>,
    /// The inventory group: the domain.
    pub group: &'a str,
    pub hosts: &'a [&'a settings::Host],
    /// The run's ssh connections, when a host is reached over ssh.
    pub ssh: Option<&'a ssh::Connections>,
    pub vars: Vec<(String, Var)>,
    /// The step's own environment (parameters, `PILOTE_*`); ansible's settings are added.
    pub env: Vec<(String, String)>,
    pub forks: u32,
    pub timeout: Duration,
}

/// A playbook ready to run: its files written, its process described.
pub struct Prepared {
    /// Holds the files until the step ends.
    pub dir: StepDir,
    pub spec: Spec,
    /// Where ansible's ssh masters will be, for [`close_masters`] once it ended.
    pub control_dir: Option<PathBuf>,
}

/// Writes the step's inventory and extra vars into a directory of its own and describes the
/// process that runs the playbook over them. The directory is in the executor's work dir and
/// written by it: the control node runs as the account steps run as (the executor account,
/// in a team's workspace, which cannot read the spool).
pub async fn prepare(s: Step<'_>) -> Result<Prepared, String> {
    let exec = super::executor::executor()?;
    let dir = StepDir::create(exec.clone(), s.run, s.step_run).await?;
    let ssh_env = match s.ssh {
        Some(ssh) => {
            // In the run's socket dir: short enough for socket paths, and private.
            let control_dir = ssh.sockets().join(format!("a{}", s.step_run));
            exec.write(&control_dir.join(".keep"), b"").await?;
            Some(SshEnv {
                args: ssh_args(ssh.settings(), ssh.host_key_checking(), &ssh.config_file()),
                control_dir,
                connect_timeout: ssh.settings().connect_timeout,
            })
        }
        None => None,
    };
    let local = Local {
        python: python_of(s.program),
        remote_tmp: dir.path().join("remote-tmp"),
    };
    let inventory = dir
        .write("inventory.yml", &inventory(s.group, s.hosts, &local))
        .await?;
    let vars = dir.write("vars.yml", &vars_file(&s.vars)).await?;
    let mut env = s.env;
    env.extend(environment(dir.path(), ssh_env.as_ref()));
    let spec = spec(Invocation {
        program: s.program,
        playbook: s.playbook,
        inventory: &inventory,
        vars: &vars,
        forks: s.forks,
        tags: s.tags,
        env,
        timeout: s.timeout,
    });
    Ok(Prepared {
        dir,
        spec,
        control_dir: ssh_env.map(|e| e.control_dir),
    })
}

/// The directory of one ansible step (0700, its files 0600) in the executor's work dir,
/// removed with everything in it when this is dropped, however the step ends.
pub struct StepDir {
    path: PathBuf,
    exec: std::sync::Arc<super::executor::Executor>,
}

impl StepDir {
    pub async fn create(
        exec: std::sync::Arc<super::executor::Executor>,
        run: i64,
        step_run: i64,
    ) -> Result<Self, String> {
        let path = exec.work_dir().join(format!("ansible-{run}-{step_run}"));
        exec.write(&path.join(".keep"), b"")
            .await
            .map_err(|e| format!("cannot create the step's directory: {e}"))?;
        Ok(Self { path, exec })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a 0600 file in the directory and returns its path.
    pub async fn write(&self, name: &str, text: &str) -> Result<PathBuf, String> {
        let path = self.path.join(name);
        self.exec
            .write(&path, text.as_bytes())
            .await
            .map_err(|e| format!("cannot write {name} in {}: {e}", self.path.display()))?;
        Ok(path)
    }
}

impl Drop for StepDir {
    fn drop(&mut self) {
        let (exec, path) = (self.exec.clone(), self.path.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = exec.remove(&path).await;
            });
        }
    }
}

/// `name` on `PATH`, as a shell would find it.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The Python that runs `program`, from its `#!` line (`/usr/bin/python3`, or `python3`
/// found on `PATH` for `#!/usr/bin/env python3`); `auto_silent` (ansible's own discovery,
/// without its warning) when it cannot be told.
fn python_of(program: &Path) -> String {
    let head = std::fs::read(program)
        .map(|b| b.into_iter().take(256).collect::<Vec<u8>>())
        .unwrap_or_default();
    python_of_shebang(&String::from_utf8_lossy(&head), find_program)
        .unwrap_or_else(|| "auto_silent".into())
}

fn python_of_shebang(head: &str, find: impl Fn(&str) -> Option<PathBuf>) -> Option<String> {
    let line = head.lines().next()?.strip_prefix("#!")?;
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let program = if first.ends_with("/env") {
        let name = words.find(|w| !w.starts_with('-'))?;
        find(name)?.display().to_string()
    } else {
        first.to_string()
    };
    program
        .rsplit('/')
        .next()
        .is_some_and(|n| n.starts_with("python"))
        .then_some(program)
}

/// One host's line of the play recap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostResult {
    pub host: String,
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

impl HostResult {
    pub fn succeeded(&self) -> bool {
        self.failed == 0 && self.unreachable == 0
    }

    /// `ok=3 changed=1`, `failed=1`, `unreachable`: what an operator looks at first.
    pub fn detail(&self) -> String {
        if self.unreachable > 0 {
            return "unreachable".into();
        }
        if self.failed > 0 {
            return format!("failed={}", self.failed);
        }
        let mut d = format!("ok={} changed={}", self.ok, self.changed);
        for (name, n) in [("rescued", self.rescued), ("ignored", self.ignored)] {
            if n > 0 {
                let _ = write!(d, " {name}={n}");
            }
        }
        d
    }
}

/// Parses `web-1   : ok=3  changed=1  unreachable=0  failed=0  skipped=2  rescued=0  ignored=1`.
fn recap_line(line: &str) -> Option<HostResult> {
    let (host, counts) = line.split_once(" : ")?;
    let host = host.trim();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    let mut r = HostResult {
        host: host.to_string(),
        ..HostResult::default()
    };
    let mut seen = 0;
    for word in counts.split_whitespace() {
        let (k, v) = word.split_once('=')?;
        let v: u32 = v.parse().ok()?;
        let slot = match k {
            "ok" => &mut r.ok,
            "changed" => &mut r.changed,
            "unreachable" => &mut r.unreachable,
            "failed" => &mut r.failed,
            "skipped" => &mut r.skipped,
            "rescued" => &mut r.rescued,
            "ignored" => &mut r.ignored,
            _ => continue,
        };
        *slot = v;
        seen += 1;
    }
    // ok, changed, unreachable and failed are in every version's recap.
    (seen >= 4).then_some(r)
}

/// The host a task result line is about: `ok: [web-1]`, `fatal: [web-1]: FAILED! => ...`,
/// `changed: [web-1 -> db-1]` (delegated: the task is web-1's), `FAILED - RETRYING: [web-1]: ...`.
fn result_host(line: &str) -> Option<&str> {
    let open = line.find('[')?;
    let status = line[..open].strip_suffix(": ")?;
    if status.is_empty() || status.len() > 32 || status.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = &line[open + 1..];
    let inside = &rest[..rest.find(']')?];
    Some(inside.split(" -> ").next().unwrap_or(inside))
}

/// Reads ansible's output as it streams: which host each line is about, the play recap,
/// and what to say if it ends without one.
#[derive(Debug)]
pub struct Watcher {
    hosts: HashSet<String>,
    /// The host of the last result line on stdout: its indented details follow it.
    current: Option<String>,
    in_recap: bool,
    recap: Option<Vec<HostResult>>,
    error: Option<String>,
    tail: VecDeque<String>,
}

/// Lines kept to explain an ending without a recap.
const TAIL: usize = 5;

impl Watcher {
    pub fn new(hosts: impl IntoIterator<Item = String>) -> Self {
        Self {
            hosts: hosts.into_iter().collect(),
            current: None,
            in_recap: false,
            recap: None,
            error: None,
            tail: VecDeque::new(),
        }
    }

    /// Takes one line (`stderr`: from ansible's stderr, where warnings and errors go) and
    /// returns the inventory host it is about, if it can be told.
    pub fn see(&mut self, line: &str, stderr: bool) -> Option<String> {
        let line = line.trim_end();
        if !line.is_empty() {
            if self.tail.len() == TAIL {
                self.tail.pop_front();
            }
            self.tail.push_back(line.to_string());
        }
        if line.starts_with("ERROR!") && self.error.is_none() {
            self.error = Some(line.to_string());
        }
        let known = |h: &str| self.hosts.contains(h).then(|| h.to_string());
        if stderr {
            // Its order against stdout is lost between the two pipes: only what it names.
            return result_host(line).and_then(known);
        }
        if self.in_recap {
            if let Some(r) = recap_line(line) {
                let host = known(&r.host);
                self.recap.get_or_insert_with(Vec::new).push(r);
                return host;
            }
            self.in_recap = false;
        }
        if line.starts_with("PLAY RECAP") {
            self.in_recap = true;
            self.recap.get_or_insert_with(Vec::new);
            self.current = None;
            return None;
        }
        if let Some(h) = result_host(line) {
            self.current = known(h);
            return self.current.clone();
        }
        let section = [
            "PLAY [",
            "TASK [",
            "RUNNING HANDLER [",
            "[WARNING]",
            "[DEPRECATION",
        ]
        .iter()
        .any(|p| line.starts_with(p));
        if line.is_empty() || section || line.starts_with("ERROR!") {
            self.current = None;
        }
        self.current.clone()
    }

    /// The play recap, if the playbook got that far.
    pub fn recap(&self) -> Option<&[HostResult]> {
        self.recap.as_deref()
    }

    /// Why a playbook ended without a recap, in one line: its `ERROR!`, else its last line.
    pub fn why(&self) -> String {
        self.error
            .clone()
            .or_else(|| self.tail.back().cloned())
            .unwrap_or_else(|| "no output".into())
    }
}

/// How the step ended on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEnd {
    pub host: String,
    pub state: &'static str,
    pub detail: String,
}

/// Each host's end, from the playbook's and its recap. A playbook stopped before its recap
/// (timeout, cancel) leaves every host in the state of the step, never `succeeded`; a host
/// missing from the recap is one the play never reached: failed.
pub fn host_ends(
    hosts: &[String],
    outcome: &Outcome,
    recap: Option<&[HostResult]>,
) -> Vec<HostEnd> {
    let all = |state: &'static str, detail: String| {
        hosts
            .iter()
            .map(|h| HostEnd {
                host: h.clone(),
                state,
                detail: detail.clone(),
            })
            .collect()
    };
    match (outcome, recap) {
        (Outcome::TimedOut, _) => all(
            "timed_out",
            "the playbook timed out before its recap".into(),
        ),
        (Outcome::Cancelled, _) => all(
            "cancelled",
            "the playbook was cancelled before its recap".into(),
        ),
        (Outcome::Exited { .. } | Outcome::Leaked { .. }, Some(recap)) => hosts
            .iter()
            .map(|h| match recap.iter().find(|r| &r.host == h) {
                Some(r) => HostEnd {
                    host: h.clone(),
                    state: if r.succeeded() { "succeeded" } else { "failed" },
                    detail: r.detail(),
                },
                None => HostEnd {
                    host: h.clone(),
                    state: "failed",
                    detail: "not in the play recap: the play never reached it".into(),
                },
            })
            .collect(),
        (Outcome::Exited { code } | Outcome::Leaked { code }, None) => all(
            "failed",
            format!("ansible-playbook exited with code {code} without a play recap"),
        ),
        (Outcome::Signalled { signal }, _) => all(
            "failed",
            format!("ansible-playbook was killed by signal {signal}"),
        ),
        (Outcome::SpawnFailed { error }, _) => all(
            "failed",
            format!("ansible-playbook could not start: {error}"),
        ),
    }
}

/// The step's verdict once ansible-playbook exited: `Ok` with a warning when some hosts
/// failed within `max_failures` (fan-out steps' threshold), else `(state, exit code, why)`.
pub fn verdict(
    ends: &[HostEnd],
    code: i32,
    watcher: &Watcher,
    max_failures: u32,
) -> Result<Option<String>, (&'static str, Option<i32>, String)> {
    if watcher.recap().is_none() {
        return Err((
            "failed",
            Some(code),
            format!(
                "ansible-playbook exited with code {code} before its play recap: {}",
                watcher.why()
            ),
        ));
    }
    let failed: Vec<&HostEnd> = ends.iter().filter(|e| e.state != "succeeded").collect();
    let names = || {
        const SHOWN: usize = 10;
        let mut s = failed
            .iter()
            .take(SHOWN)
            .map(|e| format!("{} ({})", e.host, e.detail))
            .collect::<Vec<_>>()
            .join(", ");
        if failed.len() > SHOWN {
            let _ = write!(s, " and {} more", failed.len() - SHOWN);
        }
        s
    };
    if failed.len() > max_failures as usize {
        return Err((
            "failed",
            Some(code),
            format!(
                "{} of {} hosts failed: {}",
                failed.len(),
                ends.len(),
                names()
            ),
        ));
    }
    if failed.is_empty() {
        if code != 0 {
            return Err((
                "failed",
                Some(code),
                format!(
                    "ansible-playbook exited with code {code} though no host failed in its recap"
                ),
            ));
        }
        return Ok(None);
    }
    Ok(Some(format!(
        "{} of {} hosts failed, within max_failures = {max_failures}: {}",
        failed.len(),
        ends.len(),
        names()
    )))
}

/// Stops the ssh masters ansible left in `dir` (`ControlPersist` would keep them a minute
/// past the step, connections open) and removes the directory. As the account steps run as,
/// which owns them: one `sh` that tells each socket's master to exit.
pub async fn close_masters(dir: &Path) {
    let script = r#"for s in "$1"/*; do [ -S "$s" ] && ssh -F /dev/null -S "$s" -O exit pilote >/dev/null 2>&1 & done; wait; rm -rf -- "$1""#;
    let _ = super::process::quietly(&Spec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into(), "sh".into(), dir.into()],
        input: super::process::Input::Null,
        env: Vec::new(),
        cwd: None,
        timeout: Duration::from_secs(10),
        grace: Duration::from_secs(1),
        leak_timeout: Duration::from_secs(1),
        mask: super::redact::Redactor::default(),
    })
    .await;
}

#[cfg(test)]
mod tests;
