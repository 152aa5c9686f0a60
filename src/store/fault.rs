//! Disk-full fault injection for tests, in debug builds only: SQLite's own tests fail the
//! n-th I/O operation to prove every write path copes; this fails the n-th write of a
//! runner's store the way a disk that filled up does.
//!
//! With `PILOTE_DISK_FULL_AT=<n>` in a runner's environment, its n-th store write and every
//! one after it fail with SQLITE_FULL, until the runner makes room (deletes its spare file,
//! see [`super::Store::space_freed`]). A release build never reads the variable.

/// The injector of one store; inert unless armed from the environment (debug builds).
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// The write that fails first, counting from 1.
    at: Option<u64>,
    writes: u64,
    /// Writes fail until room is made.
    full: bool,
}

impl Faults {
    /// Armed by `PILOTE_DISK_FULL_AT`, in debug builds only.
    pub(crate) fn from_env() -> Self {
        #[cfg(debug_assertions)]
        let at = std::env::var("PILOTE_DISK_FULL_AT")
            .ok()
            .and_then(|v| v.trim().parse().ok());
        #[cfg(not(debug_assertions))]
        let at = None;
        Self {
            at,
            ..Self::default()
        }
    }

    /// Called before each write transaction: the error SQLite gives on a full disk, when
    /// this write is to fail.
    pub(crate) fn before_write(&mut self) -> rusqlite::Result<()> {
        let Some(at) = self.at else {
            return Ok(());
        };
        self.writes += 1;
        if self.writes == at {
            self.full = true;
        }
        if self.full {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                Some(format!(
                    "database or disk is full (injected at write #{at})"
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

    #[test]
    fn the_nth_write_and_those_after_it_fail_until_room_is_made() {
        let mut f = Faults {
            at: Some(2),
            ..Faults::default()
        };
        assert!(f.before_write().is_ok());
        let e = f.before_write().expect_err("write #2 fails");
        assert_eq!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DiskFull),
            "{e}"
        );
        assert!(f.before_write().is_err(), "the disk stays full");
        f.room_made();
        assert!(f.before_write().is_ok());
        assert!(f.before_write().is_ok(), "it fails once only");
    }

    #[test]
    fn unarmed_it_never_fails() {
        let mut f = Faults::default();
        for _ in 0..100 {
            assert!(f.before_write().is_ok());
        }
    }
}
