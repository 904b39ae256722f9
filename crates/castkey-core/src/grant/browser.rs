//! Browser sign-in, from the authorization URL to a stored account; its
//! refresh and revocation.
//!
//! [`SignIn::start`] registers a pending flow (PKCE S256, `state`, `nonce`)
//! and returns the URL to open; [`SignIn::complete`] takes a redirect URL —
//! from the deep link or the loopback listener — and, if a flow waits for its
//! `state`, exchanges the code, verifies the ID token, stores the refresh
//! token in the keychain and the account's metadata on disk, in that order.

use super::{AccountKeeper, Grants, SignInFor};
use crate::account::Account;
use crate::catalog::ProviderCatalog;
use crate::error::CoreError;
use crate::event::CoreEvent;
use crate::oauth::{Discovered, OidcProvider, ResponseDefaults, TokenError, TokenSet};
use crate::pending::{PendingFlow, PendingRedirects, DEFAULT_TTL_SECS};
use crate::provider::{BrowserSignIn, PlatformKind, ProviderConfig};
use crate::redirect::{self, Redirect, RedirectError, RedirectOutcome};
use crate::secret::SecretKey;
use base64::Engine as _;
use castkey_ipc::AccountInfo;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, oneshot};
use url::Url;

/// Where the browser sends the user back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectTarget {
    /// The app's private-use URI scheme, delivered as a deep link, at the
    /// provider's [`ProviderConfig::app_redirect_uri`].
    AppScheme,
    /// `http://127.0.0.1:<port><path>` (RFC 8252 §7.3), for headless use.
    Loopback { port: u16, path: String },
}

impl RedirectTarget {
    /// The loopback redirect on `port` at the usual path, `/callback`.
    #[cfg(test)]
    pub fn loopback(port: u16) -> Self {
        RedirectTarget::Loopback { port, path: crate::provider::DEFAULT_LOOPBACK_PATH.into() }
    }

    /// The redirect URI a sign-in to `provider` sends.
    pub fn uri(&self, provider: &ProviderConfig) -> String {
        match self {
            RedirectTarget::AppScheme => provider.app_redirect_uri.clone(),
            RedirectTarget::Loopback { port, path } => format!("http://127.0.0.1:{port}{path}"),
        }
    }
}

pub type SignInResult = Result<AccountInfo, CoreError>;

/// A started sign-in: open `authorization_url`, then await `done`.
#[derive(Debug)]
pub struct Started {
    pub state: String,
    pub authorization_url: Url,
    pub redirect_uri: String,
    pub expires_at: u64,
    pub done: oneshot::Receiver<SignInResult>,
}

/// What every step of a browser or code sign-in needs: the provider, its
/// sign-in description, its OAuth client and what discovery found.
struct BrowserClient {
    provider: Arc<ProviderConfig>,
    b: BrowserSignIn,
    oidc: Arc<OidcProvider>,
    d: Arc<Discovered>,
}

/// A started sign-in with a code (RFC 8628): show `user_code` and the
/// verification URL, then await [`SignIn::complete_device`].
pub struct DeviceStarted {
    pub provider: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_at: u64,
    interval: u64,
    device_code: secrecy::SecretString,
    for_whom: SignInFor,
}

impl fmt::Debug for DeviceStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceStarted")
            .field("provider", &self.provider)
            .field("verification_uri", &self.verification_uri)
            .finish_non_exhaustive()
    }
}

pub struct SignIn {
    pub(crate) catalog: Arc<ProviderCatalog>,
    pub(crate) grants: Arc<Grants>,
    pub(crate) pending: Arc<PendingRedirects>,
    keeper: Arc<dyn AccountKeeper>,
    pub(crate) events: broadcast::Sender<CoreEvent>,
    waiters: Mutex<HashMap<String, oneshot::Sender<SignInResult>>>,
    /// Sign-ins with a code being polled, one per provider: dropping the
    /// sender stops the poll ([`SignIn::cancel_device`]).
    device_polls: Mutex<HashMap<String, (u64, oneshot::Sender<()>)>>,
}

impl fmt::Debug for SignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignIn").finish_non_exhaustive()
    }
}

fn random_token(bytes: usize) -> String {
    let buf: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

impl SignIn {
    pub(crate) fn new(
        catalog: Arc<ProviderCatalog>,
        grants: Arc<Grants>,
        pending: Arc<PendingRedirects>,
        keeper: Arc<dyn AccountKeeper>,
        events: broadcast::Sender<CoreEvent>,
    ) -> Self {
        SignIn {
            catalog,
            grants,
            pending,
            keeper,
            events,
            waiters: Default::default(),
            device_polls: Default::default(),
        }
    }

    /// Starts a browser sign-in to `provider_id` for `for_whom`, redirected
    /// to `target`: registers the pending flow and answers the URL to open.
    pub async fn start(
        &self,
        provider_id: &str,
        target: RedirectTarget,
        for_whom: SignInFor,
    ) -> Result<Started, CoreError> {
        let BrowserClient { provider, b, oidc, d } = self.browser_client(provider_id).await?;
        if let Some(p) = &b.platform {
            if p.kind == PlatformKind::Twitch && !b.confidential {
                // Twitch's authorization code grant needs the client secret.
                return Err(CoreError::InvalidRequest(format!(
                    "{} signs in with a code when its app has no client secret (castkey login --code {})",
                    provider.display_name, provider.id
                )));
            }
        }
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        let state = random_token(32);
        let nonce = random_token(32);
        let now = self.grants.clock.now();
        let redirect_uri = target.uri(&provider);
        let flow = PendingFlow {
            state: state.clone(),
            provider: provider.id.clone(),
            issuer: d.issuer.clone(),
            redirect_uri: redirect_uri.clone(),
            nonce: nonce.clone(),
            pkce_verifier: verifier.secret().clone(),
            scopes: provider.scopes.clone(),
            created_at: now,
            expires_at: now + DEFAULT_TTL_SECS,
            persist: target == RedirectTarget::AppScheme,
            for_whom,
        };
        let expires_at = flow.expires_at;
        if !flow.persist {
            // A persisted flow goes to the keychain right away; this one only
            // would at the end, after the user went through the browser.
            self.grants.secrets.check_available().await?;
        }
        self.pending.insert(flow).await?;
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).insert(state.clone(), tx);
        // PKCE S256 on every browser sign-in, also where the platform
        // documents none (Twitch): a server that does not know
        // `code_challenge` ignores it.
        let mut url = oidc.authorization_url(
            &d,
            &redirect_uri,
            &provider.scopes,
            &state,
            &nonce,
            challenge.as_str(),
            b.offline_access,
        );
        if let Some(p) = &b.platform {
            let another = self.keeper.holds_account_of(&provider.id);
            url.query_pairs_mut().extend_pairs(super::platform::authorization_params(p, another));
        }
        tracing::info!(provider = %provider.id, redirect = %redirect_uri, "sign-in started");
        Ok(Started { state, authorization_url: url, redirect_uri, expires_at, done: rx })
    }

    /// The provider `provider_id` if it signs people in, with its OAuth
    /// client and what discovery found.
    async fn browser_client(&self, provider_id: &str) -> Result<BrowserClient, CoreError> {
        let provider = self.catalog.get(provider_id)?;
        let Some(b) = provider.sign_in.as_browser() else {
            return Err(CoreError::InvalidRequest(format!(
                "{} does not sign in in the browser (add the account with its credentials instead)",
                provider.display_name
            )));
        };
        let b = b.clone();
        let (oidc, d) = self.grants.discovered(&provider, &b).await?;
        Ok(BrowserClient { provider, b, oidc, d })
    }

    /// Completes the sign-in a redirect belongs to. A redirect that matches
    /// no pending flow changes nothing.
    pub async fn complete(&self, raw_url: &str, expected_base: &str) -> SignInResult {
        let redirect = redirect::parse(raw_url, expected_base)?;
        let flow = self.pending.take(&redirect.state).await.inspect_err(|e| {
            // The flow may have expired while someone waited for it.
            if matches!(e, CoreError::Redirect(RedirectError::Expired)) {
                self.notify(&redirect.state, Err(e.clone()));
            }
        })?;
        let (state, flow_provider) = (flow.state.clone(), flow.provider.clone());
        let result = self.finish(flow, redirect, expected_base).await;
        match &result {
            Ok(a) => tracing::info!(account = %a.id, "signed in"),
            Err(e) => tracing::warn!("sign-in failed: {e}"),
        }
        self.notify(&state, result.clone());
        self.announce(&flow_provider, &result);
        result
    }

    fn notify(&self, state: &str, result: SignInResult) {
        if let Some(tx) = self.waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(state) {
            let _ = tx.send(result);
        }
    }

    /// The user gave up on `provider`'s browser sign-ins: they are
    /// forgotten (a redirect for one is refused as unknown from now on) and
    /// whoever waits for one is told. Answers how many there were.
    pub async fn cancel(&self, provider: &str) -> usize {
        let states = self.pending.states_of(provider).await;
        for state in &states {
            // Gone from memory and, for the app's flows, from the keychain.
            if let Err(e) = self.pending.take(state).await {
                tracing::debug!("a cancelled sign-in was already gone: {e}");
            }
            self.notify(state, Err(CoreError::Redirect(RedirectError::Cancelled)));
        }
        if !states.is_empty() {
            tracing::info!(provider, "sign-in cancelled");
        }
        states.len()
    }

    /// Forgets a waiter whose caller gave up.
    pub fn abandon(&self, state: &str) {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(state);
    }

    async fn finish(&self, flow: PendingFlow, redirect: Redirect, expected_base: &str) -> SignInResult {
        if flow.redirect_uri != expected_base {
            // Another provider's URI (RFC 9700 §4.4.2 mix-up), or the
            // loopback listener for a deep-link sign-in, or the reverse.
            return Err(RedirectError::Malformed(format!(
                "the redirect arrived by another route than the sign-in asked for (at {expected_base}; the \
                 sign-in to `{}` sent {})",
                flow.provider, flow.redirect_uri
            ))
            .into());
        }
        let client = self.browser_client(&flow.provider).await?;
        let BrowserClient { provider, b, oidc, d } = &client;
        // RFC 9207: a redirect must name the issuer the flow was started
        // with. (A provider with fixed endpoints has no issuer identifier;
        // `state` alone binds its redirect to the flow.)
        match &redirect.iss {
            Some(iss) if !flow.issuer.is_empty() && *iss != flow.issuer => {
                return Err(
                    RedirectError::IssuerMismatch { expected: flow.issuer, got: Some(iss.clone()) }.into()
                )
            }
            None if d.iss_parameter_supported => {
                return Err(RedirectError::IssuerMismatch { expected: flow.issuer, got: None }.into())
            }
            _ => {}
        }
        let code = match redirect.outcome {
            RedirectOutcome::Error { error, description } => {
                return Err(RedirectError::Denied { error, description }.into())
            }
            RedirectOutcome::Code(code) => code,
        };
        let client_secret = self.grants.client_secret(provider, b).await?;
        let now = self.grants.clock.now();
        let set = oidc
            .exchange_code(
                d,
                &code,
                &flow.pkce_verifier,
                &flow.redirect_uri,
                client_secret.as_ref(),
                ResponseDefaults {
                    scopes: &flow.scopes,
                    lifetime_secs: provider.default_token_lifetime_secs,
                    now,
                },
            )
            .await
            .map_err(|e| e.into_core(&provider.id, None))?;
        self.keep_signed_in(&client, set, Some(&flow.nonce), now, flow.for_whom).await
    }

    /// The end of every browser-style sign-in: who signed in (a verified ID
    /// token, or a name of its own for plain OAuth 2), the service's token
    /// if the provider trades the ID token for one, then the refresh token to
    /// the keychain and the account to disk.
    async fn keep_signed_in(
        &self,
        client: &BrowserClient,
        set: TokenSet,
        nonce: Option<&str>,
        now: u64,
        for_whom: SignInFor,
    ) -> SignInResult {
        let BrowserClient { provider, b, oidc, d } = client;
        let identity = if let Some(p) = &b.platform {
            // A platform names who signed in (fixed endpoints, no ID token
            // Castkey can verify).
            super::platform::identify(
                self.grants.oidc.http_for(&p.identity),
                p,
                &provider.id,
                &set.access_token,
            )
            .await?
        } else if d.verifies_id_tokens {
            let raw_id = set
                .id_token
                .as_deref()
                .ok_or_else(|| CoreError::ProviderRejected("the provider sent no ID token".into()))?;
            let mut identity = oidc.verify_id_token(d, raw_id, nonce).await?;
            oidc.complete_identity(d, &mut identity, &set.access_token).await;
            identity
        } else {
            // Plain OAuth 2: nobody vouches for who signed in, so the
            // account gets a name of its own rather than unverified claims.
            let subject = random_token(6);
            crate::oauth::Identity {
                name: Some(format!("{} account {}", provider.display_name, &subject[..6])),
                subject,
                preferred_username: None,
                email: None,
            }
        };
        // The service's token, before anything is stored: a refused
        // exchange leaves the keychain as it was.
        let set = match &b.exchange {
            None => set,
            Some(x) => {
                let exchanged = super::exchange::exchange(
                    self.grants.oidc.http_for(&x.url),
                    super::exchange::ExchangeRequest {
                        url: &x.url,
                        identity_token: set.id_token.as_deref().unwrap_or_default(),
                        oidc_client_id: &b.client_id,
                        service_client_id: &x.service_client_id,
                    },
                    ResponseDefaults {
                        scopes: &[],
                        lifetime_secs: provider.default_token_lifetime_secs,
                        now,
                    },
                )
                .await
                .map_err(|e| match e {
                    TokenError::InvalidGrant(why) => CoreError::LoginFailed(why),
                    other => other.into_core(&provider.id, None),
                })?;
                TokenSet { refresh_token: set.refresh_token, ..exchanged }
            }
        };
        let id = Account::make_id(&provider.id, &identity.subject);
        if let Some(p) = &b.platform {
            // Adding an account must add one: the platform's chooser
            // (`force_verify`, `select_account`) may still come back with
            // the account the browser was signed in as.
            if self.keeper.holds_working(&id) {
                return Err(CoreError::LoginFailed(format!(
                    "{} is already signed in to Castkey; to add another {} account, choose it in {}'s \
                     account chooser (or sign out of {} in the browser first)",
                    identity.display_name(),
                    super::platform::name(p.kind),
                    super::platform::name(p.kind),
                    super::platform::name(p.kind),
                )));
            }
        }
        let standing = SecretKey::standing_access_token(&id);
        let mut set = set;
        match &set.refresh_token {
            Some(rt) => {
                self.grants.secrets.put(&SecretKey::refresh_token(&id), rt).await?;
                // A standing token of an earlier sign-in is no longer the grant.
                if let Err(e) = self.grants.secrets.delete(&standing).await {
                    tracing::warn!(account = %id, "could not delete an old standing token: {e}");
                }
            }
            None if Grants::is_standing(&set) && b.exchange.is_none() => {
                // No refresh token and no stated lifetime (GitHub OAuth apps):
                // the access token is the grant; kept like a refresh token.
                self.grants.secrets.put(&standing, &set.access_token).await?;
                set.expires_at = now.saturating_add(STANDING_LIFETIME_SECS);
                tracing::info!(account = %id, "the access token does not expire and has no refresh token; kept until revoked");
            }
            None => {
                tracing::warn!(account = %id, "the provider sent no refresh token; the account works until the access token expires")
            }
        }
        let mut account = Account::signed_in(
            &id,
            &provider.id,
            &identity.subject,
            &identity.display_name(),
            &set.scopes,
            now,
        );
        account.email = identity.email.clone();
        account.api_headers = provider.api_headers.clone();
        self.keeper.keep(account, &set, for_whom)
    }

    /// RFC 8628: asks the provider for a user code. The user enters it at
    /// the verification URL on any device; [`SignIn::complete_device`]
    /// waits for that.
    pub async fn start_device(
        &self,
        provider_id: &str,
        for_whom: SignInFor,
    ) -> Result<DeviceStarted, CoreError> {
        let BrowserClient { provider, b, oidc, d } = self.browser_client(provider_id).await?;
        if d.device_authorization_endpoint.is_none() {
            return Err(CoreError::InvalidRequest(format!(
                "{} does not offer sign-in with a code",
                provider.display_name
            )));
        }
        self.grants.secrets.check_available().await?;
        let client_secret = self.grants.client_secret(&provider, &b).await?;
        let scope_param = b.platform.as_ref().map_or("scope", |p| p.device_scope_param);
        let auth = oidc
            .device_authorization(&d, &provider.scopes, b.offline_access, client_secret.as_ref(), scope_param)
            .await?;
        let now = self.grants.clock.now();
        tracing::info!(provider = %provider.id, "sign-in with a code started");
        Ok(DeviceStarted {
            provider: provider.id.clone(),
            user_code: auth.user_code,
            verification_uri: auth.verification_uri,
            verification_uri_complete: auth.verification_uri_complete,
            // RFC 8628 §3.2: expires_in is required; be lenient, 10 minutes.
            expires_at: now + auth.expires_in.unwrap_or(600).min(DEFAULT_TTL_SECS * 3),
            interval: auth.interval.unwrap_or(5).clamp(1, 60),
            device_code: auth.device_code,
            for_whom,
        })
    }

    /// Polls until the user finished (or refused, or the code expired),
    /// then keeps the account like a browser sign-in. Announces the outcome.
    /// A newer sign-in with a code for the same provider replaces this one;
    /// a cancelled one ends quietly, with nothing announced.
    pub async fn complete_device(&self, started: DeviceStarted) -> SignInResult {
        let provider = started.provider.clone();
        let generation = rand::random::<u64>();
        let (tx, cancelled) = oneshot::channel();
        self.device_polls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(provider.clone(), (generation, tx));
        let result = tokio::select! {
            r = self.poll_device(started) => Some(r),
            _ = cancelled => None,
        };
        {
            let mut polls = self.device_polls.lock().unwrap_or_else(|e| e.into_inner());
            if polls.get(&provider).is_some_and(|(g, _)| *g == generation) {
                polls.remove(&provider);
            }
        }
        let Some(result) = result else {
            tracing::info!(provider = %provider, "sign-in with a code cancelled");
            return Err(CoreError::LoginFailed("the sign-in with a code was cancelled".into()));
        };
        match &result {
            Ok(a) => tracing::info!(account = %a.id, "signed in with a code"),
            Err(e) => tracing::warn!("sign-in with a code failed: {e}"),
        }
        self.announce(&provider, &result);
        result
    }

    /// Stops polling for `provider`'s sign-in with a code (the user closed
    /// it). Answers whether one was running.
    pub fn cancel_device(&self, provider: &str) -> bool {
        self.device_polls.lock().unwrap_or_else(|e| e.into_inner()).remove(provider).is_some()
    }

    fn announce(&self, provider: &str, result: &SignInResult) {
        match result {
            Ok(account) => {
                let _ = self.events.send(CoreEvent::SignedIn { account: account.clone() });
                let _ = self.events.send(CoreEvent::AccountsChanged);
            }
            Err(e) => {
                let _ = self.events.send(CoreEvent::SignInFailed {
                    provider: provider.to_string(),
                    reason: e.reason(),
                    message: e.to_string(),
                });
            }
        }
    }

    async fn poll_device(&self, started: DeviceStarted) -> SignInResult {
        let client = self.browser_client(&started.provider).await?;
        let BrowserClient { provider, b, oidc, d } = &client;
        let client_secret = self.grants.client_secret(provider, b).await?;
        let mut interval = started.interval;
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(interval)).await;
            let now = self.grants.clock.now();
            if now >= started.expires_at {
                return Err(CoreError::LoginFailed(
                    "the code expired before the sign-in was finished".into(),
                ));
            }
            let defaults = ResponseDefaults {
                scopes: &provider.scopes,
                lifetime_secs: provider.default_token_lifetime_secs,
                now,
            };
            match oidc.poll_device(d, &started.device_code, client_secret.as_ref(), defaults).await {
                Ok(set) => return self.keep_signed_in(&client, set, None, now, started.for_whom).await,
                Err(TokenError::DeviceFlow(code)) if code == "authorization_pending" => {}
                // RFC 8628 §3.5: slow down by 5 seconds.
                Err(TokenError::DeviceFlow(code)) if code == "slow_down" => interval += 5,
                Err(TokenError::DeviceFlow(code)) if code == "access_denied" => {
                    return Err(CoreError::LoginFailed("the sign-in was refused".into()))
                }
                Err(TokenError::DeviceFlow(code)) if code == "expired_token" => {
                    return Err(CoreError::LoginFailed(
                        "the code expired before the sign-in was finished".into(),
                    ))
                }
                // A provider that is briefly unreachable may answer next time.
                Err(TokenError::Unavailable(why)) => tracing::debug!("device poll: {why}"),
                Err(e) => return Err(e.into_core(&provider.id, None)),
            }
        }
    }
}

impl Grants {
    /// A confidential client's secret, from the keychain (`None` for a
    /// public client). Sign-in and refresh only; never on the hot path.
    pub(crate) async fn client_secret(
        &self,
        provider: &ProviderConfig,
        b: &BrowserSignIn,
    ) -> Result<Option<SecretString>, CoreError> {
        if !b.confidential {
            return Ok(None);
        }
        match self.secrets.get(&SecretKey::provider_client_secret(&provider.id)).await? {
            Some(s) => Ok(Some(s)),
            None => Err(CoreError::LoginFailed(format!(
                "the client secret of {} is not in the keychain; remove the provider and add it again",
                provider.display_name
            ))),
        }
    }

    /// RFC 6749 §6: a new access token for a browser account. A rotated
    /// refresh token is stored before the new access token is handed out;
    /// then, for SSO providers, the refreshed ID token is exchanged again.
    pub(super) async fn refresh_browser(
        &self,
        account: &Account,
        provider: &ProviderConfig,
        b: &BrowserSignIn,
        refused: Option<&[u8; 32]>,
    ) -> Result<TokenSet, CoreError> {
        let Some(refresh_token) = self.current_refresh_token(&account.id).await? else {
            return self.standing_token(account, refused).await;
        };
        let now = self.clock.now();
        let (oidc, d) = self.discovered(provider, b).await?;
        let client_secret = self.client_secret(provider, b).await?;
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
            .map_err(|e| e.into_core(&provider.id, Some(&account.id)))?;
        // A refreshed ID token that names another user (OIDC Core §12.2:
        // its `sub` must be the original's): nothing of that user is kept
        // under this account, not its refresh token nor its access token;
        // the user signs in again. Read before the rotated token is stored
        // (a local decode, no network), so that token is never written.
        if let (Some(raw), true) = (&set.id_token, d.verifies_id_tokens) {
            if unverified_subject(raw).is_some_and(|sub| sub != account.subject) {
                return Err(self.another_user(account, &refresh_token).await);
            }
        }
        // The rotated refresh token is stored the moment it arrives, before
        // anything else can fail: the provider may have spent the old one.
        self.store_rotated(&account.id, Some(&refresh_token), &set).await?;
        if let (Some(raw), true) = (&set.id_token, d.verifies_id_tokens) {
            let id = oidc.verify_id_token(&d, raw, None).await?;
            if id.subject != account.subject {
                return Err(self.another_user(account, &refresh_token).await);
            }
        }
        let set = match &b.exchange {
            None => set,
            Some(x) => {
                let Some(raw) = set.id_token.as_deref().filter(|_| d.verifies_id_tokens) else {
                    tracing::warn!(
                        account = %account.id,
                        "the identity provider sent no ID token on refresh, so none can be exchanged"
                    );
                    return Err(CoreError::ReauthRequired(account.id.clone()));
                };
                super::exchange::exchange(
                    self.oidc.http_for(&x.url),
                    super::exchange::ExchangeRequest {
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
                .map_err(|e| e.into_core(&provider.id, Some(&account.id)))?
            }
        };
        tracing::info!(account = %account.id, expires_at = set.expires_at, "access token refreshed");
        Ok(set)
    }

    /// The refreshed tokens name another user than `account`'s: puts the
    /// account's own (spent) refresh token back in place of any rotated one
    /// and answers "sign in again".
    async fn another_user(&self, account: &Account, own: &SecretString) -> CoreError {
        tracing::warn!(account = %account.id, "the refreshed ID token names another user; sign-in needed");
        self.unsaved_refresh.lock().unwrap_or_else(|e| e.into_inner()).remove(&account.id);
        if let Err(e) = self.secrets.put(&SecretKey::refresh_token(&account.id), own).await {
            tracing::warn!(account = %account.id, "could not put the account's refresh token back: {e}");
        }
        CoreError::ReauthRequired(account.id.clone())
    }

    /// An account without a refresh token: its standing access token (one
    /// that does not expire, kept at sign-in) from the keychain, unless an
    /// API refused that very token (`refused`, its digest): then, or if
    /// there is none, the user must sign in again.
    async fn standing_token(
        &self,
        account: &Account,
        refused: Option<&[u8; 32]>,
    ) -> Result<TokenSet, CoreError> {
        let Some(token) = self.secrets.get(&SecretKey::standing_access_token(&account.id)).await? else {
            tracing::warn!(account = %account.id, "no refresh token in the keychain");
            return Err(CoreError::ReauthRequired(account.id.clone()));
        };
        if refused.is_some_and(|d| *d == crate::secret::token_digest(token.expose_secret())) {
            tracing::warn!(account = %account.id, "the provider refused the account's standing access token");
            return Err(CoreError::ReauthRequired(account.id.clone()));
        }
        Ok(TokenSet {
            access_token: token,
            token_type: "Bearer".into(),
            expires_at: self.clock.now().saturating_add(STANDING_LIFETIME_SECS),
            scopes: account.scopes.clone(),
            refresh_token: None,
            id_token: None,
            refresh_expires_at: None,
            lifetime_known: false,
        })
    }

    /// A token answer with neither a refresh token nor a stated lifetime:
    /// the access token is the whole grant and lasts until revoked.
    pub(crate) fn is_standing(set: &TokenSet) -> bool {
        set.refresh_token.is_none() && !set.lifetime_known
    }

    /// RFC 7009 for a browser account's refresh token.
    pub(super) async fn revoke_browser(
        &self,
        provider: &ProviderConfig,
        b: &BrowserSignIn,
        token: &SecretString,
    ) -> Result<bool, CoreError> {
        let (oidc, d) = self.discovered(provider, b).await?;
        let secret = self.client_secret(provider, b).await?;
        oidc.revoke_refresh_token(&d, token, secret.as_ref()).await
    }
}

/// How long a standing access token (no refresh token, no stated
/// lifetime) is said to last, in seconds: a day. It lasts until revoked;
/// apps that ask again after this get the same token, from memory. A
/// refusal they report (`rejected`) ends it sooner.
pub(crate) const STANDING_LIFETIME_SECS: u64 = 86_400;

/// The `sub` claim of a JWT's payload, read without verifying anything:
/// only used to refuse (a refreshed ID token naming another user), never
/// to trust.
fn unverified_subject(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountStore;
    use crate::broker::TokenBroker;
    use crate::clock::{Clock, ManualClock};
    use crate::oauth::{Discovered, OidcProviders};
    use crate::secret::MemoryStore;
    use sha2::Digest;

    const ISSUER: &str = "http://127.0.0.1:9";

    struct World {
        _dir: tempfile::TempDir,
        sign_in: SignIn,
        accounts: Arc<AccountStore>,
        secrets: Arc<MemoryStore>,
    }

    /// A sign-in coordinator whose provider was "discovered" already, so no
    /// request leaves the process; port 9 answers nothing if one did.
    fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(MemoryStore::default());
        let clock: Arc<dyn Clock> = ManualClock::new(50_000);
        let accounts = Arc::new(AccountStore::load(dir.path().join("accounts.json")).unwrap());
        let mut catalog = ProviderCatalog::default();
        catalog.add(crate::services::local_sandbox(Url::parse(ISSUER).unwrap())).unwrap();
        let catalog = Arc::new(catalog);
        let oidc = Arc::new(OidcProviders::new(crate::oauth::http_client()));
        oidc.get(
            "sandbox",
            &crate::provider::Endpoints::Discover { issuer: Url::parse(ISSUER).unwrap() },
            "castkey",
        )
        .set_discovered(Discovered::for_tests(ISSUER));
        let (events, _) = broadcast::channel(8);
        let pending =
            Arc::new(PendingRedirects::new(secrets.clone(), dir.path().join("pending.json"), clock.clone()));
        let grants = Arc::new(Grants::new(oidc, secrets.clone(), clock.clone()));
        let broker = Arc::new(TokenBroker::new(
            accounts.clone(),
            catalog.clone(),
            grants.clone(),
            clock.clone(),
            events.clone(),
        ));
        let sign_in = SignIn::new(catalog, grants, pending, broker, events);
        World { _dir: dir, sign_in, accounts, secrets }
    }

    fn query(url: &Url) -> HashMap<String, String> {
        url.query_pairs().into_owned().collect()
    }

    fn redirect(state: &str, extra: &str) -> String {
        format!("{}?state={state}{extra}", crate::APP_REDIRECT_URI)
    }

    fn login_failed(r: SignInResult, want: &str) {
        let err = r.unwrap_err();
        assert!(err.to_string().contains(want), "expected `{want}` in: {err}");
    }

    #[tokio::test]
    async fn each_sign_in_has_fresh_state_nonce_and_an_s256_pkce_challenge() {
        let w = world();
        let a = w.sign_in.start("sandbox", RedirectTarget::AppScheme, SignInFor::Person).await.unwrap();
        let b = w.sign_in.start("sandbox", RedirectTarget::AppScheme, SignInFor::Person).await.unwrap();
        let (qa, qb) = (query(&a.authorization_url), query(&b.authorization_url));
        assert_ne!(qa["state"], qb["state"]);
        assert_ne!(qa["nonce"], qb["nonce"]);
        assert_ne!(qa["code_challenge"], qb["code_challenge"]);
        assert!(qa["state"].len() >= 43 && qa["nonce"].len() >= 43);
        assert_eq!(qa["code_challenge_method"], "S256");
        let flow = w.sign_in.pending.take(&qa["state"]).await.unwrap();
        let digest = sha2::Sha256::digest(flow.pkce_verifier.as_bytes());
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        assert_eq!(qa["code_challenge"], challenge);
        assert_eq!(qa["nonce"], flow.nonce);
        assert!((43..=128).contains(&flow.pkce_verifier.len()));
        // The app-scheme flow was kept in the keychain for a cold start, and
        // only there: the verifier is in no file.
        assert!(w.secrets.names().iter().any(|n| n.starts_with("pending/")));
    }

    #[tokio::test]
    async fn a_forged_state_changes_nothing() {
        let w = world();
        let started = w.sign_in.start("sandbox", RedirectTarget::AppScheme, SignInFor::Person).await.unwrap();
        login_failed(
            w.sign_in.complete(&redirect("forged", "&code=c"), crate::APP_REDIRECT_URI).await,
            "no sign-in is waiting",
        );
        assert_eq!(w.sign_in.pending.len().await, 1);
        assert!(w.accounts.list().is_empty());
        w.sign_in.pending.take(&started.state).await.unwrap();
    }

    #[tokio::test]
    async fn a_cancelled_sign_in_refuses_its_redirect_and_tells_the_waiter() {
        let w = world();
        let started = w.sign_in.start("sandbox", RedirectTarget::AppScheme, SignInFor::Person).await.unwrap();
        assert_eq!(w.sign_in.cancel("other-provider").await, 0, "only the named provider's sign-ins");
        assert_eq!(w.sign_in.cancel("sandbox").await, 1);
        login_failed(started.done.await.unwrap(), "cancelled");
        // Gone from memory and from the keychain: the redirect is unknown.
        assert_eq!(w.sign_in.pending.len().await, 0);
        assert!(!w.secrets.names().iter().any(|n| n.starts_with("pending/")));
        let url = redirect(&started.state, &format!("&code=c&iss={ISSUER}"));
        login_failed(w.sign_in.complete(&url, crate::APP_REDIRECT_URI).await, "no sign-in is waiting");
        assert!(w.accounts.list().is_empty());
        assert_eq!(w.sign_in.cancel("sandbox").await, 0, "nothing left to cancel");
    }

    #[tokio::test]
    async fn a_denied_sign_in_is_reported_to_the_waiter_and_used_up() {
        let w = world();
        let started = w.sign_in.start("sandbox", RedirectTarget::AppScheme, SignInFor::Person).await.unwrap();
        let url = redirect(&started.state, &format!("&error=access_denied&iss={ISSUER}"));
        login_failed(w.sign_in.complete(&url, crate::APP_REDIRECT_URI).await, "access_denied");
        login_failed(started.done.await.unwrap(), "access_denied");
        login_failed(w.sign_in.complete(&url, crate::APP_REDIRECT_URI).await, "no sign-in is waiting");
    }

    #[tokio::test]
    async fn a_redirect_from_another_issuer_or_without_iss_is_refused() {
        let w = world();
        let a = w.sign_in.start("sandbox", RedirectTarget::AppScheme, SignInFor::Person).await.unwrap();
        let url = redirect(&a.state, "&code=c&iss=https%3A%2F%2Fevil.example");
        login_failed(w.sign_in.complete(&url, crate::APP_REDIRECT_URI).await, "names issuer");
        // The provider says it sends `iss`, so a redirect without it is refused too.
        let b = w.sign_in.start("sandbox", RedirectTarget::AppScheme, SignInFor::Person).await.unwrap();
        login_failed(
            w.sign_in.complete(&redirect(&b.state, "&code=c"), crate::APP_REDIRECT_URI).await,
            "names issuer",
        );
        assert!(w.accounts.list().is_empty());
    }

    #[tokio::test]
    async fn a_redirect_must_come_back_the_way_the_sign_in_asked() {
        let w = world();
        let loopback =
            w.sign_in.start("sandbox", RedirectTarget::loopback(4567), SignInFor::Person).await.unwrap();
        // A deep link carrying a loopback flow's state is refused.
        let url = redirect(&loopback.state, &format!("&code=c&iss={ISSUER}"));
        login_failed(w.sign_in.complete(&url, crate::APP_REDIRECT_URI).await, "another route");
        // A loopback flow is not kept in the keychain (its listener dies with the process).
        assert!(!w.secrets.names().iter().any(|n| n.starts_with("pending/")));
    }

    #[tokio::test]
    async fn a_locked_keychain_stops_a_sign_in_before_the_browser() {
        let w = world();
        w.secrets.unavailable.store(true, std::sync::atomic::Ordering::SeqCst);
        for target in [RedirectTarget::AppScheme, RedirectTarget::loopback(4567)] {
            let err = w.sign_in.start("sandbox", target, SignInFor::Person).await.unwrap_err();
            assert_eq!(err.reason(), castkey_ipc::Reason::KeychainUnavailable, "{err}");
        }
        assert_eq!(w.sign_in.pending.len().await, 0);
    }

    /// A provider whose device endpoint hands out a code (verification URL
    /// `verification_uri`) and whose token endpoint answers each poll with
    /// the next of `polls` (an OAuth error code). Answers the poll count.
    async fn device_provider(
        w: &World,
        verification_uri: &'static str,
        polls: Vec<&'static str>,
    ) -> Arc<std::sync::atomic::AtomicUsize> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let (status, body) = if buf[..n].starts_with(b"POST /device/auth") {
                    let uri = if verification_uri.is_empty() {
                        "http://127.0.0.1:9/device"
                    } else {
                        verification_uri
                    };
                    let body = format!(
                        r#"{{"device_code":"dc-1","user_code":"WDJB-MJHT","verification_uri":"{uri}","expires_in":60,"interval":1}}"#
                    );
                    (200, body)
                } else {
                    let i = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    (400, format!(r#"{{"error":"{}"}}"#, polls.get(i).copied().unwrap_or("expired_token")))
                };
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        let mut d = Discovered::for_tests(&base);
        d.device_authorization_endpoint = Some(Url::parse(&format!("{base}/device/auth")).unwrap());
        let endpoints = crate::provider::Endpoints::Discover { issuer: Url::parse(ISSUER).unwrap() };
        w.sign_in.grants.oidc.get("sandbox", &endpoints, "castkey").set_discovered(d);
        count
    }

    #[tokio::test]
    async fn a_code_sign_in_polls_until_the_user_refuses_and_keeps_nothing() {
        let w = world();
        let polls =
            device_provider(&w, "", vec!["authorization_pending", "authorization_pending", "access_denied"])
                .await;
        let mut events = w.sign_in.events.subscribe();
        let started = w.sign_in.start_device("sandbox", SignInFor::Person).await.unwrap();
        assert_eq!(started.user_code, "WDJB-MJHT");
        assert!(!format!("{started:?}").contains("dc-1"), "the device code is a secret");
        let err = w.sign_in.complete_device(started).await.unwrap_err();
        assert_eq!(err.to_string(), "sign-in failed: the sign-in was refused");
        assert_eq!(polls.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert!(w.accounts.list().is_empty());
        let failed = events.recv().await.unwrap();
        assert!(
            matches!(&failed, CoreEvent::SignInFailed { provider, .. } if provider == "sandbox"),
            "{failed:?}"
        );
    }

    #[tokio::test]
    async fn an_expired_code_ends_the_sign_in_with_a_clear_error() {
        let w = world();
        device_provider(&w, "", vec!["expired_token"]).await;
        let started = w.sign_in.start_device("sandbox", SignInFor::Person).await.unwrap();
        let err = w.sign_in.complete_device(started).await.unwrap_err();
        assert_eq!(err.to_string(), "sign-in failed: the code expired before the sign-in was finished");
    }

    #[tokio::test]
    async fn a_verification_url_over_plain_http_elsewhere_is_refused() {
        let w = world();
        device_provider(&w, "http://phish.example/device", vec![]).await;
        let err = w.sign_in.start_device("sandbox", SignInFor::Person).await.unwrap_err();
        assert!(err.to_string().contains("plain HTTP"), "{err}");
    }

    #[tokio::test]
    async fn a_provider_without_a_device_endpoint_says_so() {
        let w = world();
        let err = w.sign_in.start_device("sandbox", SignInFor::Person).await.unwrap_err();
        assert_eq!(err.to_string(), "Local sandbox does not offer sign-in with a code");
    }

    #[tokio::test]
    async fn a_cancelled_code_sign_in_stops_polling_and_announces_nothing() {
        let w = Arc::new(world());
        let polls = device_provider(&w, "", vec!["authorization_pending"; 100]).await;
        let mut events = w.sign_in.events.subscribe();
        let started = w.sign_in.start_device("sandbox", SignInFor::Person).await.unwrap();
        let waiting = {
            let w = w.clone();
            tokio::spawn(async move { w.sign_in.complete_device(started).await })
        };
        // Cancel once it has polled (it registers before its first poll).
        while polls.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(w.sign_in.cancel_device("sandbox"));
        let err = waiting.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("cancelled"), "{err}");
        assert!(!w.sign_in.cancel_device("sandbox"), "nothing left to cancel");
        assert!(events.try_recv().is_err(), "a cancelled sign-in announced something");
    }
}
