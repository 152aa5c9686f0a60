//! Disk-full fault injection for tests, in debug builds only: SQLite's own tests fail the
//! n-th I/O operation to prove every write path copes; this fails a runner's store writes
//! the way a disk that filled up does.
//!
//! Two triggers, read from a runner's environment: `PILOTE_DISK_FULL_AT=<n>` fills the disk
//! at its n-th store write, `PILOTE_DISK_FULL_WHEN=<path>` at its first write once `path`
//! exists (a test fills the disk at a moment it chose: two runs at a barrier, a gate
//! waiting). From then on every write fails with SQLITE_FULL, until the runner makes room
//! (deletes its spare file, see [`super::Store::space_freed`]); the disk fills once only.
//! A release build never reads either variable.

use std::path::PathBuf;

/// The injector of one store; inert unless armed from the environment (debug builds).
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// The write that fails first, counting from 1.
    at: Option<u64>,
    /// The file whose existence fills the disk.
    when: Option<PathBuf>,
    writes: u64,
    /// The disk filled already: it does not fill again.
    filled: bool,
    /// Writes fail until room is made.
    full: bool,
}

impl Faults {
    /// Armed by `PILOTE_DISK_FULL_AT` or `PILOTE_DISK_FULL_WHEN`, in debug builds only.
    pub(crate) fn from_env() -> Self {
        #[cfg(debug_assertions)]
        let (at, when) = (
            std::env::var("PILOTE_DISK_FULL_AT")
                .ok()
                .and_then(|v| v.trim().parse().ok()),
            std::env::var_os("PILOTE_DISK_FULL_WHEN").map(PathBuf::from),
        );
        #[cfg(not(debug_assertions))]
        let (at, when) = (None, None);
        Self {
            at,
            when,
            ..Self::default()
        }
    }

    /// Called before each write transaction: the error SQLite gives on a full disk, when
    /// this write is to fail.
    pub(crate) fn before_write(&mut self) -> rusqlite::Result<()> {
        if self.at.is_none() && self.when.is_none() {
            return Ok(());
        }
        self.writes += 1;
        let due = self.at == Some(self.writes) || self.when.as_ref().is_some_and(|p| p.exists());
        if due && !self.filled {
            self.filled = true;
            self.full = true;
        }
        if self.full {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                Some(format!(
                    "database or disk is full (injected at write #{})",
                    self.writes
                )),
            ));
        }
        Ok(())
    }

    /// Room was made on the disk: writes succeed again.
    pub(crate) fn room_made(&mut self) {
        self.full = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_full(r: rusqlite::Result<()>) -> bool {
        r.is_err_and(|e| e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
    }

    #[test]
    fn the_nth_write_and_those_after_it_fail_until_room_is_made() {
        let mut f = Faults {
            at: Some(2),
            ..Faults::default()
        };
        assert!(f.before_write().is_ok());
        assert!(is_full(f.before_write()), "write #2 fails");
        assert!(is_full(f.before_write()), "the disk stays full");
        f.room_made();
        assert!(f.before_write().is_ok());
        assert!(f.before_write().is_ok(), "it fails once only");
    }

    #[test]
    fn writes_fail_once_the_file_is_there_until_room_is_made() {
        let dir = tempfile::tempdir().expect("dir");
        let trigger = dir.path().join("full");
        let mut f = Faults {
            when: Some(trigger.clone()),
            ..Faults::default()
        };
        assert!(f.before_write().is_ok());
        std::fs::write(&trigger, "").expect("trigger");
        assert!(is_full(f.before_write()), "full once the file is there");
        assert!(is_full(f.before_write()), "the disk stays full");
        f.room_made();
        assert!(
            f.before_write().is_ok(),
            "the file is still there: it fills once"
        );
    }

    #[test]
    fn unarmed_it_never_fails() {
        let mut f = Faults::default();
        for _ in 0..100 {
            assert!(f.before_write().is_ok());
        }
    }
}
