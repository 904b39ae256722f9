//! How much memory does the desktop app hold, and how fast is it ready?
//! Prints figures (a markdown table); asserts nothing. Run by hand after a
//! release build, with `scripts/bench --footprint` (which builds it):
//!
//! 1. Cold start to IPC ready: from spawning the **release** `castkey-app`
//!    to its socket answering `hello` (median of 3 starts).
//! 2. Memory of the whole app — the process and every process below it
//!    (WebKit's web and network processes) — as resident (RSS, pages shared
//!    between them counted in each) and proportional (PSS, the honest sum)
//!    sizes, 5 s after each of: the window open with one signed-in account;
//!    the window closed (tray only, still serving tokens).
//!
//! Everything runs in a scenario environment (`TestEnv`: Xvfb, its own
//! D-Bus and gnome-keyring, the sandbox provider).

use castkey_ipc::{Hello, HelloParams};
use castkey_scenarios::bench::release_binary;
use castkey_scenarios::x11::{close_window, memory_kib, process_tree, web_processes, window_shown};
use castkey_scenarios::{wait_for, EnvOptions, TestEnv};
use std::time::{Duration, Instant};

const SETTLE: Duration = Duration::from_secs(5);

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn hello_ok(env: &TestEnv) -> bool {
    castkey_ipc::Client::connect(&env.socket())
        .and_then(|mut c| c.call::<Hello>(&HelloParams::default()))
        .is_ok()
}

/// Starts the release app and answers (its index, ms to IPC ready).
fn start(env: &mut TestEnv, args: &[&str]) -> (usize, f64) {
    let mut cmd = env.command(release_binary("castkey-app"));
    cmd.args(args);
    // `--app-env K=V`: try the app under another setting (GDK_GL=disable…).
    let argv: Vec<String> = std::env::args().collect();
    for pair in argv.windows(2).filter(|w| w[0] == "--app-env").map(|w| &w[1]) {
        if let Some((k, v)) = pair.split_once('=') {
            cmd.env(k, v);
        }
    }
    let t0 = Instant::now();
    let index = env.spawn("app", cmd);
    wait_for("the app's socket", Duration::from_secs(60), || hello_ok(env).then_some(()));
    (index, t0.elapsed().as_secs_f64() * 1000.0)
}

/// (RSS, PSS, processes, "name PSS" of each) of the app's process tree.
fn snapshot(pid: u32) -> (u64, u64, usize, String) {
    let tree = process_tree(pid);
    let pids: Vec<u32> = tree.iter().map(|(p, _)| *p).collect();
    let (rss, pss) = memory_kib(&pids);
    let each: Vec<String> =
        tree.iter().map(|(p, name)| format!("{name} {}", mib(memory_kib(&[*p]).1))).collect();
    (rss, pss, pids.len(), each.join(", "))
}

/// The mappings of `pid` holding most memory (PSS), summed by file
/// (anonymous memory as `[anon]`, the heap as `[heap]`): where the app's
/// share goes. Printed with `--detail`.
fn top_mappings(pid: u32, n: usize) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by_name: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut current = String::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
            current = line.split_whitespace().nth(5).unwrap_or("[anon]").to_string();
        } else if let Some(rest) = line.strip_prefix("Pss:") {
            let kib = rest.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            *by_name.entry(current.clone()).or_default() += kib;
        }
    }
    let mut all: Vec<(String, u64)> = by_name.into_iter().collect();
    all.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    all.truncate(n);
    all
}

fn main() {
    let detail = std::env::args().any(|a| a == "--detail");
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    // This program asks for the token at the end: approved, so no prompt.
    let me = std::env::current_exe().expect("own path");
    env.approve_client(&me.display().to_string(), None, "footprint");

    let mut starts = Vec::new();
    for _ in 0..3 {
        let (index, ms) = start(&mut env, &[]);
        starts.push(ms);
        env.signal(index, libc::SIGTERM);
        env.wait_exit(index, Duration::from_secs(20));
    }
    starts.sort_by(f64::total_cmp);

    let (index, _) = start(&mut env, &[]);
    let pid = env.guard(index).child.id();
    wait_for("the window", Duration::from_secs(60), || window_shown(&env, "Castkey").then_some(()));
    let login =
        env.command(release_binary("castkey")).args(["login", "sandbox"]).output().expect("castkey login");
    assert!(login.status.success(), "login failed: {}", String::from_utf8_lossy(&login.stderr));
    std::thread::sleep(SETTLE);
    let open = snapshot(pid);

    close_window(&env, "Castkey");
    wait_for("the window to close", Duration::from_secs(20), || {
        (!window_shown(&env, "Castkey")).then_some(())
    });
    wait_for("the web process to exit", Duration::from_secs(30), || {
        web_processes(pid).is_empty().then_some(())
    });
    std::thread::sleep(SETTLE);
    let tray = snapshot(pid);
    if detail {
        for (name, kib) in top_mappings(pid, 15) {
            eprintln!("tray only: {} {name}", mib(kib));
        }
    }
    let served = match castkey_ipc::Client::connect(&env.socket())
        .and_then(|mut c| c.call::<castkey_ipc::Token>(&Default::default()))
    {
        Ok(_) => "yes".to_string(),
        Err(e) => format!("NO: {e}"),
    };

    env.signal(index, libc::SIGTERM);
    env.wait_exit(index, Duration::from_secs(20));

    // Started at login with "start in tray": the window was never opened.
    let settings = std::path::Path::new(&env.vars["XDG_CONFIG_HOME"]).join("castkey/settings.json");
    std::fs::write(&settings, r#"{"start_at_login":true,"start_in_tray":true}"#).expect("write settings");
    let (index, tray_start_ms) = start(&mut env, &["--autostarted"]);
    let pid = env.guard(index).child.id();
    std::thread::sleep(SETTLE);
    let never_opened = snapshot(pid);
    if detail {
        for (name, kib) in top_mappings(pid, 15) {
            eprintln!("started in tray: {} {name}", mib(kib));
        }
    }
    let window_stayed_closed = !window_shown(&env, "Castkey");

    println!("| release castkey-app | figure |");
    println!("|---|---|");
    println!("| cold start to IPC ready (median of 3) | {:.0} ms (runs: {:.0?}) |", starts[1], starts);
    println!("| window open, 1 account: PSS (RSS) | {} ({}); {} |", mib(open.1), mib(open.0), open.3);
    println!("| window closed, tray only: PSS (RSS) | {} ({}); {} |", mib(tray.1), mib(tray.0), tray.3);
    println!("| token served with the window closed | {served} |");
    println!(
        "| started at login in the tray (window never opened{}): PSS (RSS) | {} ({}); {}; IPC ready in {:.0} ms |",
        if window_stayed_closed { "" } else { " — BUT A WINDOW IS SHOWN" },
        mib(never_opened.1),
        mib(never_opened.0),
        never_opened.3,
        tray_start_ms
    );
    env.signal(index, libc::SIGTERM);
    env.wait_exit(index, Duration::from_secs(20));
}
