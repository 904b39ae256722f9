//! [`Castkey`]: the core wired together, as the desktop shell, the headless
//! broker (`castkey serve`) and the CLI's own sign-in use it.

use crate::account::AccountStore;
use crate::broker::TokenBroker;
use crate::caller::Caller;
use crate::catalog::ProviderCatalog;
use crate::clock::{Clock, SystemClock};
use crate::error::CoreError;
use crate::event::CoreEvent;
use crate::grant::{AccountKeeper, DeviceStarted, Grants, RedirectTarget, SignIn, SignInResult, Started};
use crate::oauth::OidcProviders;
use crate::pending::PendingRedirects;
use crate::provider::RedirectStyle;
use crate::secret::{SecretKey, SecretStore};
use castkey_ipc::ui::{Revocation, SignedOut};
use castkey_ipc::{AccountInfo, ProviderInfo, TokenGrant, TokenParams};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use url::Url;

/// How browser sign-ins come back to this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectMode {
    /// Through the app's URI scheme (the desktop app handles the deep link).
    AppScheme,
    /// Through a loopback listener this process opens per sign-in.
    Loopback,
}

/// Opens URLs in the user's browser.
pub trait BrowserLauncher: Send + Sync + fmt::Debug {
    fn open(&self, url: &Url) -> Result<(), String>;
}

/// The system browser: `$BROWSER` if set, else the desktop's default.
#[derive(Debug, Default)]
pub struct SystemBrowser;

impl BrowserLauncher for SystemBrowser {
    fn open(&self, url: &Url) -> Result<(), String> {
        webbrowser::open(url.as_str()).map_err(|e| format!("could not open the browser: {e}"))
    }
}

pub struct CoreOptions {
    pub config_dir: PathBuf,
    pub redirect_mode: RedirectMode,
    pub secrets: Arc<dyn SecretStore>,
    pub catalog: ProviderCatalog,
    pub browser: Arc<dyn BrowserLauncher>,
    pub clock: Arc<dyn Clock>,
}

impl fmt::Debug for CoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoreOptions")
            .field("config_dir", &self.config_dir)
            .field("redirect_mode", &self.redirect_mode)
            .finish_non_exhaustive()
    }
}

impl CoreOptions {
    /// The real thing: OS keychain, system browser, providers from the
    /// environment, config in the user's config directory.
    pub fn system(redirect_mode: RedirectMode) -> Result<Self, CoreError> {
        Ok(CoreOptions {
            config_dir: crate::paths::config_dir(),
            redirect_mode,
            secrets: Arc::new(crate::secret::KeychainStore::new()),
            catalog: ProviderCatalog::from_env()?,
            browser: Arc::new(SystemBrowser),
            clock: Arc::new(SystemClock),
        })
    }
}

pub struct Core {
    catalog: Arc<ProviderCatalog>,
    accounts: Arc<AccountStore>,
    broker: Arc<TokenBroker>,
    grants: Arc<Grants>,
    sign_in: SignIn,
    secrets: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    pending: Arc<PendingRedirects>,
    browser: Arc<dyn BrowserLauncher>,
    redirect_mode: RedirectMode,
    events: broadcast::Sender<CoreEvent>,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core").field("redirect_mode", &self.redirect_mode).finish_non_exhaustive()
    }
}

impl Core {
    pub async fn start(opts: CoreOptions) -> Result<Arc<Self>, CoreError> {
        let (events, _) = broadcast::channel(64);
        let mut catalog = opts.catalog;
        catalog.load_added(opts.config_dir.join("providers.json"))?;
        let catalog = Arc::new(catalog);
        let accounts = Arc::new(AccountStore::load(opts.config_dir.join("accounts.json"))?);
        let oidc = Arc::new(OidcProviders::new(crate::oauth::http_client()));
        let pending = Arc::new(PendingRedirects::new(
            opts.secrets.clone(),
            opts.config_dir.join("pending.json"),
            opts.clock.clone(),
        ));
        pending.purge_expired().await;
        let grants = Arc::new(Grants::new(oidc, opts.secrets.clone(), opts.clock.clone()));
        let broker = Arc::new(TokenBroker::new(
            accounts.clone(),
            catalog.clone(),
            grants.clone(),
            opts.clock.clone(),
            events.clone(),
        ));
        let sign_in =
            SignIn::new(catalog.clone(), grants.clone(), pending.clone(), broker.clone(), events.clone());
        Ok(Arc::new(Core {
            catalog,
            accounts,
            broker,
            grants,
            sign_in,
            secrets: opts.secrets,
            clock: opts.clock,
            pending,
            browser: opts.browser,
            redirect_mode: opts.redirect_mode,
            events,
        }))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CoreEvent> {
        self.events.subscribe()
    }

    pub fn redirect_mode(&self) -> RedirectMode {
        self.redirect_mode
    }

    pub fn providers(&self) -> Vec<ProviderInfo> {
        self.catalog
            .all()
            .iter()
            .map(|p| ProviderInfo { device_flow: self.grants.device_flow_offered(p), ..p.info() })
            .collect()
    }

    /// Reads every provider's discovery document (what the window needs to
    /// know, such as sign-in with a code), then announces the providers
    /// changed. Failures are left for sign-in to report. The shell runs
    /// this in the background at start.
    pub async fn discover_all(&self) {
        for p in self.catalog.all() {
            if let Err(e) = self.grants.discover(&p, false).await {
                tracing::debug!(provider = %p.id, "discovery failed for now: {e}");
            }
        }
        let _ = self.events.send(CoreEvent::ProvidersChanged);
    }

    /// Signs in with a code (RFC 8628) and waits for the outcome;
    /// `on_started` hears the code and the URL (the CLI prints them).
    pub async fn login_with_code(
        &self,
        provider: &str,
        on_started: impl FnOnce(&DeviceStarted),
    ) -> SignInResult {
        let started = self.sign_in.start_device(provider).await?;
        on_started(&started);
        self.sign_in.complete_device(started).await
    }

    /// Stops waiting for a sign-in with a code (the user closed it).
    pub fn cancel_device_sign_in(&self, provider: &str) -> bool {
        self.sign_in.cancel_device(provider)
    }

    /// Starts a sign-in with a code (RFC 8628) and waits for it in the
    /// background; the outcome is announced as a [`CoreEvent`].
    pub async fn begin_device_sign_in(
        self: &Arc<Self>,
        provider: &str,
    ) -> Result<castkey_ipc::ui::DeviceSignIn, CoreError> {
        let started = self.sign_in.start_device(provider).await?;
        let shown = castkey_ipc::ui::DeviceSignIn {
            provider: started.provider.clone(),
            user_code: started.user_code.clone(),
            verification_uri: started.verification_uri.clone(),
            verification_uri_complete: started.verification_uri_complete.clone(),
            expires_at: started.expires_at,
            qr_svg: crate::qr::svg(
                started.verification_uri_complete.as_deref().unwrap_or(&started.verification_uri),
            ),
        };
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this.sign_in.complete_device(started).await;
        });
        Ok(shown)
    }

    pub fn accounts(&self) -> Vec<AccountInfo> {
        self.accounts.list()
    }

    /// A token for `caller`, as `params` asks (see [`TokenBroker::token`]).
    pub async fn token(&self, caller: &Caller, params: &TokenParams) -> Result<TokenGrant, CoreError> {
        tracing::trace!(pid = ?caller.pid, "token asked");
        self.broker.token(params).await
    }

    /// The kinds of service a user can add.
    pub fn provider_templates(&self) -> Vec<castkey_ipc::ui::ProviderTemplate> {
        crate::services::templates()
    }

    /// Adds a provider from a filled-in template. Everything is checked
    /// first — the form, the URLs, discovery (an issuer whose document names
    /// another issuer is refused) — and nothing is kept if a check fails.
    /// The client secret goes to the keychain, the rest to `providers.json`.
    pub async fn add_provider(
        &self,
        setup: &castkey_ipc::ui::AddProvider,
    ) -> Result<ProviderInfo, CoreError> {
        let prepared = crate::services::prepare(setup)?;
        self.catalog.check_new(&prepared.config)?;
        self.grants.discover(&prepared.config, true).await?;
        // (A removed provider's secret went with it: nothing stale to clear.)
        let key = SecretKey::provider_client_secret(&prepared.config.id);
        if let Some(secret) = &prepared.client_secret {
            self.secrets.put(&key, secret).await?;
        }
        let info = prepared.config.info();
        if let Err(e) = self.catalog.add_configured(prepared.configured, prepared.config) {
            if prepared.client_secret.is_some() {
                let _ = self.secrets.delete(&key).await;
            }
            return Err(e);
        }
        tracing::info!(provider = %info.id, template = %setup.template, "provider added");
        let _ = self.events.send(CoreEvent::ProvidersChanged);
        Ok(info)
    }

    /// Removes a provider the user added; its accounts must be signed out first.
    pub async fn remove_provider(&self, id: &str) -> Result<(), CoreError> {
        let provider = self.catalog.get(id)?;
        if provider.template.is_none() {
            return Err(CoreError::InvalidRequest(format!("`{id}` is built in and cannot be removed")));
        }
        // Accounts of a replaced built-in go back to the built-in's hosts.
        let left: Vec<_> = self.accounts.list().into_iter().filter(|a| a.provider == id).collect();
        if !left.is_empty() && !self.catalog.replaces_builtin(id) {
            return Err(CoreError::InvalidRequest(format!(
                "sign out of {} first ({})",
                provider.display_name,
                left.iter().map(|a| a.display_name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        self.catalog.remove_configured(id)?;
        self.secrets.delete(&SecretKey::provider_client_secret(id)).await?;
        tracing::info!(provider = %id, "provider removed");
        let _ = self.events.send(CoreEvent::ProvidersChanged);
        Ok(())
    }

    /// Starts a sign-in for the app and opens the browser. The redirect
    /// arrives as a deep link ([`Core::handle_deep_link`]), or, for a
    /// provider that refuses custom schemes, at a loopback listener that
    /// lives until the sign-in completes or expires. The outcome is also
    /// announced as a [`CoreEvent`].
    pub async fn begin_app_sign_in(self: &Arc<Self>, provider: &str) -> Result<Started, CoreError> {
        let style = Grants::redirect_style(&*self.catalog.get(provider)?);
        if style == RedirectStyle::Loopback {
            let listener = crate::loopback::LoopbackListener::bind().await?;
            let target = RedirectTarget::Loopback(listener.port());
            let started = self.sign_in.start(provider, target).await?;
            self.open_browser(&started).await?;
            let this = self.clone();
            let ttl = self.time_left(&started);
            tokio::spawn(async move {
                let base = target.uri();
                let complete = |url: String| {
                    let (this, base) = (this.clone(), base.clone());
                    async move { this.sign_in.complete(&url, &base).await }
                };
                if let Err(e) = listener.serve(ttl, complete).await {
                    let _ = this.events.send(CoreEvent::SignInFailed { message: e.to_string() });
                }
            });
            return Ok(started);
        }
        let started = self.sign_in.start(provider, RedirectTarget::AppScheme).await?;
        self.open_browser(&started).await?;
        Ok(started)
    }

    /// A deep link arrived: complete the sign-in it belongs to, if any.
    pub async fn handle_deep_link(&self, url: &str) -> SignInResult {
        self.sign_in.complete(url, crate::APP_REDIRECT_URI).await
    }

    /// Signs in and waits for the outcome, the way this process receives
    /// redirects ([`RedirectMode`]).
    pub async fn login(self: &Arc<Self>, caller: &Caller, provider: &str) -> SignInResult {
        tracing::info!(pid = ?caller.pid, exe = ?caller.executable, provider, "sign-in asked");
        match self.redirect_mode {
            RedirectMode::AppScheme => {
                let started = self.begin_app_sign_in(provider).await?;
                self.wait(started).await
            }
            RedirectMode::Loopback => self.login_loopback(provider, |_| {}).await,
        }
    }

    /// Signs in through a loopback redirect; `on_started` hears the URL
    /// (the CLI prints it for a user whose browser did not open).
    pub async fn login_loopback(&self, provider: &str, on_started: impl FnOnce(&Started)) -> SignInResult {
        let listener = crate::loopback::LoopbackListener::bind().await?;
        let started = self.sign_in.start(provider, RedirectTarget::Loopback(listener.port())).await?;
        on_started(&started);
        self.open_browser(&started).await?;
        let base = RedirectTarget::Loopback(listener.port()).uri();
        let state = started.state.clone();
        let ttl = self.time_left(&started);
        let complete = |url: String| {
            let base = base.clone();
            async move { self.sign_in.complete(&url, &base).await }
        };
        tokio::select! {
            r = self.wait(started) => r,
            r = listener.serve(ttl, complete) => {
                self.sign_in.abandon(&state);
                r
            }
        }
    }

    async fn open_browser(&self, started: &Started) -> Result<(), CoreError> {
        let browser = self.browser.clone();
        let url = started.authorization_url.clone();
        let opened = tokio::task::spawn_blocking(move || browser.open(&url));
        match tokio::time::timeout(Duration::from_secs(10), opened).await {
            Ok(Ok(Ok(()))) | Err(_) => Ok(()),
            Ok(Ok(Err(e))) => {
                self.sign_in.abandon(&started.state);
                Err(CoreError::LoginFailed(e))
            }
            Ok(Err(e)) => Err(CoreError::Internal(e.to_string())),
        }
    }

    /// How long a started sign-in has left (at least a second).
    fn time_left(&self, started: &Started) -> Duration {
        Duration::from_secs(started.expires_at.saturating_sub(self.clock.now()).max(1))
    }

    async fn wait(&self, started: Started) -> SignInResult {
        let state = started.state.clone();
        match tokio::time::timeout(self.time_left(&started), started.done).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(CoreError::LoginFailed("the sign-in was abandoned".into())),
            Err(_) => {
                self.sign_in.abandon(&state);
                Err(crate::redirect::RedirectError::Expired.into())
            }
        }
    }

    /// Adds a service account (client credentials, RFC 6749 §4.4). The
    /// credentials are tried first: a wrong id or secret is refused, with
    /// nothing kept.
    pub async fn add_service_account(
        &self,
        provider: &str,
        client_id: &str,
        client_secret: &secrecy::SecretString,
    ) -> SignInResult {
        let provider = self.catalog.get(provider)?;
        let (account, set) = self.grants.add_service_account(&provider, client_id, client_secret).await?;
        self.keep(account, &set)
    }

    /// Adds an API-key account (api.video) in `environment`. The key is
    /// tried first: a wrong key is refused, with nothing kept.
    pub async fn add_api_key_account(
        &self,
        provider: &str,
        environment: &str,
        api_key: &secrecy::SecretString,
    ) -> SignInResult {
        let provider = self.catalog.get(provider)?;
        let (account, set) = self.grants.add_api_key_account(&provider, environment, api_key).await?;
        self.keep(account, &set)
    }

    fn keep(&self, account: crate::account::Account, set: &crate::oauth::TokenSet) -> SignInResult {
        let info = self.broker.keep(account, set)?;
        let _ = self.events.send(CoreEvent::AccountsChanged);
        Ok(info)
    }

    /// Signs an account out: asks the provider to revoke the refresh token
    /// (RFC 7009), then deletes it from the keychain and forgets the account
    /// even if revocation failed — the user asked to be signed out here.
    /// Answers what the provider said ([`Revocation`]).
    pub async fn sign_out(&self, account_id: &str) -> Result<SignedOut, CoreError> {
        let account =
            self.accounts.get(account_id).ok_or_else(|| CoreError::UnknownAccount(account_id.into()))?;
        // A refresh in flight finishes first, and none starts until the
        // account is gone: nothing can write a refresh token back after this.
        let _no_refresh = self.broker.hold_refreshes(account_id).await;
        let refresh = self.grants.current_refresh_token(account_id).await?;
        let (revocation, message) = match (&refresh, self.catalog.get(&account.provider)) {
            (Some(token), Ok(provider)) => {
                let outcome =
                    tokio::time::timeout(Duration::from_secs(15), self.grants.revoke(&provider, token)).await;
                match outcome {
                    Ok(Ok(true)) => (Revocation::Confirmed, None),
                    Ok(Ok(false)) => (Revocation::NotOffered, None),
                    Ok(Err(e)) => {
                        tracing::warn!(account = %account_id, "revocation failed, signing out anyway: {e}");
                        (Revocation::NotConfirmed, Some(e.to_string()))
                    }
                    Err(_) => {
                        tracing::warn!(account = %account_id, "revocation timed out, signing out anyway");
                        (Revocation::NotConfirmed, Some("the provider did not answer within 15 s".into()))
                    }
                }
            }
            _ => (Revocation::NotOffered, None),
        };
        for key in SecretKey::of_account(account_id) {
            self.secrets.delete(&key).await?;
        }
        self.broker.forget(account_id);
        self.accounts.remove(account_id)?;
        tracing::info!(account = %account_id, ?revocation, "signed out");
        let _ = self.events.send(CoreEvent::AccountsChanged);
        Ok(SignedOut { account_id: account_id.to_string(), revocation, message })
    }

    /// Lets refreshes in flight finish (their rotated refresh tokens
    /// stored) for up to `limit`, before the process stops. Answers whether
    /// all finished.
    pub async fn shutdown(&self, limit: Duration) -> bool {
        let settled = self.broker.settle(limit).await;
        if !settled {
            tracing::warn!("stopping with a refresh still in flight");
        }
        settled
    }

    /// Pending sign-ins in this process (for status displays).
    pub async fn pending_sign_ins(&self) -> usize {
        self.pending.len().await
    }
}
