//! Crash points: where the runner has just committed something (or is about to), and where a
//! test may make it die. With `PILOTE_CRASH_AT=<point>#<n>`, the runner aborts (as `kill -9`
//! would, no destructor, no flush) the n-th time it passes `<point>`, so the crash-recovery
//! tests (`tests/crash.rs`) can stop it at every persistence point in turn.
//!
//! The hook exists only in builds with debug assertions, which is what `cargo test` runs: a
//! release build has no code reading the variable, so no user setting can reach it.

use std::sync::atomic::AtomicUsize;

/// A persistence point of the runner, with how many times this process passed it.
pub(crate) struct Point {
    #[cfg_attr(not(debug_assertions), expect(dead_code))]
    name: &'static str,
    #[cfg_attr(not(debug_assertions), expect(dead_code))]
    passed: AtomicUsize,
}

impl Point {
    const fn new(name: &'static str) -> Self {
        Self {
            name,
            passed: AtomicUsize::new(0),
        }
    }

    /// The runner passes this point; in a test build it dies here when it was asked to.
    #[inline]
    pub(crate) fn pass(&self) {
        #[cfg(debug_assertions)]
        armed::pass(
            self,
            self.passed
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1,
        );
    }
}

/// After a step's start is committed, before its process is spawned.
pub(crate) static STEP_STARTED: Point = Point::new("step_started");
/// After a step's process ended, before its end is committed.
pub(crate) static STEP_RAN: Point = Point::new("step_ran");
/// After a step's end is committed.
pub(crate) static STEP_FINISHED: Point = Point::new("step_finished");
/// After a batch of output lines is committed.
pub(crate) static OUTPUT_COMMITTED: Point = Point::new("output_committed");
/// Once the runner has marked its run running, the (app, env) lock held since the run was
/// created, before the first step.
pub(crate) static LOCK_TAKEN: Point = Point::new("lock_taken");
/// After the run's end is committed, which releases its lock.
pub(crate) static LOCK_RELEASED: Point = Point::new("lock_released");
/// After Alertmanager created a silence, before its id is committed.
pub(crate) static SILENCE_OPENED: Point = Point::new("silence_opened");
/// After Alertmanager expired a silence, before that is committed.
pub(crate) static SILENCE_EXPIRED: Point = Point::new("silence_expired");

/// Every point, for checking the variable's point name (a release build reads no variable).
#[cfg_attr(not(debug_assertions), expect(dead_code))]
pub(crate) static POINTS: [&Point; 8] = [
    &STEP_STARTED,
    &STEP_RAN,
    &STEP_FINISHED,
    &OUTPUT_COMMITTED,
    &LOCK_TAKEN,
    &LOCK_RELEASED,
    &SILENCE_OPENED,
    &SILENCE_EXPIRED,
];

/// Checks `PILOTE_CRASH_AT` once, when the runner starts: a test asking for a point that does
/// not exist must not pass for want of a crash.
pub(crate) fn check() -> Result<(), String> {
    #[cfg(debug_assertions)]
    if let Some(Err(e)) = armed::target() {
        return Err(e.clone());
    }
    Ok(())
}

#[cfg(debug_assertions)]
mod armed {
    use std::sync::OnceLock;

    use super::{POINTS, Point};

    const VAR: &str = "PILOTE_CRASH_AT";

    /// The point and pass to die at, read once; `None` when the variable is unset.
    pub(super) fn target() -> Option<&'static Result<(&'static str, usize), String>> {
        static TARGET: OnceLock<Option<Result<(&'static str, usize), String>>> = OnceLock::new();
        TARGET
            .get_or_init(|| std::env::var(VAR).ok().map(|spec| parse(&spec)))
            .as_ref()
    }

    pub(super) fn parse(spec: &str) -> Result<(&'static str, usize), String> {
        let names = || POINTS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ");
        let (name, n) = spec
            .split_once('#')
            .ok_or_else(|| format!("{VAR}={spec}: expected <point>#<n>, points: {}", names()))?;
        let point = POINTS
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| format!("{VAR}={spec}: no crash point `{name}`; points: {}", names()))?;
        match n.parse::<usize>() {
            Ok(n) if n > 0 => Ok((point.name, n)),
            _ => Err(format!(
                "{VAR}={spec}: `{n}` is not a pass number (1, 2...)"
            )),
        }
    }

    pub(super) fn pass(point: &Point, n: usize) {
        if let Some(Ok((name, at))) = target()
            && *name == point.name
            && *at == n
        {
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::POINTS;

    #[test]
    fn every_point_has_its_own_name_and_the_spec_is_checked() {
        let mut names: Vec<&str> = POINTS.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), POINTS.len());
        assert_eq!(super::armed::parse("step_ran#2"), Ok(("step_ran", 2)));
        for bad in ["step_ran", "step_ran#0", "step_ran#x", "silence_created#1"] {
            let e = super::armed::parse(bad).expect_err(bad);
            assert!(e.starts_with(&format!("PILOTE_CRASH_AT={bad}: ")), "{e}");
        }
    }
}
