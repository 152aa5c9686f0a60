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

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use serde::{Deserialize, Serialize};
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

/// The largest message: a step's script travels in its spawn request.
const MAX_MESSAGE: usize = 192 * 1024;

/// A runner's request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    /// Start `program` with the three fds attached to this message as stdin, stdout, stderr.
    Spawn {
        id: u64,
        program: Vec<u8>,
        args: Vec<Vec<u8>>,
        env: Vec<(String, String)>,
        cwd: Option<Vec<u8>>,
        umask: u32,
    },
    /// Send `signal` to the process group of step `id`.
    Signal { id: u64, signal: i32 },
    /// Step `id`'s process group is of no more interest.
    Release { id: u64 },
    /// Write `bytes` to `path` (0600, parents created 0700) in the work dir.
    Write {
        id: u64,
        path: Vec<u8>,
        bytes: Vec<u8>,
    },
    /// Remove `path` (a dir of the work dir) and what it holds.
    Remove { id: u64, path: Vec<u8> },
}

/// The executor's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Reply {
    /// Sent once, first: where the executor keeps its files (0700, its own).
    Hello {
        work_dir: Vec<u8>,
        user: String,
    },
    Spawned {
        id: u64,
        pid: u32,
    },
    Failed {
        id: u64,
        error: String,
    },
    Exited {
        id: u64,
        code: Option<i32>,
        signal: Option<i32>,
    },
    Done {
        id: u64,
        error: Option<String>,
    },
}

fn send_message(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> std::io::Result<()> {
    if bytes.len() > MAX_MESSAGE {
        return Err(std::io::Error::other(format!(
            "a request of {} bytes is more than the executor takes ({MAX_MESSAGE})",
            bytes.len()
        )));
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        control.push(SendAncillaryMessage::ScmRights(fds));
    }
    rustix::net::sendmsg(
        sock,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// One message and the fds that came with it; `None` at the end (the other side closed).
fn recv_message(sock: BorrowedFd<'_>) -> std::io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        sock,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = m {
            fds.extend(received);
        }
    }
    if got.bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    buf.truncate(got.bytes);
    Ok(Some((buf, fds)))
}

// ---------------------------------------------------------------------------------------
// The executor process.

/// The `__executor` command: serves the runner on stdin until it goes away.
pub fn serve() -> Result<(), String> {
    // SAFETY: fd 0 is this process's stdin, owned by nothing else in it.
    let sock = unsafe { OwnedFd::from_raw_fd(0) };
    let kind = rustix::net::sockopt::socket_type(&sock)
        .map_err(|_| "`__executor` is started by a runner, its stdin a socket".to_string())?;
    if kind != SocketType::SEQPACKET {
        return Err("`__executor` is started by a runner, its stdin a socket".into());
    }
    serve_on(sock)
}

fn serve_on(sock: OwnedFd) -> Result<(), String> {
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
    use std::os::unix::fs::DirBuilderExt;
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or("the executor account has no HOME")?;
    let dir = home.join(".cache/pilote").join(format!(
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
    let keep = |k: &str| {
        matches!(k, "PATH" | "HOME" | "USER" | "LOGNAME" | "LANG" | "TZ") || k.starts_with("LC_")
    };
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| keep(&k.to_string_lossy()))
        .collect();
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

// ---------------------------------------------------------------------------------------
// The runner's side.

/// How a step's process ended, as the executor saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

#[derive(Default)]
struct Slot {
    spawned: Option<oneshot::Sender<Result<u32, String>>>,
    exited: Option<oneshot::Sender<Exit>>,
    done: Option<oneshot::Sender<Option<String>>>,
}

/// A runner's connection to its executor.
pub struct Executor {
    sock: Arc<AsyncFd<OwnedFd>>,
    slots: Arc<Mutex<HashMap<u64, Slot>>>,
    next: AtomicU64,
    work_dir: PathBuf,
    user: String,
    /// sudo, then the executor: reaped when the runner is done with it.
    child: Mutex<Option<std::process::Child>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("user", &self.user)
            .field("work_dir", &self.work_dir)
            .finish_non_exhaustive()
    }
}

/// A step's process, started by the executor.
pub struct Remote {
    id: u64,
    pub pid: u32,
    exited: Option<oneshot::Receiver<Exit>>,
    exec: Arc<Executor>,
}

impl Executor {
    /// Starts `binary __executor` as `run_as` through sudo and waits for its greeting.
    pub async fn start(run_as: &str, binary: &Path) -> Result<Arc<Self>, String> {
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| format!("cannot make the executor's socket: {e}"))?;
        let child = std::process::Command::new("sudo")
            .args(["-n", "-u", run_as, "--"])
            .arg(binary)
            .arg("__executor")
            .stdin(std::process::Stdio::from(theirs))
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run sudo to start the executor as {run_as}: {e}"))?;
        Self::connect(ours, Some(child), run_as, binary).await
    }

    async fn connect(
        sock: OwnedFd,
        child: Option<std::process::Child>,
        run_as: &str,
        binary: &Path,
    ) -> Result<Arc<Self>, String> {
        rustix::io::ioctl_fionbio(&sock, true).map_err(|e| e.to_string())?;
        // SAFETY: the AsyncFd owns the fd: it stays open for as long as it is registered.
        let sock = Arc::new(
            unsafe { AsyncFd::register(sock) }
                .map_err(|e| format!("cannot watch the socket: {e}"))?,
        );
        let refused = || {
            format!(
                "the executor did not start as {run_as}: the account that owns the store may not \
                 run `{} __executor` as {run_as} through sudo (`pilote setup-team` writes that \
                 rule), or {run_as} cannot run it (see this run's runner stderr in the spool)",
                binary.display()
            )
        };
        let hello = tokio::time::timeout(Duration::from_secs(20), recv_async(&sock))
            .await
            .map_err(|_| refused())?
            .map_err(|_| refused())?
            .ok_or_else(refused)?;
        let Ok(Reply::Hello { work_dir, user }) = serde_json::from_slice(&hello.0) else {
            return Err(refused());
        };
        let exec = Arc::new(Self {
            sock: sock.clone(),
            slots: Arc::default(),
            next: AtomicU64::new(1),
            work_dir: PathBuf::from(OsString::from_vec(work_dir)),
            user,
            child: Mutex::new(child),
        });
        let slots = exec.slots.clone();
        tokio::spawn(async move {
            while let Ok(Some((bytes, _))) = recv_async(&sock).await {
                let Ok(reply) = serde_json::from_slice::<Reply>(&bytes) else {
                    continue;
                };
                let mut slots = slots.lock().unwrap_or_else(PoisonError::into_inner);
                match reply {
                    Reply::Spawned { id, pid } => {
                        if let Some(tx) = slots.get_mut(&id).and_then(|s| s.spawned.take()) {
                            let _ = tx.send(Ok(pid));
                        }
                    }
                    Reply::Failed { id, error } => {
                        if let Some(s) = slots.remove(&id)
                            && let Some(tx) = s.spawned
                        {
                            let _ = tx.send(Err(error));
                        }
                    }
                    Reply::Exited { id, code, signal } => {
                        if let Some(s) = slots.remove(&id)
                            && let Some(tx) = s.exited
                        {
                            let _ = tx.send(Exit { code, signal });
                        }
                    }
                    Reply::Done { id, error } => {
                        if let Some(s) = slots.remove(&id)
                            && let Some(tx) = s.done
                        {
                            let _ = tx.send(error);
                        }
                    }
                    Reply::Hello { .. } => {}
                }
            }
            // The executor is gone: whoever waits learns it (their senders drop).
            slots.lock().unwrap_or_else(PoisonError::into_inner).clear();
        });
        Ok(exec)
    }

    /// Where the executor keeps its files: its own 0700 dir.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// The account steps run as.
    pub fn user(&self) -> &str {
        &self.user
    }

    async fn send(&self, request: &Request, fds: &[BorrowedFd<'_>]) -> Result<(), String> {
        let bytes = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        loop {
            let mut guard = self
                .sock
                .writable()
                .await
                .map_err(|e| format!("the executor is gone: {e}"))?;
            match guard.try_io(|s| send_message(s.get_ref().as_fd(), &bytes, fds)) {
                Ok(result) => return result.map_err(|e| format!("the executor is gone: {e}")),
                Err(_would_block) => continue,
            }
        }
    }

    /// Starts a step's process with `stdio` (stdin, stdout, stderr).
    pub async fn spawn(
        self: &Arc<Self>,
        spec: &super::process::Spec,
        umask: u32,
        stdio: [&OwnedFd; 3],
    ) -> Result<Remote, String> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (spawned_tx, spawned_rx) = oneshot::channel();
        let (exited_tx, exited_rx) = oneshot::channel();
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                Slot {
                    spawned: Some(spawned_tx),
                    exited: Some(exited_tx),
                    done: None,
                },
            );
        let request = Request::Spawn {
            id,
            program: spec.program.as_os_str().as_bytes().to_vec(),
            args: spec.args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            env: spec.env.clone(),
            cwd: spec.cwd.as_ref().map(|d| d.as_os_str().as_bytes().to_vec()),
            umask,
        };
        let fds = [stdio[0].as_fd(), stdio[1].as_fd(), stdio[2].as_fd()];
        if let Err(e) = self.send(&request, &fds).await {
            self.slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            return Err(e);
        }
        let pid = spawned_rx
            .await
            .map_err(|_| "the executor is gone".to_string())??;
        Ok(Remote {
            id,
            pid,
            exited: Some(exited_rx),
            exec: self.clone(),
        })
    }

    async fn ask(&self, request: impl FnOnce(u64) -> Request) -> Result<(), String> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                Slot {
                    done: Some(tx),
                    ..Slot::default()
                },
            );
        self.send(&request(id), &[]).await?;
        match rx.await {
            Ok(None) => Ok(()),
            Ok(Some(e)) => Err(e),
            Err(_) => Err("the executor is gone".into()),
        }
    }

    /// Writes a private file (0600, parents 0700) in the executor's work dir, as its account.
    pub async fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        let path = path.as_os_str().as_bytes().to_vec();
        let bytes = bytes.to_vec();
        self.ask(move |id| Request::Write { id, path, bytes }).await
    }

    /// Removes a dir of the executor's work dir.
    pub async fn remove(&self, path: &Path) -> Result<(), String> {
        let path = path.as_os_str().as_bytes().to_vec();
        self.ask(move |id| Request::Remove { id, path }).await
    }

    /// Signals a step's process group, without waiting (a full socket retries on a task).
    fn signal(self: &Arc<Self>, id: u64, signal: rustix::process::Signal) {
        let request = Request::Signal {
            id,
            signal: signal.as_raw(),
        };
        if let Ok(bytes) = serde_json::to_vec(&request)
            && send_message(self.sock.get_ref().as_fd(), &bytes, &[]).is_err()
        {
            let exec = self.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = exec.send(&request, &[]).await;
                });
            }
        }
    }

    /// Ends the executor (it kills whatever is left of the steps) and reaps it.
    pub fn close(&self) {
        let _ = rustix::net::shutdown(self.sock.get_ref(), rustix::net::Shutdown::Write);
        if let Some(mut c) = self
            .child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = c.wait();
        }
    }
}

async fn recv_async(sock: &AsyncFd<OwnedFd>) -> std::io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    loop {
        let mut guard = sock.readable().await?;
        match guard.try_io(|s| recv_message(s.get_ref().as_fd())) {
            Ok(r) => return r,
            Err(_would_block) => continue,
        }
    }
}

impl Remote {
    /// Waits for the process to end.
    pub async fn wait(&mut self) -> std::io::Result<Exit> {
        let rx = self
            .exited
            .as_mut()
            .ok_or_else(|| std::io::Error::other("already waited"))?;
        let exit = rx
            .await
            .map_err(|_| std::io::Error::other("the executor is gone"))?;
        self.exited = None;
        Ok(exit)
    }

    /// Signals the process's whole group.
    pub fn signal_group(&self, signal: rustix::process::Signal) {
        self.exec.signal(self.id, signal);
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Dropped before it ended (its future was dropped): it must not go on unwatched.
        if self.exited.is_some() {
            self.exec.signal(self.id, rustix::process::Signal::KILL);
        }
        if let Ok(bytes) = serde_json::to_vec(&Request::Release { id: self.id }) {
            let _ = send_message(self.exec.sock.get_ref().as_fd(), &bytes, &[]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Which way a process starts: directly (a personal workspace) or through the executor.

/// How this process starts steps.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// As this process's own account (a personal workspace: steps run as the person).
    Direct,
    /// Through the executor, as the executor account.
    Executor(Arc<Executor>),
    /// Steps must run as another account, but its executor could not start: no step runs.
    Broken(String),
}

static LAUNCHER: std::sync::OnceLock<Launcher> = std::sync::OnceLock::new();

/// Sets how this process starts steps, once (a runner, `inventory check`).
pub fn set_launcher(l: Launcher) {
    let _ = LAUNCHER.set(l);
}

/// How this process starts steps: directly unless set.
pub fn launcher() -> &'static Launcher {
    LAUNCHER.get().unwrap_or(&Launcher::Direct)
}

/// The executor of this process, if steps go through one.
pub fn current() -> Option<Arc<Executor>> {
    match launcher() {
        Launcher::Executor(e) => Some(e.clone()),
        _ => None,
    }
}

/// The umask steps run with (`[steps] umask`); set with the launcher.
static UMASK: std::sync::atomic::AtomicU32 =
    std::sync::atomic::AtomicU32::new(crate::settings::DEFAULT_STEP_UMASK);

pub fn set_umask(mask: u32) {
    UMASK.store(mask, Ordering::Relaxed);
}

pub fn umask() -> u32 {
    UMASK.load(Ordering::Relaxed)
}

/// Starts what `steps` asks for in this process: the executor as `run_as` when set (a team's
/// workspace), else nothing (steps run directly). A failure is kept: no step then runs.
pub async fn prepare(steps: &crate::settings::Steps) -> Result<(), String> {
    set_umask(steps.umask);
    let Some(run_as) = &steps.run_as else {
        set_launcher(Launcher::Direct);
        return Ok(());
    };
    let binary = std::env::current_exe().map_err(|e| format!("cannot find pilote: {e}"))?;
    match Executor::start(run_as, &binary).await {
        Ok(e) => {
            set_launcher(Launcher::Executor(e));
            Ok(())
        }
        Err(why) => {
            set_launcher(Launcher::Broken(why.clone()));
            Err(why)
        }
    }
}

/// A socket pair whose far end serves in a thread of this process, as `__executor` would:
/// the protocol, tested without sudo.
#[cfg(test)]
pub(crate) async fn in_process() -> Arc<Executor> {
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socketpair");
    std::thread::spawn(move || serve_on(theirs));
    Executor::connect(ours, None, "test", Path::new("pilote"))
        .await
        .expect("executor")
}
