//! The harness every scenario uses. See `tests/README.md` for a tour.
//!
//! Each scenario gets its own [`TestEnv`]: a temporary HOME with its own XDG
//! directories, its own D-Bus session (no service activation, so nothing
//! starts behind the test's back), an unlocked `gnome-keyring-daemon` as the
//! real Secret Service, its own Xvfb display when it needs a window, and the
//! sandbox OpenID provider (`oidc-provider`). Every process is started in
//! its own process group and killed when the scenario ends, passing or
//! failing. The modules, by concern:
//!
//! - [`env`]: the world of one scenario (HOME, variables, bus, display, files)
//! - [`slots`]: how many scenarios run at once (bounded by the machine)
//! - [`wait`]: waits for readiness with deadlines that hold under load
//! - [`apps`]: the programs a scenario runs (`castkey`, brokers, the app, local programs)
//! - [`secrets`]: the Secret Service, the encrypted file, kernel keyrings
//! - [`provider`]: the sandbox provider (one per test binary), the fault gate, stand-ins, sign-in
//! - [`steps`]: named steps of the window scenarios
//! - [`webdriver`], [`x11`]: the real window, through tauri-driver and X
//! - [`process`]: child processes that are always cleaned up
//! - [`bench`], [`killloop`]: for the benchmarks and the kill tests

pub mod apps;
pub mod bench;
pub mod env;
pub mod killloop;
pub mod process;
pub mod provider;
pub mod secrets;
pub mod slots;
pub mod steps;
pub mod wait;
pub mod webdriver;
pub mod x11;

pub use apps::{answered_refusal, answered_token, LocalProgram};
pub use env::{screenshot_dir, EnvOptions, TestEnv};
pub use provider::{standin_calls, standin_get, standin_post};
pub use secrets::{in_session_keyring, KEYRING_PASSWORD};
pub use wait::{
    first_matching_line, patience, patient, wait_for, wait_out_backoff, wait_out_forced_refresh,
    FORCE_INTERVAL_SECS,
};

use std::path::PathBuf;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

/// The cargo target directory (`CARGO_TARGET_DIR`, or `<repo>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target"))
}

/// A binary built by the test command (`scripts/test`), by its path below
/// `<target>/debug` (e.g. `castkey`, `examples/reveal_secret`).
pub fn binary(name: &str) -> PathBuf {
    let path = target_dir().join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (scripts/test does: cargo build -p castkey-cli -p castkey-app \
         --features castkey-app/custom-protocol, and cargo build -p castkey-core --examples)",
        path.display()
    );
    path
}

/// Bytes a program printed, as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
