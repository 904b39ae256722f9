//! Waiting for readiness, with deadlines that hold on a busy machine.
//!
//! Every wait in the harness polls for a condition (a line, a socket, a
//! D-Bus name, a window) and gives up at a deadline. Deadlines are written
//! for an idle machine and stretched by [`patience`] (default ×3, or
//! `CASTKEY_TEST_PATIENCE`), so a 2-core machine that is also building
//! something still passes: a wait that succeeds returns as soon as its
//! condition holds, so a long deadline costs nothing on success. A wait that
//! gives up says what it waited for and how long it tried.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How much longer than on an idle machine a wait may take: the
/// `CASTKEY_TEST_PATIENCE` factor (a positive number; default 3).
pub fn patience() -> f64 {
    static FACTOR: OnceLock<f64> = OnceLock::new();
    *FACTOR.get_or_init(|| {
        let raw = std::env::var("CASTKEY_TEST_PATIENCE").ok();
        match raw.as_deref().map(str::parse::<f64>) {
            None => 3.0,
            Some(Ok(f)) if f.is_finite() && f > 0.0 => f,
            Some(_) => panic!("CASTKEY_TEST_PATIENCE={raw:?}: expected a positive number (default 3)"),
        }
    })
}

/// `idle` (a deadline that suits an idle machine) stretched by [`patience`].
pub fn patient(idle: Duration) -> Duration {
    idle.mul_f64(patience())
}

/// Polls `f` every 100 ms until it returns `Some`; panics naming `what` when
/// `timeout` (an idle machine's deadline, stretched by [`patience`]) passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = patient(timeout);
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        let waited = start.elapsed();
        assert!(
            waited < deadline,
            "gave up waiting for {what} after {:.1} s (deadline {timeout:?} × {} for a busy machine)",
            waited.as_secs_f64(),
            patience()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first line of the file at `path` that `f` accepts, as the file is now.
pub fn first_matching_line<T>(path: &Path, f: &mut impl FnMut(&str) -> Option<T>) -> Option<T> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).ok()?;
    std::io::BufReader::new(file).lines().map_while(Result::ok).find_map(|l| f(&l))
}

/// Sleeps past Castkey's back-off after the `failures`-th time in a row a
/// provider failed to answer (5 s, doubling; see docs/ipc.md), so that the
/// next request reaches the provider again. Not stretched: it is the
/// product's own clock.
pub fn wait_out_backoff(failures: u32) {
    let secs = 5u64 << failures.saturating_sub(1).min(6);
    std::thread::sleep(Duration::from_secs(secs.min(300) + 1));
}

/// Castkey sends at most one forced refresh (`force_refresh`) per account
/// to the provider in this many seconds; one within it is served the token
/// the last one brought (docs/ipc.md, `token`).
pub const FORCE_INTERVAL_SECS: u64 = 10;

/// Sleeps past the forced-refresh interval after a forced refresh that
/// succeeded, so that the next forced request reaches the provider. Not
/// stretched: it is the product's own clock.
pub fn wait_out_forced_refresh() {
    std::thread::sleep(Duration::from_secs(FORCE_INTERVAL_SECS + 1));
}
