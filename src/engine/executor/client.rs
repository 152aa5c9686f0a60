//! The runner's side of the executor: starting it through sudo, sending it steps, waiting
//! for their ends.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustix::net::{AddressFamily, SocketFlags, SocketType};
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

use super::protocol::{Reply, Request, recv_message, send_message};

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
    other_account: bool,
    /// `[steps] umask`: what each step starts with.
    umask: u32,
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
    /// Whether the executor started it (or why not): read when it is waited for, so the
    /// runner reads the step's output meanwhile instead of waiting a round trip first.
    spawned: Option<oneshot::Receiver<Result<u32, String>>>,
    exited: Option<oneshot::Receiver<Exit>>,
    exec: Arc<Executor>,
}

impl Executor {
    /// Starts `binary __executor` as `run_as` through sudo and waits for its greeting.
    ///
    /// Without `run_as` (a personal workspace), it runs as this account, started directly:
    /// steps are then forked by a small process rather than by the runner, whose every fork
    /// costs more as it grows, and they still never outlive it.
    pub async fn start(
        run_as: Option<&str>,
        binary: &Path,
        umask: u32,
    ) -> Result<Arc<Self>, String> {
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| format!("cannot make the executor's socket: {e}"))?;
        let mut cmd = match run_as {
            Some(user) => {
                let mut c = std::process::Command::new("sudo");
                c.args(["-n", "-u", user, "--"]).arg(binary);
                c
            }
            None => std::process::Command::new(binary),
        };
        let child = cmd
            .arg("__executor")
            .stdin(std::process::Stdio::from(theirs))
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| match run_as {
                Some(user) => format!("cannot run sudo to start the executor as {user}: {e}"),
                None => format!("cannot start the executor: {e}"),
            })?;
        Self::connect(ours, Some(child), run_as, binary, umask).await
    }

    /// Whether steps run as another account than this process's (`[steps] run_as`).
    pub fn other_account(&self) -> bool {
        self.other_account
    }

    pub(super) async fn connect(
        sock: OwnedFd,
        child: Option<std::process::Child>,
        run_as: Option<&str>,
        binary: &Path,
        umask: u32,
    ) -> Result<Arc<Self>, String> {
        let other_account = run_as.is_some();
        let run_as = run_as.unwrap_or("this account");
        rustix::io::ioctl_fionbio(&sock, true).map_err(|e| e.to_string())?;
        // SAFETY: the AsyncFd owns the fd: it stays open for as long as it is registered.
        let sock = Arc::new(
            unsafe { AsyncFd::register(sock) }
                .map_err(|e| format!("cannot watch the socket: {e}"))?,
        );
        let refused = || {
            if other_account {
                format!(
                    "the executor did not start as {run_as}: the account that owns the store may not \
                     run `{} __executor` as {run_as} through sudo (`pilote setup-team` writes that \
                     rule), or {run_as} cannot run it (see this run's runner stderr in the spool)",
                    binary.display()
                )
            } else {
                format!(
                    "the executor ({} __executor) did not start (see this run's runner stderr in the spool)",
                    binary.display()
                )
            }
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
            other_account,
            umask,
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
        spec: &crate::engine::spec::Spec,
        stdio: [&OwnedFd; 3],
    ) -> Result<Remote, String> {
        let (spawned_tx, spawned_rx) = oneshot::channel();
        let (exited_tx, exited_rx) = oneshot::channel();
        let id = self.open(Slot {
            spawned: Some(spawned_tx),
            exited: Some(exited_tx),
            done: None,
        });
        let request = Request::Spawn {
            id,
            program: spec.program.as_os_str().as_bytes().to_vec(),
            args: spec.args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            env: spec.env.clone(),
            cwd: spec.cwd.as_ref().map(|d| d.as_os_str().as_bytes().to_vec()),
            umask: self.umask,
        };
        let fds = [stdio[0].as_fd(), stdio[1].as_fd(), stdio[2].as_fd()];
        self.send_for(id, &request, &fds).await?;
        Ok(Remote {
            id,
            spawned: Some(spawned_rx),
            exited: Some(exited_rx),
            exec: self.clone(),
        })
    }

    /// A new request id, its slot waiting for the executor's answers.
    fn open(&self, slot: Slot) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, slot);
        id
    }

    /// Sends request `id`; if it cannot be sent, nothing will answer it: its slot goes.
    async fn send_for(
        &self,
        id: u64,
        request: &Request,
        fds: &[BorrowedFd<'_>],
    ) -> Result<(), String> {
        let sent = self.send(request, fds).await;
        if sent.is_err() {
            self.slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        }
        sent
    }

    async fn ask(&self, request: impl FnOnce(u64) -> Request) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        let id = self.open(Slot {
            done: Some(tx),
            ..Slot::default()
        });
        self.send_for(id, &request(id), &[]).await?;
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
        if let Some(spawned) = self.spawned.take() {
            let started = spawned
                .await
                .map_err(|_| std::io::Error::other("the executor is gone"))?;
            if let Err(why) = started {
                // Never started: nothing to kill when this is dropped.
                self.exited = None;
                return Err(std::io::Error::other(why));
            }
        }
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
