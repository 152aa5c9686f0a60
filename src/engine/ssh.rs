//! Remote steps through the system OpenSSH client, so that `~/.ssh/config`, ProxyJump,
//! agents and known_hosts work as they do for the operator's own `ssh`.
//!
//! One multiplexed master connection per host, opened on first use and shared by every step
//! of the run, closed when the run ends (and by `ControlPersist` if the runner died). Step
//! commands are sent as one POSIX-quoted line that starts a fixed wrapper script; the
//! parameters travel on the command's stdin, never on a command line (remote `ps` shows
//! command lines to every user). The wrapper kills the command's session when its stdin
//! ends: when the local `ssh` is killed (timeout, cancel), when the runner dies, or when
//! the connection drops.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::process::{self, Input, Outcome, Spec, Stream};
use crate::settings::{self, HostKeyChecking};

/// How long an idle master outlives its last step: covers a runner that died without
/// closing its masters. A step after a longer gate simply connects again.
const PERSIST: &str = "10m";

/// ssh's own failures (cannot connect, auth refused, connection lost) exit with 255.
pub const SSH_FAILED: i32 = 255;

/// The exit code of an upload whose copy on the target does not match its digest.
pub const DIGEST_MISMATCH: i32 = 65;

/// Runs on the target as `sh -c WRAPPER pilote SCRIPT NAME MARKER`, as the leader of the
/// session sshd made for the command. Reads `export` lines up to MARKER from stdin, runs the
/// script with stdin `/dev/null`, and a watcher subshell that reads on until stdin ends
/// (given stdin explicitly: a background job gets `/dev/null`), then kills the whole
/// session's process group, TERM then KILL (ignoring TERM itself by then, to see it
/// through). When the script ends first, the watcher is stopped and `MARKER CODE` is written
/// on stderr: the runner knows the script's own exit code even if something the script left
/// running keeps the connection open. The script runs in a subshell, as `sh -c` would run it;
/// no program is started but the script's (and `sleep` when killing): every process costs
/// CPU on the target, for every step.
const WRAPPER: &str = r#"m=$3; e=
while IFS= read -r l; do [ "$l" = "$m" ] && break; e="$e$l
"; done
eval "$e"
s=$1; (set --; eval "$s") </dev/null & p=$!
exec 3<&0
(while read -r _; do :; done; trap '' TERM; kill -TERM 0; sleep 5; kill -KILL 0) <&3 >/dev/null 2>&1 & w=$!
exec 3<&-
wait "$p"; rc=$?
kill "$w" 2>/dev/null
echo "$m $rc" >&2
exit "$rc""#;

/// How a remote step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// The script ended with this code (from the wrapper's marker line).
    Exited(i32),
    /// The script ended with this code, but something it started kept the connection open:
    /// pilote stopped waiting, as for a local step's leftover process.
    Leaked(i32),
    /// ssh failed before the script reported its end (could not connect, connection lost).
    ConnectionLost,
    /// Any other ending of the local ssh process (timeout, cancel, spawn failure...).
    Other(Outcome),
}

/// Runs a [`Connections::command`] spec: lines go to `lines` except the wrapper's marker
/// line; once it came, the local ssh gets `leak` to end before it is stopped.
pub async fn run(
    spec: &Spec,
    marker: &str,
    lines: mpsc::Sender<(Stream, String)>,
    mut cancel: watch::Receiver<bool>,
    leak: Duration,
) -> Remote {
    let (tx, mut rx) = mpsc::channel::<(Stream, String)>(1024);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Held until the process is reaped: `process::run` takes a closed channel for a cancel,
    // and the relay below ends (dropping its sender) as soon as the output does.
    let keep_open = stop_tx.clone();
    let code = Arc::new(Mutex::new(None::<i32>));
    let prefix = format!("{marker} ");
    let relay = {
        let code = code.clone();
        tokio::spawn(async move {
            let mut stopper: Option<tokio::task::JoinHandle<()>> = None;
            let mut watching = true;
            loop {
                tokio::select! {
                    line = rx.recv() => {
                        let Some((stream, line)) = line else { break };
                        if stream == Stream::Stderr
                            && let Some(rc) = line.strip_prefix(&prefix)
                        {
                            *code.lock().unwrap_or_else(PoisonError::into_inner) = rc.trim().parse().ok();
                            let stop_tx = stop_tx.clone();
                            stopper = Some(tokio::spawn(async move {
                                tokio::time::sleep(leak).await;
                                let _ = stop_tx.send(true);
                            }));
                            continue;
                        }
                        if lines.send((stream, line)).await.is_err() {
                            break;
                        }
                    }
                    changed = cancel.changed(), if watching => match changed {
                        Ok(()) if *cancel.borrow() => {
                            let _ = stop_tx.send(true);
                        }
                        Ok(()) => {}
                        // The run is ending: nobody will cancel any more.
                        Err(_) => watching = false,
                    },
                }
            }
            if let Some(s) = stopper {
                s.abort();
            }
        })
    };
    let outcome = process::run(spec, tx, stop_rx).await;
    drop(keep_open);
    let _ = relay.await;
    let code = *code.lock().unwrap_or_else(PoisonError::into_inner);
    match (code, outcome) {
        (Some(c), Outcome::Exited { .. } | Outcome::Leaked { .. }) => Remote::Exited(c),
        // Stopped after the marker: a leftover held the connection, unless the user cancelled.
        (Some(c), Outcome::Cancelled) => Remote::Leaked(c),
        (None, Outcome::Exited { code } | Outcome::Leaked { code }) if code == SSH_FAILED => {
            Remote::ConnectionLost
        }
        (None, Outcome::Exited { code } | Outcome::Leaked { code }) => Remote::Exited(code),
        (_, other) => Remote::Other(other),
    }
}

/// A host as ssh sees it.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub address: String,
    pub user: Option<String>,
    pub port: Option<u16>,
}

impl From<&settings::Host> for Target {
    fn from(h: &settings::Host) -> Self {
        Self {
            name: h.name.clone(),
            address: h.address.clone(),
            user: h.user.clone(),
            port: h.port,
        }
    }
}

/// The ssh connections of one run.
pub struct Connections {
    settings: settings::Ssh,
    checking: HostKeyChecking,
    /// Holds the control sockets: 0700, short enough for a socket path (108 bytes).
    dir: PathBuf,
    /// What runs ssh, and owns `dir`.
    exec: Arc<super::executor::Executor>,
    masters: Mutex<HashMap<String, Master>>,
}

struct Master {
    socket: PathBuf,
    target: Target,
    /// Whether the master is up. Only success is kept: a retry tries to connect again.
    open: Arc<tokio::sync::Mutex<bool>>,
}

impl Connections {
    /// `protected`: the env never accepts a host key it does not know yet, whatever the config.
    ///
    /// ssh runs as the account steps run as, through `exec`: the sockets and the run's ssh
    /// config live in the executor's work dir (0700, its own), written by it.
    pub async fn new(
        exec: Arc<super::executor::Executor>,
        settings: &settings::Ssh,
        run: i64,
        protected: bool,
    ) -> Result<Self, String> {
        let dir = exec.work_dir().join(format!("ssh-r{run}"));
        let checking = if protected {
            HostKeyChecking::Yes
        } else {
            settings.host_key_checking
        };
        // Options given with `-o` do not reach the ssh that a ProxyJump starts for the hop;
        // a config file given with `-F` does. So pilote's own come first (the first value
        // of an option wins), then the operator's config as it is, then the system's.
        let user = match &settings.config {
            Some(c) => settings::quote_ssh_config(c)?,
            None => "\"~/.ssh/config\"".to_string(),
        };
        let config = format!(
            "# Written by pilote for one run; removed when it ends.\nHost *\n  BatchMode yes\n  \
             StrictHostKeyChecking {}\nInclude {}\nInclude /etc/ssh/ssh_config\n",
            checking.as_str(),
            user,
        );
        exec.write(&dir.join("config"), config.as_bytes()).await?;
        Ok(Self {
            exec,
            settings: settings.clone(),
            checking,
            dir,
            masters: Mutex::new(HashMap::new()),
        })
    }

    /// The run's ssh config (pilote's options, then the operator's config), for other
    /// programs that start `ssh` themselves (`ansible-playbook`).
    pub fn config_file(&self) -> PathBuf {
        self.dir.join("config")
    }

    /// The run's 0700 directory for control sockets.
    pub fn sockets(&self) -> &Path {
        &self.dir
    }

    /// `StrictHostKeyChecking` for this run (always `yes` on a protected env).
    pub fn host_key_checking(&self) -> HostKeyChecking {
        self.checking
    }

    /// The `[ssh]` settings this run connects with.
    pub fn settings(&self) -> &settings::Ssh {
        &self.settings
    }

    fn master(&self, target: &Target) -> (PathBuf, Arc<tokio::sync::Mutex<bool>>) {
        let mut masters = self.masters.lock().unwrap_or_else(PoisonError::into_inner);
        let n = masters.len();
        let m = masters
            .entry(target.name.clone())
            .or_insert_with(|| Master {
                socket: self.dir.join(n.to_string()),
                target: target.clone(),
                open: Arc::new(tokio::sync::Mutex::new(false)),
            });
        (m.socket.clone(), m.open.clone())
    }

    /// The options every ssh invocation of this run shares, then the destination.
    fn args(&self, target: &Target, socket: &Path) -> Vec<OsString> {
        let s = &self.settings;
        let mut a: Vec<OsString> = vec!["-F".into(), self.dir.join("config").into()];
        for o in [
            "BatchMode=yes".to_string(),
            format!("ConnectTimeout={}", s.connect_timeout.as_secs()),
            format!("ServerAliveInterval={}", s.keepalive_interval.as_secs()),
            format!("ServerAliveCountMax={}", s.keepalive_count),
            format!("StrictHostKeyChecking={}", self.checking.as_str()),
            format!("ControlPath={}", socket.display()),
        ] {
            a.push("-o".into());
            a.push(o.into());
        }
        if let Some(p) = target.port {
            a.push("-p".into());
            a.push(p.to_string().into());
        }
        if let Some(u) = &target.user {
            a.push("-l".into());
            a.push(u.into());
        }
        a
    }

    /// Opens the host's master connection unless it is open; every caller for one host waits
    /// for the same attempt. Its messages (a new host key recorded, why it failed) go to
    /// `lines`.
    pub async fn connect(
        &self,
        target: &Target,
        lines: &mpsc::Sender<(Stream, String)>,
        cancel: watch::Receiver<bool>,
    ) -> Result<(), String> {
        let (socket, open) = self.master(target);
        let mut open = open.lock().await;
        if *open {
            return Ok(());
        }
        let result = async {
            let mut args = self.args(target, &socket);
            for o in [
                "ControlMaster=yes".to_string(),
                format!("ControlPersist={PERSIST}"),
            ] {
                args.push("-o".into());
                args.push(o.into());
            }
            args.extend([
                "-N".into(),
                "-f".into(),
                "--".into(),
                target.address.clone().into(),
            ]);
            let spec = Spec {
                program: "ssh".into(),
                args,
                input: Input::Null,
                env: Vec::new(),
                cwd: None,
                // A ProxyJump makes two handshakes; each may take the connect timeout.
                timeout: self.settings.connect_timeout * 3,
                grace: Duration::from_secs(2),
                leak_timeout: Duration::from_secs(1),
                mask: super::redact::Redactor::default(),
            };
            let (tx, mut rx) = mpsc::channel(64);
            let relay = {
                let lines = lines.clone();
                tokio::spawn(async move {
                    let mut last = String::new();
                    while let Some((stream, line)) = rx.recv().await {
                        last.clone_from(&line);
                        let _ = lines.send((stream, line)).await;
                    }
                    last
                })
            };
            let outcome = process::run(&spec, tx, cancel).await;
            let last = relay.await.unwrap_or_default();
            match outcome {
                Outcome::Exited { code: 0 } | Outcome::Leaked { code: 0 } => Ok(()),
                Outcome::Exited { code } | Outcome::Leaked { code } => Err(format!(
                    "cannot connect to {} ({}): {}",
                    target.name,
                    target.address,
                    if last.is_empty() {
                        format!("ssh exited with {code}")
                    } else {
                        last
                    }
                )),
                Outcome::TimedOut => Err(format!(
                    "cannot connect to {} ({}): no answer within {}",
                    target.name,
                    target.address,
                    crate::core::duration::format(spec.timeout)
                )),
                Outcome::Cancelled => Err("cancelled".into()),
                Outcome::Signalled { signal } => {
                    Err(format!("ssh to {} killed by signal {signal}", target.name))
                }
                Outcome::SpawnFailed { error } => Err(format!("cannot start ssh: {error}")),
            }
        }
        .await;
        *open = result.is_ok();
        result
    }

    /// The local `ssh` process that runs `script` on `target` through its master; `env`
    /// reaches the script as exported variables (see [`exportable`] for the names left out).
    /// Returns the spec and the marker of the wrapper's last line, for [`run`].
    pub fn command(
        &self,
        target: &Target,
        step: &str,
        script: &str,
        env: &[(String, String)],
        timeout: Duration,
    ) -> (Spec, String) {
        let (socket, _) = self.master(target);
        let marker = format!("pilote-env-{:016x}", rand_u64());
        let mut prelude = String::new();
        for (k, v) in env {
            if exportable(k) {
                let _ = writeln!(prelude, "export {k}={}", quote(v));
            }
        }
        prelude.push_str(&marker);
        prelude.push('\n');
        let remote = format!(
            "exec sh -c {} pilote {} {} {}",
            quote(WRAPPER),
            quote(script),
            quote(&format!("pilote:{step}")),
            quote(&marker)
        );
        let mut args = self.args(target, &socket);
        args.extend([
            "-o".into(),
            "ControlMaster=no".into(),
            "-T".into(),
            "--".into(),
            target.address.clone().into(),
            remote.into(),
        ]);
        let spec = Spec {
            program: "ssh".into(),
            args,
            input: Input::Held(prelude.into_bytes()),
            env: Vec::new(),
            cwd: None,
            timeout,
            grace: Duration::from_secs(5),
            leak_timeout: Duration::from_secs(2),
            mask: super::redact::Redactor::default(),
        };
        (spec, marker)
    }

    /// The local `ssh` process that writes `source` to `dest` on `target`: into a part file,
    /// checked with `sha256sum` against `digest` on the target, then renamed into place. A
    /// mismatch removes the part file and exits 65 with both digests on stderr.
    pub fn upload(
        &self,
        target: &Target,
        source: &Path,
        (dest, mode): (&str, u32),
        digest: &str,
        timeout: Duration,
    ) -> Spec {
        let (socket, _) = self.master(target);
        let part = format!("{dest}.pilote-part");
        // Through `sh` whatever the login shell; `--` before every path (one may start with
        // `-`); `sha256sum` reads stdin so no file name can change its output's shape.
        let script = format!(
            "d=$(dirname -- {dest}) && mkdir -p -- \"$d\" && cat > {part} || exit 66\n\
             got=$(sha256sum < {part}) || {{ rm -f -- {part}; exit 66; }}\n\
             got=${{got%% *}}\n\
             if [ \"$got\" = {digest} ]; then chmod {mode:04o} {part} && mv -f -- {part} {dest}; \
             else rm -f -- {part}; echo \"digest mismatch on the target: sent {digest}, found $got\" >&2; exit {DIGEST_MISMATCH}; fi",
            dest = quote(dest),
            part = quote(&part),
            digest = quote(digest),
        );
        let remote = format!("exec sh -c {}", quote(&script));
        let mut args = self.args(target, &socket);
        args.extend([
            "-o".into(),
            "ControlMaster=no".into(),
            "-T".into(),
            "--".into(),
            target.address.clone().into(),
            remote.into(),
        ]);
        Spec {
            program: "ssh".into(),
            args,
            input: Input::File(source.to_path_buf()),
            env: Vec::new(),
            cwd: None,
            timeout,
            grace: Duration::from_secs(5),
            leak_timeout: Duration::from_secs(2),
            mask: super::redact::Redactor::default(),
        }
    }

    /// Marks a host's master as gone (after ssh failed): the next step connects again.
    pub async fn forget(&self, target: &Target) {
        let (_, open) = self.master(target);
        *open.lock().await = false;
    }

    /// Closes every master this run opened and removes the sockets' directory.
    pub async fn close(&self) {
        let masters: Vec<(PathBuf, Target)> = self
            .masters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|m| m.open.try_lock().map_or(true, |open| *open))
            .map(|m| (m.socket.clone(), m.target.clone()))
            .collect();
        let exits = masters.into_iter().map(|(socket, target)| {
            let mut args = self.args(&target, &socket);
            args.extend([
                "-O".into(),
                "exit".into(),
                "--".into(),
                target.address.clone().into(),
            ]);
            async move {
                let _ = process::quietly(&Spec {
                    program: "ssh".into(),
                    args,
                    input: Input::Null,
                    env: Vec::new(),
                    cwd: None,
                    timeout: Duration::from_secs(5),
                    grace: Duration::from_secs(1),
                    leak_timeout: Duration::from_secs(1),
                    mask: super::redact::Redactor::default(),
                })
                .await;
            }
        });
        futures_join_all(exits).await;
        let _ = self.exec.remove(&self.dir).await;
    }
}

/// Runs the futures concurrently and waits for all of them.
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) {
    let mut set = tokio::task::JoinSet::new();
    for f in futures {
        set.spawn(f);
    }
    while set.join_next().await.is_some() {}
}

/// POSIX shell single quoting: the word reaches the program exactly as given.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Whether a variable can be exported by the remote shell: a shell identifier, and not one
/// bash holds read-only (where `/bin/sh` is bash, exporting it would stop the wrapper).
pub fn exportable(name: &str) -> bool {
    const READ_ONLY: &[&str] = &[
        "UID",
        "EUID",
        "PPID",
        "SHELLOPTS",
        "BASHOPTS",
        "BASH_VERSINFO",
        "GROUPS",
    ];
    crate::core::value::is_identifier(name) && !READ_ONLY.contains(&name)
}

/// A marker no parameter value can guess: time and pid mixed, good enough for a delimiter.
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_shell() {
        for word in [
            "plain",
            "it's",
            "$(touch /tmp/pwned)",
            "`id`",
            "a; rm -rf /",
            "line1\nline2",
            "'\"\\",
            "",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", quote(word)))
                .output()
                .expect("sh");
            assert_eq!(String::from_utf8_lossy(&out.stdout), word);
        }
    }

    #[test]
    fn a_protected_env_never_accepts_a_new_host_key() {
        let settings = settings::Ssh {
            config: None,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(5),
            keepalive_count: 3,
            host_key_checking: HostKeyChecking::AcceptNew,
        };
        for (protected, expected) in [(true, "yes"), (false, "accept-new")] {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let c = rt
                .block_on(async {
                    let exec = super::super::executor::in_process().await;
                    Connections::new(exec, &settings, 1, protected).await
                })
                .expect("connections");
            let config = std::fs::read_to_string(c.dir.join("config")).expect("config");
            assert!(
                config.contains(&format!("StrictHostKeyChecking {expected}\n")),
                "{config}"
            );
            let args: Vec<String> = c
                .args(
                    &Target::from(&settings::Host {
                        name: "h".into(),
                        connection: settings::Connection::Ssh,
                        address: "h".into(),
                        user: None,
                        port: None,
                        shared: false,
                        vars: Default::default(),
                    }),
                    Path::new("/s"),
                )
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            assert!(
                args.contains(&format!("StrictHostKeyChecking={expected}")),
                "{args:?}"
            );
            let _ = std::fs::remove_dir_all(&c.dir);
        }
    }

    #[test]
    fn only_shell_identifiers_are_exported() {
        assert!(exportable("PILOTE_RUN"));
        assert!(exportable("_x1"));
        assert!(!exportable("HOST_RACK-ID"));
        assert!(!exportable("1X"));
        assert!(!exportable(""));
        assert!(!exportable("UID"));
    }
}
