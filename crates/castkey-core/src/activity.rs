//! [`ActivityLog`]: which client got a token for which account and scope,
//! when, and the refusals — never a token value.
//!
//! The hot path only hands an entry to a channel (`try_send`: a full channel
//! drops the entry and counts it, it never waits). A task folds repeats of
//! the same served request within a minute into one entry, keeps the last
//! [`KEEP`] entries in memory and writes them to `activity.jsonl` in the
//! config directory (atomically, at most every few seconds): bounded in
//! memory and on disk.

use castkey_ipc::{ActivityEntry, ActivityParams};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Entries kept, in memory and on disk.
pub const KEEP: usize = 1000;
/// Served requests from the same client for the same account, scopes and
/// outcome within this many seconds are one entry with a count.
const FOLD_SECS: u64 = 60;
/// How often a changed log is written.
const WRITE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
enum Message {
    Entry(ActivityEntry),
    /// Answered once everything before it is folded in and written.
    Flush(tokio::sync::oneshot::Sender<()>),
}

#[derive(Debug)]
pub struct ActivityLog {
    tx: mpsc::Sender<Message>,
    entries: Arc<Mutex<VecDeque<ActivityEntry>>>,
    dropped: Arc<AtomicU64>,
}

impl ActivityLog {
    /// Loads the last entries of `path` and starts the writer task (needs a
    /// Tokio runtime).
    pub fn start(path: PathBuf) -> Self {
        let mut entries: VecDeque<ActivityEntry> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        while entries.len() > KEEP {
            entries.pop_front();
        }
        let entries = Arc::new(Mutex::new(entries));
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(rx, entries.clone(), path));
        ActivityLog { tx, entries, dropped: Default::default() }
    }

    /// Records an entry without waiting.
    pub fn record(&self, entry: ActivityEntry) {
        if self.tx.try_send(Message::Entry(entry)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Entries matching `params`, newest last.
    pub fn query(&self, params: &ActivityParams) -> Vec<ActivityEntry> {
        let limit = params.limit.unwrap_or(100).clamp(1, KEEP as u32) as usize;
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<ActivityEntry> = entries
            .iter()
            .rev()
            .filter(|e| params.account.as_ref().is_none_or(|a| e.account.as_ref() == Some(a)))
            .filter(|e| params.client.as_ref().is_none_or(|c| mentions(e, c)))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// Entries lost because the writer fell behind (should stay 0).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every entry recorded so far is folded in and written
    /// (tests, shutdown).
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Message::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

fn mentions(e: &ActivityEntry, text: &str) -> bool {
    let t = text.to_lowercase();
    e.client_name.as_deref().is_some_and(|n| n.to_lowercase().contains(&t))
        || e.client.executable.to_lowercase().contains(&t)
        || e.client.script.as_deref().is_some_and(|s| s.to_lowercase().contains(&t))
}

fn same_kind(a: &ActivityEntry, b: &ActivityEntry) -> bool {
    a.client == b.client
        && a.pid == b.pid
        && a.method == b.method
        && a.account == b.account
        && a.scopes == b.scopes
        && a.outcome == b.outcome
}

async fn run(mut rx: mpsc::Receiver<Message>, entries: Arc<Mutex<VecDeque<ActivityEntry>>>, path: PathBuf) {
    let mut dirty = false;
    let mut tick = tokio::time::interval(WRITE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(Message::Entry(e)) => { fold(&entries, e); dirty = true; }
                Some(Message::Flush(done)) => {
                    if dirty {
                        write(&entries, &path).await;
                        dirty = false;
                    }
                    let _ = done.send(());
                }
                None => break,
            },
            _ = tick.tick(), if dirty => {
                write(&entries, &path).await;
                dirty = false;
            }
        }
    }
    if dirty {
        write(&entries, &path).await;
    }
}

fn fold(entries: &Mutex<VecDeque<ActivityEntry>>, e: ActivityEntry) {
    let mut entries = entries.lock().unwrap_or_else(|e| e.into_inner());
    // Only the last few entries are looked at: a fold is for a burst.
    let recent = entries.iter_mut().rev().take(16).find(|old| same_kind(old, &e));
    match recent {
        Some(old) if e.at.saturating_sub(old.at) < FOLD_SECS => old.count = old.count.saturating_add(e.count),
        _ => {
            entries.push_back(e);
            while entries.len() > KEEP {
                entries.pop_front();
            }
        }
    }
}

async fn write(entries: &Mutex<VecDeque<ActivityEntry>>, path: &std::path::Path) {
    let mut text = Vec::new();
    for e in entries.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        if serde_json::to_writer(&mut text, e).is_ok() {
            text.push(b'\n');
        }
    }
    let path = path.to_path_buf();
    let done = tokio::task::spawn_blocking(move || crate::atomic_file::write(&path, &text)).await;
    if let Ok(Err(e)) = done {
        tracing::warn!("could not write the activity log: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use castkey_ipc::ClientIdentity;

    fn e(at: u64, exe: &str, outcome: &str) -> ActivityEntry {
        ActivityEntry {
            at,
            client: ClientIdentity { executable: exe.into(), script: None },
            client_name: Some("Bot".into()),
            pid: Some(7),
            method: "token".into(),
            account: Some("sandbox:bot".into()),
            scopes: vec!["broadcaster".into()],
            outcome: outcome.into(),
            count: 1,
        }
    }

    #[tokio::test]
    async fn repeats_fold_refusals_stand_out_and_the_log_is_bounded_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("activity.jsonl");
        let log = ActivityLog::start(path.clone());
        for i in 0..50 {
            log.record(e(100 + i, "/opt/bot", "served"));
        }
        log.record(e(160, "/opt/bot", "consent_denied"));
        log.record(e(161, "/opt/bot", "served"));
        log.flush().await;
        let all = log.query(&ActivityParams::default());
        let counts: Vec<_> = all.iter().map(|x| (x.outcome.as_str(), x.count)).collect();
        // 100..159 fold into one (within a minute of 100); 161 is a new minute.
        assert_eq!(counts, [("served", 50), ("consent_denied", 1), ("served", 1)]);
        let only =
            log.query(&ActivityParams { client: Some("BOT".into()), limit: Some(1), ..Default::default() });
        assert_eq!(only.len(), 1);
        assert!(log.query(&ActivityParams { account: Some("x".into()), ..Default::default() }).is_empty());
        // Many distinct entries: memory and file keep the last KEEP.
        for i in 0..(KEEP as u64 + 10) {
            log.record(e(10_000 + i * 100, &format!("/opt/c{i}"), "served"));
        }
        log.flush().await;
        assert_eq!(log.query(&ActivityParams { limit: Some(5000), ..Default::default() }).len(), KEEP);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), KEEP);
        assert!(!text.contains("access"), "no token values, no secrets");
        let again = ActivityLog::start(path);
        assert_eq!(again.query(&ActivityParams { limit: Some(5000), ..Default::default() }).len(), KEEP);
    }
}
