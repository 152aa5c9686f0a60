//! Storing a batch of output lines, waiting out a busy store without holding it.

use std::io::Write as _;
use std::time::Duration;

use super::{SharedStore, lock};
use crate::engine::crash;
use crate::engine::disk::{self, Disk};
use crate::store::PendingLine;

/// Tries to store `lines` this many times when the store is busy (another writer holds it).
const ATTEMPTS: u32 = 10;

/// Stores `lines` of run `run`. A busy store is waited out, `pause(attempt)` long between
/// tries: losing lines silently is not an option. The store's mutex is let go before each
/// pause, as step tasks record their states through it meanwhile (holding it through the
/// pause stalled every step for up to 4.5 s). A full disk is not waited out: the lines are
/// set aside and the run stops.
pub(super) fn append_lines(
    store: &SharedStore,
    run: i64,
    lines: Vec<PendingLine>,
    disk: &Disk,
    pause: &dyn Fn(u32),
) {
    for attempt in 1..=ATTEMPTS {
        // A statement of its own: the guard is dropped here, not at the end of the match
        // below (a scrutinee's temporaries live through every arm).
        let stored = lock(store).append_lines(run, &lines);
        match stored {
            Ok(()) => {
                crash::OUTPUT_COMMITTED.pass();
                return;
            }
            Err(e) if e.is_disk_full() => {
                disk.filled();
                disk.set_aside(lines);
                return;
            }
            Err(e) if attempt == ATTEMPTS => {
                disk.lost(lines.len());
                // The runner's stderr is a file in the spool: it may be full too.
                let _ = writeln!(
                    std::io::stderr(),
                    "run #{run}: {} lost: {e}",
                    disk::log_lines(lines.len() as u64)
                );
                return;
            }
            Err(_) => pause(attempt),
        }
    }
}

/// The wait before try `attempt + 1`: 100 ms more each time.
pub(super) fn backoff(attempt: u32) {
    std::thread::sleep(Duration::from_millis(100 * u64::from(attempt)));
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::store::Store;

    #[test]
    fn a_busy_store_is_waited_out_without_holding_its_mutex() {
        let dir = tempfile::tempdir().expect("tmp");
        let data = dir.path().join("data");
        // A busy timeout of 1 ms: SQLite reports the other writer at once.
        let mut store = Store::open(&data, &dir.path().join("config"), Duration::from_millis(1))
            .expect("store");
        let run = store.adhoc_run("", "uat");
        let shared: SharedStore = Arc::new(Mutex::new(store));
        // Another process's writer holds the database until the second pause.
        let other = rusqlite::Connection::open(data.join(crate::store::DB_FILE)).expect("open");
        other.execute_batch("BEGIN IMMEDIATE").expect("lock");
        let other = Mutex::new(Some(other));
        let pauses = Mutex::new(0);
        let pause = |_attempt: u32| {
            // What a step task does meanwhile: take the store to record its state.
            assert!(
                shared.try_lock().is_ok(),
                "the store's mutex is held through the pause"
            );
            let mut n = pauses.lock().expect("pauses");
            *n += 1;
            if *n == 2 {
                other.lock().expect("other").take();
            }
        };
        let line = PendingLine {
            at: 0,
            step_run_id: None,
            stream: "stdout",
            host: String::new(),
            line: "stored after the wait".into(),
        };
        let disk = Disk::new(dir.path().join("spare"));
        append_lines(&shared, run, vec![line], &disk, &pause);
        assert_eq!(*pauses.lock().expect("pauses"), 2);
        let lines = lock(&shared)
            .log_window(
                run,
                &crate::store::LogFilter::default(),
                crate::store::LogAnchor::Tail,
                5,
            )
            .expect("log");
        assert_eq!(lines.len(), 1, "{lines:?}");
    }
}
