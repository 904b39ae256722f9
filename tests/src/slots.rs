//! How many scenarios run at once: bounded by what the machine can carry.
//!
//! `cargo test` runs the tests of one scenario binary on as many threads as
//! there are cores. A scenario with a window starts Xvfb, the app, WebKit's
//! web and network processes, tauri-driver and WebKitWebDriver besides the
//! daemons every scenario has, so two of them on a 2-core machine starve
//! each other. Each [`TestEnv`](crate::TestEnv) takes slots from one counter
//! per test binary before it starts anything: a window scenario takes
//! [`WINDOW_WEIGHT`], any other one slot; the machine offers one slot per
//! core, at least two (`CASTKEY_TEST_SLOTS` overrides). On 2 cores a window
//! scenario runs alone, and two headless ones run side by side.

use std::sync::{Condvar, Mutex, OnceLock};

/// Slots a scenario with a window takes.
pub const WINDOW_WEIGHT: usize = 2;

#[derive(Debug)]
struct Counter {
    free: Mutex<usize>,
    freed: Condvar,
    capacity: usize,
}

fn counter() -> &'static Counter {
    static COUNTER: OnceLock<Counter> = OnceLock::new();
    COUNTER.get_or_init(|| {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let capacity = match std::env::var("CASTKEY_TEST_SLOTS") {
            Ok(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| panic!("CASTKEY_TEST_SLOTS={v:?}: expected a positive whole number")),
            Err(_) => cores.max(2),
        };
        Counter { free: Mutex::new(capacity), freed: Condvar::new(), capacity }
    })
}

/// Slots held by one scenario, given back when dropped.
#[derive(Debug)]
pub struct Slots {
    taken: usize,
}

impl Slots {
    /// Waits until `weight` slots are free (at most the machine's
    /// capacity), then takes them.
    pub fn take(weight: usize) -> Slots {
        let c = counter();
        let taken = weight.clamp(1, c.capacity);
        let mut free = c.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free < taken {
            free = c.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= taken;
        Slots { taken }
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        let c = counter();
        let mut free = c.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += self.taken;
        c.freed.notify_all();
    }
}
