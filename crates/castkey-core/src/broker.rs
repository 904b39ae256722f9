//! [`TokenBroker`]: valid access tokens for local apps.
//!
//! The hot path — a cached token that is valid long enough — reads only
//! memory: the account list (held by [`AccountStore`]), the provider catalog
//! and the token cache. No keychain, disk or network. Otherwise one refresh
//! runs per account however many requests wait for it; a rotated refresh
//! token is stored in the keychain *before* the new access token is handed
//! out, so a crash can never leave Castkey holding only a revoked token.

use crate::account::{Account, AccountStore};
use crate::catalog::ProviderCatalog;
use crate::clock::Clock;
use crate::error::CoreError;
use crate::event::CoreEvent;
use crate::grant::{AccountKeeper, Grants, SignInFor, SignInResult, Validation};
use crate::oauth::TokenSet;
use crate::provider::ProviderConfig;
use castkey_ipc::{AccountStatus, TokenGrant, TokenParams};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::broadcast;

struct CachedToken {
    access_token: SecretString,
    token_type: String,
    /// When Castkey received it (Unix seconds).
    issued_at: u64,
    expires_at: u64,
    scopes: Vec<String>,
    /// SHA-256 of the access token: what a refused token an app reports
    /// (`rejected`) is compared with.
    digest: [u8; 32],
    /// The `token` answer for this token, serialised on first use: a
    /// cached token is served as these bytes, not rebuilt per request.
    /// (What it holds — account names, headers — is fixed while the token
    /// is cached: a new sign-in or refresh caches a new token.)
    rendered: std::sync::OnceLock<Arc<[u8]>>,
}

impl CachedToken {
    fn new(set: &TokenSet, now: u64) -> Self {
        CachedToken {
            access_token: set.access_token.clone(),
            token_type: set.token_type.clone(),
            issued_at: now,
            expires_at: set.expires_at,
            scopes: set.scopes.clone(),
            digest: crate::secret::token_digest(set.access_token.expose_secret()),
            rendered: std::sync::OnceLock::new(),
        }
    }

    /// Whether the token is good enough to hand out at `now` for a caller
    /// that wants `min_valid` seconds. A wish longer than half the token's
    /// whole lifetime is cut to that half: a provider that issues one-minute
    /// tokens, or a caller asking for a day, must not turn every request
    /// into a refresh.
    fn serves(&self, now: u64, min_valid: u64) -> bool {
        let lifetime = self.expires_at.saturating_sub(self.issued_at);
        let wanted = min_valid.min(MAX_MIN_VALID_SECS).min(lifetime / 2);
        self.expires_at > now && self.expires_at >= now.saturating_add(wanted)
    }
}

/// The longest `min_valid_secs` honoured: a day.
const MAX_MIN_VALID_SECS: u64 = 86_400;

/// Back-off after a provider failed to answer: the first retry after this
/// many seconds, doubling up to [`BACKOFF_MAX_SECS`].
const BACKOFF_FIRST_SECS: u64 = 5;
const BACKOFF_MAX_SECS: u64 = 300;

/// An account whose provider could not be reached: no new call before `until`.
#[derive(Debug, Clone)]
struct Backoff {
    failures: u32,
    until: u64,
    error: CoreError,
}

pub struct TokenBroker {
    accounts: Arc<AccountStore>,
    catalog: Arc<ProviderCatalog>,
    grants: Arc<Grants>,
    clock: Arc<dyn Clock>,
    events: broadcast::Sender<CoreEvent>,
    cache: RwLock<HashMap<String, Arc<CachedToken>>>,
    refreshing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    backoff: Mutex<HashMap<String, Backoff>>,
    /// When each account last got a token from its provider (Unix seconds).
    last_refresh: Mutex<HashMap<String, u64>>,
    /// The validation duty: when each account apps use is next due for
    /// the platform's validation endpoint (Unix seconds).
    validation_due: Mutex<HashMap<String, u64>>,
}

/// Twitch: "Your app must validate the OAuth token when it starts and on an
/// hourly basis thereafter" (dev.twitch.tv/docs/authentication/validate-tokens).
pub const VALIDATION_INTERVAL_SECS: u64 = 3600;

impl fmt::Debug for TokenBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.cache.read().map(|c| c.len()).unwrap_or(0);
        f.debug_struct("TokenBroker").field("cached", &n).finish_non_exhaustive()
    }
}

impl TokenBroker {
    pub(crate) fn new(
        accounts: Arc<AccountStore>,
        catalog: Arc<ProviderCatalog>,
        grants: Arc<Grants>,
        clock: Arc<dyn Clock>,
        events: broadcast::Sender<CoreEvent>,
    ) -> Self {
        TokenBroker {
            accounts,
            catalog,
            grants,
            clock,
            events,
            cache: Default::default(),
            refreshing: Default::default(),
            backoff: Default::default(),
            last_refresh: Default::default(),
            validation_due: Default::default(),
        }
    }

    /// Which account and scopes `params` means: the account it names, else
    /// the provider's active one; the scopes it names, else the provider's
    /// broadcast scope.
    pub fn resolve(&self, params: &TokenParams) -> Result<(Arc<Account>, Vec<String>), CoreError> {
        let account = self.accounts.resolve(params.account.as_deref(), params.provider.as_deref())?;
        let provider = self.catalog.get(&account.provider)?;
        let wanted = params.scopes_or(provider.broadcast_scope.as_deref());
        Ok((account, wanted))
    }

    /// A token for the account `params` names, valid for at least
    /// `min_valid_secs` when the provider allows (a freshly issued token is
    /// returned even if its whole lifetime is shorter; see
    /// [`CachedToken::serves`]), once `allowed` (the caller's policy)
    /// accepts the resolved account and scopes; nothing else happens if it
    /// refuses. Answered as the JSON the IPC answer carries (built once per
    /// cached token), with the account and the token's scopes for the
    /// activity log.
    ///
    /// While the provider cannot be reached, a cached token that has not
    /// expired is still served, and the provider is asked again only after
    /// a back-off (5 s doubling to 5 min, or the provider's `Retry-After`).
    pub async fn token_json_if(
        &self,
        params: &TokenParams,
        allowed: impl FnOnce(&Account, &[String]) -> Result<(), CoreError>,
    ) -> Result<ServedJson, CoreError> {
        let (account, provider, t) = self.serve_if(params, allowed).await?;
        let t = self.validate_if_due(&account, &provider, t).await?;
        let json = t
            .rendered
            .get_or_init(|| serde_json::to_vec(&grant(&account, &provider, &t)).unwrap_or_default().into())
            .clone();
        Ok(ServedJson { json, account, token: t })
    }

    async fn serve_if(
        &self,
        params: &TokenParams,
        allowed: impl FnOnce(&Account, &[String]) -> Result<(), CoreError>,
    ) -> Result<(Arc<Account>, Arc<ProviderConfig>, Arc<CachedToken>), CoreError> {
        let account = self.accounts.resolve(params.account.as_deref(), params.provider.as_deref())?;
        let provider = self.catalog.get(&account.provider)?;
        let wanted = params.scopes_or(provider.broadcast_scope.as_deref());
        allowed(&account, &wanted)?;
        account
            .has_scopes(&wanted)
            .map_err(|missing| CoreError::ScopeNotGranted { account: account.id.clone(), missing })?;
        if account.status == AccountStatus::ReauthRequired {
            return Err(CoreError::ReauthRequired(account.id.clone()));
        }
        let min_valid = params.min_valid_secs();
        // A token an API refused: if Castkey still holds it, a refresh is
        // due however valid it looks; if it holds a newer one (another app
        // reported the refusal first), that one is served below.
        let refused = params.rejected.as_ref().map(|r| crate::secret::token_digest(r.expose()));
        let refused_is_held =
            refused.is_some_and(|d| self.unexpired(&account.id).is_some_and(|t| t.digest == d));
        let forced = params.force_refresh == Some(true) || refused_is_held;
        // The token the caller may hold: a forced refresh wants a newer one.
        // (Looked up only when forced: the hot path reads the cache once.)
        let held = if forced { self.unexpired(&account.id) } else { None };
        let stale = |t: &Arc<CachedToken>| {
            held.as_ref().is_some_and(|h| Arc::ptr_eq(h, t)) || refused.is_some_and(|d| d == t.digest)
        };
        if !forced {
            if let Some(t) = self.cached(&account.id, min_valid) {
                return Ok((account, provider, t));
            }
        }
        if let Some(answer) = self.while_backing_off(&account.id, forced) {
            return answer.map(|t| (account, provider, t));
        }

        let lock = self.refresh_lock(&account.id);
        let _guard = lock.lock().await;
        // Whoever held the lock may have refreshed (or failed) already.
        let served = match (forced, self.unexpired(&account.id)) {
            (true, Some(now)) if !stale(&now) => Some(now),
            (true, _) => None,
            (false, _) => self.cached(&account.id, min_valid),
        };
        if let Some(t) = served {
            return Ok((account, provider, t));
        }
        if let Some(answer) = self.while_backing_off(&account.id, forced) {
            return answer.map(|t| (account, provider, t));
        }
        // The account may have been signed out or marked while we waited.
        let account =
            self.accounts.get(&account.id).ok_or_else(|| CoreError::UnknownAccount(account.id.clone()))?;
        if account.status == AccountStatus::ReauthRequired {
            return Err(CoreError::ReauthRequired(account.id.clone()));
        }
        match self.refresh(&account, &provider, refused.as_ref()).await {
            Ok(fresh) => {
                let t = Arc::new(fresh);
                self.backoff.lock().unwrap_or_else(|e| e.into_inner()).remove(&account.id);
                self.cache.write().unwrap_or_else(|e| e.into_inner()).insert(account.id.clone(), t.clone());
                Ok((account.into(), provider, t))
            }
            Err(e @ CoreError::ProviderUnavailable { .. }) => {
                self.back_off(&account.id, &e);
                match self.unexpired(&account.id).filter(|_| !forced) {
                    Some(t) => Ok((account.into(), provider, t)),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// During a back-off: the cached token if it has not expired (and the
    /// caller did not force a refresh), else the error that started the
    /// back-off. `None` when not backing off.
    fn while_backing_off(
        &self,
        account_id: &str,
        forced: bool,
    ) -> Option<Result<Arc<CachedToken>, CoreError>> {
        let error = {
            let backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
            let b = backoff.get(account_id)?;
            if self.clock.now() >= b.until {
                return None;
            }
            b.error.clone()
        };
        Some(self.unexpired(account_id).filter(|_| !forced).ok_or(error))
    }

    fn back_off(&self, account_id: &str, error: &CoreError) {
        let now = self.clock.now();
        let mut backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        let failures = backoff.get(account_id).map_or(0, |b| b.failures).saturating_add(1);
        let delay = BACKOFF_FIRST_SECS
            .saturating_mul(1u64 << (failures - 1).min(16))
            .min(BACKOFF_MAX_SECS)
            .max(retry_after_secs(error).unwrap_or(0));
        tracing::info!(account = %account_id, delay, "provider unavailable; backing off");
        backoff
            .insert(account_id.to_string(), Backoff { failures, until: now + delay, error: error.clone() });
    }

    fn cached(&self, account_id: &str, min_valid: u64) -> Option<Arc<CachedToken>> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        let t = cache.get(account_id)?;
        t.serves(self.clock.now(), min_valid).then(|| t.clone())
    }

    /// The cached token if it has not expired, however short its time left.
    fn unexpired(&self, account_id: &str) -> Option<Arc<CachedToken>> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        let t = cache.get(account_id)?;
        (t.expires_at > self.clock.now()).then(|| t.clone())
    }

    /// Waits for any refresh of `account_id` in flight and keeps others
    /// from starting while the guard lives (sign-out, shutdown).
    pub(crate) async fn hold_refreshes(&self, account_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.refresh_lock(account_id).lock_owned().await
    }

    /// Waits up to `limit` for every refresh in flight to finish (its
    /// rotated refresh token stored), so that stopping loses no grant.
    /// Answers whether all finished in time.
    pub(crate) async fn settle(&self, limit: std::time::Duration) -> bool {
        let locks: Vec<_> =
            self.refreshing.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let all = async {
            let mut guards = Vec::with_capacity(locks.len());
            for l in locks {
                guards.push(l.lock_owned().await);
            }
            guards
        };
        // The guards are dropped on return: a request after this point may
        // start a refresh of its own, but the caller is about to stop serving.
        tokio::time::timeout(limit, all).await.is_ok()
    }

    fn refresh_lock(&self, account_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.refreshing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(account_id.to_string())
            .or_default()
            .clone()
    }

    /// Puts a token just obtained at sign-in into the cache.
    pub fn seed(&self, account_id: &str, set: &TokenSet) {
        let t = Arc::new(CachedToken::new(set, self.clock.now()));
        self.cache.write().unwrap_or_else(|e| e.into_inner()).insert(account_id.to_string(), t);
    }

    /// How `account`'s tokens stand, from memory (for `status` and the
    /// window).
    pub fn health(&self, account: castkey_ipc::AccountInfo) -> castkey_ipc::AccountHealth {
        use castkey_ipc::HealthState;
        let cached = self.cache.read().unwrap_or_else(|e| e.into_inner()).get(&account.id).cloned();
        let backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner()).get(&account.id).cloned();
        let last_refresh_at = self
            .last_refresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&account.id)
            .copied()
            .or(cached.as_ref().map(|c| c.issued_at));
        let stored = self.accounts.get(&account.id);
        let grant_stored_at = stored.as_ref().and_then(|a| a.grant_stored_at);
        let grant_expires_at = stored.as_ref().and_then(|a| a.grant_expires_at);
        let refreshing = self
            .refreshing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&account.id)
            .is_some_and(|flight| flight.try_lock().is_err());
        let (state, problem, retry_at) = match (account.status, &backoff) {
            (AccountStatus::ReauthRequired, _) => (HealthState::SignInAgain, None, None),
            (_, Some(b)) if b.until > self.clock.now() => {
                (HealthState::Offline, Some(b.error.to_string()), Some(b.until))
            }
            _ if refreshing => (HealthState::Refreshing, None, None),
            _ => (HealthState::SignedIn, None, None),
        };
        castkey_ipc::AccountHealth {
            account,
            state,
            access_expires_at: cached.map(|c| c.expires_at),
            last_refresh_at,
            grant_stored_at,
            grant_expires_at,
            problem,
            retry_at,
        }
    }

    /// The validation duty for every account apps have used whose next
    /// validation is due (a timer calls this; tests call it after moving
    /// the clock). Accounts with no unexpired token are left for the next
    /// request, which refreshes and validates.
    pub async fn validate_due(&self) {
        let now = self.clock.now();
        let due: Vec<String> = self
            .validation_due
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let (Some(account), Some(t)) = (self.accounts.get(&id), self.unexpired(&id)) else { continue };
            let Ok(provider) = self.catalog.get(&account.provider) else { continue };
            if let Err(e) = self.validate_if_due(&account, &provider, t).await {
                tracing::info!(account = %id, "validation: {e}");
            }
        }
    }

    /// The platform's validation duty for a token about to be handed out
    /// (or held): once per account when first used, then at most once per
    /// [`VALIDATION_INTERVAL_SECS`] however many apps ask; a 429's or 5xx's
    /// `Retry-After` is honoured. A token the platform no longer accepts
    /// (the user disconnected the app) is dropped and the grant refreshed;
    /// if the grant is dead too, the account is marked "sign in again" and
    /// every subscribed app is told ([`CoreEvent::AccessRevoked`]). Answers
    /// the token to serve.
    async fn validate_if_due(
        &self,
        account: &Account,
        provider: &ProviderConfig,
        t: Arc<CachedToken>,
    ) -> Result<Arc<CachedToken>, CoreError> {
        let duty =
            provider.sign_in.as_browser().and_then(|b| b.platform.as_ref()).and_then(|p| p.validate.as_ref());
        if duty.is_none() {
            return Ok(t);
        }
        let now = self.clock.now();
        {
            // Claimed before the call: apps asking meanwhile are served.
            let mut due = self.validation_due.lock().unwrap_or_else(|e| e.into_inner());
            if due.get(&account.id).is_some_and(|at| *at > now) {
                return Ok(t);
            }
            due.insert(account.id.clone(), now.saturating_add(VALIDATION_INTERVAL_SECS));
        }
        match self.grants.validate(provider, &t.access_token).await {
            None | Some(Validation::Valid) => Ok(t),
            Some(Validation::TryLater { retry_after, why }) => {
                let wait = retry_after.unwrap_or(BACKOFF_MAX_SECS).clamp(1, VALIDATION_INTERVAL_SECS);
                tracing::info!(account = %account.id, wait, "validation not answered: {why}");
                self.validation_due
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(account.id.clone(), now.saturating_add(wait));
                Ok(t)
            }
            Some(Validation::Invalid) => self.token_invalidated(account, provider, &t).await,
        }
    }

    /// The platform refused `stale` although it has not expired: drop it,
    /// and try the grant once.
    async fn token_invalidated(
        &self,
        account: &Account,
        provider: &ProviderConfig,
        stale: &Arc<CachedToken>,
    ) -> Result<Arc<CachedToken>, CoreError> {
        tracing::warn!(account = %account.id, "the platform no longer accepts the access token");
        let lock = self.refresh_lock(&account.id);
        let _guard = lock.lock().await;
        {
            let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
            if cache.get(&account.id).is_some_and(|c| Arc::ptr_eq(c, stale)) {
                cache.remove(&account.id);
            } else if let Some(newer) = cache.get(&account.id) {
                // Another request refreshed meanwhile.
                return Ok(newer.clone());
            }
        }
        // The platform refused this token: a standing token (no refresh
        // token) is then dead too.
        match self.refresh(account, provider, Some(&stale.digest)).await {
            Ok(fresh) => {
                let t = Arc::new(fresh);
                self.cache.write().unwrap_or_else(|e| e.into_inner()).insert(account.id.clone(), t.clone());
                Ok(t)
            }
            Err(e @ CoreError::ReauthRequired(_)) => {
                // `refresh` marked the account; every app ends its sessions.
                let _ = self.events.send(CoreEvent::AccessRevoked { account: account_ref(account) });
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Drops everything held in memory for an account (sign-out).
    pub fn forget(&self, account_id: &str) {
        self.validation_due.lock().unwrap_or_else(|e| e.into_inner()).remove(account_id);
        self.cache.write().unwrap_or_else(|e| e.into_inner()).remove(account_id);
        self.backoff.lock().unwrap_or_else(|e| e.into_inner()).remove(account_id);
        self.grants.forget(account_id);
    }

    /// A new token from the provider (`refused`: the digest of a token an
    /// API refused, if that is why). A dead grant becomes "sign in again"
    /// here, and only here: the account is marked once, its cached token
    /// dropped, its secrets kept until the user acts.
    async fn refresh(
        &self,
        account: &Account,
        provider: &ProviderConfig,
        refused: Option<&[u8; 32]>,
    ) -> Result<CachedToken, CoreError> {
        match self.grants.refresh(account, provider, refused).await {
            Ok(set) => {
                let now = self.clock.now();
                if set.refresh_token.is_some() {
                    // Rotated: the grant's age starts again (for `status`).
                    let end = crate::services::refresh_token_end(provider, &set, now);
                    if let Err(e) = self.accounts.set_grant_stored(&account.id, now, end) {
                        tracing::warn!(account = %account.id, "could not note the new refresh token's time: {e}");
                    }
                } else if let Some(end) =
                    crate::services::refresh_token_end_after_use(provider, account.grant_stored_at, now)
                {
                    // Used, not rotated: a provider's idle clock starts again.
                    if let Err(e) = self.accounts.set_grant_end(&account.id, end) {
                        tracing::warn!(account = %account.id, "could not note the refresh token's use: {e}");
                    }
                }
                *self
                    .last_refresh
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(account.id.clone())
                    .or_default() = now;
                let _ = self.events.send(CoreEvent::TokenRefreshed {
                    account: account_ref(account),
                    expires_at: set.expires_at,
                });
                Ok(CachedToken::new(&set, now))
            }
            Err(e @ CoreError::ReauthRequired(_)) => {
                self.mark_reauth(&account.id);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    fn mark_reauth(&self, account_id: &str) {
        // The secrets stay: the user decides (sign in again, or remove).
        match self.accounts.set_status(account_id, AccountStatus::ReauthRequired, self.clock.now()) {
            Ok(()) => {
                self.forget(account_id);
                if let Some(a) = self.accounts.get(account_id) {
                    let _ = self.events.send(CoreEvent::ReauthRequired { account: account_ref(&a) });
                }
                let _ = self.events.send(CoreEvent::AccountsChanged);
            }
            Err(e) => tracing::warn!("could not mark {account_id} for sign-in: {e}"),
        }
    }
}

/// How long the provider asked to be left alone (HTTP 429/503 `Retry-After`).
fn retry_after_secs(error: &CoreError) -> Option<u64> {
    match error {
        CoreError::ProviderUnavailable { .. } => error.retry_after().map(|d| d.as_secs()),
        _ => None,
    }
}

impl AccountKeeper for TokenBroker {
    /// Saves a just-signed-in account (its secrets are already in the
    /// keychain) — as its provider's active one when the person signed in,
    /// only added when a program did — and serves its first token from
    /// memory.
    fn keep(&self, mut account: Account, set: &TokenSet, for_whom: SignInFor) -> SignInResult {
        if let Ok(provider) = self.catalog.get(&account.provider) {
            let now = self.clock.now();
            account.grant_expires_at = crate::services::refresh_token_end(&provider, set, now);
            let platform = provider.sign_in.as_browser().and_then(|b| b.platform.as_ref());
            if platform.is_some_and(|p| p.validate.as_ref() == Some(&p.identity)) {
                // Naming who signed in was this hour's validation (Twitch).
                self.validation_due
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(account.id.clone(), now.saturating_add(VALIDATION_INTERVAL_SECS));
            }
        }
        let id = account.id.clone();
        let before = self.accounts.active_of(&account.provider);
        let (provider, reference) = (account.provider.clone(), account_ref(&account));
        self.accounts.upsert(account, for_whom == SignInFor::Person)?;
        self.seed(&id, set);
        if for_whom == SignInFor::Person && before.as_deref() != Some(id.as_str()) {
            let _ = self.events.send(CoreEvent::ActiveChanged { provider, account: Some(reference) });
        }
        self.accounts.info(&id).ok_or_else(|| CoreError::Internal("account vanished".into()))
    }

    fn holds_account_of(&self, provider: &str) -> bool {
        self.accounts.list().iter().any(|a| a.provider == provider)
    }

    fn holds_working(&self, account_id: &str) -> bool {
        self.accounts.get(account_id).is_some_and(|a| a.status != AccountStatus::ReauthRequired)
    }
}

/// A served token as IPC bytes ([`TokenBroker::token_json_if`]).
pub struct ServedJson {
    pub json: Arc<[u8]>,
    account: Arc<Account>,
    token: Arc<CachedToken>,
}

impl ServedJson {
    /// The account served.
    pub fn account_id(&self) -> &str {
        &self.account.id
    }

    /// The scopes the token carries.
    pub fn scopes(&self) -> &[String] {
        &self.token.scopes
    }
}

pub(crate) fn account_ref(a: &Account) -> castkey_ipc::AccountRef {
    castkey_ipc::AccountRef {
        id: a.id.clone(),
        provider: a.provider.clone(),
        display_name: a.display_name.clone(),
    }
}

fn grant(account: &Account, provider: &ProviderConfig, t: &CachedToken) -> TokenGrant {
    let access_token = t.access_token.expose_secret().to_string();
    // The account's own headers (fixed at sign-in) over the provider's.
    let mut headers: BTreeMap<String, String> = provider.api_headers.clone();
    headers.extend(account.api_headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    headers.insert("Authorization".into(), format!("{} {}", t.token_type, access_token));
    TokenGrant {
        access_token,
        token_type: t.token_type.clone(),
        expires_at: t.expires_at,
        scope: t.scopes.clone(),
        account: castkey_ipc::AccountRef {
            id: account.id.clone(),
            provider: account.provider.clone(),
            display_name: account.display_name.clone(),
        },
        headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl TokenBroker {
        /// The token as a typed answer, no policy.
        async fn token(&self, params: &TokenParams) -> Result<TokenGrant, CoreError> {
            let (account, provider, t) = self.serve_if(params, |_, _| Ok(())).await?;
            Ok(grant(&account, &provider, &t))
        }
    }
    use crate::clock::ManualClock;
    use crate::oauth::OidcProviders;
    use crate::secret::{MemoryStore, SecretKey, SecretStore};
    use castkey_ipc::ScopeParam;

    /// A broker whose provider does not answer (port 9 on loopback): any
    /// request that gets an answer was served without the network.
    struct World {
        _dir: tempfile::TempDir,
        secrets: Arc<MemoryStore>,
        accounts: Arc<AccountStore>,
        clock: Arc<ManualClock>,
        broker: TokenBroker,
    }

    fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(MemoryStore::default());
        let accounts = Arc::new(AccountStore::load(dir.path().join("accounts.json")).unwrap());
        let clock = ManualClock::new(10_000);
        let mut catalog = ProviderCatalog::default();
        catalog.add(crate::services::local_sandbox(url::Url::parse("http://127.0.0.1:9").unwrap())).unwrap();
        let (events, _) = broadcast::channel(8);
        let oidc = Arc::new(OidcProviders::new(crate::oauth::http_client()));
        let grants = Arc::new(Grants::new(oidc, secrets.clone(), clock.clone()));
        let broker = TokenBroker::new(accounts.clone(), Arc::new(catalog), grants, clock.clone(), events);
        let scopes = ["openid".to_string(), "broadcaster".to_string()];
        accounts
            .upsert_active(Account::signed_in(
                "sandbox:streamer",
                "sandbox",
                "streamer",
                "Streamer",
                &scopes,
                1,
            ))
            .unwrap();
        World { _dir: dir, secrets, accounts, clock, broker }
    }

    fn token_set(expires_at: u64) -> TokenSet {
        TokenSet {
            access_token: SecretString::from("access-1"),
            token_type: "Bearer".into(),
            expires_at,
            scopes: vec!["openid".into(), "broadcaster".into()],
            refresh_token: None,
            id_token: None,
            refresh_expires_at: None,
            lifetime_known: true,
        }
    }

    #[tokio::test]
    async fn a_cached_token_is_served_from_memory() {
        let w = world();
        w.broker.seed("sandbox:streamer", &token_set(10_000 + 3600));
        let g = w.broker.token(&TokenParams::default()).await.unwrap();
        assert_eq!(g.access_token, "access-1");
        assert_eq!(g.headers["Authorization"], "Bearer access-1");
        assert_eq!(g.account.display_name, "Streamer");
        assert_eq!(g.expires_at, 13_600);
        // By provider and by account id too.
        let by_provider = TokenParams { provider: Some("sandbox".into()), ..Default::default() };
        assert_eq!(w.broker.token(&by_provider).await.unwrap().access_token, "access-1");
        let by_account = TokenParams { account: Some("sandbox:streamer".into()), ..Default::default() };
        assert_eq!(w.broker.token(&by_account).await.unwrap().access_token, "access-1");
    }

    #[tokio::test]
    async fn an_account_s_own_headers_come_with_its_token() {
        let w = world();
        let mut a = w.accounts.get("sandbox:streamer").unwrap();
        a.api_headers.insert("LifeOmic-Account".into(), "acme".into());
        w.accounts.upsert_active(a).unwrap();
        w.broker.seed("sandbox:streamer", &token_set(10_000 + 3600));
        let g = w.broker.token(&TokenParams::default()).await.unwrap();
        assert_eq!(g.headers["LifeOmic-Account"], "acme");
        assert_eq!(g.headers["Authorization"], "Bearer access-1");
    }

    #[tokio::test]
    async fn a_token_expiring_within_min_valid_is_not_served() {
        let w = world();
        w.broker.seed("sandbox:streamer", &token_set(10_000 + 120));
        let short = TokenParams { min_valid_secs: Some(60), ..Default::default() };
        assert!(w.broker.token(&short).await.is_ok());
        w.clock.advance(61);
        // 59 s left < 60: a refresh is due, and without a refresh token the
        // user must sign in again; the account says so.
        let err = w.broker.token(&short).await.unwrap_err();
        assert!(matches!(err, CoreError::ReauthRequired(_)), "{err}");
        assert_eq!(w.accounts.get("sandbox:streamer").unwrap().status, AccountStatus::ReauthRequired);
    }

    #[tokio::test]
    async fn an_unreachable_provider_loses_nothing() {
        let w = world();
        let key = SecretKey::refresh_token("sandbox:streamer");
        w.secrets.put(&key, &SecretString::from("refresh-1")).await.unwrap();
        let err = w.broker.token(&TokenParams::default()).await.unwrap_err();
        assert!(matches!(err, CoreError::ProviderUnavailable { .. }), "{err}");
        assert_eq!(err.reason(), castkey_ipc::Reason::ProviderUnavailable);
        assert_eq!(w.secrets.get(&key).await.unwrap().unwrap().expose_secret(), "refresh-1");
        assert_eq!(w.accounts.get("sandbox:streamer").unwrap().status, AccountStatus::SignedIn);
    }

    #[tokio::test]
    async fn scopes_and_accounts_are_checked_before_anything_else() {
        let w = world();
        w.broker.seed("sandbox:streamer", &token_set(10_000 + 3600));
        let chat =
            TokenParams { scope: Some(ScopeParam::Spaced("broadcaster chat".into())), ..Default::default() };
        match w.broker.token(&chat).await.unwrap_err() {
            CoreError::ScopeNotGranted { missing, .. } => assert_eq!(missing, vec!["chat"]),
            other => panic!("{other}"),
        }
        let nobody = TokenParams { account: Some("sandbox:nobody".into()), ..Default::default() };
        assert!(matches!(w.broker.token(&nobody).await, Err(CoreError::UnknownAccount(_))));
        let other = TokenParams { provider: Some("elsewhere".into()), ..Default::default() };
        assert!(matches!(w.broker.token(&other).await, Err(CoreError::NotSignedIn(Some(_)))));
    }

    #[tokio::test]
    async fn an_account_marked_for_sign_in_gets_no_token_even_if_cached() {
        let w = world();
        w.broker.seed("sandbox:streamer", &token_set(10_000 + 3600));
        w.accounts.set_status("sandbox:streamer", AccountStatus::ReauthRequired, 1).unwrap();
        assert!(matches!(w.broker.token(&TokenParams::default()).await, Err(CoreError::ReauthRequired(_))));
    }

    #[tokio::test]
    async fn sign_out_forgets_the_cached_token() {
        let w = world();
        w.broker.seed("sandbox:streamer", &token_set(10_000 + 3600));
        w.broker.forget("sandbox:streamer");
        w.secrets.unavailable.store(true, std::sync::atomic::Ordering::SeqCst);
        let err = w.broker.token(&TokenParams::default()).await.unwrap_err();
        assert!(matches!(err, CoreError::Keychain(_)), "{err}");
    }

    /// A token endpoint that answers every request with `status` and `body`.
    static CALLS: std::sync::LazyLock<Mutex<HashMap<String, usize>>> =
        std::sync::LazyLock::new(Default::default);

    /// How many requests the endpoint at `base` has answered.
    fn calls(base: &str) -> usize {
        CALLS.lock().unwrap().get(base).copied().unwrap_or(0)
    }

    async fn faulty_token_endpoint(status: u16, body: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let counted = base.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                *CALLS.lock().unwrap().entry(counted.clone()).or_default() += 1;
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        base
    }

    async fn world_with_provider_answering(status: u16, body: &'static str) -> (World, SecretKey) {
        let (w, key, _) = world_counting(status, body).await;
        (w, key)
    }

    /// A world whose provider answers every request with `status` and
    /// `body`; also answers the provider's base URL (for [`calls`]).
    async fn world_counting(status: u16, body: &'static str) -> (World, SecretKey, String) {
        world_counting_with(status, body, Default::default()).await
    }

    /// [`world_counting`] with the provider's refresh-token clocks.
    async fn world_counting_with(
        status: u16,
        body: &'static str,
        clocks: crate::provider::RefreshClocks,
    ) -> (World, SecretKey, String) {
        let issuer = faulty_token_endpoint(status, body).await;
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(MemoryStore::default());
        let accounts = Arc::new(AccountStore::load(dir.path().join("accounts.json")).unwrap());
        let clock = ManualClock::new(10_000);
        let url = url::Url::parse(&issuer).unwrap();
        let mut catalog = ProviderCatalog::default();
        let mut sandbox = crate::services::local_sandbox(url.clone());
        sandbox.refresh_clocks = clocks;
        catalog.add(sandbox).unwrap();
        let oidc = Arc::new(OidcProviders::new(crate::oauth::http_client()));
        oidc.get("sandbox", &crate::provider::Endpoints::Discover { issuer: url.clone() }, "castkey")
            .set_discovered(crate::oauth::Discovered::for_tests(&issuer));
        let (events, _) = broadcast::channel(8);
        let grants = Arc::new(Grants::new(oidc, secrets.clone(), clock.clone()));
        let broker = TokenBroker::new(accounts.clone(), Arc::new(catalog), grants, clock.clone(), events);
        let w = World { _dir: dir, secrets, accounts, clock, broker };
        let template = world();
        w.accounts.upsert_active(template.accounts.get("sandbox:streamer").unwrap()).unwrap();
        let key = SecretKey::refresh_token("sandbox:streamer");
        w.secrets.put(&key, &SecretString::from("refresh-1")).await.unwrap();
        (w, key, issuer)
    }

    async fn assert_nothing_lost(w: &World, key: &SecretKey) {
        assert_eq!(w.secrets.get(key).await.unwrap().unwrap().expose_secret(), "refresh-1");
    }

    #[tokio::test]
    async fn a_provider_answering_500_loses_nothing() {
        let (w, key) = world_with_provider_answering(500, r#"{"error":"server_error"}"#).await;
        let err = w.broker.token(&TokenParams::default()).await.unwrap_err();
        assert_eq!(err.reason(), castkey_ipc::Reason::ProviderUnavailable, "{err}");
        assert!(err.to_string().contains("HTTP 500"), "{err}");
        assert_nothing_lost(&w, &key).await;
        assert_eq!(w.accounts.get("sandbox:streamer").unwrap().status, AccountStatus::SignedIn);
    }

    #[tokio::test]
    async fn a_provider_answering_garbage_loses_nothing_and_is_not_echoed() {
        let (w, key) = world_with_provider_answering(200, "<html>refresh-1 secret page</html>").await;
        let err = w.broker.token(&TokenParams::default()).await.unwrap_err();
        assert_eq!(err.reason(), castkey_ipc::Reason::ProviderUnavailable, "{err}");
        assert!(err.to_string().contains("not a token response"), "{err}");
        assert!(!err.to_string().contains("secret page"), "{err}");
        assert_nothing_lost(&w, &key).await;
    }

    #[tokio::test]
    async fn a_refused_refresh_token_asks_for_sign_in_and_keeps_the_secrets() {
        let (w, key) = world_with_provider_answering(400, r#"{"error":"invalid_grant"}"#).await;
        let err = w.broker.token(&TokenParams::default()).await.unwrap_err();
        assert_eq!(err.reason(), castkey_ipc::Reason::ReauthRequired, "{err}");
        assert_eq!(w.accounts.get("sandbox:streamer").unwrap().status, AccountStatus::ReauthRequired);
        assert_nothing_lost(&w, &key).await;
        w.clock.advance(1);
        // Until the user acts, later requests say the same without calling the provider.
        let again = w.broker.token(&TokenParams::default()).await.unwrap_err();
        assert_eq!(again.reason(), castkey_ipc::Reason::ReauthRequired);
    }

    #[tokio::test]
    async fn a_wish_longer_than_the_token_lives_is_served_from_cache() {
        let w = world();
        // A one-minute token and a caller that wants an hour (or a year):
        // served while it has half its life left, no refresh per request.
        w.broker.seed("sandbox:streamer", &token_set(10_000 + 60));
        for wish in [3_600, u64::MAX] {
            let p = TokenParams { min_valid_secs: Some(wish), ..Default::default() };
            assert_eq!(w.broker.token(&p).await.unwrap().access_token, "access-1");
        }
        w.clock.advance(25);
        let p = TokenParams { min_valid_secs: Some(3_600), ..Default::default() };
        assert_eq!(w.broker.token(&p).await.unwrap().access_token, "access-1");
        // Past half its life a refresh is due (none possible here).
        w.clock.advance(10);
        assert!(w.broker.token(&p).await.is_err());
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_not_hammered_and_a_valid_token_keeps_being_served() {
        let (w, key, base) = world_counting(503, r#"{"error":"temporarily_unavailable"}"#).await;
        // A 100 s token with 40 s left (under half its life): a refresh is
        // due but fails.
        w.broker.seed("sandbox:streamer", &token_set(10_000 + 100));
        w.clock.advance(60);
        let p = TokenParams { min_valid_secs: Some(300), ..Default::default() };
        for _ in 0..5 {
            assert_eq!(w.broker.token(&p).await.unwrap().access_token, "access-1");
        }
        assert_eq!(calls(&base), 1, "one refresh, then back-off");
        // After the back-off, one more try.
        w.clock.advance(BACKOFF_FIRST_SECS);
        assert_eq!(w.broker.token(&p).await.unwrap().access_token, "access-1");
        assert_eq!(calls(&base), 2);
        // Once the token has expired the caller hears why.
        w.clock.advance(100);
        let err = w.broker.token(&p).await.unwrap_err();
        assert_eq!(err.reason(), castkey_ipc::Reason::ProviderUnavailable, "{err}");
        assert!(calls(&base) <= 3);
        assert_nothing_lost(&w, &key).await;
        assert_eq!(w.accounts.get("sandbox:streamer").unwrap().status, AccountStatus::SignedIn);
    }

    #[tokio::test]
    async fn a_refused_grant_is_not_asked_again() {
        let (w, _key, base) = world_counting(400, r#"{"error":"invalid_grant"}"#).await;
        for _ in 0..3 {
            let err = w.broker.token(&TokenParams::default()).await.unwrap_err();
            assert_eq!(err.reason(), castkey_ipc::Reason::ReauthRequired);
        }
        assert_eq!(calls(&base), 1);
    }

    #[tokio::test]
    async fn a_rotated_refresh_token_is_kept_even_if_the_new_id_token_fails_verification() {
        // The provider rotates the refresh token and sends an ID token that
        // cannot be verified (say, a key rotation during a JWKS outage).
        let (w, key) = world_with_provider_answering(
            200,
            r#"{"access_token":"a-2","token_type":"Bearer","expires_in":3600,"refresh_token":"refresh-2","id_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdHJlYW1lciJ9.c2ln"}"#,
        )
        .await;
        let err = w.broker.token(&TokenParams::default()).await.unwrap_err();
        assert!(err.to_string().contains("ID token"), "{err}");
        assert_eq!(w.secrets.get(&key).await.unwrap().unwrap().expose_secret(), "refresh-2");
    }

    #[tokio::test]
    async fn a_refresh_that_uses_the_refresh_token_restarts_its_idle_clock() {
        // A provider whose refresh tokens die after 30 days unused (Twitch's
        // public clients) and that does not rotate them here.
        let idle = 30 * 86_400;
        let clocks = crate::provider::RefreshClocks {
            refresh_token_lifetime_secs: None,
            refresh_token_idle_lifetime_secs: Some(idle),
        };
        let (w, key, base) = world_counting_with(
            200,
            r#"{"access_token":"a-2","token_type":"Bearer","expires_in":14400}"#,
            clocks,
        )
        .await;
        w.clock.advance(20 * 86_400);
        assert_eq!(w.broker.token(&TokenParams::default()).await.unwrap().access_token, "a-2");
        assert_eq!(calls(&base), 1);
        let a = w.accounts.get("sandbox:streamer").unwrap();
        assert_eq!(a.grant_expires_at, Some(10_000 + 20 * 86_400 + idle), "30 days from the use");
        assert_nothing_lost(&w, &key).await;
    }

    #[tokio::test]
    async fn sign_out_waits_for_a_refresh_in_flight() {
        let w = Arc::new(world());
        let guard = w.broker.hold_refreshes("sandbox:streamer").await;
        let asking = {
            let w = w.clone();
            tokio::spawn(async move { w.broker.token(&TokenParams::default()).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!asking.is_finished(), "a refresh started while sign-out held the account");
        // Sign-out forgets the account, then lets go: the waiting request
        // finds it gone and starts no refresh.
        w.accounts.remove("sandbox:streamer").unwrap();
        drop(guard);
        let err = asking.await.unwrap().unwrap_err();
        assert!(matches!(err, CoreError::UnknownAccount(_)), "{err}");
        assert!(w.broker.settle(std::time::Duration::from_secs(1)).await);
    }

    #[tokio::test]
    async fn a_forced_refresh_asks_the_provider_even_for_a_fresh_token() {
        let (w, _key, base) = world_counting(503, r#"{"error":"temporarily_unavailable"}"#).await;
        w.broker.seed("sandbox:streamer", &token_set(10_000 + 3600));
        assert_eq!(w.broker.token(&TokenParams::default()).await.unwrap().access_token, "access-1");
        assert_eq!(calls(&base), 0);
        let forced = TokenParams { force_refresh: Some(true), ..Default::default() };
        let err = w.broker.token(&forced).await.unwrap_err();
        assert_eq!(err.reason(), castkey_ipc::Reason::ProviderUnavailable, "{err}");
        assert_eq!(calls(&base), 1);
        // Forced or not, a provider that is down is not asked again during the back-off,
        // and a caller that did not force still gets the valid token.
        assert!(w.broker.token(&forced).await.is_err());
        assert_eq!(calls(&base), 1);
        assert_eq!(w.broker.token(&TokenParams::default()).await.unwrap().access_token, "access-1");
    }
}
