//! [`KernelKeyringStore`]: secrets in the Linux kernel keyring, through
//! `linux-keyutils-keyring-store`. Nothing is written to disk.
//!
//! Which keyring: the crate adds each secret to the process's **session**
//! keyring and links it into the user's **persistent** keyring
//! (persistent-keyring(7)). So every `castkey serve` of one login session
//! finds the secrets of the one before; after logout they stay reachable
//! through the persistent keyring until it expires
//! (`/proc/sys/kernel/keys/persistent_keyring_expiry`, 3 days by default,
//! counted from its last use). A reboot loses them all: the user signs in
//! again. Keys are created readable by their possessor only.
//!
//! The process needs a session keyring of its own, which a login (PAM's
//! `pam_keyinit`), `keyctl session`, or systemd's `KeyringMode=private`
//! gives it. A process with none (some containers, some service managers)
//! falls back to the user's default session keyring, where the kernel
//! refuses the link to the persistent keyring; [`KernelKeyringStore::open`]
//! tries once and says so.

use super::{SecretKey, SecretStore, SecretStoreError, SecretStoreKind};
use crate::secret::choice::OpenStoreError;
use async_trait::async_trait;
use castkey_ipc::SecretStoreInfo;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// Secrets in the kernel keyring: memory only, lost at reboot.
pub struct KernelKeyringStore {
    service: String,
    store: Arc<keyring_core::CredentialStore>,
}

impl fmt::Debug for KernelKeyringStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelKeyringStore").field("service", &self.service).finish()
    }
}

impl KernelKeyringStore {
    /// Opens the store and proves it works with a probe key (added, read,
    /// removed). `$CASTKEY_KEYCHAIN_SERVICE` namespaces the keys as for the
    /// keychain (default `castkey`): each is described
    /// `castkey:<service>:<secret name>`.
    ///
    /// Errors: [`OpenStoreError::KernelKeyring`], saying what the kernel
    /// refused and, when it is the missing session keyring, how to get one.
    pub fn open() -> Result<Self, OpenStoreError> {
        let service = std::env::var("CASTKEY_KEYCHAIN_SERVICE")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "castkey".into());
        Self::open_as(service)
    }

    fn open_as(service: String) -> Result<Self, OpenStoreError> {
        let store: Arc<keyring_core::CredentialStore> = linux_keyutils_keyring_store::Store::new()
            .map_err(|e| OpenStoreError::KernelKeyring(format!("the kernel keyring cannot be used: {e}")))?;
        let this = KernelKeyringStore { service, store };
        let probe = SecretKey { name: format!("probe/{}", std::process::id()), label: String::new() };
        let tried = this.entry(&probe).and_then(|e| {
            e.set_password("ok").and_then(|()| e.get_password()).and_then(|_| e.delete_credential())
        });
        match tried {
            Ok(()) => Ok(this),
            Err(keyring_core::Error::NoStorageAccess(e)) => Err(OpenStoreError::KernelKeyring(format!(
                "the kernel refused access to the keyring ({e}). This process probably has no session \
                 keyring of its own (it was not started from a login session): start castkey from a login \
                 shell, under `keyctl session - castkey serve --secret-store kernel`, or as a systemd \
                 unit with KeyringMode=private; or choose the encrypted file store (--secret-store file)"
            ))),
            Err(e) => Err(OpenStoreError::KernelKeyring(format!("the kernel keyring cannot be used: {e}"))),
        }
    }

    fn entry(&self, key: &SecretKey) -> keyring_core::Result<keyring_core::Entry> {
        let description = format!("castkey:{}:{}", self.service, key.name);
        let mods = HashMap::from([("description", description.as_str())]);
        self.store.build(&self.service, &key.name, Some(&mods))
    }

    fn run<T>(
        &self,
        key: &SecretKey,
        op: impl FnOnce(&keyring_core::Entry) -> keyring_core::Result<T>,
    ) -> Result<T, SecretStoreError> {
        // Kernel calls answer at once: no lane, no thread.
        self.entry(key).and_then(|e| op(&e)).map_err(|e| SecretStoreError::KernelKeyringFailed(e.to_string()))
    }
}

/// How long the persistent keyring outlives its last use, as the kernel
/// is set (`None` where it cannot be read).
fn persistent_expiry_days() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/kernel/keys/persistent_keyring_expiry").ok()?;
    Some(text.trim().parse::<u64>().ok()? / 86_400)
}

#[async_trait]
impl SecretStore for KernelKeyringStore {
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretString>, SecretStoreError> {
        self.run(key, |e| match e.get_password() {
            Ok(v) => Ok(Some(SecretString::from(v))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        })
    }

    async fn put(&self, key: &SecretKey, value: &SecretString) -> Result<(), SecretStoreError> {
        self.run(key, |e| e.set_password(value.expose_secret()))
    }

    async fn delete(&self, key: &SecretKey) -> Result<(), SecretStoreError> {
        self.run(key, |e| match e.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(e),
        })
    }

    fn describe(&self) -> SecretStoreInfo {
        let after_logout = match persistent_expiry_days() {
            Some(d) => format!("kept {d} days after its last use once you log out"),
            None => "kept for a while after you log out".into(),
        };
        SecretStoreInfo {
            kind: SecretStoreKind::KernelKeyring.name().into(),
            description: "kernel keyring (session keyring, linked into your persistent keyring)".into(),
            path: None,
            limits: Some(format!("memory only: lost at reboot; {after_logout}")),
            chosen_by: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the real kernel keyring. A process without a session
    /// keyring of its own (this project's container runs tests so) cannot
    /// use it: then the test checks that opening says so, and says it did
    /// only that. The scenario `no_keyring` runs the store for real in a
    /// session keyring of its own.
    #[tokio::test]
    async fn secrets_round_trip_in_the_kernel_keyring_or_opening_says_why_not() {
        let service = format!("castkey-unit-{}", std::process::id());
        let store = match KernelKeyringStore::open_as(service.clone()) {
            Ok(s) => s,
            Err(e) => {
                let text = e.to_string();
                assert!(text.contains("session keyring") && text.contains("--secret-store file"), "{text}");
                eprintln!("kernel keyring not usable by this test process; checked the error only: {text}");
                return;
            }
        };
        let key = SecretKey::refresh_token("sandbox:kernel-unit");
        assert!(store.get(&key).await.unwrap().is_none());
        store.put(&key, &SecretString::from("rt-1")).await.unwrap();
        store.put(&key, &SecretString::from("rt-2")).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap().unwrap().expose_secret(), "rt-2");
        let again = KernelKeyringStore::open_as(service).unwrap();
        assert_eq!(again.get(&key).await.unwrap().unwrap().expose_secret(), "rt-2");
        store.delete(&key).await.unwrap();
        store.delete(&key).await.unwrap();
        assert!(again.get(&key).await.unwrap().is_none());
        assert!(store.describe().limits.unwrap().contains("lost at reboot"));
    }
}
