//! Secrets: the [`SecretStore`] trait and the stores behind it.
//!
//! - [`KeychainStore`] (here): the OS keychain, the default.
//! - `file`: [`EncryptedFileStore`], every secret in one file encrypted
//!   with a key derived from a passphrase, for machines without a keychain.
//! - `kernel`: [`KernelKeyringStore`], the Linux kernel keyring: nothing on
//!   disk, nothing after a reboot.
//! - `choice`: which one the user chose ([`SecretStoreKind`]) and opening it.
//!
//! Refresh tokens, API keys and client secrets live only here.
//! Values are [`SecretString`]s, whose `Debug` prints nothing of the value.
//! Keychain calls can block for ever (a locked Secret Service waits for a
//! prompt nobody answers), so the keychain store runs them off the async
//! workers, one at a time, with a timeout; while one is stuck, later calls
//! fail at once instead of each parking another thread (`BlockingLane`).
//! Failures say which of missing, locked, timed out, busy or failed they are,
//! with a stable [`SecretStoreError::code`].

mod choice;
mod file;
#[cfg(target_os = "linux")]
mod kernel;
mod split;

pub use choice::{open_store, OpenStoreError, Passphrase, SecretStoreKind, StoreChoice, SECRET_STORE_ENV};
pub use file::{EncryptedFileStore, SECRETS_FILE};
#[cfg(target_os = "linux")]
pub use kernel::KernelKeyringStore;

use async_trait::async_trait;
use castkey_ipc::SecretStoreInfo;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

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

    /// An access token that neither expires nor comes with a refresh token
    /// (GitHub OAuth apps, long-lived platform tokens): the grant itself,
    /// kept so that it is still served after a restart.
    pub fn standing_access_token(account_id: &str) -> Self {
        SecretKey {
            name: format!("account/{account_id}/access_token"),
            label: format!("Castkey access token for {account_id}"),
        }
    }

    /// Every secret an account may own (deleted together at sign-out).
    pub fn of_account(account_id: &str) -> [Self; 4] {
        [
            Self::refresh_token(account_id),
            Self::client_secret(account_id),
            Self::api_key(account_id),
            Self::standing_access_token(account_id),
        ]
    }

    pub fn pending_flow(state_digest: &str) -> Self {
        SecretKey { name: format!("pending/{state_digest}"), label: "Castkey sign-in in progress".into() }
    }
}

/// The SHA-256 digest of a token, to compare two tokens without comparing
/// (or logging) their values: a refused token an app reports against the
/// one Castkey holds. Equal digests mean equal tokens.
pub(crate) fn token_digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Why the keychain could not do what was asked. Every variant maps to the
/// IPC reason `keychain_unavailable`; [`SecretStoreError::code`] tells them
/// apart, and the message says what the user can do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretStoreError {
    /// No keychain to talk to: no Secret Service on the session bus, or a
    /// platform whose keychain is not wired in.
    #[error("the OS keychain is unavailable: {0}; {MISSING_ADVICE}")]
    Unavailable(String),
    /// The keychain answered that it is locked, or its unlock prompt was
    /// dismissed.
    #[error("the OS keychain is locked and was not unlocked ({0}); {UNLOCK_ADVICE}")]
    Locked(String),
    /// No answer within the timeout: most often an unlock prompt nobody has
    /// answered yet. The call goes on in the background.
    #[error(
        "the OS keychain did not answer within {}; it is probably waiting for you to unlock it: \
         {UNLOCK_ADVICE}",
        seconds(.0)
    )]
    TimedOut(Duration),
    /// An earlier call has not come back (it timed out and is still
    /// blocked), so this one was not sent; carries how long the earlier one
    /// has been waiting.
    #[error(
        "the OS keychain has not answered an earlier call for {} (it is probably waiting to be \
         unlocked), so Castkey sends it nothing more until it does; {UNLOCK_ADVICE}",
        seconds(.0)
    )]
    Busy(Duration),
    /// Anything else the keychain or the call itself refused.
    #[error("the OS keychain refused the operation: {0}; try again, and if it keeps failing restart the keychain service")]
    Failed(String),
    /// The encrypted secrets file could not be written (disk full, read-only,
    /// permissions); what was in it before is still there.
    #[error("the encrypted secrets file could not be written: {0}")]
    FileFailed(String),
    /// The Linux kernel keyring refused the operation.
    #[error("the kernel keyring refused the operation: {0}")]
    KernelKeyringFailed(String),
}

impl SecretStoreError {
    /// Stable across versions: callers and tests branch on this, never on
    /// the message.
    pub fn code(&self) -> &'static str {
        match self {
            SecretStoreError::Unavailable(_) => "keychain_missing",
            SecretStoreError::Locked(_) => "keychain_locked",
            SecretStoreError::TimedOut(_) => "keychain_timed_out",
            SecretStoreError::Busy(_) => "keychain_busy",
            SecretStoreError::Failed(_) => "keychain_failed",
            SecretStoreError::FileFailed(_) => "secret_file_failed",
            SecretStoreError::KernelKeyringFailed(_) => "kernel_keyring_failed",
        }
    }
}

const UNLOCK_ADVICE: &str = "unlock your login keyring (answer its unlock prompt, or unlock it in \
     Passwords and Keys / Seahorse, or log in to the desktop session) and try again";

/// Names the other stores and how to choose them: Castkey never falls back
/// to one by itself.
#[cfg(target_os = "linux")]
const MISSING_ADVICE: &str = "start a Secret Service in your desktop session (gnome-keyring-daemon, \
     KWallet, or KeePassXC with its Secret Service integration) and try again, or choose another \
     secret store: an encrypted file (`castkey serve --secret-store file`, which asks for a \
     passphrase) or the kernel keyring (`castkey serve --secret-store kernel`: memory only, lost at \
     reboot); `CASTKEY_SECRET_STORE=file` or `=kernel` chooses the same for scripts";

#[cfg(not(target_os = "linux"))]
const MISSING_ADVICE: &str = "Castkey cannot keep secrets on this platform yet";

fn seconds(d: &Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
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

    /// What this store is, for `castkey status` and the `hello` answer to
    /// Castkey's own tools. Never a secret.
    fn describe(&self) -> SecretStoreInfo {
        SecretStoreInfo {
            kind: "other".into(),
            description: format!("{self:?}"),
            path: None,
            limits: None,
            chosen_by: None,
        }
    }
}

/// Where the lane's one blocking call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Free,
    /// A call has been on its thread since `since`; once it has run longer
    /// than the timeout it counts as stuck.
    Taken {
        since: Instant,
    },
}

/// Runs blocking calls on a thread of their own, one at a time, each with a
/// timeout. A thread blocked in a keychain call cannot be cancelled, and
/// behind it the Secret Service store's own mutex would queue every later
/// call; so a call that overruns keeps the lane, and later calls are turned
/// away at once ([`SecretStoreError::Busy`]) without starting a thread. The
/// lane frees itself when the stuck call returns (the keyring was unlocked,
/// the prompt dismissed, or the daemon went away). A call that finds the
/// lane taken by one that is not stuck yet waits for it, on no thread.
#[derive(Debug)]
struct BlockingLane {
    timeout: Duration,
    lane: Arc<watch::Sender<Lane>>,
}

impl BlockingLane {
    fn new(timeout: Duration) -> Self {
        BlockingLane { timeout, lane: Arc::new(watch::Sender::new(Lane::Free)) }
    }

    async fn run<T, F>(&self, op: F) -> Result<T, SecretStoreError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, SecretStoreError> + Send + 'static,
    {
        let since = self.take().await?;
        let free = FreeOnDrop { lane: self.lane.clone(), since, timeout: self.timeout };
        let (answer, answered) = oneshot::channel();
        // A thread of its own, not `spawn_blocking`: a call stuck for good
        // must not keep the runtime from shutting down.
        std::thread::Builder::new()
            .name("castkey-keychain".into())
            .spawn(move || {
                let result = op();
                drop(free);
                // The caller may have given up already; nobody else wants it.
                answer.send(result).ok();
            })
            .map_err(|e| SecretStoreError::Failed(format!("could not start a keychain call: {e}")))?;
        match tokio::time::timeout_at(since + self.timeout, answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(SecretStoreError::Failed("the keychain call panicked".into())),
            Err(_) => {
                tracing::warn!(
                    "the keychain did not answer within {}; later calls fail until it does",
                    seconds(&self.timeout)
                );
                Err(SecretStoreError::TimedOut(self.timeout))
            }
        }
    }

    /// Takes the lane, waiting (up to the timeout) for a call that holds it
    /// and is not stuck yet; returns when the lane was taken.
    async fn take(&self) -> Result<Instant, SecretStoreError> {
        let arrived = Instant::now();
        let mut lane = self.lane.subscribe();
        loop {
            let now = Instant::now();
            let mut taken = false;
            self.lane.send_if_modified(|l| match *l {
                Lane::Free => {
                    *l = Lane::Taken { since: now };
                    taken = true;
                    true
                }
                Lane::Taken { .. } => false,
            });
            if taken {
                return Ok(now);
            }
            let current = *lane.borrow_and_update();
            let since = match current {
                Lane::Free => continue,
                Lane::Taken { since } => since,
            };
            // Stuck once it has run past the timeout; and never wait longer
            // than one timeout in all, however many calls go ahead of this one.
            let give_up = (since + self.timeout).min(arrived + self.timeout);
            if now >= give_up {
                return Err(SecretStoreError::Busy(now.saturating_duration_since(since)));
            }
            match tokio::time::timeout_at(give_up, lane.wait_for(|l| *l == Lane::Free)).await {
                Ok(Ok(_)) => {}
                // The sender lives in `self`: it cannot be gone while we run.
                Ok(Err(_)) => return Err(SecretStoreError::Failed("the keychain lane closed".into())),
                Err(_) => return Err(SecretStoreError::Busy(since.elapsed())),
            }
        }
    }

    /// Waits until no call holds the lane.
    #[cfg(test)]
    async fn settled(&self) {
        self.lane.subscribe().wait_for(|l| *l == Lane::Free).await.ok();
    }
}

/// Frees the lane when the call's thread is done with it, panics included.
#[derive(Debug)]
struct FreeOnDrop {
    lane: Arc<watch::Sender<Lane>>,
    since: Instant,
    timeout: Duration,
}

impl Drop for FreeOnDrop {
    fn drop(&mut self) {
        let took = self.since.elapsed();
        if took > self.timeout {
            tracing::info!(
                "a keychain call came back after {}; keychain calls go through again",
                seconds(&took)
            );
        }
        self.lane.send_replace(Lane::Free);
    }
}

/// The OS keychain, through `keyring-core` and the platform's store
/// (Secret Service on Linux). The store is connected lazily and again after
/// a failure, so a keychain that was down at start-up works once it is up.
pub struct KeychainStore {
    service: String,
    lane: BlockingLane,
    store: StoreSlot,
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
        KeychainStore { service, lane: BlockingLane::new(Duration::from_secs(10)), store: Default::default() }
    }

    #[cfg(not(target_os = "windows"))]
    async fn run<T: Send + 'static>(
        &self,
        key: &SecretKey,
        op: impl FnOnce(&keyring_core::Entry) -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<T, SecretStoreError> {
        let name = key.name.clone();
        self.run_items(key, move |make| op(&make(&name)?)).await
    }

    /// Like [`KeychainStore::run`], with `op` given a way to build the
    /// entry of any item name (for secrets split across items).
    async fn run_items<T: Send + 'static>(
        &self,
        key: &SecretKey,
        op: impl FnOnce(split::Maker) -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<T, SecretStoreError> {
        let slot = self.store.clone();
        let service = self.service.clone();
        let key = key.clone();
        // On a timeout the connection is kept: the stuck call still uses it,
        // and it is fine again once that call returns.
        self.lane
            .run(move || {
                let store = connect(&slot)?;
                let mods = modifiers(&key.label);
                let make = |name: &str| store.build(&service, name, mods.as_ref());
                let result = op(&make);
                result.map_err(|e| {
                    let mapped = map_error(e);
                    if matches!(mapped, SecretStoreError::Unavailable(_) | SecretStoreError::Locked(_)) {
                        // The connection may be gone (daemon restarted): reconnect next time.
                        slot.lock().map(|mut s| *s = None).ok();
                    }
                    mapped
                })
            })
            .await
    }
}

impl Default for KeychainStore {
    fn default() -> Self {
        Self::new()
    }
}

type StoreSlot = Arc<Mutex<Option<Arc<keyring_core::CredentialStore>>>>;

fn connect(slot: &StoreSlot) -> Result<Arc<keyring_core::CredentialStore>, SecretStoreError> {
    let poisoned = |_| SecretStoreError::Failed("the keychain connection's lock is poisoned".into());
    if let Some(s) = slot.lock().map_err(poisoned)?.as_ref() {
        return Ok(s.clone());
    }
    // Connected without holding the lock (the lane runs one call at a time
    // anyway), so nothing else ever waits on the lock behind a slow connect.
    let store = platform_store()?;
    *slot.lock().map_err(poisoned)? = Some(store.clone());
    Ok(store)
}

#[cfg(target_os = "linux")]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, SecretStoreError> {
    let store = zbus_secret_service_keyring_store::store::Store::new()
        .map_err(|e| SecretStoreError::Unavailable(format!("no Secret Service on the session bus ({e})")))?;
    Ok(store)
}

/// Windows Credential Manager (generic credentials, enterprise
/// persistence: they roam with the profile). Not run: see docs/platforms.md.
#[cfg(target_os = "windows")]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, SecretStoreError> {
    let store = windows_native_keyring_store::Store::new()
        .map_err(|e| SecretStoreError::Unavailable(format!("Windows Credential Manager ({e})")))?;
    Ok(store)
}

/// The user's login keychain (the `keychain` store, not `protected`,
/// which needs a provisioning profile: PITFALLS #13). Not run: see
/// docs/platforms.md.
#[cfg(target_os = "macos")]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, SecretStoreError> {
    let store = apple_native_keyring_store::keychain::Store::new()
        .map_err(|e| SecretStoreError::Unavailable(format!("the macOS keychain ({e})")))?;
    Ok(store)
}

#[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "macos")))]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, SecretStoreError> {
    // Say so rather than store secrets anywhere else.
    Err(SecretStoreError::Unavailable("this platform's keychain is not wired in".into()))
}

/// Entry modifiers each platform's store takes: the Secret Service shows a
/// label (Seahorse); the others take none that Castkey needs.
#[cfg(target_os = "linux")]
fn modifiers(label: &str) -> Option<std::collections::HashMap<&str, &str>> {
    Some(std::collections::HashMap::from([("label", label)]))
}

#[cfg(not(target_os = "linux"))]
fn modifiers(_label: &str) -> Option<std::collections::HashMap<&str, &str>> {
    None
}

fn map_error(e: keyring_core::Error) -> SecretStoreError {
    use keyring_core::Error as E;
    match e {
        // Locked, no result (prompt not answered), prompt dismissed.
        E::NoStorageAccess(inner) => SecretStoreError::Locked(inner.to_string()),
        // The Secret Service's own failures: not on the bus, connection lost.
        E::PlatformFailure(inner) => SecretStoreError::Unavailable(inner.to_string()),
        E::NoDefaultStore => SecretStoreError::Unavailable("no keychain store".into()),
        other => SecretStoreError::Failed(other.to_string()),
    }
}

#[async_trait]
impl SecretStore for KeychainStore {
    fn describe(&self) -> SecretStoreInfo {
        SecretStoreInfo {
            kind: SecretStoreKind::Keychain.name().into(),
            description: if cfg!(target_os = "linux") {
                "OS keychain (Secret Service on the session bus)".into()
            } else {
                "OS keychain".into()
            },
            path: None,
            limits: None,
            chosen_by: None,
        }
    }

    #[cfg(not(target_os = "windows"))]
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretString>, SecretStoreError> {
        self.run(key, |entry| match entry.get_password() {
            Ok(v) => Ok(Some(SecretString::from(v))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    #[cfg(not(target_os = "windows"))]
    async fn put(&self, key: &SecretKey, value: &SecretString) -> Result<(), SecretStoreError> {
        let value = zeroize::Zeroizing::new(value.expose_secret().to_owned());
        self.run(key, move |entry| entry.set_password(&value)).await
    }

    #[cfg(not(target_os = "windows"))]
    async fn delete(&self, key: &SecretKey) -> Result<(), SecretStoreError> {
        self.run(key, |entry| match entry.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(e),
        })
        .await
    }

    // Windows: UTF-8 bytes (`set_secret`), split across items past
    // Credential Manager's 2,560 bytes (`split`).
    #[cfg(target_os = "windows")]
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretString>, SecretStoreError> {
        let name = key.name.clone();
        let bytes = self.run_items(key, move |make| split::get(make, &name)).await?;
        bytes
            .map(|b| {
                let b = zeroize::Zeroizing::new(b);
                std::str::from_utf8(&b)
                    .map(SecretString::from)
                    .map_err(|_| SecretStoreError::Failed(format!("{} is not UTF-8 text", key.name)))
            })
            .transpose()
    }

    #[cfg(target_os = "windows")]
    async fn put(&self, key: &SecretKey, value: &SecretString) -> Result<(), SecretStoreError> {
        let (name, value) = (key.name.clone(), zeroize::Zeroizing::new(value.expose_secret().to_owned()));
        self.run_items(key, move |make| split::put(make, &name, value.as_bytes(), split::WINDOWS_BLOB_MAX))
            .await
    }

    #[cfg(target_os = "windows")]
    async fn delete(&self, key: &SecretKey) -> Result<(), SecretStoreError> {
        let name = key.name.clone();
        self.run_items(key, move |make| split::delete(make, &name)).await
    }
}

/// Secrets in memory, for unit tests only: the app and the CLI never use it.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct MemoryStore {
    items: Mutex<std::collections::HashMap<String, SecretString>>,
    /// When set, every call fails as an unreachable keychain would.
    pub unavailable: std::sync::atomic::AtomicBool,
    /// When set, every call fails as a locked keychain whose unlock prompt
    /// was dismissed would.
    pub locked: std::sync::atomic::AtomicBool,
}

#[cfg(any(test, feature = "test-support"))]
impl MemoryStore {
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.items.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        v.sort();
        v
    }

    /// The secret stored under `name` (as [`MemoryStore::names`] lists it),
    /// for tests that check what was kept.
    pub fn value(&self, name: &str) -> Option<String> {
        use secrecy::ExposeSecret;
        self.items.lock().unwrap_or_else(|e| e.into_inner()).get(name).map(|s| s.expose_secret().to_string())
    }

    fn check(&self) -> Result<(), SecretStoreError> {
        if self.unavailable.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SecretStoreError::Unavailable("test: keychain switched off".into()));
        }
        if self.locked.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SecretStoreError::Locked("test: keychain locked".into()));
        }
        Ok(())
    }
}

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl SecretStore for MemoryStore {
    fn describe(&self) -> SecretStoreInfo {
        SecretStoreInfo {
            kind: "memory".into(),
            description: "memory (tests only)".into(),
            path: None,
            limits: Some("lost when the process ends".into()),
            chosen_by: None,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::mpsc;

    /// Short enough to keep the tests quick; nothing asserts on it.
    const SHORT: Duration = Duration::from_millis(100);
    /// Never reached: the test releases the call well before.
    const LONG: Duration = Duration::from_secs(30);

    type Op<T> = Box<dyn FnOnce() -> Result<T, SecretStoreError> + Send>;

    /// A call that blocks, as one behind an unanswered unlock prompt does,
    /// until the test sends on (or drops) `release`. Returns how many calls
    /// had run when it was released.
    fn held(runs: &Arc<AtomicUsize>) -> (mpsc::Sender<()>, oneshot::Receiver<()>, Op<usize>) {
        let (release, released) = mpsc::channel();
        let (started_tx, started) = oneshot::channel();
        let runs = runs.clone();
        let op: Op<usize> = Box::new(move || {
            runs.fetch_add(1, SeqCst);
            started_tx.send(()).ok();
            released.recv().ok();
            Ok(runs.load(SeqCst))
        });
        (release, started, op)
    }

    fn quick(runs: &Arc<AtomicUsize>) -> Op<usize> {
        let runs = runs.clone();
        Box::new(move || Ok(runs.fetch_add(1, SeqCst) + 1))
    }

    #[test]
    fn codes_are_stable() {
        let cases = [
            (SecretStoreError::Unavailable("x".into()), "keychain_missing"),
            (SecretStoreError::Locked("x".into()), "keychain_locked"),
            (SecretStoreError::TimedOut(SHORT), "keychain_timed_out"),
            (SecretStoreError::Busy(SHORT), "keychain_busy"),
            (SecretStoreError::Failed("x".into()), "keychain_failed"),
            (SecretStoreError::FileFailed("x".into()), "secret_file_failed"),
            (SecretStoreError::KernelKeyringFailed("x".into()), "kernel_keyring_failed"),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code, "{err}");
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let missing =
            SecretStoreError::Unavailable("no Secret Service on the session bus".into()).to_string();
        assert!(missing.contains("keychain is unavailable"), "{missing}");
        #[cfg(target_os = "linux")]
        for advice in
            ["start a Secret Service", "--secret-store file", "--secret-store kernel", "CASTKEY_SECRET_STORE"]
        {
            assert!(missing.contains(advice), "{advice}: {missing}");
        }
        for err in [
            SecretStoreError::Locked("prompt dismissed".into()),
            SecretStoreError::TimedOut(Duration::from_secs(10)),
            SecretStoreError::Busy(Duration::from_millis(12_345)),
        ] {
            let text = err.to_string();
            assert!(text.contains("unlock your login keyring"), "{text}");
        }
        assert!(SecretStoreError::Locked("x".into()).to_string().contains("keychain is locked"));
        assert!(SecretStoreError::TimedOut(Duration::from_secs(10)).to_string().contains("within 10 s"));
        assert!(SecretStoreError::Busy(Duration::from_millis(12_345)).to_string().contains("for 12.3 s"));
    }

    #[test]
    fn keychain_errors_are_classified() {
        use keyring_core::Error as E;
        let boxed = |s: &str| -> Box<dyn std::error::Error + Send + Sync> { s.into() };
        assert_eq!(
            map_error(E::NoStorageAccess(boxed("SS error: prompt dismissed"))).code(),
            "keychain_locked"
        );
        assert_eq!(map_error(E::PlatformFailure(boxed("no secret service"))).code(), "keychain_missing");
        assert_eq!(map_error(E::NoDefaultStore).code(), "keychain_missing");
        assert_eq!(map_error(E::Invalid("target".into(), "empty".into())).code(), "keychain_failed");
    }

    #[tokio::test]
    async fn memory_store_can_be_missing_or_locked() {
        let store = MemoryStore::default();
        let key = SecretKey::refresh_token("a");
        store.put(&key, &SecretString::from("t")).await.unwrap();
        store.locked.store(true, SeqCst);
        assert_eq!(store.get(&key).await.unwrap_err().code(), "keychain_locked");
        assert_eq!(store.check_available().await.unwrap_err().code(), "keychain_locked");
        store.locked.store(false, SeqCst);
        store.unavailable.store(true, SeqCst);
        assert_eq!(store.get(&key).await.unwrap_err().code(), "keychain_missing");
        store.unavailable.store(false, SeqCst);
        assert!(store.get(&key).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_stuck_call_turns_later_calls_away_without_running_them_until_it_returns() {
        let lane = BlockingLane::new(SHORT);
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, _started, stuck) = held(&runs);
        let err = lane.run(stuck).await.unwrap_err();
        assert_eq!(err.code(), "keychain_timed_out", "{err}");

        for _ in 0..5 {
            let err = lane.run(quick(&runs)).await.unwrap_err();
            assert_eq!(err.code(), "keychain_busy", "{err}");
        }
        assert_eq!(runs.load(SeqCst), 1, "a call ran while an earlier one was stuck");

        // The user unlocks: the stuck call returns, and calls go through again.
        release.send(()).unwrap();
        lane.settled().await;
        assert_eq!(lane.run(quick(&runs)).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_call_behind_a_running_one_waits_for_it_and_then_runs() {
        let lane = Arc::new(BlockingLane::new(LONG));
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, started, first) = held(&runs);
        let first = tokio::spawn({
            let lane = lane.clone();
            async move { lane.run(first).await }
        });
        started.await.unwrap();
        let second = tokio::spawn({
            let (lane, op) = (lane.clone(), quick(&runs));
            async move { lane.run(op).await }
        });
        // Wait until the second call is queued behind the first (or, were
        // the lane broken, has already run).
        while lane.lane.receiver_count() == 0 && !second.is_finished() {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 1, "the second call ran while the first held the lane");
        assert_eq!(second.await.unwrap().unwrap(), 2);
    }

    #[tokio::test]
    async fn a_call_waiting_behind_one_that_gets_stuck_is_turned_away() {
        let lane = Arc::new(BlockingLane::new(SHORT));
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, started, stuck) = held(&runs);
        let first = tokio::spawn({
            let lane = lane.clone();
            async move { lane.run(stuck).await }
        });
        started.await.unwrap();
        let err = lane.run(quick(&runs)).await.unwrap_err();
        assert_eq!(err.code(), "keychain_busy", "{err}");
        assert_eq!(first.await.unwrap().unwrap_err().code(), "keychain_timed_out");
        assert_eq!(runs.load(SeqCst), 1);

        release.send(()).unwrap();
        lane.settled().await;
        assert_eq!(lane.run(quick(&runs)).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_free_the_lane_before_its_call_returns() {
        // E.g. the IPC client hung up: its request future is dropped, the
        // blocked thread is not.
        let lane = Arc::new(BlockingLane::new(SHORT));
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, started, stuck) = held(&runs);
        let abandoned = tokio::spawn({
            let lane = lane.clone();
            async move { lane.run(stuck).await }
        });
        started.await.unwrap();
        abandoned.abort();
        assert!(abandoned.await.unwrap_err().is_cancelled());

        for _ in 0..3 {
            let err = lane.run(quick(&runs)).await.unwrap_err();
            assert_eq!(err.code(), "keychain_busy", "{err}");
        }
        assert_eq!(runs.load(SeqCst), 1);

        release.send(()).unwrap();
        lane.settled().await;
        assert_eq!(lane.run(quick(&runs)).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_call_that_panics_fails_and_frees_the_lane() {
        let lane = BlockingLane::new(LONG);
        let runs = Arc::new(AtomicUsize::new(0));
        let boom: Op<usize> = Box::new(|| panic!("keychain op panicked (expected by the test)"));
        let err = lane.run(boom).await.unwrap_err();
        assert_eq!(err.code(), "keychain_failed", "{err}");
        assert_eq!(lane.run(quick(&runs)).await.unwrap(), 1);
    }
}
