//! What the IPC benchmark (`src/bin/ipc_bench.rs`, `scripts/bench`) needs
//! beyond the harness: the scenario environment with **release** binaries
//! (the harness's [`crate::binary`] is the debug build the tests use), a
//! raw line client that measures the socket and not a JSON library, and
//! percentiles.

use crate::process::Guard;
use crate::{wait_for, TestEnv};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Where the benchmark takes Castkey's binaries from: `$CASTKEY_BIN_DIR`,
/// else `<target>/release` (`$CARGO_TARGET_DIR` or the repository's
/// `target/`). Separate from [`crate::binary`] on purpose: the scenarios
/// always run the debug build that `scripts/test` makes.
pub fn release_binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("CASTKEY_BIN_DIR").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::repo().join("target"))
            .join("release")
    });
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (scripts/bench does: cargo build --release -p castkey-cli --bin castkey), \
         or point CASTKEY_BIN_DIR at the directory that has it",
        path.display()
    );
    path
}

/// `castkey login <provider>` with `castkey` (no broker running; loopback
/// redirect, the scripted browser), like [`TestEnv::login_headless`] but
/// with any build of the command. Answers the account id.
pub fn login_with(env: &TestEnv, castkey: &Path, provider: &str) -> String {
    let log_path = env.path("login.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut cmd = env.command(castkey);
    cmd.args(["login", provider]).stdin(Stdio::null()).stdout(log.try_clone().expect("log")).stderr(log);
    let mut login = Guard::spawn("login", cmd);
    let status = wait_for("castkey login", Duration::from_secs(90), || login.child.try_wait().ok().flatten());
    login.stop();
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(status.success(), "castkey login {provider} failed:\n{text}");
    text.lines()
        .find_map(|l| {
            l.strip_prefix("Signed in as ")?.rsplit_once(" (")?.1.strip_suffix(')').map(String::from)
        })
        .unwrap_or_else(|| panic!("no `Signed in as` line:\n{text}"))
}

/// Starts `<castkey> serve` in `env` and waits until it answers.
pub fn start_serve_with(env: &mut TestEnv, castkey: &Path) {
    let mut cmd = env.command(castkey);
    cmd.arg("serve");
    env.spawn("serve", cmd);
    env.wait_for_broker();
}

/// One connection that sends fixed request lines and reads answer lines,
/// with no parsing: what is measured is the socket and the server.
#[derive(Debug)]
pub struct LineClient {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    request: Vec<u8>,
    answer: Vec<u8>,
    next_id: u64,
}

impl LineClient {
    pub fn connect(path: &Path) -> io::Result<LineClient> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(LineClient {
            reader: BufReader::with_capacity(64 * 1024, stream.try_clone()?),
            writer: stream,
            request: Vec::with_capacity(256),
            answer: Vec::with_capacity(4096),
            next_id: 1,
        })
    }

    /// Sends `{"jsonrpc":"2.0","id":<n>,"method":<method>,"params":<params>}`
    /// and answers the answer line (newline included).
    pub fn call(&mut self, method: &str, params: &str) -> io::Result<&[u8]> {
        self.request.clear();
        write!(
            self.request,
            r#"{{"jsonrpc":"2.0","id":{},"method":"{method}","params":{params}}}"#,
            self.next_id
        )?;
        self.request.push(b'\n');
        self.next_id += 1;
        self.writer.write_all(&self.request)?;
        self.answer.clear();
        if self.reader.read_until(b'\n', &mut self.answer)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
        }
        Ok(&self.answer)
    }

    /// `token` with default parameters, answering whether it was a result.
    pub fn token(&mut self) -> io::Result<bool> {
        let answer = self.call("token", "{}")?;
        Ok(is_result(answer))
    }
}

/// Whether an answer line is a JSON-RPC result (not an error).
pub fn is_result(answer: &[u8]) -> bool {
    answer.windows(9).any(|w| w == br#""result":"#)
}

/// Timings of one series.
#[derive(Debug, Clone)]
pub struct Series(pub Vec<Duration>);

impl Series {
    /// The `p`-th percentile (nearest rank), e.g. `percentile(50.0)`.
    pub fn percentile(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort_unstable();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }
}

/// Times `f` `n` times.
pub fn time_n(n: usize, mut f: impl FnMut()) -> Series {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f();
        out.push(t.elapsed());
    }
    Series(out)
}

/// A duration for a table: µs below 10 ms, else ms.
pub fn show(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10_000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.1} ms", us / 1000.0)
    }
}
