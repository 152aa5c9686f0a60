//! The executor process (`pilote __executor`): serves one runner on its stdin, starting
//! each step it is sent as this account, until the runner goes away.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::net::SocketType;

use super::protocol::{Reply, Request, recv_message, send_message};

/// The `__executor` command: serves the runner on stdin until it goes away.
pub fn serve() -> Result<(), String> {
    // SAFETY: fd 0 is this process's stdin, owned by nothing else in it.
    let sock = unsafe { OwnedFd::from_raw_fd(0) };
    let kind = rustix::net::sockopt::socket_type(&sock)
        .map_err(|_| "`__executor` is started by a runner, its stdin a socket".to_string())?;
    if kind != SocketType::SEQPACKET {
        return Err("`__executor` is started by a runner, its stdin a socket".into());
    }
    // Steps run as this account too: not dumpable, this process cannot be traced nor its
    // fds taken (`pidfd_getfd`, /proc/PID/fd) by a step of this run or another, which could
    // otherwise speak to a runner in its name. Its children are dumpable again at exec.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| format!("cannot make the executor undumpable: {e}"))?;
    serve_on(sock)
}

pub(super) fn serve_on(sock: OwnedFd) -> Result<(), String> {
    let work_dir = make_work_dir()?;
    let user = crate::identity::user_name(crate::identity::euid()).unwrap_or_default();
    let base = base_env();
    let sock = Arc::new(sock);
    let hello = serde_json::to_vec(&Reply::Hello {
        work_dir: work_dir.as_os_str().as_bytes().to_vec(),
        user,
    })
    .map_err(|e| e.to_string())?;
    send_message(sock.as_fd(), &hello, &[]).map_err(|e| format!("cannot greet the runner: {e}"))?;
    let groups: Arc<Mutex<HashMap<u64, i32>>> = Arc::default();
    let me = rustix::process::getpid();
    loop {
        let (bytes, fds) = match recv_message(sock.as_fd()) {
            Ok(Some(m)) => m,
            Ok(None) | Err(_) => break,
        };
        let Ok(request) = serde_json::from_slice::<Request>(&bytes) else {
            continue;
        };
        let reply = |r: Reply| {
            if let Ok(b) = serde_json::to_vec(&r) {
                let _ = send_message(sock.as_fd(), &b, &[]);
            }
        };
        match request {
            Request::Spawn {
                id,
                program,
                args,
                env,
                cwd,
                umask,
            } => match spawn(me, &base, (program, args, env, cwd, umask), fds) {
                Ok(mut child) => {
                    let pid = child.id();
                    groups
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(id, i32::try_from(pid).unwrap_or(0));
                    reply(Reply::Spawned { id, pid });
                    // The wait happens on a thread of its own; the death signal of the child
                    // follows the thread that spawned it, this one, which lives as long as
                    // the executor.
                    let sock = sock.clone();
                    std::thread::spawn(move || {
                        use std::os::unix::process::ExitStatusExt;
                        let (code, signal) = match child.wait() {
                            Ok(s) => (s.code(), s.signal()),
                            Err(_) => (None, None),
                        };
                        if let Ok(b) = serde_json::to_vec(&Reply::Exited { id, code, signal }) {
                            let _ = send_message(sock.as_fd(), &b, &[]);
                        }
                    });
                }
                Err(error) => reply(Reply::Failed { id, error }),
            },
            Request::Signal { id, signal } => {
                let pgid = groups
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&id)
                    .copied();
                if let (Some(pgid), Some(sig)) = (
                    pgid.and_then(rustix::process::Pid::from_raw),
                    rustix::process::Signal::from_named_raw(signal),
                ) {
                    let _ = rustix::process::kill_process_group(pgid, sig);
                }
            }
            Request::Release { id } => {
                groups
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
            }
            Request::Write { id, path, bytes } => {
                let error = inside(&work_dir, &path)
                    .and_then(|p| write_private(&p, &bytes))
                    .err();
                reply(Reply::Done { id, error });
            }
            Request::Remove { id, path } => {
                let error = inside(&work_dir, &path)
                    .and_then(|p| {
                        std::fs::remove_dir_all(&p)
                            .or_else(|e| {
                                if e.kind() == std::io::ErrorKind::NotFound {
                                    Ok(())
                                } else {
                                    Err(e)
                                }
                            })
                            .map_err(|e| format!("cannot remove {}: {e}", p.display()))
                    })
                    .err();
                reply(Reply::Done { id, error });
            }
        }
    }
    // The runner is gone: nothing of its run may go on unwatched.
    for pgid in groups
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
    {
        if let Some(p) = rustix::process::Pid::from_raw(*pgid) {
            let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
        }
    }
    let _ = std::fs::remove_dir_all(&work_dir);
    Ok(())
}

/// `~/.cache/pilote/work-PID`, 0700: ssh control sockets, an ansible step's files.
fn make_work_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    // `$XDG_RUNTIME_DIR/pilote` when the account has one of its own (a login's tmpfs, as
    // for a person's workspace), else `~/.cache/pilote` (an executor account through sudo).
    let me = crate::identity::euid();
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .filter(|d| std::fs::metadata(d).is_ok_and(|m| m.uid() == me && m.mode() & 0o077 == 0));
    let base = match runtime {
        Some(r) => r.join("pilote"),
        None => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".cache/pilote"))
            .ok_or("the executor account has no HOME")?,
    };
    let dir = base.join(format!(
        "work-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// `rel` (absolute, or relative to the work dir) if it lies inside the work dir.
fn inside(work_dir: &Path, path: &[u8]) -> Result<PathBuf, String> {
    let p = PathBuf::from(OsString::from_vec(path.to_vec()));
    let p = if p.is_absolute() { p } else { work_dir.join(p) };
    let ok = p.starts_with(work_dir)
        && p.components()
            .all(|c| !matches!(c, std::path::Component::ParentDir));
    if ok {
        Ok(p)
    } else {
        Err(format!(
            "{} is outside the executor's work dir",
            p.display()
        ))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// What every step starts with: the executor account's own basics.
fn base_env() -> Vec<(OsString, OsString)> {
    base_env_of(std::env::vars_os())
}

/// [`base_env`] of the variables `vars`.
fn base_env_of(vars: impl Iterator<Item = (OsString, OsString)>) -> Vec<(OsString, OsString)> {
    // The ssh agent and TMPDIR of a person's own workspace; through sudo (a team's), sudo
    // never passes them.
    let keep = |k: &str| {
        matches!(
            k,
            "PATH" | "HOME" | "USER" | "LOGNAME" | "LANG" | "TZ" | "TMPDIR" | "SSH_AUTH_SOCK"
        ) || k.starts_with("LC_")
    };
    let mut env: Vec<(OsString, OsString)> =
        vars.filter(|(k, _)| keep(&k.to_string_lossy())).collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push((
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ));
    }
    env
}

type SpawnArgs = (
    Vec<u8>,
    Vec<Vec<u8>>,
    Vec<(String, String)>,
    Option<Vec<u8>>,
    u32,
);

fn spawn(
    me: rustix::process::Pid,
    base: &[(OsString, OsString)],
    (program, args, env, cwd, umask): SpawnArgs,
    fds: Vec<OwnedFd>,
) -> Result<std::process::Child, String> {
    let [stdin, stdout, stderr]: [OwnedFd; 3] = fds
        .try_into()
        .map_err(|_| "a spawn request comes with three fds".to_string())?;
    let mut cmd = std::process::Command::new(OsString::from_vec(program));
    cmd.args(args.into_iter().map(OsString::from_vec))
        .env_clear()
        .envs(base.iter().map(|(k, v)| (k, v)))
        .envs(env)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    // Without a dir of its own, a step starts in the executor account's home: the
    // caller's current dir is nobody's business here.
    match cwd {
        Some(dir) => {
            cmd.current_dir(OsString::from_vec(dir));
        }
        None => {
            if let Some(home) = base.iter().find(|(k, _)| k == "HOME") {
                cmd.current_dir(&home.1);
            }
        }
    }
    let mask = rustix::fs::Mode::from_raw_mode(umask & 0o777);
    // SAFETY: umask, prctl and getppid are async-signal-safe, touch no memory of the
    // parent, and nothing here allocates (see process.rs, die_with_parent).
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::umask(mask);
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            if rustix::process::getppid() != Some(me) {
                return Err(std::io::Error::from_raw_os_error(
                    rustix::io::Errno::SRCH.raw_os_error(),
                ));
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_starts_with_the_basics_and_nothing_of_its_caller() {
        let vars = [
            ("PATH", "/usr/bin"),
            ("HOME", "/var/lib/pilote-run"),
            ("LC_ALL", "C.UTF-8"),
            ("SUDO_UID", "1001"),
            ("SUDO_COMMAND", "/usr/bin/pilote"),
            ("PILOTE_WORKSPACE", "/home/mal/ws"),
            ("LD_PRELOAD", "/tmp/x.so"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let kept: Vec<String> = base_env_of(vars.into_iter())
            .into_iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(kept, ["PATH", "HOME", "LC_ALL"]);
        // Without a PATH of its own, a plain one.
        let none = base_env_of(std::iter::empty());
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].0, "PATH");
    }
}
