//! How often does `kill -9` of `castkey serve` in the middle of a refresh lose
//! the grant? Run by hand (not part of the test command), after building the
//! CLI (`cargo build -p castkey-cli`):
//!
//! ```sh
//! cargo run -p castkey-scenarios --bin kill9 [-- <tries, default 50>]
//! ```
//!
//! The sandbox provider is reached directly (no fault gate: a proxy between
//! them would widen the window that is measured). The public client rotates
//! the refresh token on every refresh, and a spent one coming back revokes
//! the grant. Each try starts `castkey serve`, asks for a token (the cache is
//! empty, so it refreshes) and sends SIGKILL at a moment drawn uniformly over
//! the time such a request takes (measured first), then checks whether the
//! refresh token left in the keychain is still active at the provider; when
//! it is not, the grant is lost and the streamer signs in again. A grant can
//! only be lost between the provider's answer and the keychain write.
//! `CASTKEY_KILL_SEED=<n>` replays a run.

use castkey_scenarios::killloop::{self, Rng};
use castkey_scenarios::{EnvOptions, TestEnv};
use std::time::{Duration, Instant};

fn main() {
    let tries: usize = std::env::args().nth(1).map_or(50, |s| s.parse().expect("tries: a number"));
    let mut env = TestEnv::start(EnvOptions { access_ttl: Some(2), ..Default::default() });
    let account = env.login_headless("sandbox");
    let (mut rng, seed) = Rng::from_env_or_clock("CASTKEY_KILL_SEED");
    let refresh = killloop::refresh_duration(&mut env, 5);
    println!("seed {seed}; a token request that refreshes takes {refresh:?} (median of 5)");
    let start = Instant::now();
    let mut lost = 0;
    let mut in_flight = 0;
    let mut lost_at = Vec::new();
    for i in 0..tries {
        let delay = Duration::from_micros(rng.below(refresh.as_micros() as u64 + 1));
        let t = killloop::one_try(&mut env, &account, libc::SIGKILL, delay);
        in_flight += usize::from(t.during_refresh());
        println!(
            "try {i:2}: kill -9 after {:?} (first token answered after {:?}): lost {}",
            t.delay, t.first_token_after, t.lost
        );
        if t.lost {
            lost += 1;
            lost_at.push(t.delay);
            env.login_headless("sandbox");
        }
    }
    println!(
        "kill -9 at a uniform moment of a refresh ({refresh:?}): {lost} of {tries} tries lost the grant (at {lost_at:?}); \
         {in_flight} kills came before the first token was answered; {:?} in all",
        start.elapsed()
    );
}
