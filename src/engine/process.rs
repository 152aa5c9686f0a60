//! Running one step's child process: own process group, stdin never the terminal, output drained line by
//! line while waiting, a timeout, and cancellation as SIGTERM to the group, a grace period,
//! then SIGKILL to the group (nextest's discipline, STYLE.md §4.3).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::process::Signal;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::{mpsc, watch};

use super::redact::Redactor;

pub use super::spec::{Input, Outcome, Spec, Stream};

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Lines longer than this are split (on a character, never through a secret): one runaway
/// line must not hold the runner's memory.
const MAX_LINE: usize = 64 * 1024;

type Reader = Box<dyn AsyncRead + Unpin + Send>;

/// A started process and its three streams.
struct Started {
    child: super::executor::Remote,
    stdin: Option<Box<dyn tokio::io::AsyncWrite + Unpin + Send>>,
    stdout: Option<Reader>,
    stderr: Option<Reader>,
}

/// `/dev/null`, opened once per process and handed out as copies (one per step).
fn null() -> Result<std::os::fd::OwnedFd, String> {
    static NULL: std::sync::OnceLock<Option<std::os::fd::OwnedFd>> = std::sync::OnceLock::new();
    NULL.get_or_init(|| std::fs::File::open("/dev/null").ok().map(Into::into))
        .as_ref()
        .ok_or_else(|| "cannot open /dev/null".to_string())?
        .try_clone()
        .map_err(|e| format!("cannot open /dev/null: {e}"))
}

/// A pipe: (read end, write end), both close-on-exec.
fn pipe() -> Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd), String> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| format!("cannot make a pipe: {e}"))
}

fn reader(fd: std::os::fd::OwnedFd) -> Result<Reader, String> {
    tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
        .map(|r| Box::new(r) as Reader)
        .map_err(|e| format!("cannot read a pipe: {e}"))
}

async fn start_executed(
    exec: &std::sync::Arc<super::executor::Executor>,
    spec: &Spec,
) -> Result<Started, String> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (stdin_fd, writer) = match &spec.input {
        Input::Null => (null()?, None),
        Input::Held(_) => {
            let (r, w) = pipe()?;
            let w = tokio::net::unix::pipe::Sender::from_owned_fd(w)
                .map_err(|e| format!("cannot write a pipe: {e}"))?;
            (
                r,
                Some(Box::new(w) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>),
            )
        }
        // Opened here, as the account that can read it (a vault blob); the executor's
        // account reads only this one file, through the fd.
        Input::File(path) => (
            std::os::fd::OwnedFd::from(
                std::fs::File::open(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            ),
            None,
        ),
    };
    let remote = exec.spawn(spec, [&stdin_fd, &out_w, &err_w]).await?;
    // The child has its own copies now: the ends kept here must close, or no EOF ever comes.
    drop((stdin_fd, out_w, err_w));
    Ok(Started {
        child: remote,
        stdin: writer,
        stdout: Some(reader(out_r)?),
        stderr: Some(reader(err_r)?),
    })
}

/// Runs `spec`, sending each output line to `lines`, until it ends, times out, or `cancel`
/// becomes true. `lines` is bounded: when whoever stores the lines falls behind, reading
/// stops and the child waits on its pipe, so memory stays bounded however much it prints.
pub async fn run(
    spec: &Spec,
    lines: mpsc::Sender<(Stream, String)>,
    cancel: watch::Receiver<bool>,
) -> Outcome {
    match super::executor::executor() {
        Ok(exec) => run_on(&exec, spec, lines, cancel).await,
        Err(error) => Outcome::SpawnFailed { error },
    }
}

/// [`run`], through the executor `exec`: the one place a step's process starts (see
/// `executor`). It is killed when its runner dies, however it dies: the executor then kills
/// every group it started, so a step never finishes its effect after the recovery looked.
async fn run_on(
    exec: &std::sync::Arc<super::executor::Executor>,
    spec: &Spec,
    lines: mpsc::Sender<(Stream, String)>,
    mut cancel: watch::Receiver<bool>,
) -> Outcome {
    let Started {
        mut child,
        stdin,
        stdout,
        stderr,
    } = match start_executed(exec, spec).await {
        Ok(s) => s,
        Err(error) => return Outcome::SpawnFailed { error },
    };
    // Aborted (closing the pipe) when this function returns, after the child ended.
    let _held = stdin.map(|mut stdin| {
        let bytes = match &spec.input {
            Input::Held(b) => b.clone(),
            _ => Vec::new(),
        };
        AbortOnDrop(tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(&bytes).await;
            std::future::pending::<()>().await;
            drop(stdin);
        }))
    });
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
    let progress = Arc::new(AtomicU64::new(0));
    let mut pumps = Vec::new();
    if let Some(out) = stdout {
        pumps.push(tokio::spawn(pump(
            out,
            Stream::Stdout,
            lines.clone(),
            (done_tx.clone(), progress.clone()),
            spec.mask.clone(),
        )));
    }
    if let Some(err) = stderr {
        pumps.push(tokio::spawn(pump(
            err,
            Stream::Stderr,
            lines,
            (done_tx.clone(), progress.clone()),
            spec.mask.clone(),
        )));
    }
    let readers = pumps.len();
    drop(done_tx);

    let deadline = tokio::time::sleep(spec.timeout);
    tokio::pin!(deadline);
    let mut stopped: Option<Outcome> = None;
    let mut signals: Vec<Signal> = Vec::new();
    let status = loop {
        for sig in signals.drain(..) {
            child.signal_group(sig);
        }
        tokio::select! {
            status = child.wait() => break status.map(|e| (e.code, e.signal)),
            () = &mut deadline, if stopped.is_none() => {
                stopped = Some(Outcome::TimedOut);
                signals.push(Signal::TERM);
            }
            changed = cancel.changed(), if stopped.is_none() => {
                if changed.is_err() || *cancel.borrow() {
                    stopped = Some(Outcome::Cancelled);
                    signals.push(Signal::TERM);
                }
            }
            () = tokio::time::sleep(spec.grace), if stopped.is_some() => {
                signals.push(Signal::KILL);
            }
        }
    };
    // The group leader is gone; anything left in its group goes too, so a cancelled or timed
    // out step leaves no process behind.
    if stopped.is_some() {
        child.signal_group(Signal::KILL);
    }
    // Keep draining output: a grandchild may still hold the pipes. It is a leak once no line
    // has come through for `leak_timeout` (a slow store is not a leak: lines still move), or
    // after ten times that in all (a grandchild printing forever is one).
    let mut left = readers;
    let mut seen = progress.load(Ordering::Relaxed);
    let cap = tokio::time::Instant::now() + spec.leak_timeout * 10;
    let drained = loop {
        if left == 0 {
            break true;
        }
        match tokio::time::timeout(spec.leak_timeout, done_rx.recv()).await {
            Ok(Some(())) => left -= 1,
            Ok(None) => break true,
            Err(_) => {
                let now = progress.load(Ordering::Relaxed);
                if now == seen || tokio::time::Instant::now() >= cap {
                    break false;
                }
                seen = now;
            }
        }
    };
    // Readers still blocked on a pipe a grandchild holds are stopped here: they hold line
    // senders, and the caller waits for every sender to go before it moves on.
    for p in &pumps {
        p.abort();
    }
    for p in pumps {
        let _ = p.await;
    }
    if let Some(o) = stopped {
        return o;
    }
    let code = match status {
        Ok(s) => match s {
            (Some(c), _) => c,
            (None, Some(sig)) => return Outcome::Signalled { signal: sig },
            (None, None) => -1,
        },
        Err(e) => {
            return Outcome::SpawnFailed {
                error: e.to_string(),
            };
        }
    };
    if drained {
        Outcome::Exited { code }
    } else {
        Outcome::Leaked { code }
    }
}

/// Runs `spec` for its outcome alone, its output read and dropped (closing an ssh master).
pub async fn quietly(spec: &Spec) -> Outcome {
    let (tx, mut rx) = mpsc::channel(64);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let (_keep, cancel) = watch::channel(false);
    let outcome = run(spec, tx, cancel).await;
    let _ = drain.await;
    outcome
}

/// Reads `r` line by line (lossy UTF-8) into `lines`, then says it is done. A line longer
/// than [`MAX_LINE`] goes in pieces, cut by `mask` (see [`Redactor::cut`]): what follows a
/// cut is kept and read on with.
async fn pump(
    r: impl AsyncRead + Unpin,
    stream: Stream,
    lines: mpsc::Sender<(Stream, String)>,
    (done, progress): (mpsc::UnboundedSender<()>, Arc<AtomicU64>),
    mask: Redactor,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut buf = Vec::new();
    loop {
        let room = MAX_LINE - buf.len();
        let n = match (&mut reader)
            .take(room as u64)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(n) => n,
            Err(_) => break,
        };
        let line = if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            let line = String::from_utf8_lossy(&buf).into_owned();
            buf.clear();
            line
        } else if buf.len() == MAX_LINE {
            let (piece, used) = mask.cut(&buf);
            buf.drain(..used);
            piece
        } else if n == 0 && !buf.is_empty() {
            // The end, after a last line with no newline.
            let line = String::from_utf8_lossy(&buf).into_owned();
            buf.clear();
            line
        } else if n == 0 {
            break;
        } else {
            // The end is next: this read stopped short of a newline and of the limit.
            continue;
        };
        if lines.send((stream, line)).await.is_err() {
            break;
        }
        progress.fetch_add(1, Ordering::Relaxed);
    }
    let _ = done.send(());
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sh(script: &str, timeout: Duration) -> Spec {
        Spec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            input: Input::Null,
            env: vec![("GREETING".into(), "hello $(not run)".into())],
            cwd: None,
            timeout,
            grace: Duration::from_millis(300),
            leak_timeout: Duration::from_millis(300),
            mask: Redactor::default(),
        }
    }

    async fn collect(
        spec: Spec,
        cancel_after: Option<Duration>,
    ) -> (Outcome, Vec<(Stream, String)>) {
        let (tx, mut rx) = mpsc::channel(16);
        let collector = tokio::spawn(async move {
            let mut lines = Vec::new();
            while let Some(l) = rx.recv().await {
                lines.push(l);
            }
            lines
        });
        let (ctx, crx) = watch::channel(false);
        if let Some(d) = cancel_after {
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                let _ = ctx.send(true);
            });
        } else {
            std::mem::forget(ctx);
        }
        let outcome = run_on(&executor().await, &spec, tx, crx).await;
        (outcome, collector.await.expect("collector"))
    }

    /// An executor serving in a thread of this test (the protocol, the spawning, the
    /// signals, as a runner's own).
    async fn executor() -> Arc<super::super::executor::Executor> {
        super::super::executor::in_process().await
    }

    #[tokio::test]
    async fn both_streams_the_code_and_the_step_umask() {
        // The umask is the step's (the test executor's 027), not this process's own.
        let mut spec = sh(
            "printf '%s\\n' \"$GREETING\"; echo oops >&2; umask; exit 3",
            Duration::from_secs(5),
        );
        spec.input = Input::Held(b"ignored".to_vec());
        let (o, lines) = collect(spec, None).await;
        assert_eq!(o, Outcome::Exited { code: 3 });
        assert!(
            lines.contains(&(Stream::Stdout, "hello $(not run)".into())),
            "{lines:?}"
        );
        assert!(
            lines.contains(&(Stream::Stderr, "oops".into())),
            "{lines:?}"
        );
        assert!(
            lines.contains(&(Stream::Stdout, "0027".into())),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn a_file_is_the_input() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("in");
        std::fs::write(&file, "from the file\n").expect("write");
        let mut spec = sh("cat", Duration::from_secs(5));
        spec.input = Input::File(file);
        let (o, lines) = collect(spec, None).await;
        assert_eq!(o, Outcome::Exited { code: 0 });
        assert_eq!(lines, vec![(Stream::Stdout, "from the file".into())]);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let start = std::time::Instant::now();
        let (o, _) = collect(
            sh(
                "trap '' TERM; sleep 30 & sleep 30",
                Duration::from_millis(200),
            ),
            None,
        )
        .await;
        assert_eq!(o, Outcome::TimedOut);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn cancel_stops_the_step() {
        let (o, _) = collect(
            sh("sleep 30", Duration::from_secs(60)),
            Some(Duration::from_millis(100)),
        )
        .await;
        assert_eq!(o, Outcome::Cancelled);
    }

    #[tokio::test]
    async fn a_grandchild_holding_stdout_is_a_leak_not_a_hang() {
        let start = std::time::Instant::now();
        let (o, _) = collect(
            sh("setsid sleep 5 & echo started", Duration::from_secs(60)),
            None,
        )
        .await;
        assert_eq!(o, Outcome::Leaked { code: 0 });
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "took {:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_grandchild_printing_forever_is_a_leak_too() {
        let start = std::time::Instant::now();
        let (o, lines) = collect(
            sh(
                "(while :; do echo tick; sleep 0.01; done) & echo started",
                Duration::from_secs(60),
            ),
            None,
        )
        .await;
        assert_eq!(o, Outcome::Leaked { code: 0 });
        assert!(lines.len() > 10, "{} lines", lines.len());
        assert!(
            start.elapsed() < Duration::from_secs(6),
            "took {:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_slow_reader_holds_the_child_back_and_loses_nothing() {
        // Each line is taken slowly, so draining what is left when the child exits takes
        // longer than the leak deadline: still every line, and no leak.
        // What is left when seq exits (a pipe's worth, ~12k lines) takes ~0.4 s to take:
        // past the 150 ms deadline, within its 1.5 s cap.
        let spec = Spec {
            leak_timeout: Duration::from_millis(150),
            ..sh("seq 30000", Duration::from_secs(60))
        };
        let (tx, mut rx) = mpsc::channel(16);
        let reader = tokio::spawn(async move {
            let mut n = 0u32;
            while let Some((_, line)) = rx.recv().await {
                n += 1;
                assert_eq!(line, n.to_string());
                if n.is_multiple_of(40) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            n
        });
        let (_keep, crx) = watch::channel(false);
        let o = run_on(&executor().await, &spec, tx, crx).await;
        assert_eq!(o, Outcome::Exited { code: 0 });
        assert_eq!(reader.await.expect("reader"), 30000);
    }

    #[tokio::test]
    async fn spawn_failure_is_an_outcome() {
        let mut spec = sh("true", Duration::from_secs(1));
        spec.program = "/nonexistent/shell".into();
        let (o, _) = collect(spec, None).await;
        assert!(matches!(o, Outcome::SpawnFailed { .. }));
    }
}
