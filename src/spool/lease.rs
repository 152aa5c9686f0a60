//! Leases: a file lock that a long-lived process (a runner, the webhook deliverer) holds
//! while it works. The kernel releases it when the process dies however it dies, so a reused
//! pid cannot fool it.
//!
//! Liveness fails closed: only a lease that was opened and found free says the holder is
//! gone. A lease file that cannot be opened (another account's, a permission problem) is
//! `Unknown`, never `Free`: declaring a live run dead lets someone start a second runner of
//! it, whose side effects then run twice.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// What a look at a lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A live process holds it.
    Held,
    /// Nobody holds it, or the file does not exist.
    Free,
    /// It could not be looked at: why, in words.
    Unknown(String),
}

/// Whether someone holds the lease at `path`. Taking the lock to look holds it for an
/// instant: [`take`] retries for that.
pub fn probe(path: &Path) -> Holder {
    match File::open(path) {
        Ok(f) => match f.try_lock() {
            Ok(()) => Holder::Free,
            Err(TryLockError::WouldBlock) => Holder::Held,
            Err(TryLockError::Error(e)) => {
                Holder::Unknown(format!("cannot lock {}: {e}", path.display()))
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Holder::Free,
        Err(e) => Holder::Unknown(format!("cannot open {}: {e}", path.display())),
    }
}

/// Whether a live process holds the lease at `path` (what a kick asks before starting a
/// deliverer: an unknown holder is not one).
pub fn held(path: &Path) -> bool {
    probe(path) == Holder::Held
}

/// Takes the lease at `path` (created 0600), waiting up to `patience` for a process that is
/// only looking at it; `None` if another holder keeps it. The file locked must still be the
/// one at `path` once locked: a lease whose file was deleted or replaced meanwhile would be
/// held by nobody anyone can see.
pub fn take(path: &Path, patience: Duration) -> io::Result<Option<File>> {
    let deadline = Instant::now() + patience;
    loop {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)?;
        match f.try_lock() {
            Ok(()) => {
                let held = f.metadata()?;
                match std::fs::symlink_metadata(path) {
                    Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                        return Ok(Some(f));
                    }
                    // Replaced or deleted between the open and the lock: lock the new one.
                    _ => continue,
                }
            }
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Creates the lease at `path` (0600) if need be and marks it touched now: a runner being
/// launched counts as starting, from then, until it takes its lease.
pub fn touch(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .and_then(|f| f.set_modified(std::time::SystemTime::now()))
}

/// What `/proc` says of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Process {
    /// It runs, started at this many clock ticks after boot.
    Running { started: u64 },
    /// No such process, or only its zombie (it died and nobody reaped it yet).
    Gone,
    /// `/proc` would not say.
    Unknown(String),
}

/// Looks process `pid` up in `/proc`.
pub fn process(pid: i64) -> Process {
    if pid <= 0 {
        return Process::Gone;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => match parse_stat(&stat) {
            Some((state, _)) if state == 'Z' || state == 'X' => Process::Gone,
            Some((_, started)) => Process::Running { started },
            None => Process::Unknown(format!("cannot read /proc/{pid}/stat")),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Process::Gone,
        Err(e) => Process::Unknown(format!("cannot read /proc/{pid}/stat: {e}")),
    }
}

/// This process's start time (clock ticks after boot): with the pid, what tells it from a
/// later process that got the same pid.
pub fn own_start() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat).map(|(_, started)| started)
}

/// (state, start time) from the text of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses itself: fields are counted after the last `)`.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 is the state; the start time is field 22.
    let started = fields.nth(18)?.parse().ok()?;
    Some((state, started))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat =
            "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(stat), Some(('S', 987_654)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_runs_and_a_free_pid_is_gone() {
        let me = i64::from(std::process::id());
        assert_eq!(
            process(me),
            Process::Running {
                started: own_start().expect("own start")
            }
        );
        assert_eq!(process(i64::from(i32::MAX)), Process::Gone);
    }

    #[test]
    fn a_lease_is_held_free_or_unknown() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("run-1.lock");
        assert_eq!(probe(&path), Holder::Free, "no file yet");
        let held = take(&path, Duration::ZERO).expect("take").expect("free");
        assert_eq!(probe(&path), Holder::Held);
        assert!(take(&path, Duration::ZERO).expect("take").is_none());
        drop(held);
        assert_eq!(probe(&path), Holder::Free);
        // A lease file that cannot be opened says nothing about its holder.
        let unreadable = dir.path().join("dir.lock");
        std::fs::create_dir(&unreadable).expect("dir");
        std::fs::write(unreadable.join("x"), "").expect("file");
        let sub = unreadable.join("x").join("lease");
        assert!(
            matches!(probe(&sub), Holder::Unknown(_)),
            "{:?}",
            probe(&sub)
        );
    }

    #[test]
    fn a_lease_file_deleted_under_its_holder_looks_free_so_the_pid_is_asked_too() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("run-1.lock");
        let first = take(&path, Duration::ZERO).expect("take").expect("free");
        // Someone deletes the file under the holder: a new taker gets a new file, and the
        // holder's own lock is on an inode nobody can find any more.
        std::fs::remove_file(&path).expect("rm");
        let second = take(&path, Duration::ZERO).expect("take");
        assert!(second.is_some(), "the path is free again");
        drop(first);
    }
}
