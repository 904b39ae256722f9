//! Accounts and which one is active: [`AccountStore`].
//!
//! Non-secret metadata only (ids, names, granted scopes, status) in
//! `accounts.json` in the config directory, written atomically. The store
//! keeps the whole list in memory, so reading it (the token hot path) never
//! touches the disk; every change is written through before it is visible.

use crate::error::CoreError;
use castkey_ipc::{AccountInfo, AccountStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `<provider>:<subject>`.
    pub id: String,
    pub provider: String,
    pub subject: String,
    pub display_name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Scopes the provider granted at sign-in.
    pub scopes: Vec<String>,
    /// The provider environment the account lives in (api.video: sandbox or production).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Headers this account's API calls need, fixed at sign-in (a
    /// LifeOmic-style service's `LifeOmic-Account`): they stay with the
    /// account even if the provider's settings change later.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub api_headers: BTreeMap<String, String>,
    pub status: AccountStatus,
    pub created_at: u64,
    pub updated_at: u64,
    /// When the current refresh token (or key, or credentials) was stored:
    /// at sign-in, and again whenever the provider rotates it. Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_stored_at: Option<u64>,
    /// When the current refresh token stops working and the user must sign
    /// in again (Unix seconds), where known: the token response's
    /// `refresh_token_expires_in`/`refresh_expires_in`, else the service's
    /// documented lifetime counted from `grant_stored_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_expires_at: Option<u64>,
}

impl Account {
    /// A signed-in account with no email or environment (set those after).
    /// `created_at` is kept from an existing account by [`AccountStore::upsert_active`].
    pub fn signed_in(
        id: &str,
        provider: &str,
        subject: &str,
        display_name: &str,
        scopes: &[String],
        now: u64,
    ) -> Self {
        Account {
            id: id.into(),
            provider: provider.into(),
            subject: subject.into(),
            display_name: display_name.into(),
            email: None,
            scopes: scopes.to_vec(),
            environment: None,
            api_headers: BTreeMap::new(),
            status: AccountStatus::SignedIn,
            created_at: now,
            updated_at: now,
            grant_stored_at: Some(now),
            grant_expires_at: None,
        }
    }

    pub fn make_id(provider: &str, subject: &str) -> String {
        format!("{provider}:{subject}")
    }

    pub fn has_scopes(&self, wanted: &[String]) -> Result<(), Vec<String>> {
        let missing: Vec<String> = wanted.iter().filter(|w| !self.scopes.contains(w)).cloned().collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AccountsFile {
    version: u32,
    /// The provider whose active account `token` returns when asked for none.
    #[serde(default)]
    default_provider: Option<String>,
    /// provider id → active account id.
    #[serde(default)]
    active: BTreeMap<String, String>,
    #[serde(default)]
    /// Shared with the readers: the token hot path takes an `Arc`, not a copy.
    accounts: Vec<Arc<Account>>,
}

#[derive(Debug)]
pub struct AccountStore {
    path: PathBuf,
    state: RwLock<Arc<AccountsFile>>,
    /// Serialises writers so that read-modify-write never loses an update.
    write: std::sync::Mutex<()>,
}

impl AccountStore {
    /// Loads `path`. A missing file is an empty store; a file that cannot be
    /// read is an error (it is not overwritten with an empty list).
    pub fn load(path: PathBuf) -> Result<Self, CoreError> {
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<AccountsFile>(&bytes).map_err(|e| {
                CoreError::Storage(format!(
                    "{} is damaged ({e}); move it away to start afresh",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                AccountsFile { version: 1, ..Default::default() }
            }
            Err(e) => return Err(CoreError::Storage(format!("{}: {e}", path.display()))),
        };
        Ok(AccountStore { path, state: RwLock::new(Arc::new(file)), write: Default::default() })
    }

    fn snapshot(&self) -> Arc<AccountsFile> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update<T>(&self, f: impl FnOnce(&mut AccountsFile) -> Result<T, CoreError>) -> Result<T, CoreError> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = (*self.snapshot()).clone();
        let out = f(&mut next)?;
        next.version = 1;
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| CoreError::Internal(e.to_string()))?;
        crate::atomic_file::write(&self.path, &bytes)
            .map_err(|e| CoreError::Storage(format!("{}: {e}", self.path.display())))?;
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        Ok(out)
    }

    pub fn get(&self, id: &str) -> Option<Account> {
        self.snapshot().accounts.iter().find(|a| a.id == id).map(|a| (**a).clone())
    }

    pub fn list(&self) -> Vec<AccountInfo> {
        let s = self.snapshot();
        s.accounts
            .iter()
            .map(|a| AccountInfo {
                id: a.id.clone(),
                provider: a.provider.clone(),
                display_name: a.display_name.clone(),
                email: a.email.clone(),
                active: s.active.get(&a.provider) == Some(&a.id),
                scopes: a.scopes.clone(),
                status: a.status,
            })
            .collect()
    }

    pub fn info(&self, id: &str) -> Option<AccountInfo> {
        self.list().into_iter().find(|a| a.id == id)
    }

    /// Which account a request means: the named one, else the active one of
    /// the named provider, else the active one of the default provider.
    pub fn resolve(&self, account: Option<&str>, provider: Option<&str>) -> Result<Arc<Account>, CoreError> {
        let s = self.snapshot();
        if let Some(id) = account {
            let a =
                s.accounts.iter().find(|a| a.id == id).ok_or_else(|| CoreError::UnknownAccount(id.into()))?;
            if let Some(p) = provider.filter(|p| *p != a.provider) {
                return Err(CoreError::InvalidRequest(format!(
                    "account `{id}` does not belong to provider `{p}`"
                )));
            }
            return Ok(a.clone());
        }
        let none_active = |provider: Option<&str>| {
            let signed_in: Vec<String> = s
                .accounts
                .iter()
                .filter(|a| provider.is_none_or(|p| a.provider == p))
                .map(|a| a.id.clone())
                .collect();
            match signed_in.is_empty() {
                true => CoreError::NotSignedIn(provider.map(String::from)),
                false => CoreError::NoActiveAccount { provider: provider.map(String::from), signed_in },
            }
        };
        let provider = match provider {
            Some(p) => p.to_string(),
            None => s.default_provider.clone().ok_or_else(|| none_active(None))?,
        };
        let id = s.active.get(&provider).ok_or_else(|| none_active(Some(&provider)))?;
        s.accounts.iter().find(|a| &a.id == id).cloned().ok_or_else(|| none_active(Some(&provider)))
    }

    /// Adds or replaces an account and makes it its provider's active one.
    #[cfg(test)]
    pub fn upsert_active(&self, account: Account) -> Result<(), CoreError> {
        self.upsert(account, true)
    }

    /// Adds or replaces an account; with `make_active`, it becomes its
    /// provider's active account and its provider the default one. Without,
    /// the active accounts stay as they are (a program's sign-in).
    pub fn upsert(&self, mut account: Account, make_active: bool) -> Result<(), CoreError> {
        // Names come from the provider: no escape sequences or bidi overrides.
        account.display_name = crate::clean_text(&account.display_name);
        account.email = account.email.as_deref().map(crate::clean_text);
        self.update(|f| {
            let provider = account.provider.clone();
            let id = account.id.clone();
            match f.accounts.iter_mut().find(|a| a.id == account.id) {
                Some(existing) => {
                    let created = existing.created_at;
                    *existing = Arc::new(Account { created_at: created, ..account });
                }
                None => f.accounts.push(Arc::new(account)),
            }
            if make_active {
                f.active.insert(provider.clone(), id);
                f.default_provider = Some(provider);
            }
            Ok(())
        })
    }

    pub fn set_status(&self, id: &str, status: AccountStatus, now: u64) -> Result<(), CoreError> {
        self.update(|f| {
            let a = f
                .accounts
                .iter_mut()
                .find(|a| a.id == id)
                .ok_or_else(|| CoreError::UnknownAccount(id.into()))?;
            let a = Arc::make_mut(a);
            a.status = status;
            a.updated_at = now;
            Ok(())
        })
    }

    /// Makes `id` its provider's active account (and its provider the
    /// default one). Answers whether that changed anything.
    pub fn set_active(&self, id: &str) -> Result<bool, CoreError> {
        self.update(|f| {
            let provider = f
                .accounts
                .iter()
                .find(|a| a.id == id)
                .ok_or_else(|| CoreError::UnknownAccount(id.into()))?
                .provider
                .clone();
            let changed = f.active.get(&provider).map(String::as_str) != Some(id);
            f.active.insert(provider.clone(), id.to_string());
            f.default_provider = Some(provider);
            Ok(changed)
        })
    }

    /// The provider whose active account `token` returns when asked for none.
    #[cfg(test)]
    pub fn default_provider(&self) -> Option<String> {
        self.snapshot().default_provider.clone()
    }

    /// The active account of `provider`, if any.
    pub fn active_of(&self, provider: &str) -> Option<String> {
        self.snapshot().active.get(provider).cloned()
    }

    /// Notes that a new refresh token was stored for `id` at `now`, good
    /// until `expires_at` where known.
    pub fn set_grant_stored(&self, id: &str, now: u64, expires_at: Option<u64>) -> Result<(), CoreError> {
        self.update(|f| {
            if let Some(a) = f.accounts.iter_mut().find(|a| a.id == id) {
                let a = Arc::make_mut(a);
                a.grant_stored_at = Some(now);
                a.grant_expires_at = expires_at;
            }
            Ok(())
        })
    }

    /// Notes when `id`'s refresh token now stops working (the same token,
    /// used: its idle clock started again).
    pub fn set_grant_end(&self, id: &str, expires_at: u64) -> Result<(), CoreError> {
        self.update(|f| {
            if let Some(a) = f.accounts.iter_mut().find(|a| a.id == id) {
                Arc::make_mut(a).grant_expires_at = Some(expires_at);
            }
            Ok(())
        })
    }

    /// Removes an account; another account of its provider becomes active.
    pub fn remove(&self, id: &str) -> Result<Account, CoreError> {
        self.update(|f| {
            let pos = f
                .accounts
                .iter()
                .position(|a| a.id == id)
                .ok_or_else(|| CoreError::UnknownAccount(id.into()))?;
            let removed = Arc::unwrap_or_clone(f.accounts.remove(pos));
            if f.active.get(&removed.provider) == Some(&removed.id) {
                match f.accounts.iter().find(|a| a.provider == removed.provider) {
                    Some(next) => {
                        f.active.insert(removed.provider.clone(), next.id.clone());
                    }
                    None => {
                        f.active.remove(&removed.provider);
                        if f.default_provider.as_ref() == Some(&removed.provider) {
                            f.default_provider = f.active.keys().next().cloned();
                        }
                    }
                }
            }
            Ok(removed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(provider: &str, sub: &str) -> Account {
        let scopes = ["openid".to_string(), "broadcaster".to_string()];
        Account::signed_in(&Account::make_id(provider, sub), provider, sub, sub, &scopes, 1)
    }

    #[test]
    fn newest_sign_in_is_active_and_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.json");
        let s = AccountStore::load(path.clone()).unwrap();
        assert!(matches!(s.resolve(None, None), Err(CoreError::NotSignedIn(None))));
        s.upsert_active(acct("sandbox", "a")).unwrap();
        s.upsert_active(acct("sandbox", "b")).unwrap();
        let again = AccountStore::load(path).unwrap();
        assert_eq!(again.resolve(None, None).unwrap().id, "sandbox:b");
        assert_eq!(again.resolve(Some("sandbox:a"), None).unwrap().subject, "a");
        assert!(matches!(again.resolve(Some("x:y"), None), Err(CoreError::UnknownAccount(_))));
        assert!(matches!(again.resolve(None, Some("other")), Err(CoreError::NotSignedIn(Some(_)))));
        let active: Vec<_> = again.list().into_iter().filter(|a| a.active).map(|a| a.id).collect();
        assert_eq!(active, vec!["sandbox:b"]);
    }

    #[test]
    fn provider_given_names_lose_control_and_bidi_characters() {
        let dir = tempfile::tempdir().unwrap();
        let s = AccountStore::load(dir.path().join("a.json")).unwrap();
        let mut a = acct("p", "x");
        a.display_name = "Streamer\u{1b}]0;pwned\u{7}\u{202E}lmth.exe".into();
        a.email = Some("a\u{2066}@b".into());
        s.upsert_active(a).unwrap();
        let info = &s.list()[0];
        assert_eq!(info.display_name, "Streamer]0;pwnedlmth.exe");
        assert_eq!(info.email.as_deref(), Some("a@b"));
    }

    #[test]
    fn removing_the_active_account_activates_another() {
        let dir = tempfile::tempdir().unwrap();
        let s = AccountStore::load(dir.path().join("a.json")).unwrap();
        s.upsert_active(acct("p", "a")).unwrap();
        s.upsert_active(acct("p", "b")).unwrap();
        s.remove("p:b").unwrap();
        assert_eq!(s.resolve(None, Some("p")).unwrap().id, "p:a");
        s.remove("p:a").unwrap();
        assert!(matches!(s.resolve(None, None), Err(CoreError::NotSignedIn(None))));
    }

    #[test]
    fn damaged_file_is_an_error_not_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.json");
        std::fs::write(&path, b"{not json").unwrap();
        let err = AccountStore::load(path.clone()).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"{not json");
    }
}
