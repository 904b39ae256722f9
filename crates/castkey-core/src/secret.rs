//! Secrets: the [`SecretStore`] trait and the OS keychain behind it.
//!
//! Refresh tokens (and, later, API keys and client secrets) live only here.
//! Values are [`SecretString`]s, whose `Debug` prints nothing of the value.
//! Keychain calls can block for ever (a locked Secret Service waits for a
//! prompt nobody answers), so the keychain store runs them on blocking
//! threads with a timeout, never on the async workers.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Names one secret. `service` groups Castkey's items in the keychain;
/// `name` says what the secret is, e.g. `account/sandbox:streamer/refresh_token`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretKey {
    pub name: String,
    /// Shown in keychain UIs (Seahorse, Keychain Access).
    pub label: String,
}

impl SecretKey {
    pub fn refresh_token(account_id: &str) -> Self {
        SecretKey {
            name: format!("account/{account_id}/refresh_token"),
            label: format!("Castkey refresh token for {account_id}"),
        }
    }

    pub fn client_secret(account_id: &str) -> Self {
        SecretKey {
            name: format!("account/{account_id}/client_secret"),
            label: format!("Castkey client secret for {account_id}"),
        }
    }

    pub fn api_key(account_id: &str) -> Self {
        SecretKey {
            name: format!("account/{account_id}/api_key"),
            label: format!("Castkey API key for {account_id}"),
        }
    }

    /// The client secret of a provider the user added (a confidential
    /// browser client such as IBM Video Streaming's).
    pub fn provider_client_secret(provider_id: &str) -> Self {
        SecretKey {
            name: format!("provider/{provider_id}/client_secret"),
            label: format!("Castkey client secret for provider {provider_id}"),
        }
    }

    /// Every secret an account may own (deleted together at sign-out).
    pub fn of_account(account_id: &str) -> [Self; 3] {
        [Self::refresh_token(account_id), Self::client_secret(account_id), Self::api_key(account_id)]
    }

    pub fn pending_flow(state_digest: &str) -> Self {
        SecretKey { name: format!("pending/{state_digest}"), label: "Castkey sign-in in progress".into() }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretStoreError {
    #[error("the OS keychain is unavailable: {0}")]
    Unavailable(String),
    #[error("the OS keychain is locked and was not unlocked ({0}); unlock it (e.g. log in to the desktop session) and try again")]
    Locked(String),
    #[error("the OS keychain did not answer within {0:?} (is it locked?)")]
    TimedOut(Duration),
    #[error("the OS keychain refused the operation: {0}")]
    Failed(String),
}

#[async_trait]
pub trait SecretStore: Send + Sync + fmt::Debug {
    /// A missing entry is `Ok(None)`.
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretString>, SecretStoreError>;
    async fn put(&self, key: &SecretKey, value: &SecretString) -> Result<(), SecretStoreError>;
    /// Deleting a missing entry is not an error.
    async fn delete(&self, key: &SecretKey) -> Result<(), SecretStoreError>;

    /// Fails as the store would if it cannot be written now (not running,
    /// locked): lets a sign-in fail — or ask to unlock — before the user goes
    /// through a browser. A read is not enough: a locked keychain reads.
    async fn check_available(&self) -> Result<(), SecretStoreError> {
        let probe = SecretKey { name: "probe".into(), label: "Castkey availability check".into() };
        self.put(&probe, &SecretString::from("ok")).await?;
        self.delete(&probe).await
    }
}

/// The OS keychain, through `keyring-core` and the platform's store
/// (Secret Service on Linux). The store is connected lazily and again after
/// a failure, so a keychain that was down at start-up works once it is up.
pub struct KeychainStore {
    service: String,
    timeout: Duration,
    store: Arc<Mutex<Option<Arc<keyring_core::CredentialStore>>>>,
}

impl fmt::Debug for KeychainStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeychainStore").field("service", &self.service).finish()
    }
}

impl KeychainStore {
    /// `service` namespaces Castkey's items; `$CASTKEY_KEYCHAIN_SERVICE`
    /// overrides the default `castkey`.
    pub fn new() -> Self {
        let service = std::env::var("CASTKEY_KEYCHAIN_SERVICE")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "castkey".into());
        KeychainStore { service, timeout: Duration::from_secs(10), store: Default::default() }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn run<T: Send + 'static>(
        &self,
        key: &SecretKey,
        op: impl FnOnce(&keyring_core::Entry) -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<T, SecretStoreError> {
        let slot = self.store.clone();
        let service = self.service.clone();
        let key = key.clone();
        let task = tokio::task::spawn_blocking(move || {
            let store = connect(&slot)?;
            let mods = std::collections::HashMap::from([("label", key.label.as_str())]);
            let result = store.build(&service, &key.name, Some(&mods)).and_then(|entry| op(&entry));
            result.map_err(|e| {
                let mapped = map_error(e);
                if matches!(mapped, SecretStoreError::Unavailable(_) | SecretStoreError::Locked(_)) {
                    // The connection may be gone (daemon restarted): reconnect next time.
                    slot.lock().map(|mut s| *s = None).ok();
                }
                mapped
            })
        });
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(r)) => r,
            Ok(Err(join)) => Err(SecretStoreError::Failed(format!("keychain task failed: {join}"))),
            Err(_) => {
                self.store.lock().map(|mut s| *s = None).ok();
                Err(SecretStoreError::TimedOut(self.timeout))
            }
        }
    }
}

impl Default for KeychainStore {
    fn default() -> Self {
        Self::new()
    }
}

type StoreSlot = Arc<Mutex<Option<Arc<keyring_core::CredentialStore>>>>;

fn connect(slot: &StoreSlot) -> Result<Arc<keyring_core::CredentialStore>, SecretStoreError> {
    let mut guard = slot.lock().map_err(|_| SecretStoreError::Failed("poisoned".into()))?;
    if let Some(s) = guard.as_ref() {
        return Ok(s.clone());
    }
    let store = platform_store()?;
    *guard = Some(store.clone());
    Ok(store)
}

#[cfg(target_os = "linux")]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, SecretStoreError> {
    let store = zbus_secret_service_keyring_store::store::Store::new()
        .map_err(|e| SecretStoreError::Unavailable(format!("no Secret Service on the session bus ({e})")))?;
    Ok(store)
}

#[cfg(not(target_os = "linux"))]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, SecretStoreError> {
    // macOS and Windows stores are wired in the issue that ships those
    // platforms; until then say so rather than store secrets anywhere else.
    Err(SecretStoreError::Unavailable("this platform's keychain is not wired in yet".into()))
}

fn map_error(e: keyring_core::Error) -> SecretStoreError {
    use keyring_core::Error as E;
    match e {
        // Locked, no result (prompt not answered), prompt dismissed.
        E::NoStorageAccess(inner) => SecretStoreError::Locked(inner.to_string()),
        E::PlatformFailure(inner) => SecretStoreError::Unavailable(inner.to_string()),
        E::NoDefaultStore => SecretStoreError::Unavailable("no keychain store".into()),
        other => SecretStoreError::Failed(other.to_string()),
    }
}

#[async_trait]
impl SecretStore for KeychainStore {
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretString>, SecretStoreError> {
        self.run(key, |entry| match entry.get_password() {
            Ok(v) => Ok(Some(SecretString::from(v))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn put(&self, key: &SecretKey, value: &SecretString) -> Result<(), SecretStoreError> {
        let value = value.expose_secret().to_owned();
        self.run(key, move |entry| entry.set_password(&value)).await
    }

    async fn delete(&self, key: &SecretKey) -> Result<(), SecretStoreError> {
        self.run(key, |entry| match entry.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(e),
        })
        .await
    }
}

/// Secrets in memory, for unit tests only: the app and the CLI never use it.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct MemoryStore {
    items: Mutex<std::collections::HashMap<String, SecretString>>,
    /// When set, every call fails as an unreachable keychain would.
    pub unavailable: std::sync::atomic::AtomicBool,
}

#[cfg(any(test, feature = "test-support"))]
impl MemoryStore {
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.items.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        v.sort();
        v
    }

    fn check(&self) -> Result<(), SecretStoreError> {
        if self.unavailable.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SecretStoreError::Unavailable("test: keychain switched off".into()));
        }
        Ok(())
    }
}

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl SecretStore for MemoryStore {
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretString>, SecretStoreError> {
        self.check()?;
        Ok(self.items.lock().unwrap_or_else(|e| e.into_inner()).get(&key.name).cloned())
    }

    async fn put(&self, key: &SecretKey, value: &SecretString) -> Result<(), SecretStoreError> {
        self.check()?;
        self.items.lock().unwrap_or_else(|e| e.into_inner()).insert(key.name.clone(), value.clone());
        Ok(())
    }

    async fn delete(&self, key: &SecretKey) -> Result<(), SecretStoreError> {
        self.check()?;
        self.items.lock().unwrap_or_else(|e| e.into_inner()).remove(&key.name);
        Ok(())
    }
}
