//! The desktop as a window manager sees it: which top-level windows are
//! shown, closing one the way a close button does, and the processes an
//! app started (its WebKit web processes).

use crate::{repo, TestEnv};
use std::collections::HashMap;

/// Whether a window titled exactly `title` is on the scenario's display
/// (`xwininfo -root -tree`).
pub fn window_shown(env: &TestEnv, title: &str) -> bool {
    let out = env.command("xwininfo").args(["-root", "-tree"]).output().expect("run xwininfo");
    String::from_utf8_lossy(&out.stdout).lines().any(|l| l.contains(&format!("\"{title}\"")))
}

/// Asks the window titled `title` to close with WM_DELETE_WINDOW, as a
/// window manager's close button does (`tests/x11/close_window.py`).
pub fn close_window(env: &TestEnv, title: &str) {
    let out = env
        .command("python3")
        .arg(repo().join("tests/x11/close_window.py"))
        .arg(title)
        .output()
        .expect("run close_window.py");
    assert!(out.status.success(), "close_window.py: {}", String::from_utf8_lossy(&out.stderr));
}

/// `pid` and every process below it, with their names (`/proc/<pid>/stat`'s
/// comm, at most 15 bytes).
pub fn process_tree(pid: u32) -> Vec<(u32, String)> {
    let mut parents = HashMap::new();
    let mut names = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // pid (comm) state ppid …; comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let ppid = stat[close + 2..].split(' ').nth(1).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
        parents.insert(p, ppid);
        names.insert(p, stat[open + 1..close].to_string());
    }
    let below = |mut p: u32| loop {
        if p == pid {
            return true;
        }
        match parents.get(&p) {
            Some(&pp) if pp > 1 => p = pp,
            _ => return false,
        }
    };
    let mut tree: Vec<(u32, String)> = names.into_iter().filter(|(p, _)| below(*p)).collect();
    tree.sort();
    tree
}

/// The WebKit web processes below `pid`.
pub fn web_processes(pid: u32) -> Vec<u32> {
    process_tree(pid).into_iter().filter(|(_, n)| n.starts_with("WebKitWebProces")).map(|(p, _)| p).collect()
}

/// Resident and proportional memory of `pids` together, in KiB
/// (`/proc/<pid>/smaps_rollup`: `Rss`, `Pss`). Proportional counts a shared
/// page once across the processes that share it: the honest sum.
pub fn memory_kib(pids: &[u32]) -> (u64, u64) {
    let (mut rss, mut pss) = (0, 0);
    for pid in pids {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else { continue };
        for line in text.lines() {
            let value = || line.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            if line.starts_with("Rss:") {
                rss += value();
            } else if line.starts_with("Pss:") {
                pss += value();
            }
        }
    }
    (rss, pss)
}
