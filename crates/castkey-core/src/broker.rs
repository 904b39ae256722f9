//! [`TokenBroker`]: valid access tokens for local apps.
//!
//! The hot path — a cached token that is valid long enough — reads only
//! memory: the account list (held by [`AccountStore`]), the provider catalog
//! and the token cache. No keychain, disk or network. Otherwise one refresh
//! runs per account however many requests wait for it; a rotated refresh
//! token is stored in the keychain *before* the new access token is handed
//! out, so a crash can never leave Castkey holding only a revoked token.

use crate::account::AccountStore;
use crate::castkey::CoreEvent;
use crate::clock::Clock;
use crate::error::CoreError;
use crate::oidc::{OidcProviders, ResponseDefaults, TokenError, TokenSet};
use crate::provider::{ProviderCatalog, ProviderConfig, SignInKind};
use crate::secret::{SecretKey, SecretStore};
use castkey_ipc::{AccountStatus, TokenGrant, TokenParams};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::broadcast;

struct CachedToken {
    access_token: SecretString,
    token_type: String,
    expires_at: u64,
    scopes: Vec<String>,
}

impl From<&TokenSet> for CachedToken {
    fn from(set: &TokenSet) -> Self {
        CachedToken {
            access_token: set.access_token.clone(),
            token_type: set.token_type.clone(),
            expires_at: set.expires_at,
            scopes: set.scopes.clone(),
        }
    }
}

pub struct TokenBroker {
    accounts: Arc<AccountStore>,
    secrets: Arc<dyn SecretStore>,
    catalog: Arc<ProviderCatalog>,
    oidc: Arc<OidcProviders>,
    clock: Arc<dyn Clock>,
    events: broadcast::Sender<CoreEvent>,
    cache: RwLock<HashMap<String, Arc<CachedToken>>>,
    refreshing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Rotated refresh tokens the keychain refused to store: used for the
    /// next refresh so that a keychain hiccup does not lose the grant.
    unsaved_refresh: Mutex<HashMap<String, SecretString>>,
}

impl fmt::Debug for TokenBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.cache.read().map(|c| c.len()).unwrap_or(0);
        f.debug_struct("TokenBroker").field("cached", &n).finish_non_exhaustive()
    }
}

impl TokenBroker {
    pub fn new(
        accounts: Arc<AccountStore>,
        secrets: Arc<dyn SecretStore>,
        catalog: Arc<ProviderCatalog>,
        oidc: Arc<OidcProviders>,
        clock: Arc<dyn Clock>,
        events: broadcast::Sender<CoreEvent>,
    ) -> Self {
        TokenBroker {
            accounts,
            secrets,
            catalog,
            oidc,
            clock,
            events,
            cache: Default::default(),
            refreshing: Default::default(),
            unsaved_refresh: Default::default(),
        }
    }

    /// A token for the account `params` names, valid for at least
    /// `min_valid_secs` when the provider allows (a freshly issued token is
    /// returned even if its whole lifetime is shorter).
    pub async fn token(&self, params: &TokenParams) -> Result<TokenGrant, CoreError> {
        let account = self.accounts.resolve(params.account.as_deref(), params.provider.as_deref())?;
        let provider = self.catalog.get(&account.provider)?;
        let wanted = params.scopes_or(provider.broadcast_scope.as_deref());
        account
            .has_scopes(&wanted)
            .map_err(|missing| CoreError::ScopeNotGranted { account: account.id.clone(), missing })?;
        if account.status == AccountStatus::ReauthRequired {
            return Err(CoreError::ReauthRequired(account.id.clone()));
        }
        let min_valid = params.min_valid_secs();
        if let Some(t) = self.cached(&account.id, min_valid) {
            return Ok(grant(&account, &provider, &t));
        }

        let lock = self.refresh_lock(&account.id);
        let _guard = lock.lock().await;
        // Whoever held the lock may have refreshed already.
        if let Some(t) = self.cached(&account.id, min_valid) {
            return Ok(grant(&account, &provider, &t));
        }
        let fresh = self.refresh(&account, &provider).await?;
        let t = Arc::new(fresh);
        self.cache.write().unwrap_or_else(|e| e.into_inner()).insert(account.id.clone(), t.clone());
        Ok(grant(&account, &provider, &t))
    }

    fn cached(&self, account_id: &str, min_valid: u64) -> Option<Arc<CachedToken>> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        let t = cache.get(account_id)?;
        (t.expires_at >= self.clock.now().saturating_add(min_valid)).then(|| t.clone())
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
        let t = Arc::new(CachedToken::from(set));
        self.cache.write().unwrap_or_else(|e| e.into_inner()).insert(account_id.to_string(), t);
    }

    /// Drops everything held in memory for an account (sign-out).
    pub fn forget(&self, account_id: &str) {
        self.cache.write().unwrap_or_else(|e| e.into_inner()).remove(account_id);
        self.unsaved_refresh.lock().unwrap_or_else(|e| e.into_inner()).remove(account_id);
    }

    async fn refresh(
        &self,
        account: &crate::account::Account,
        provider: &ProviderConfig,
    ) -> Result<CachedToken, CoreError> {
        let b = match &provider.sign_in {
            SignInKind::Browser(b) => b,
            SignInKind::ClientCredentials { endpoints } => {
                return self.fetch_for_service_account(account, provider, endpoints).await
            }
            SignInKind::ApiKey { .. } => return self.refresh_api_key_account(account, provider).await,
        };
        let Some(refresh_token) = self.current_refresh_token(&account.id).await? else {
            tracing::warn!(account = %account.id, "no refresh token in the keychain");
            self.mark_reauth(&account.id);
            return Err(CoreError::ReauthRequired(account.id.clone()));
        };
        let now = self.clock.now();
        let oidc = self.oidc.get(&provider.id, &b.endpoints, &b.client_id);
        let d = oidc.discover(false).await?;
        let client_secret = provider_client_secret(self.secrets.as_ref(), provider, b).await?;
        // A token exchange comes after: the identity provider's scopes are
        // not the service token's.
        let scopes = if b.exchange.is_some() { &provider.scopes } else { &account.scopes };
        let set = oidc
            .refresh(
                &d,
                &refresh_token,
                client_secret.as_ref(),
                ResponseDefaults { scopes, lifetime_secs: provider.default_token_lifetime_secs, now },
            )
            .await
            .map_err(|e| {
                if matches!(e, TokenError::InvalidGrant(_)) {
                    self.mark_reauth(&account.id);
                }
                e.into_core(&provider.id, Some(&account.id))
            })?;
        if let (Some(raw), true) = (&set.id_token, d.verifies_id_tokens) {
            let id = oidc.verify_id_token(&d, raw, None).await?;
            if id.subject != account.subject {
                return Err(CoreError::ProviderRejected("the refreshed ID token names another user".into()));
            }
        }
        // The rotated refresh token is stored before anything else can fail.
        self.store_rotated(&account.id, Some(&refresh_token), &set).await?;
        let set = match &b.exchange {
            None => set,
            Some(x) => {
                let Some(raw) = set.id_token.as_deref().filter(|_| d.verifies_id_tokens) else {
                    self.mark_reauth(&account.id);
                    return Err(CoreError::ProviderRejected(
                        "the identity provider sent no ID token on refresh, so none can be exchanged; sign in again"
                            .into(),
                    ));
                };
                crate::exchange::exchange(
                    self.oidc.http(),
                    crate::exchange::ExchangeRequest {
                        url: &x.url,
                        identity_token: raw,
                        oidc_client_id: &b.client_id,
                        service_client_id: &x.service_client_id,
                    },
                    ResponseDefaults {
                        scopes: &account.scopes,
                        lifetime_secs: provider.default_token_lifetime_secs,
                        now,
                    },
                )
                .await
                .map_err(|e| {
                    if matches!(e, TokenError::InvalidGrant(_)) {
                        self.mark_reauth(&account.id);
                    }
                    e.into_core(&provider.id, Some(&account.id))
                })?
            }
        };
        tracing::info!(account = %account.id, expires_at = set.expires_at, "access token refreshed");
        Ok(CachedToken::from(&set))
    }

    /// Stores a rotated refresh token before anything is handed out. If the
    /// keychain refuses, the new token is kept in memory for the next attempt
    /// and the caller hands nothing out.
    async fn store_rotated(
        &self,
        account_id: &str,
        previous: Option<&SecretString>,
        set: &TokenSet,
    ) -> Result<(), CoreError> {
        if let Some(rotated) = &set.refresh_token {
            if previous.map(|p| p.expose_secret()) != Some(rotated.expose_secret()) {
                if let Err(e) = self.secrets.put(&SecretKey::refresh_token(account_id), rotated).await {
                    self.unsaved_refresh
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(account_id.to_string(), rotated.clone());
                    return Err(e.into());
                }
            }
        }
        self.unsaved_refresh.lock().unwrap_or_else(|e| e.into_inner()).remove(account_id);
        Ok(())
    }

    /// The refresh token in use: one the keychain refused to store, else the keychain's.
    async fn current_refresh_token(&self, account_id: &str) -> Result<Option<SecretString>, CoreError> {
        let unsaved = self.unsaved_refresh.lock().unwrap_or_else(|e| e.into_inner()).get(account_id).cloned();
        match unsaved {
            Some(t) => Ok(Some(t)),
            None => Ok(self.secrets.get(&SecretKey::refresh_token(account_id)).await?),
        }
    }

    /// api.video: refresh with the refresh token; only when that is refused,
    /// authenticate again with the API key (as api.video asks clients to).
    async fn refresh_api_key_account(
        &self,
        account: &crate::account::Account,
        provider: &ProviderConfig,
    ) -> Result<CachedToken, CoreError> {
        let env = account.environment.as_deref().unwrap_or("production");
        let base = provider.sign_in.environment(env).ok_or_else(|| {
            CoreError::Internal(format!("{} has no environment `{env}`", provider.display_name))
        })?;
        let http = self.oidc.http();
        let defaults = ResponseDefaults {
            scopes: &account.scopes,
            lifetime_secs: provider.default_token_lifetime_secs,
            now: self.clock.now(),
        };
        let previous = self.current_refresh_token(&account.id).await?;
        let refreshed = match &previous {
            Some(rt) => match crate::apivideo::refresh(http, base, rt, defaults).await {
                Err(TokenError::InvalidGrant(why)) => {
                    tracing::info!(account = %account.id, "refresh token refused ({why}); using the API key");
                    None
                }
                other => Some(other.map_err(|e| e.into_core(&provider.id, Some(&account.id)))?),
            },
            None => None,
        };
        let set = match refreshed {
            Some(set) => set,
            None => {
                let Some(key) = self.secrets.get(&SecretKey::api_key(&account.id)).await? else {
                    self.mark_reauth(&account.id);
                    return Err(CoreError::ReauthRequired(account.id.clone()));
                };
                crate::apivideo::authenticate(http, base, &key, defaults).await.map_err(|e| {
                    if matches!(e, TokenError::InvalidGrant(_)) {
                        // The API key itself was revoked.
                        self.mark_reauth(&account.id);
                    }
                    e.into_core(&provider.id, Some(&account.id))
                })?
            }
        };
        self.store_rotated(&account.id, previous.as_ref(), &set).await?;
        tracing::info!(account = %account.id, expires_at = set.expires_at, "api.video token refreshed");
        Ok(CachedToken::from(&set))
    }

    /// A service account has no refresh token: its client secret gets a new token.
    async fn fetch_for_service_account(
        &self,
        account: &crate::account::Account,
        provider: &ProviderConfig,
        endpoints: &crate::provider::Endpoints,
    ) -> Result<CachedToken, CoreError> {
        let Some(secret) = self.secrets.get(&SecretKey::client_secret(&account.id)).await? else {
            self.mark_reauth(&account.id);
            return Err(CoreError::ReauthRequired(account.id.clone()));
        };
        let oidc = self.oidc.get(&provider.id, endpoints, &account.subject);
        let d = oidc.discover(false).await?;
        let defaults = ResponseDefaults {
            scopes: &account.scopes,
            lifetime_secs: provider.default_token_lifetime_secs,
            now: self.clock.now(),
        };
        let set = oidc.client_credentials(&d, &secret, defaults).await.map_err(|e| {
            if matches!(e, TokenError::InvalidGrant(_)) {
                self.mark_reauth(&account.id);
            }
            e.into_core(&provider.id, Some(&account.id))
        })?;
        tracing::info!(account = %account.id, expires_at = set.expires_at, "service account token fetched");
        Ok(CachedToken::from(&set))
    }

    fn mark_reauth(&self, account_id: &str) {
        // The secrets stay: the user decides (sign in again, or remove).
        match self.accounts.set_status(account_id, AccountStatus::ReauthRequired, self.clock.now()) {
            Ok(()) => {
                self.forget(account_id);
                let _ = self.events.send(CoreEvent::AccountsChanged);
            }
            Err(e) => tracing::warn!("could not mark {account_id} for sign-in: {e}"),
        }
    }
}

/// A confidential client's secret, from the keychain (`None` for a public
/// client). Sign-in and refresh only; never on the hot path.
pub(crate) async fn provider_client_secret(
    secrets: &dyn SecretStore,
    provider: &ProviderConfig,
    b: &crate::provider::BrowserSignIn,
) -> Result<Option<SecretString>, CoreError> {
    if !b.confidential {
        return Ok(None);
    }
    match secrets.get(&SecretKey::provider_client_secret(&provider.id)).await? {
        Some(s) => Ok(Some(s)),
        None => Err(CoreError::LoginFailed(format!(
            "the client secret of {} is not in the keychain; remove the provider and add it again",
            provider.display_name
        ))),
    }
}

fn grant(account: &crate::account::Account, provider: &ProviderConfig, t: &CachedToken) -> TokenGrant {
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
    use crate::account::Account;
    use crate::clock::ManualClock;
    use crate::secret::MemoryStore;
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
        catalog.add(ProviderConfig::local_sandbox(url::Url::parse("http://127.0.0.1:9").unwrap())).unwrap();
        let (events, _) = broadcast::channel(8);
        let broker = TokenBroker::new(
            accounts.clone(),
            secrets.clone(),
            Arc::new(catalog),
            Arc::new(OidcProviders::new(crate::oidc::http_client())),
            clock.clone(),
            events,
        );
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
    async fn faulty_token_endpoint(status: u16, body: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        format!("http://127.0.0.1:{port}")
    }

    async fn world_with_provider_answering(status: u16, body: &'static str) -> (World, SecretKey) {
        let issuer = faulty_token_endpoint(status, body).await;
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(MemoryStore::default());
        let accounts = Arc::new(AccountStore::load(dir.path().join("accounts.json")).unwrap());
        let clock = ManualClock::new(10_000);
        let url = url::Url::parse(&issuer).unwrap();
        let mut catalog = ProviderCatalog::default();
        catalog.add(ProviderConfig::local_sandbox(url.clone())).unwrap();
        let oidc = Arc::new(OidcProviders::new(crate::oidc::http_client()));
        oidc.get("sandbox", &crate::provider::Endpoints::Discover { issuer: url.clone() }, "castkey")
            .set_discovered(crate::oidc::Discovered::for_tests(&issuer));
        let (events, _) = broadcast::channel(8);
        let broker = TokenBroker::new(
            accounts.clone(),
            secrets.clone(),
            Arc::new(catalog),
            oidc,
            clock.clone(),
            events,
        );
        let w = World { _dir: dir, secrets, accounts, clock, broker };
        let template = world();
        w.accounts.upsert_active(template.accounts.get("sandbox:streamer").unwrap()).unwrap();
        let key = SecretKey::refresh_token("sandbox:streamer");
        w.secrets.put(&key, &SecretString::from("refresh-1")).await.unwrap();
        (w, key)
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
}
