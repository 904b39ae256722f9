//! [`PendingRedirects`]: browser sign-ins waiting for their redirect.
//!
//! A flow is accepted once, only while it is pending, and only until it
//! expires. [`PendingRedirects::take`] *removes* the flow by its `state`, so a
//! replayed or duplicated redirect finds nothing and is refused.
//!
//! Flows that come back through the app's URI scheme may outlive the process
//! (the user quits Castkey while the browser is open; the redirect then
//! cold-starts it), so they are also kept in the keychain — the PKCE verifier
//! is a secret — under a digest of their state, with a small index file of
//! digests and expiry times (no secrets) so that abandoned flows get purged.

use crate::clock::Clock;
use crate::error::CoreError;
use crate::redirect::RedirectError;
use crate::secret::{SecretKey, SecretStore};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// How long a sign-in may take from opening the browser to the redirect.
pub const DEFAULT_TTL_SECS: u64 = 600;

#[derive(Clone, Serialize, Deserialize)]
pub struct PendingFlow {
    pub state: String,
    pub provider: String,
    /// The issuer the flow was started against (RFC 9207 check).
    pub issuer: String,
    pub redirect_uri: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub scopes: Vec<String>,
    pub created_at: u64,
    pub expires_at: u64,
    /// Kept in the keychain so that a cold start can finish it.
    pub persist: bool,
    /// Whose sign-in this is: the person's makes the account active, a
    /// program's only adds it. Flows kept by older versions were the person's.
    #[serde(default)]
    pub for_whom: crate::grant::SignInFor,
}

impl fmt::Debug for PendingFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingFlow")
            .field("provider", &self.provider)
            .field("redirect_uri", &self.redirect_uri)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexEntry {
    digest: String,
    expires_at: u64,
}

pub struct PendingRedirects {
    flows: tokio::sync::Mutex<HashMap<String, PendingFlow>>,
    secrets: Arc<dyn SecretStore>,
    index_path: PathBuf,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for PendingRedirects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingRedirects").field("index_path", &self.index_path).finish()
    }
}

fn digest(state: &str) -> String {
    let d = sha2::Sha256::digest(state.as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

impl PendingRedirects {
    pub fn new(secrets: Arc<dyn SecretStore>, index_path: PathBuf, clock: Arc<dyn Clock>) -> Self {
        PendingRedirects { flows: Default::default(), secrets, index_path, clock }
    }

    /// Registers a flow. A persisted flow is written to the keychain first:
    /// if the keychain is unavailable the sign-in fails here, before the
    /// browser opens, and nothing is left behind.
    pub async fn insert(&self, flow: PendingFlow) -> Result<(), CoreError> {
        let mut flows = self.flows.lock().await;
        if flow.persist {
            let key = SecretKey::pending_flow(&digest(&flow.state));
            let json = serde_json::to_string(&flow).map_err(|e| CoreError::Internal(e.to_string()))?;
            self.secrets.put(&key, &SecretString::from(json)).await?;
            let mut index = self.read_index();
            index.push(IndexEntry { digest: digest(&flow.state), expires_at: flow.expires_at });
            self.write_index(&index);
        }
        flows.insert(flow.state.clone(), flow);
        Ok(())
    }

    /// The states of the flows this process started for `provider`.
    pub async fn states_of(&self, provider: &str) -> Vec<String> {
        self.flows.lock().await.values().filter(|f| f.provider == provider).map(|f| f.state.clone()).collect()
    }

    /// Removes and returns the flow waiting for `state`.
    pub async fn take(&self, state: &str) -> Result<PendingFlow, CoreError> {
        let mut flows = self.flows.lock().await;
        let d = digest(state);
        let flow = match flows.remove(state) {
            Some(flow) => flow,
            None => {
                // Not started by this process: a cold start, or a forgery.
                // Only look in the keychain for a digest the index knows, so
                // a forged deep link costs no keychain access.
                let index = self.read_index();
                if !index.iter().any(|e| e.digest == d) {
                    return Err(RedirectError::UnknownState.into());
                }
                let key = SecretKey::pending_flow(&d);
                let stored = self.secrets.get(&key).await?;
                let flow: PendingFlow = match stored {
                    Some(json) => serde_json::from_str(json.expose_secret())
                        .map_err(|e| CoreError::Internal(format!("pending sign-in unreadable: {e}")))?,
                    None => return Err(RedirectError::UnknownState.into()),
                };
                if flow.state != state {
                    return Err(RedirectError::UnknownState.into());
                }
                flow
            }
        };
        if flow.persist {
            if let Err(e) = self.secrets.delete(&SecretKey::pending_flow(&d)).await {
                tracing::warn!("could not remove a finished sign-in from the keychain: {e}");
            }
            let mut index = self.read_index();
            index.retain(|e| e.digest != d);
            self.write_index(&index);
        }
        if self.clock.now() >= flow.expires_at {
            return Err(RedirectError::Expired.into());
        }
        Ok(flow)
    }

    /// Forgets flows whose time is up (at start-up, and after each sign-in).
    pub async fn purge_expired(&self) {
        let now = self.clock.now();
        let mut flows = self.flows.lock().await;
        flows.retain(|_, f| f.expires_at > now);
        let index = self.read_index();
        let (expired, live): (Vec<_>, Vec<_>) = index.into_iter().partition(|e| e.expires_at <= now);
        if expired.is_empty() {
            return;
        }
        let mut kept = live;
        for e in expired {
            if let Err(err) = self.secrets.delete(&SecretKey::pending_flow(&e.digest)).await {
                tracing::warn!("could not purge an expired sign-in: {err}");
                kept.push(e);
            }
        }
        self.write_index(&kept);
    }

    pub async fn len(&self) -> usize {
        self.flows.lock().await.len()
    }

    fn read_index(&self) -> Vec<IndexEntry> {
        std::fs::read(&self.index_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    fn write_index(&self, index: &[IndexEntry]) {
        let result = serde_json::to_vec_pretty(index)
            .map_err(std::io::Error::other)
            .and_then(|b| crate::atomic_file::write(&self.index_path, &b));
        if let Err(e) = result {
            tracing::warn!("could not write {}: {e}", self.index_path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::secret::MemoryStore;

    fn flow(state: &str, now: u64, persist: bool) -> PendingFlow {
        PendingFlow {
            state: state.into(),
            provider: "sandbox".into(),
            issuer: "http://127.0.0.1:1".into(),
            redirect_uri: crate::APP_REDIRECT_URI.into(),
            nonce: "n".into(),
            pkce_verifier: "v".repeat(43),
            scopes: vec!["openid".into()],
            created_at: now,
            expires_at: now + DEFAULT_TTL_SECS,
            persist,
            for_whom: Default::default(),
        }
    }

    fn setup() -> (tempfile::TempDir, Arc<MemoryStore>, Arc<ManualClock>, PendingRedirects) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryStore::default());
        let clock = ManualClock::new(1_000);
        let p = PendingRedirects::new(store.clone(), dir.path().join("pending.json"), clock.clone());
        (dir, store, clock, p)
    }

    fn is_redirect_err(r: Result<PendingFlow, CoreError>, want: RedirectError) -> bool {
        matches!(r, Err(CoreError::Redirect(e)) if e == want)
    }

    #[tokio::test]
    async fn a_state_is_accepted_once() {
        let (_d, _s, _c, p) = setup();
        p.insert(flow("s1", 1_000, false)).await.unwrap();
        assert_eq!(p.take("s1").await.unwrap().provider, "sandbox");
        assert!(is_redirect_err(p.take("s1").await, RedirectError::UnknownState));
    }

    #[tokio::test]
    async fn unknown_state_is_refused_and_changes_nothing() {
        let (_d, _s, _c, p) = setup();
        p.insert(flow("real", 1_000, false)).await.unwrap();
        assert!(is_redirect_err(p.take("forged").await, RedirectError::UnknownState));
        assert_eq!(p.len().await, 1);
        p.take("real").await.unwrap();
    }

    #[tokio::test]
    async fn expired_flow_is_refused_and_removed() {
        let (_d, store, clock, p) = setup();
        p.insert(flow("s", 1_000, true)).await.unwrap();
        clock.advance(DEFAULT_TTL_SECS);
        assert!(is_redirect_err(p.take("s").await, RedirectError::Expired));
        assert!(is_redirect_err(p.take("s").await, RedirectError::UnknownState));
        assert!(store.names().is_empty(), "{:?}", store.names());
    }

    #[tokio::test]
    async fn persisted_flow_survives_a_restart_once() {
        let (dir, store, clock, p) = setup();
        p.insert(flow("cold", 1_000, true)).await.unwrap();
        drop(p);
        let again = PendingRedirects::new(store.clone(), dir.path().join("pending.json"), clock.clone());
        assert_eq!(again.take("cold").await.unwrap().pkce_verifier.len(), 43);
        assert!(is_redirect_err(again.take("cold").await, RedirectError::UnknownState));
        assert!(store.names().is_empty());
    }

    #[tokio::test]
    async fn keychain_down_at_start_fails_before_anything_is_kept() {
        let (_d, store, _c, p) = setup();
        store.unavailable.store(true, std::sync::atomic::Ordering::SeqCst);
        let err = p.insert(flow("s", 1_000, true)).await.unwrap_err();
        assert!(matches!(err, CoreError::Keychain(_)), "{err}");
        assert_eq!(p.len().await, 0);
    }

    #[tokio::test]
    async fn purge_removes_expired_persisted_flows() {
        let (_d, store, clock, p) = setup();
        p.insert(flow("old", 1_000, true)).await.unwrap();
        clock.advance(10);
        p.insert(flow("new", 1_010, true)).await.unwrap();
        clock.advance(DEFAULT_TTL_SECS - 5);
        p.purge_expired().await;
        assert_eq!(store.names().len(), 1);
        assert_eq!(p.take("new").await.unwrap().state, "new");
    }
}
