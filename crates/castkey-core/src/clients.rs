//! [`ApprovedClients`]: the local programs the user allowed always, with
//! what each may get (its scope policy and account binding), kept in
//! `clients.json` in the config directory.
//!
//! Read on every request, so the list lives in memory behind an `Arc`
//! snapshot; a change is written through before it is visible. The
//! `revocations` counter lets connections that cached a decision notice a
//! revocation at once without taking a lock.
//!
//! The file is the user's too: an edit by hand is read within a second
//! ([`ApprovedClients::reload_if_changed`], from a timer, never on the
//! token path), and every write starts from what is on disk, so a stale
//! copy never overwrites it. A malformed edit is reported and changes
//! nothing (and nothing is written over it until it is fixed).

use crate::error::CoreError;
use castkey_ipc::{ClientApproval, ClientIdentity};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ClientsFile {
    version: u32,
    #[serde(default)]
    clients: Vec<ClientApproval>,
}

/// The approvals, by identity.
type Snapshot = Arc<HashMap<ClientIdentity, Arc<ClientApproval>>>;

#[derive(Debug)]
pub struct ApprovedClients {
    path: PathBuf,
    state: RwLock<Snapshot>,
    write: std::sync::Mutex<()>,
    /// Bumped by every change; connections compare it with the value they
    /// cached a decision at.
    generation: AtomicU64,
    /// Bumped by every revocation; "allow once" decisions end with it.
    revocations: AtomicU64,
    /// The account each program chose for itself with `switch` (not bound
    /// by the user): what it gets by default, until the broker stops.
    choices: RwLock<HashMap<ClientIdentity, Arc<str>>>,
    /// What the file on disk was when last read or written.
    stamp: std::sync::Mutex<Option<Stamp>>,
}

/// A file's identity and version, as `stat` tells them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: (u64, u64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino())
    };
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        #[cfg(unix)]
        inode,
    })
}

fn parse(path: &Path, bytes: &[u8]) -> Result<HashMap<ClientIdentity, Arc<ClientApproval>>, CoreError> {
    let file: ClientsFile = serde_json::from_slice(bytes).map_err(|e| {
        CoreError::Storage(format!("{} is damaged ({e}); fix or move it away", path.display()))
    })?;
    Ok(file.clients.into_iter().map(|c| (c.identity.clone(), Arc::new(c))).collect())
}

impl ApprovedClients {
    /// Reads the file again each second if it changed on disk (an edit by
    /// hand), off the token path, and tells `events` when the approvals
    /// changed; a malformed edit is logged once per change. Stops when the
    /// approvals are dropped.
    pub(crate) fn watch_file(
        self: &Arc<Self>,
        events: &tokio::sync::broadcast::Sender<crate::event::CoreEvent>,
    ) {
        let (clients, events) = (Arc::downgrade(self), events.clone());
        tokio::spawn(async move {
            let mut reported = String::new();
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let Some(clients) = clients.upgrade() else { return };
                match clients.reload_if_changed() {
                    Ok(true) => {
                        let _ = events.send(crate::event::CoreEvent::ClientsChanged);
                    }
                    Ok(false) => {}
                    Err(e) if e.to_string() != reported => {
                        tracing::warn!("{e}; the approvals stay as they were");
                        reported = e.to_string();
                    }
                    Err(_) => {}
                }
            }
        });
    }

    /// Loads `path`; missing is empty, damaged is an error (never
    /// overwritten with an empty list).
    pub fn load(path: PathBuf) -> Result<Self, CoreError> {
        let before = stamp(&path);
        let map = match std::fs::read(&path) {
            Ok(bytes) => parse(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(CoreError::Storage(format!("{}: {e}", path.display()))),
        };
        Ok(ApprovedClients {
            stamp: std::sync::Mutex::new(before),
            path,
            state: RwLock::new(Arc::new(map)),
            write: Default::default(),
            generation: AtomicU64::new(1),
            revocations: AtomicU64::new(0),
            choices: Default::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn snapshot(&self) -> Snapshot {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The approval of `identity`, if the user gave one.
    pub fn get(&self, identity: &ClientIdentity) -> Option<Arc<ClientApproval>> {
        self.snapshot().get(identity).cloned()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn revocations(&self) -> u64 {
        self.revocations.load(Ordering::Acquire)
    }

    /// The account `identity` chose for itself, if it did.
    pub fn choice(&self, identity: &ClientIdentity) -> Option<Arc<str>> {
        self.choices.read().unwrap_or_else(|e| e.into_inner()).get(identity).cloned()
    }

    /// `identity` chose `account` for itself (its `switch`): its later
    /// requests without an account get that one. Open connections see it
    /// at their next request (the generation moves).
    pub fn choose(&self, identity: &ClientIdentity, account: &str) {
        let mut all = self.choices.write().unwrap_or_else(|e| e.into_inner());
        all.insert(identity.clone(), Arc::from(account));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Every approval, by name.
    pub fn list(&self) -> Vec<ClientApproval> {
        let mut all: Vec<ClientApproval> = self.snapshot().values().map(|c| (**c).clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.identity.cmp(&b.identity)));
        all
    }

    /// Reads the file again if it changed on disk since it was last read or
    /// written (an edit by hand). Answers whether the approvals changed; a
    /// malformed file is an error and changes nothing.
    pub fn reload_if_changed(&self) -> Result<bool, CoreError> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        self.reload_locked()
    }

    fn reload_locked(&self) -> Result<bool, CoreError> {
        let now = stamp(&self.path);
        let mut last = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        if *last == now {
            return Ok(false);
        }
        let map = match std::fs::read(&self.path) {
            Ok(bytes) => parse(&self.path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(CoreError::Storage(format!("{}: {e}", self.path.display()))),
        };
        *last = now;
        let old = self.snapshot();
        if *old == map {
            return Ok(false);
        }
        let revoked = old.iter().any(|(k, v)| map.get(k) != Some(v));
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        self.generation.fetch_add(1, Ordering::AcqRel);
        if revoked {
            self.revocations.fetch_add(1, Ordering::AcqRel);
        }
        tracing::info!("{} changed on disk: read again", self.path.display());
        Ok(true)
    }

    fn update<T>(
        &self,
        f: impl FnOnce(&mut HashMap<ClientIdentity, Arc<ClientApproval>>) -> T,
    ) -> Result<T, CoreError> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        // What is on disk first: an edit by hand is never overwritten.
        self.reload_locked()?;
        let mut next = (*self.snapshot()).clone();
        let out = f(&mut next);
        let mut clients: Vec<ClientApproval> = next.values().map(|c| (**c).clone()).collect();
        clients.sort_by(|a, b| a.identity.cmp(&b.identity));
        let file = ClientsFile { version: 1, clients };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| CoreError::Internal(e.to_string()))?;
        crate::atomic_file::write(&self.path, &bytes)
            .map_err(|e| CoreError::Storage(format!("{}: {e}", self.path.display())))?;
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = stamp(&self.path);
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(out)
    }

    /// Adds or replaces an approval.
    pub fn allow(&self, approval: ClientApproval) -> Result<(), CoreError> {
        self.update(|m| {
            m.insert(approval.identity.clone(), Arc::new(approval));
        })
    }

    /// Forgets an approval; answers whether there was one. Connections
    /// allowed once lose that too (they see `revocations` move).
    pub fn revoke(&self, identity: &ClientIdentity) -> Result<bool, CoreError> {
        let removed = self.update(|m| m.remove(identity).is_some())?;
        self.revocations.fetch_add(1, Ordering::AcqRel);
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(exe: &str, account: Option<&str>) -> ClientApproval {
        ClientApproval {
            identity: ClientIdentity { executable: exe.into(), script: None },
            name: exe.rsplit('/').next().unwrap_or(exe).into(),
            scopes: Some(vec!["broadcaster".into()]),
            account: account.map(str::to_string),
            approved_at: 5,
        }
    }

    #[test]
    fn approvals_survive_a_restart_and_revocation_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.json");
        let clients = ApprovedClients::load(path.clone()).unwrap();
        let g0 = clients.generation();
        clients.allow(approval("/usr/bin/obs", None)).unwrap();
        clients.allow(approval("/opt/bot", Some("sandbox:bot"))).unwrap();
        assert!(clients.generation() > g0);
        let again = ApprovedClients::load(path.clone()).unwrap();
        let bot = again.get(&ClientIdentity { executable: "/opt/bot".into(), script: None }).unwrap();
        assert_eq!(bot.account.as_deref(), Some("sandbox:bot"));
        assert_eq!(again.list().iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["bot", "obs"]);
        let r0 = again.revocations();
        assert!(again.revoke(&bot.identity).unwrap());
        assert!(!again.revoke(&bot.identity).unwrap());
        assert!(again.revocations() > r0);
        assert!(again.get(&bot.identity).is_none());
        assert_eq!(ApprovedClients::load(path).unwrap().list().len(), 1);
    }

    #[test]
    fn a_hand_edit_is_read_never_overwritten_and_a_malformed_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.json");
        let clients = ApprovedClients::load(path.clone()).unwrap();
        clients.allow(approval("/usr/bin/obs", None)).unwrap();
        assert!(!clients.reload_if_changed().unwrap(), "its own write is no change");
        // The user adds a program by hand (a new file: another inode).
        let mut edited: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let bot = serde_json::to_value(approval("/opt/bot", Some("sandbox:bot"))).unwrap();
        edited["clients"].as_array_mut().unwrap().push(bot);
        std::fs::write(dir.path().join("new.json"), serde_json::to_vec(&edited).unwrap()).unwrap();
        std::fs::rename(dir.path().join("new.json"), &path).unwrap();
        let (g, r) = (clients.generation(), clients.revocations());
        assert!(clients.reload_if_changed().unwrap());
        assert!(clients.generation() > g);
        assert_eq!(clients.revocations(), r, "an addition revokes nothing");
        let bot_id = ClientIdentity { executable: "/opt/bot".into(), script: None };
        assert!(clients.get(&bot_id).is_some());
        // The broker's next write keeps the edit.
        clients.allow(approval("/usr/bin/other", None)).unwrap();
        assert_eq!(ApprovedClients::load(path.clone()).unwrap().list().len(), 3);
        // The user removes OBS by hand: a revocation, seen at once.
        let obs_id = ClientIdentity { executable: "/usr/bin/obs".into(), script: None };
        let mut edited: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edited["clients"].as_array_mut().unwrap().retain(|c| c["identity"]["executable"] != "/usr/bin/obs");
        std::fs::write(&path, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
        assert!(clients.reload_if_changed().unwrap());
        assert!(clients.revocations() > r);
        assert!(clients.get(&obs_id).is_none());
        // A malformed edit: reported, nothing changes, nothing is written over it.
        std::fs::write(&path, b"{\"version\": 1, \"clients\": [oops").unwrap();
        let err = clients.reload_if_changed().unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        assert!(clients.get(&bot_id).is_some());
        assert!(clients.allow(approval("/usr/bin/third", None)).is_err());
        assert!(std::fs::read(&path).unwrap().ends_with(b"oops"));
    }

    #[test]
    fn a_damaged_file_is_an_error_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.json");
        std::fs::write(&path, b"[oops").unwrap();
        let err = ApprovedClients::load(path.clone()).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"[oops");
    }
}
