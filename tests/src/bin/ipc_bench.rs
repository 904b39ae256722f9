//! How fast does Castkey hand out a cached token over its socket, next to
//! the fastest a server can answer a line over the same kind of socket?
//! Prints figures (a markdown table); asserts nothing. Run by hand, after a
//! release build, with `scripts/bench` (which builds both):
//!
//! ```sh
//! scripts/bench            # or: cargo run --release -p castkey-scenarios --bin ipc-bench [-- --quick]
//! ```
//!
//! Everything runs inside a scenario environment (`TestEnv`: its own D-Bus,
//! gnome-keyring, the sandbox provider) with the **release** `castkey` from
//! `target/release` (or `$CASTKEY_BIN_DIR`): `castkey login sandbox`, then
//! `castkey serve` with its default log level. This binary is the approved
//! client (the harness lists it in `clients.json`).
//!
//! 1. Latency: one connection, `token` with default parameters (a cached
//!    token), 10 000 requests after 2 000 of warm-up; p50 and p99.
//! 2. Throughput: 1, 8 and 64 client *processes* (this binary in its
//!    `client` mode), each with its own connection, asking in a loop for a
//!    fixed time (3 s) that starts at the same instant for all; their counts
//!    summed.
//! 3. `castkey token` as a whole process, spawn to exit, 200 runs; and
//!    `castkey --version`, which starts the same binary without touching the
//!    socket.
//! 4. Room for the user's programs: a program nobody approved
//!    (`tests/clients/hoard.py`) tries to hold 1 000 connections, trickling a
//!    byte on each every 200 ms and reconnecting whenever one is closed;
//!    meanwhile this approved binary opens a new connection and asks for a
//!    token, 200 times (30 with `--quick`): p50 and p99, next to the same
//!    with nobody else connected (target: p99 under 100 ms).
//! 5. Single flight: with the fault gate in front of the provider and 5 s
//!    access tokens, 100 connections ask at the same instant once the cached
//!    token has expired; how many requests reached the provider's token
//!    endpoint (`/token`; must be exactly 1).
//!
//! The floor for 1 and 2 is this binary's `floor` mode: a Unix socket
//! server, a thread per connection, that reads a line and writes a fixed
//! one (the very answer line Castkey gave, so the bytes are the same).
//! Castkey and the floor are measured in turns, 3 rounds each (alternating
//! which goes first), and the median round is shown: on a shared machine
//! the figures move from one minute to the next. The floor for 3 is this
//! binary's `once` mode (a process that connects, asks Castkey once and
//! exits) and `/bin/true`. `--quick` does one round of fewer requests.

use castkey_scenarios::bench::{self, LineClient, Series};
use castkey_scenarios::{EnvOptions, TestEnv};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy)]
struct Plan {
    latency_requests: usize,
    warmup: usize,
    seconds: f64,
    process_runs: usize,
    /// Castkey and the floor are measured in turns, this many times each
    /// (alternating which goes first); the median of the rounds is shown.
    rounds: usize,
}

const FULL: Plan =
    Plan { latency_requests: 10_000, warmup: 2_000, seconds: 3.0, process_runs: 200, rounds: 3 };
const QUICK: Plan = Plan { latency_requests: 2_000, warmup: 500, seconds: 1.0, process_runs: 30, rounds: 1 };
const CLIENT_COUNTS: [usize; 3] = [1, 8, 64];
const BURST: usize = 100;
const BURST_TTL: u64 = 5;
const HOARD: usize = 1_000;

/// Connect, `token`, close, `n` times: what a new app's first request
/// costs; and how many of them got no token (refused, `busy`, closed).
fn fresh_connections(socket: &Path, n: usize) -> (Series, usize) {
    let mut failed = 0;
    let s = bench::time_n(n, || {
        let ok = LineClient::connect(socket).and_then(|mut c| c.token()).unwrap_or(false);
        failed += usize::from(!ok);
    });
    (s, failed)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("client") => client_mode(&args[1..]),
        Some("floor") => floor_mode(&args[1..]),
        Some("once") => once_mode(&args[1..]),
        Some("--quick") => run(QUICK),
        None => run(FULL),
        Some(other) => {
            eprintln!("usage: ipc-bench [--quick]   (unknown argument {other})");
            std::process::exit(2);
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64
}

/// `client <socket> <start unix ms> <duration ms>`: connects, warms up,
/// waits for the start, then asks for tokens until the end; prints
/// `COUNT <n> ERRORS <n> LATE <0|1>`.
fn client_mode(args: &[String]) {
    let [socket, start, duration] = args else { panic!("client <socket> <start unix ms> <duration ms>") };
    let start: u64 = start.parse().expect("start");
    let duration: u64 = duration.parse().expect("duration");
    let mut c = LineClient::connect(Path::new(socket)).expect("connect");
    c.call("hello", r#"{"name":"ipc-bench client"}"#).expect("hello");
    for _ in 0..50 {
        c.token().expect("warm-up");
    }
    let now = unix_ms();
    let late = now > start;
    if !late {
        std::thread::sleep(Duration::from_millis(start - now));
    }
    let end = Instant::now() + Duration::from_millis(duration);
    let (mut count, mut errors) = (0u64, 0u64);
    while Instant::now() < end {
        match c.token() {
            Ok(true) => count += 1,
            Ok(false) => errors += 1,
            Err(e) => {
                eprintln!("client: {e}");
                errors += 1;
                break;
            }
        }
    }
    println!("COUNT {count} ERRORS {errors} LATE {}", u8::from(late));
}

/// `floor <socket> <answer file>`: answers every line with the file's line.
fn floor_mode(args: &[String]) {
    let [socket, answer] = args else { panic!("floor <socket> <answer file>") };
    let mut line = std::fs::read(answer).expect("answer file");
    if line.last() != Some(&b'\n') {
        line.push(b'\n');
    }
    let line: Arc<[u8]> = line.into();
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).expect("bind the floor socket");
    println!("FLOOR listening on {socket}");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let line = line.clone();
        std::thread::spawn(move || {
            let Ok(read_half) = stream.try_clone() else { return };
            let mut reader = BufReader::with_capacity(64 * 1024, read_half);
            let mut writer = stream;
            let mut request = Vec::with_capacity(4096);
            loop {
                request.clear();
                match reader.read_until(b'\n', &mut request) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if writer.write_all(&line).is_err() {
                    return;
                }
            }
        });
    }
}

/// `once <socket>`: one `token` request on a new connection, then exit.
fn once_mode(args: &[String]) {
    let [socket] = args else { panic!("once <socket>") };
    let mut c = LineClient::connect(Path::new(socket)).expect("connect");
    let ok = c.token().expect("token");
    std::process::exit(if ok { 0 } else { 1 });
}

/// The environment with the release `castkey`: signed in, broker running.
fn castkey_env(opts: EnvOptions) -> (TestEnv, String) {
    let castkey = bench::release_binary("castkey");
    let mut env = TestEnv::start(opts);
    // The broker as users run it: its default log level, not the scenarios'
    // debug logging.
    env.vars.remove("CASTKEY_LOG");
    let account = bench::login_with(&env, &castkey, "sandbox");
    bench::start_serve_with(&mut env, &castkey);
    (env, account)
}

fn latency(socket: &Path, plan: Plan) -> Series {
    let mut c = LineClient::connect(socket).expect("connect");
    c.call("hello", r#"{"name":"ipc-bench"}"#).expect("hello");
    for _ in 0..plan.warmup {
        assert!(c.token().expect("token"), "the warm-up got an error");
    }
    let mut errors = 0;
    let s = bench::time_n(plan.latency_requests, || {
        if !c.token().expect("token") {
            errors += 1;
        }
    });
    assert_eq!(errors, 0, "{errors} of the timed requests got an error");
    s
}

/// Requests per second of `n` client processes on `socket` for `seconds`.
fn throughput(env: &TestEnv, socket: &Path, n: usize, seconds: f64) -> f64 {
    let me = std::env::current_exe().expect("own path");
    let duration_ms = (seconds * 1000.0) as u64;
    // Time enough for every process to start, connect and warm up first.
    let start = unix_ms() + 800 + 40 * n as u64;
    let children: Vec<_> = (0..n)
        .map(|_| {
            env.command(&me)
                .args(["client", &socket.display().to_string(), &start.to_string(), &duration_ms.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start a client process")
        })
        .collect();
    let (mut total, mut errors, mut late) = (0u64, 0u64, 0);
    for child in children {
        let out = child.wait_with_output().expect("client output");
        let text = String::from_utf8_lossy(&out.stdout);
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["COUNT", c, "ERRORS", e, "LATE", l] => {
                total += c.parse::<u64>().expect("count");
                errors += e.parse::<u64>().expect("errors");
                late += usize::from(*l == "1");
            }
            _ => panic!("a client process said {text:?} ({})", out.status),
        }
    }
    if errors > 0 || late > 0 {
        eprintln!("ipc-bench: {n} clients on {}: {errors} errors, {late} started late", socket.display());
    }
    total as f64 / seconds
}

/// Spawn-to-exit times of `cmd` (built fresh each run).
fn process_times(runs: usize, mut cmd: impl FnMut() -> Command) -> Series {
    for _ in 0..runs.min(10) {
        cmd().stdout(Stdio::null()).stderr(Stdio::null()).status().expect("warm-up run");
    }
    let mut failures = 0;
    let s = bench::time_n(runs, || {
        let status =
            cmd().stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().expect("run");
        failures += usize::from(!status.success());
    });
    assert_eq!(failures, 0, "{failures} of {runs} runs failed");
    s
}

/// Starts the floor server (this binary) answering `answer`; its socket.
fn start_floor(env: &mut TestEnv, answer: &[u8]) -> PathBuf {
    let dir = env.path("floor");
    std::fs::create_dir_all(&dir).expect("floor dir");
    let file = dir.join("answer.json");
    std::fs::write(&file, answer).expect("answer file");
    let socket = dir.join("floor.sock");
    let mut cmd = env.command(std::env::current_exe().expect("own path"));
    cmd.args(["floor", &socket.display().to_string(), &file.display().to_string()]);
    env.spawn("floor", cmd);
    castkey_scenarios::wait_for("the floor server", Duration::from_secs(10), || {
        UnixStream::connect(&socket).ok().map(|_| ())
    });
    socket
}

/// Single flight: 100 connections ask at once for an expired token.
fn burst() -> (u64, usize, usize) {
    let (env, _account) =
        castkey_env(EnvOptions { gate: true, access_ttl: Some(BURST_TTL), ..Default::default() });
    let socket = env.socket();
    let mut c = LineClient::connect(&socket).expect("connect");
    let first = String::from_utf8_lossy(c.call("token", "{}").expect("token")).into_owned();
    let grant: serde_json::Value = serde_json::from_str(&first).expect("JSON");
    let expires_at = grant["result"]["expires_at"].as_u64().unwrap_or_else(|| panic!("no token: {first}"));
    let old = grant["result"]["access_token"].as_str().expect("token").to_string();
    // Past the expiry, with a margin.
    let wait_ms = (expires_at * 1000 + 1000).saturating_sub(unix_ms());
    std::thread::sleep(Duration::from_millis(wait_ms));
    let clients: Vec<LineClient> = (0..BURST)
        .map(|_| {
            let mut c = LineClient::connect(&socket).expect("connect");
            c.call("hello", r#"{"name":"ipc-bench burst"}"#).expect("hello");
            c
        })
        .collect();
    let before = env.gate_count("/token");
    let barrier = Arc::new(Barrier::new(BURST));
    let threads: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let answer = String::from_utf8_lossy(c.call("token", "{}").expect("token")).into_owned();
                let v: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
                v["result"]["access_token"].as_str().map(String::from)
            })
        })
        .collect();
    let tokens: Vec<Option<String>> = threads.into_iter().map(|t| t.join().expect("thread")).collect();
    let calls = env.gate_count("/token") - before;
    let served = tokens.iter().flatten().count();
    let mut distinct: Vec<&String> = tokens.iter().flatten().collect();
    distinct.sort();
    distinct.dedup();
    assert!(!distinct.contains(&&old), "the expired token was served again");
    (calls, served, distinct.len())
}

/// The first three fields of /proc/loadavg: other work on the machine
/// shows in every figure.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Calls `f(true)` (Castkey's turn) and `f(false)` (the floor's) `rounds`
/// times each, alternating which goes first.
fn in_turns(rounds: usize, mut f: impl FnMut(bool)) {
    for r in 0..rounds {
        let castkey_first = r % 2 == 0;
        f(castkey_first);
        f(!castkey_first);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn show_secs(s: f64) -> String {
    bench::show(Duration::from_secs_f64(s))
}

fn ratio(castkey: f64, floor: f64) -> String {
    if floor > 0.0 {
        format!("{:.2}×", castkey / floor)
    } else {
        "–".into()
    }
}

fn run(plan: Plan) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]).output().expect("date");
    let commit = Command::new("git")
        .args(["-C", &castkey_scenarios::repo().display().to_string(), "describe", "--always", "--dirty"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let load_before = loadavg();
    eprintln!("ipc-bench: {plan:?}; load average {load_before}");

    let (mut env, account) = castkey_env(EnvOptions::default());
    let socket = env.socket();
    let castkey = bench::release_binary("castkey");
    let castkey_version = Command::new(&castkey).arg("--version").output().expect("castkey --version");

    // The very answer Castkey gives, for the floor to send back.
    let mut c = LineClient::connect(&socket).expect("connect");
    let answer = c.call("token", "{}").expect("token").to_vec();
    assert!(bench::is_result(&answer), "Castkey refused the bench: {}", String::from_utf8_lossy(&answer));
    drop(c);
    let floor = start_floor(&mut env, &answer);

    eprintln!("ipc-bench: latency…");
    let (mut p50, mut p99) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    in_turns(plan.rounds, |castkey_turn| {
        let s = latency(if castkey_turn { &socket } else { &floor }, plan);
        let (a, b) = if castkey_turn { (&mut p50.0, &mut p99.0) } else { (&mut p50.1, &mut p99.1) };
        a.push(s.percentile(50.0).as_secs_f64());
        b.push(s.percentile(99.0).as_secs_f64());
    });
    let (p50, p99) = ((median(p50.0), median(p50.1)), (median(p99.0), median(p99.1)));
    let mut rows = vec![
        row(
            &format!("`token` latency p50 (1 connection, {} requests)", plan.latency_requests),
            show_secs(p50.0),
            show_secs(p50.1),
            ratio(p50.0, p50.1),
            "≤ 1.5×",
        ),
        row("`token` latency p99", show_secs(p99.0), show_secs(p99.1), ratio(p99.0, p99.1), ""),
    ];
    for n in CLIENT_COUNTS {
        eprintln!("ipc-bench: throughput, {n} client processes…");
        let (mut c, mut f) = (Vec::new(), Vec::new());
        in_turns(plan.rounds, |castkey_turn| {
            if castkey_turn {
                c.push(throughput(&env, &socket, n, plan.seconds));
            } else {
                f.push(throughput(&env, &floor, n, plan.seconds));
            }
        });
        let (t_castkey, t_floor) = (median(c), median(f));
        rows.push(row(
            &format!("throughput, {n} client process{} ({} s)", if n == 1 { "" } else { "es" }, plan.seconds),
            format!("{t_castkey:.0} req/s"),
            format!("{t_floor:.0} req/s"),
            format!("{:.0} % of the floor", 100.0 * t_castkey / t_floor),
            if n == 1 { "" } else { "≥ 80 %" },
        ));
    }

    eprintln!("ipc-bench: castkey token as a process…");
    let cli = process_times(plan.process_runs, || {
        let mut c = env.command(&castkey);
        c.arg("token");
        c
    });
    let me = std::env::current_exe().expect("own path");
    let once = process_times(plan.process_runs, || {
        let mut c = env.command(&me);
        c.args(["once", &socket.display().to_string()]);
        c
    });
    let tru = process_times(plan.process_runs, || env.command("/bin/true"));
    let version = process_times(plan.process_runs, || {
        let mut c = env.command(&castkey);
        c.arg("--version");
        c
    });
    rows.push(row(
        &format!("`castkey token`, spawn to exit, p50 of {}", plan.process_runs),
        bench::show(cli.percentile(50.0)),
        format!(
            "{} (a minimal client process); {} (`/bin/true`)",
            bench::show(once.percentile(50.0)),
            bench::show(tru.percentile(50.0))
        ),
        ratio(cli.percentile(50.0).as_secs_f64(), once.percentile(50.0).as_secs_f64()),
        "< 1 ms",
    ));
    rows.push(row(
        "`castkey --version` (no socket), spawn to exit, p50",
        bench::show(version.percentile(50.0)),
        format!("{} (`/bin/true`)", bench::show(tru.percentile(50.0))),
        ratio(version.percentile(50.0).as_secs_f64(), tru.percentile(50.0).as_secs_f64()),
        "",
    ));
    rows.push(row(
        "`castkey token`, spawn to exit, p99",
        bench::show(cli.percentile(99.0)),
        format!("{} (a minimal client process)", bench::show(once.percentile(99.0))),
        ratio(cli.percentile(99.0).as_secs_f64(), once.percentile(99.0).as_secs_f64()),
        "",
    ));
    eprintln!("ipc-bench: an approved program while another tries to hold {HOARD} connections…");
    let (quiet, _) = fresh_connections(&socket, plan.process_runs);
    let mut hoard = env.command("python3");
    hoard
        .arg(castkey_scenarios::repo().join("tests/clients/hoard.py"))
        .arg(&socket)
        .arg(HOARD.to_string())
        .arg("6")
        .stdout(Stdio::piped());
    let hoarder = hoard.spawn().expect("start hoard.py");
    std::thread::sleep(Duration::from_secs(2));
    let (hoarded, failed) = fresh_connections(&socket, plan.process_runs);
    let said = hoarder.wait_with_output().expect("hoard.py");
    let said = String::from_utf8_lossy(&said.stdout).trim().to_string();
    for (name, p) in [("p50", 50.0), ("p99", 99.0)] {
        rows.push(row(
            &format!(
                "new connection + `token` of an approved program, {name} of {}, while a program nobody approved \
                 tries to hold {HOARD} connections trickling bytes (it: {said})",
                plan.process_runs
            ),
            match failed {
                0 => bench::show(hoarded.percentile(p)),
                n => format!("{} ({n} of {} got no token)", bench::show(hoarded.percentile(p)), plan.process_runs),
            },
            format!("{} (nobody else connected)", bench::show(quiet.percentile(p))),
            ratio(hoarded.percentile(p).as_secs_f64(), quiet.percentile(p).as_secs_f64()),
            if name == "p99" { "< 100 ms" } else { "" },
        ));
    }
    drop(env);

    eprintln!("ipc-bench: {BURST} clients at once on an expired token…");
    let (calls, served, distinct) = burst();
    rows.push(row(
        &format!("token-endpoint calls, {BURST} connections at once on an expired token"),
        format!(
            "{calls} ({served} of {BURST} served, {distinct} distinct token{})",
            if distinct == 1 { "" } else { "s" }
        ),
        "–".into(),
        "–".into(),
        "exactly 1",
    ));

    println!(
        "\nipc-bench, {}: {} ({}); repository at {commit}; {cores} CPUs; `castkey serve` at its default log \
         level; `token` answer {} bytes ({account}); median of {} round{}; load average before the run (1, 5, 15 min) \
         {load_before}\n",
        String::from_utf8_lossy(&date.stdout).trim(),
        String::from_utf8_lossy(&castkey_version.stdout).trim(),
        castkey.display(),
        answer.len(),
        plan.rounds,
        if plan.rounds == 1 { "" } else { "s" },
    );
    println!("| measure | Castkey | floor | Castkey vs floor | target |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}

fn row(measure: &str, castkey: String, floor: String, vs: String, target: &str) -> String {
    format!("| {measure} | {castkey} | {floor} | {vs} | {target} |")
}
