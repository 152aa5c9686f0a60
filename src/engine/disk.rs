//! Disk space for runs: the check before a run starts, and what a runner does once the disk
//! is full.
//!
//! SQLite answers a write on a full disk with SQLITE_FULL and rolls the transaction back, so
//! the store stays valid and nothing committed is lost. What is at stake is the run's *last*
//! records (the end of the step in flight, the run's final state): they need a little room
//! exactly when there is none. So each runner keeps a spare file of its own,
//! `spool/spare-<run>`, and deletes it to make that room; the next runner (a resume) puts it
//! back, and a run that ends removes it. One per run, not per workspace: runs on two envs
//! fill the same disk, and each needs its own room for its last records.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

use crate::identity::Actor;
use crate::settings::Workspace;
use crate::spool;
use crate::store::{PendingLine, RunRow, Store, StoreError};

/// The size of the spare: a run's last records are a few pages of the WAL each.
pub const SPARE_BYTES: usize = 1 << 20;

/// Output lines the store had no room for that are kept, the last ones, to be stored with
/// the run's final record: the lines a step printed as the disk filled often say why.
pub const TAIL_LINES: usize = 200;

/// The disk of run `row`, its spare made. Without a spare the run's last records could find
/// no room, so a run does not start (the outcome of its interruption is returned) — but for
/// a rollback: it is how an incident ends, so it starts all the same, with a warning.
pub(crate) fn spare_for(ws: &Workspace, store: &mut Store, row: &RunRow) -> Result<Disk, String> {
    sweep_spares(ws, store);
    let spare = spool::spare(ws, row.id);
    let Err(e) = ensure_spare(&spare) else {
        return Ok(Disk::new(spare));
    };
    let why = if crate::store::is_no_space(&e) {
        format!("disk full; no room for the spare file {}", spare.display())
    } else {
        format!("cannot create the spare file {}: {e}", spare.display())
    };
    if row.kind != "rollback" {
        return Err(why);
    }
    let warning = format!(
        "warning: {why}; the rollback starts anyway, but if the disk fills its last records \
         may find no room: free space in {}",
        ws.data_dir.display()
    );
    let _ = store.append_lines(row.id, &[PendingLine::system(&warning)]);
    Ok(Disk::new(spare))
}

/// Removes the spares no runner will use: those of runs that are over, and the workspace-wide
/// one of older versions. A spare is left behind by a runner that died; an interrupted run
/// keeps its own, for its resume.
fn sweep_spares(ws: &Workspace, store: &Store) {
    let dir = spool::dir(ws);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let run = name
            .strip_prefix("spare-")
            .and_then(|rest| rest.split('.').next())
            .and_then(|id| id.parse::<i64>().ok());
        let stale = match run {
            None => name == "spare" || name == "spare.tmp",
            Some(run) => store.run(run).is_ok_and(|r| {
                r.is_none_or(|r| {
                    matches!(r.state.as_str(), "succeeded" | "failed" | "cancelled")
                        && spool::runner_liveness(ws, &r) == spool::Liveness::Gone
                })
            }),
        };
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Free space in `dir` for an unprivileged writer, in bytes.
pub fn free_bytes(dir: &Path) -> io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Refuses to start a run on a data dir with less than `[store] min_free_mb` free: it would
/// soon stop for a full disk. Unknown free space (statvfs refused) is no reason to refuse.
pub fn preflight(ws: &Workspace) -> Result<(), String> {
    let need = ws.settings.min_free_mb.saturating_mul(1 << 20);
    if need == 0 {
        return Ok(());
    }
    let Ok(free) = free_bytes(&ws.data_dir) else {
        return Ok(());
    };
    if free >= need {
        return Ok(());
    }
    Err(format!(
        "only {} free in {}, and a run needs {} ([store] min_free_mb in {})",
        human(free),
        ws.data_dir.display(),
        human(need),
        ws.config_dir.join(crate::settings::SETTINGS_FILE).display(),
    ))
}

/// `812 KiB`, `3.2 MiB`, `12.0 GiB`.
fn human(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB * KIB {
        format!("{} KiB", bytes / 1024)
    } else if b < KIB * KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    }
}

/// Creates the spare at `path` if it is missing; true if it had to. Written whole under a
/// temporary name, synced, then renamed: a spare cut short by the full disk never counts.
/// Its bytes are not zeros, which a compressing or deduplicating file system would not store.
pub(crate) fn ensure_spare(path: &Path) -> io::Result<bool> {
    if path.metadata().is_ok_and(|m| m.len() >= SPARE_BYTES as u64) {
        return Ok(false);
    }
    crate::fsutil::write_atomic(path, &noise(SPARE_BYTES), Some(0o600))?;
    Ok(true)
}

/// `n` bytes that do not compress (xorshift64).
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// What one run knows of its disk: whether the store refused a write for lack of space, how
/// many log lines could not be stored, and the spare kept for its last records. Shared by
/// the run's tasks.
pub(crate) struct Disk {
    spare: PathBuf,
    full: watch::Sender<bool>,
    /// The last lines set aside for lack of room, at most [`TAIL_LINES`].
    tail: Mutex<VecDeque<PendingLine>>,
    lines_lost: AtomicU64,
}

impl Disk {
    pub(crate) fn new(spare: PathBuf) -> Self {
        Self {
            spare,
            full: watch::Sender::new(false),
            tail: Mutex::new(VecDeque::new()),
            lines_lost: AtomicU64::new(0),
        }
    }

    /// Lines the store has no room for: the last [`TAIL_LINES`] are kept for the run's final
    /// record, the others are lost (and counted).
    pub(crate) fn set_aside(&self, lines: Vec<PendingLine>) {
        let mut tail = self
            .tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for l in lines {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
                self.lost(1);
            }
            tail.push_back(l);
        }
    }

    /// The lines set aside, oldest first, to store once room is made.
    pub(crate) fn take_tail(&self) -> Vec<PendingLine> {
        let mut tail = self
            .tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tail.drain(..).collect()
    }

    /// Whether the disk filled during this run: from then on no step starts.
    pub(crate) fn is_full(&self) -> bool {
        *self.full.borrow()
    }

    /// The store refused a write for lack of space.
    pub(crate) fn filled(&self) {
        self.full.send_replace(true);
    }

    /// Passes on the result of a store write, noting a full disk when the store refused it
    /// for lack of space. Every write of a run goes through this or [`write_or_make_room`]:
    /// a write the run can go on without (a gate's state, a check's measures, a silence's
    /// record, a poll for commands) is lost on a full disk, but the run must learn of it
    /// then, not at some later write (a gate would wait its whole timeout).
    pub(crate) fn note<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result
            && e.is_disk_full()
        {
            self.filled();
        }
        result
    }

    /// Resolves once the disk is full (at once if it is already).
    pub(crate) async fn wait_full(&self) {
        let mut rx = self.full.subscribe();
        let _ = rx.wait_for(|full| *full).await;
    }

    pub(crate) fn lost(&self, lines: usize) {
        self.lines_lost.fetch_add(lines as u64, Ordering::SeqCst);
    }

    pub(crate) fn lines_lost(&self) -> u64 {
        self.lines_lost.load(Ordering::SeqCst)
    }

    /// Deletes the spare, for the room the run's last records need; false if there was no
    /// spare to delete (already used, or never made).
    pub(crate) fn release_spare(&self) -> bool {
        std::fs::remove_file(&self.spare).is_ok()
    }
}

/// A record the run cannot do without (a step's end, the run's final state): on a full disk,
/// the spare is deleted to make room and the write tried once more.
pub(crate) fn write_or_make_room<T>(
    disk: &Disk,
    store: &mut Store,
    mut write: impl FnMut(&mut Store) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match write(store) {
        Err(e) if e.is_disk_full() => {
            make_room(disk, store);
            write(store)
        }
        other => other,
    }
}

/// The disk is full: the spare goes, its room is for the run's last records.
pub(crate) fn make_room(disk: &Disk, store: &mut Store) {
    disk.filled();
    if disk.release_spare() {
        store.space_freed();
    }
}

/// Stores the last lines the disk had no room for (see [`Disk::set_aside`]), once room is
/// made; if even that fails, they count as lost.
pub(crate) fn store_tail(store: &mut Store, disk: &Disk, run: i64) -> usize {
    make_room(disk, store);
    let tail = disk.take_tail();
    match store.append_lines(run, &tail) {
        Ok(()) => tail.len(),
        Err(_) => {
            disk.lost(tail.len());
            0
        }
    }
}

/// Ends a run the disk filled under: the room the spare held takes the last lines set aside,
/// a note of what was lost and how to go on, and the run's end, `interrupted` (disk full),
/// its lock still held for the resume.
pub(crate) fn end_on_full_disk(
    store: &mut Store,
    disk: &Disk,
    ws: &Workspace,
    run: i64,
    stopped: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    let kept = store_tail(store, disk, run);
    let lost = disk.lines_lost();
    let kept = if kept > 0 && lost > 0 {
        format!(" (the {kept} just above were kept)")
    } else {
        String::new()
    };
    let note = format!(
        "disk full in {}: the run stopped {stopped}; {} could not be stored{kept}. \
         Free space there, then `pilote resume {run}`",
        ws.data_dir.display(),
        log_lines(lost),
    );
    let _ = store.append_lines(run, &[PendingLine::system(&note)]);
    let outcome = format!("disk full; {} not stored", log_lines(lost));
    write_or_make_room(disk, store, |s| s.interrupt_run(run, &outcome, actor))
}

/// Ends a run its runner saw through (succeeded, failed, cancelled): the lines set aside for
/// a full disk, a note of what could not be stored, and the run's end. A run that ends on a
/// full disk says so, in its log and its outcome: the next run there needs room.
pub(crate) fn finish(
    store: &mut Store,
    disk: &Disk,
    ws: &Workspace,
    run: i64,
    (state, outcome): (&str, &str),
    actor: &Actor,
) -> Result<(), StoreError> {
    if disk.is_full() {
        store_tail(store, disk, run);
        let note = format!(
            "disk full in {}: the run's last records went into its spare file's room; {} \
             could not be stored. Free space there before the next run",
            ws.data_dir.display(),
            log_lines(disk.lines_lost()),
        );
        let _ = store.append_lines(run, &[PendingLine::system(&note)]);
    } else if disk.lines_lost() > 0 {
        let note = format!("{} could not be stored", log_lines(disk.lines_lost()));
        let _ = store.append_lines(run, &[PendingLine::system(&note)]);
    }
    write_or_make_room(disk, store, |s| {
        // Asked again once room is made: the outcome then says the disk was full.
        let outcome = if disk.is_full() {
            format!(
                "{outcome}; disk full, {} not stored",
                log_lines(disk.lines_lost())
            )
        } else {
            outcome.to_string()
        };
        s.finish_run(run, state, &outcome, actor)
    })
}

/// `1 log line`, `12 log lines`.
pub(crate) fn log_lines(n: u64) -> String {
    format!("{n} log line{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spare_is_made_once_whole_and_released_once() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("spare");
        assert!(ensure_spare(&path).expect("create"));
        assert_eq!(
            std::fs::metadata(&path).expect("spare").len(),
            SPARE_BYTES as u64
        );
        assert!(!ensure_spare(&path).expect("again"), "already there");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["spare"], "no temporary file left");
        let disk = Disk::new(path.clone());
        assert!(disk.release_spare());
        assert!(!disk.release_spare(), "nothing left to release");
        assert!(!path.exists());
    }

    #[test]
    fn the_spare_does_not_compress() {
        let bytes = noise(SPARE_BYTES);
        let distinct: std::collections::HashSet<&[u8]> = bytes.chunks(4096).collect();
        assert_eq!(distinct.len(), SPARE_BYTES / 4096, "no two pages alike");
    }

    #[test]
    fn sizes_read_as_a_person_writes_them() {
        assert_eq!(human(812 * 1024), "812 KiB");
        assert_eq!(human(3 * 1024 * 1024 + 200 * 1024), "3.2 MiB");
        assert_eq!(human(12 << 30), "12.0 GiB");
    }

    #[test]
    fn the_last_lines_set_aside_are_kept_and_the_others_counted() {
        let disk = Disk::new(PathBuf::from("/nonexistent/spare"));
        let line = |i: usize| PendingLine {
            at: 0,
            step_run_id: None,
            stream: "stdout",
            host: String::new(),
            line: i.to_string(),
        };
        disk.set_aside((0..150).map(line).collect());
        disk.set_aside((150..300).map(line).collect());
        assert_eq!(disk.lines_lost(), 100);
        let tail = disk.take_tail();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail[0].line, "100");
        assert_eq!(tail[TAIL_LINES - 1].line, "299");
        assert!(disk.take_tail().is_empty());
    }

    #[tokio::test]
    async fn a_full_disk_is_seen_by_who_waits_and_who_looks() {
        let disk = std::sync::Arc::new(Disk::new(PathBuf::from("/nonexistent/spare")));
        assert!(!disk.is_full());
        let waiter = tokio::spawn({
            let disk = disk.clone();
            async move { disk.wait_full().await }
        });
        disk.filled();
        waiter.await.expect("woken");
        assert!(disk.is_full());
        disk.wait_full().await;
    }
}
