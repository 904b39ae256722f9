//! Stopping the broker in the middle of refreshes (issue 8, "never lose a
//! grant"): `castkey serve` starts with an empty token cache, so a token
//! request right after each start refreshes against the sandbox provider,
//! whose public client rotates the refresh token on every refresh (and
//! revokes the whole grant when a spent one comes back). The broker is
//! stopped with a signal at a random moment of that refresh and started
//! again; a try has lost the grant when the refresh token left in the
//! keychain is no longer active at the provider.
//!
//! Used by `tests/tests/killtest.rs` (SIGTERM, no try may lose the grant) and
//! by `src/bin/kill9.rs` (SIGKILL, run by hand, prints how many tries lost it).

use crate::TestEnv;
use castkey_ipc::{ClientError, Reason, Token, TokenParams};
use std::time::{Duration, Instant};

/// A small xorshift generator: reproducible from its printed seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from `$var` when set, else from the clock; answers the seed too.
    pub fn from_env_or_clock(var: &str) -> (Rng, u64) {
        let seed = std::env::var(var).ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        (Rng(seed.max(1)), seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The token request the loop makes: the default scope, as fresh as allowed.
fn fresh() -> TokenParams {
    TokenParams { min_valid_secs: Some(86_400), ..Default::default() }
}

/// What one start-request-stop round did.
#[derive(Debug)]
pub struct Try {
    /// When the signal went out, after the first token request was sent.
    pub delay: Duration,
    /// Tokens the client got before the broker went away.
    pub tokens: usize,
    /// When the first token was answered (its refresh done), after the first
    /// request was sent.
    pub first_token_after: Option<Duration>,
    /// An RPC error the client got (anything but the broker going away).
    pub error: Option<String>,
    /// The broker's exit code (`None`: killed by a signal).
    pub exit: Option<i32>,
    /// How long the broker took to exit after the signal.
    pub exit_after: Duration,
    /// The refresh token in the keychain is no longer active at the provider
    /// (or the broker answered `reauth_required`).
    pub lost: bool,
}

/// How long a token request that refreshes takes, right after a broker
/// start (the median of `n`); the broker is stopped normally after each.
pub fn refresh_duration(env: &mut TestEnv, n: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..n {
        let serve = env.start_serve();
        let start = Instant::now();
        env.client().call::<Token>(&fresh()).expect("a refreshing token request");
        times.push(start.elapsed());
        env.stop(serve);
    }
    times.sort();
    times[times.len() / 2]
}

/// Starts `castkey serve`, sends token requests one after another from
/// another thread, sends `signal` to the broker `delay` after the first
/// request went out, waits for it to exit and checks the grant.
pub fn one_try(env: &mut TestEnv, account: &str, signal: i32, delay: Duration) -> Try {
    let serve = env.start_serve();
    let socket = env.socket();
    let started = Instant::now();
    let client = std::thread::spawn(move || {
        let mut tokens = 0;
        let mut first = None;
        loop {
            let Ok(mut c) = castkey_ipc::Client::connect(&socket) else { return (tokens, first, None) };
            match c.call::<Token>(&fresh()) {
                Ok(_) => {
                    tokens += 1;
                    first = first.or(Some(started.elapsed()));
                }
                Err(ClientError::Rpc(e)) => return (tokens, first, Some(e.to_string())),
                // The broker went away mid-request (closed socket).
                Err(_) => return (tokens, first, None),
            }
        }
    });
    std::thread::sleep(delay.saturating_sub(started.elapsed()));
    env.signal(serve, signal);
    let signalled = Instant::now();
    let exit = env.wait_exit(serve, Duration::from_secs(15)); // (polls every 100 ms)
    let exit_after = signalled.elapsed();
    env.stop(serve);
    let (tokens, first_token_after, error) = client.join().expect("client thread");
    let reauth = error.as_deref().is_some_and(|e| e.contains(&Reason::ReauthRequired.to_string()));
    let active = env.refresh_token(account).is_some_and(|rt| env.introspect(&rt)["active"] == true);
    Try { delay, tokens, first_token_after, error, exit, exit_after, lost: reauth || !active }
}

impl Try {
    /// The signal came before the first token was answered: while its
    /// refresh was in flight (or before it started).
    pub fn during_refresh(&self) -> bool {
        self.first_token_after.is_none_or(|t| self.delay < t)
    }
}
