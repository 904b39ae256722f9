//! [`Castkey`]: the core wired together, as the desktop shell, the headless
//! broker (`castkey serve`) and the CLI's own sign-in use it.

use crate::account::AccountStore;
use crate::broker::TokenBroker;
use crate::caller::Caller;
use crate::catalog::ProviderCatalog;
use crate::clock::{Clock, SystemClock};
use crate::consent::ConsentMode;
use crate::error::CoreError;
use crate::event::CoreEvent;
use crate::gate::Gate;
use crate::grant::{
    AccountKeeper, DeviceStarted, Grants, RedirectTarget, SignIn, SignInFor, SignInResult, Started,
};
use crate::oauth::OidcProviders;
use crate::pending::PendingRedirects;
use crate::provider::RedirectStyle;
use crate::secret::{SecretKey, SecretStore};
use castkey_ipc::ui::{Revocation, SignedOut};
use castkey_ipc::{AccountInfo, ProviderInfo};
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
    /// On Linux: each command of `$BROWSER` (`:`-separated, `%s` standing
    /// for the URL, else the URL appended), or `xdg-open`, until one exits
    /// 0. Their exit status is read, unlike the `webbrowser` crate's
    /// background launch: a launcher that fails (`xdg-open` exits 3 when
    /// nothing can open the URL) is an error the user sees, not a sign-in
    /// that waits in silence until it expires. Elsewhere, the `webbrowser`
    /// crate.
    fn open(&self, url: &Url) -> Result<(), String> {
        #[cfg(target_os = "linux")]
        {
            let browser = std::env::var("BROWSER").ok().filter(|b| !b.trim().is_empty());
            launch_any(browser.as_deref().unwrap_or("xdg-open"), url.as_str())
        }
        #[cfg(not(target_os = "linux"))]
        {
            webbrowser::open(url.as_str()).map_err(|e| format!("could not open the browser: {e}"))
        }
    }
}

/// Runs the `:`-separated launcher commands in `list` with `url` until one
/// exits 0 (the `$BROWSER` convention).
#[cfg(target_os = "linux")]
fn launch_any(list: &str, url: &str) -> Result<(), String> {
    let mut why = Vec::new();
    for command in list.split(':').map(str::trim).filter(|c| !c.is_empty()) {
        let mut words = command.split_whitespace();
        let Some(program) = words.next() else { continue };
        let mut args: Vec<String> = words.map(|w| w.replace("%s", url)).collect();
        if !command.contains("%s") {
            args.push(url.to_string());
        }
        let status = std::process::Command::new(program)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => return Ok(()),
            Ok(s) => why.push(format!("`{program}` {s}")),
            Err(e) => why.push(format!("`{program}` could not run ({e})")),
        }
    }
    Err(format!("could not open the browser: {}", why.join("; ")))
}

/// How [`Core::login_loopback`] signs in: the provider's loopback port
/// and path unless fixed here, and whether a browser is opened.
#[derive(Debug, Clone, Default)]
pub struct LoopbackLogin {
    /// A fixed port (1024-65535), for a server that matches the registered
    /// redirect URI exactly (`castkey login --port`).
    pub port: Option<u16>,
    /// The redirect path (default: the provider's, else `/callback`).
    pub path: Option<String>,
    /// Open no browser: the caller shows the URL (a machine without one,
    /// signing in through a forwarded port).
    pub no_browser: bool,
}

pub struct CoreOptions {
    pub config_dir: PathBuf,
    pub redirect_mode: RedirectMode,
    /// Whether unknown local programs are asked about (the app) or refused
    /// unless listed in `clients.json` (the headless broker).
    pub consent: ConsentMode,
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
        Self::system_with_store(redirect_mode, Arc::new(crate::secret::KeychainStore::new()))
    }

    /// [`CoreOptions::system`] with the secret store the user chose
    /// (opened with [`crate::open_store`]). Castkey never swaps in another
    /// store: when this one fails, sign-in fails and says why.
    pub fn system_with_store(
        redirect_mode: RedirectMode,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Self, CoreError> {
        Ok(CoreOptions {
            config_dir: crate::paths::config_dir(),
            redirect_mode,
            consent: match redirect_mode {
                RedirectMode::AppScheme => ConsentMode::Prompt,
                RedirectMode::Loopback => ConsentMode::ListedOnly,
            },
            secrets,
            catalog: ProviderCatalog::from_env()?,
            browser: Arc::new(SystemBrowser),
            clock: Arc::new(SystemClock),
        })
    }
}

pub struct Core {
    pub(crate) catalog: Arc<ProviderCatalog>,
    pub(crate) accounts: Arc<AccountStore>,
    pub(crate) broker: Arc<TokenBroker>,
    /// Who may ask: consent, approved programs, prompts, the activity log
    /// ([`Gate`]; the access rules in `access.rs` use what is inside).
    pub(crate) gate: Gate,
    /// Held for the life of the process: one process owns the state.
    _owner: StateLock,
    pub(crate) grants: Arc<Grants>,
    sign_in: SignIn,
    secrets: Arc<dyn SecretStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pending: Arc<PendingRedirects>,
    browser: Arc<dyn BrowserLauncher>,
    redirect_mode: RedirectMode,
    pub(crate) events: broadcast::Sender<CoreEvent>,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core").field("redirect_mode", &self.redirect_mode).finish_non_exhaustive()
    }
}

impl Core {
    /// Starts the core on `opts.config_dir`. Fails if another process (the
    /// app, `castkey serve`, a `castkey login` signing in by itself) owns
    /// that directory: two owners would overwrite each other's accounts.
    pub async fn start(opts: CoreOptions) -> Result<Arc<Self>, CoreError> {
        let owner = StateLock::acquire(&opts.config_dir)?;
        let (events, _) = broadcast::channel(256);
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
        // The validation duty (Twitch): checked every minute, due hourly
        // per account on the core's clock.
        let duty = Arc::downgrade(&broker);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(broker) = duty.upgrade() else { return };
                broker.validate_due().await;
            }
        });
        let gate = Gate::start(&opts.config_dir, opts.consent, &events, opts.clock.clone())?;
        Ok(Arc::new(Core {
            catalog,
            accounts,
            broker,
            gate,
            _owner: owner,
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

    /// Where this core keeps secrets, and how that store was chosen (for
    /// `castkey status` and the window). Never a secret.
    pub fn secret_store(&self) -> castkey_ipc::SecretStoreInfo {
        self.secrets.describe()
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
        let started = self.sign_in.start_device(provider, SignInFor::Person).await?;
        on_started(&started);
        self.sign_in.complete_device(started).await
    }

    /// Stops waiting for `provider`'s browser sign-ins (the user pressed
    /// Cancel): a redirect for one is refused from now on. Answers whether
    /// one was waiting.
    pub async fn cancel_app_sign_in(&self, provider: &str) -> bool {
        self.sign_in.cancel(provider).await > 0
    }

    /// Stops waiting for a sign-in with a code (the user closed it).
    pub fn cancel_device_sign_in(&self, provider: &str) -> bool {
        self.sign_in.cancel_device(provider)
    }

    /// Starts the person's sign-in with a code (RFC 8628) and waits for it
    /// in the background; the outcome is announced as a [`CoreEvent`].
    pub async fn begin_device_sign_in(
        self: &Arc<Self>,
        provider: &str,
    ) -> Result<castkey_ipc::ui::DeviceSignIn, CoreError> {
        self.begin_device_sign_in_then(provider, SignInFor::Person, |_, _| {}).await
    }

    /// [`Core::begin_device_sign_in`] for `for_whom`, calling `then` with
    /// the outcome.
    pub(crate) async fn begin_device_sign_in_then(
        self: &Arc<Self>,
        provider: &str,
        for_whom: SignInFor,
        then: impl FnOnce(&Core, &SignInResult) + Send + 'static,
    ) -> Result<castkey_ipc::ui::DeviceSignIn, CoreError> {
        let started = self.sign_in.start_device(provider, for_whom).await?;
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
            let outcome = this.sign_in.complete_device(started).await;
            then(&this, &outcome);
        });
        Ok(shown)
    }

    pub fn accounts(&self) -> Vec<AccountInfo> {
        self.accounts.list()
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
    /// provider that refuses custom schemes, at a loopback listener (on the
    /// provider's fixed port, if it has one) that lives until the sign-in
    /// completes or expires. The outcome is also announced as a
    /// [`CoreEvent`], a browser launcher that fails late included.
    pub async fn begin_app_sign_in(self: &Arc<Self>, provider: &str) -> Result<Started, CoreError> {
        self.begin_app_sign_in_for(provider, SignInFor::Person).await
    }

    /// [`Core::begin_app_sign_in`] for `for_whom`.
    async fn begin_app_sign_in_for(
        self: &Arc<Self>,
        provider: &str,
        for_whom: SignInFor,
    ) -> Result<Started, CoreError> {
        let config = self.catalog.get(provider)?;
        if Grants::redirect_style(&config) == RedirectStyle::Loopback {
            let redirect = config.sign_in.as_browser().map(|b| b.loopback.clone()).unwrap_or_default();
            let listener = crate::loopback::LoopbackListener::bind(&redirect).await?;
            let target = RedirectTarget::Loopback { port: listener.port(), path: listener.path().into() };
            let started = self.sign_in.start(provider, target, for_whom).await?;
            let late_failure = self.open_browser(&started).await?;
            let this = self.clone();
            let (ttl, state) = (self.time_left(&started), started.state.clone());
            let provider = provider.to_string();
            tokio::spawn(async move {
                let base = listener.redirect_uri();
                let complete = |url: String| {
                    let (this, base) = (this.clone(), base.clone());
                    async move { this.sign_in.complete(&url, &base).await }
                };
                let late_failure = async move {
                    match late_failure {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                };
                let outcome = tokio::select! {
                    r = listener.serve(ttl, complete) => r.err(),
                    e = late_failure => Some(e),
                };
                if let Some(e) = outcome {
                    this.sign_in.abandon(&state);
                    let _ = this.events.send(CoreEvent::SignInFailed {
                        provider,
                        reason: e.reason(),
                        message: e.to_string(),
                    });
                }
            });
            return Ok(started);
        }
        let started = self.sign_in.start(provider, RedirectTarget::AppScheme, for_whom).await?;
        if let Some(late_failure) = self.open_browser(&started).await? {
            let (this, state, ttl) = (self.clone(), started.state.clone(), self.time_left(&started));
            let provider = provider.to_string();
            tokio::spawn(async move {
                // Past the sign-in's lifetime a launcher's failure no longer matters.
                if let Ok(e) = tokio::time::timeout(ttl, late_failure).await {
                    this.sign_in.abandon(&state);
                    let _ = this.events.send(CoreEvent::SignInFailed {
                        provider,
                        reason: e.reason(),
                        message: e.to_string(),
                    });
                }
            });
        }
        Ok(started)
    }

    /// A deep link arrived: complete the sign-in it belongs to, if any.
    /// The URI it arrived at must be the one that sign-in was started with
    /// (its provider's own, RFC 9700 §4.4.2): a redirect at another
    /// provider's URI is refused and the sign-in is not completed.
    pub async fn handle_deep_link(&self, url: &str) -> SignInResult {
        let arrived_at = crate::redirect::deep_link_redirect_uri(url)?;
        self.sign_in.complete(url, &arrived_at).await
    }

    /// Signs in for `for_whom` and waits for the outcome, the way this
    /// process receives redirects ([`RedirectMode`]).
    pub async fn login(
        self: &Arc<Self>,
        caller: &Caller,
        provider: &str,
        for_whom: SignInFor,
    ) -> SignInResult {
        tracing::info!(pid = ?caller.pid, exe = ?caller.executable, provider, ?for_whom, "sign-in asked");
        match self.redirect_mode {
            RedirectMode::AppScheme => {
                let started = self.begin_app_sign_in_for(provider, for_whom).await?;
                self.wait(started).await
            }
            RedirectMode::Loopback => {
                self.login_loopback_for(provider, &LoopbackLogin::default(), for_whom, |_| {}).await
            }
        }
    }

    /// Signs in through a loopback redirect, on the provider's loopback
    /// port and path unless `how` fixes others; `on_started` hears the URL
    /// and the redirect URI before the browser opens (the CLI prints them:
    /// a browser that shows an error page instead of coming back usually
    /// means the provider refused that redirect URI).
    pub async fn login_loopback(
        &self,
        provider: &str,
        how: &LoopbackLogin,
        on_started: impl FnOnce(&Started),
    ) -> SignInResult {
        self.login_loopback_for(provider, how, SignInFor::Person, on_started).await
    }

    /// [`Core::login_loopback`] for `for_whom`.
    async fn login_loopback_for(
        &self,
        provider: &str,
        how: &LoopbackLogin,
        for_whom: SignInFor,
        on_started: impl FnOnce(&Started),
    ) -> SignInResult {
        let config = self.catalog.get(provider)?;
        let configured = config.sign_in.as_browser().map(|b| b.loopback.clone()).unwrap_or_default();
        let redirect = match (how.port, &how.path) {
            (None, None) => configured,
            (port, path) => crate::provider::LoopbackRedirect::fixed(
                port.or(configured.port),
                path.as_deref().unwrap_or(&configured.path),
            )?,
        };
        let listener = crate::loopback::LoopbackListener::bind(&redirect).await?;
        let target = RedirectTarget::Loopback { port: listener.port(), path: listener.path().into() };
        let started = self.sign_in.start(provider, target, for_whom).await?;
        on_started(&started);
        let base = listener.redirect_uri();
        let state = started.state.clone();
        let ttl = self.time_left(&started);
        let complete = |url: String| {
            let base = base.clone();
            async move { self.sign_in.complete(&url, &base).await }
        };
        // Served while the launcher runs: some only return once the browser
        // they started is done, and it may come back here before that.
        let serving = listener.serve(ttl, complete);
        tokio::pin!(serving);
        let late_failure = match how.no_browser {
            true => None,
            false => tokio::select! {
                opened = self.open_browser(&started) => opened?,
                r = &mut serving => {
                    self.sign_in.abandon(&state);
                    return r;
                }
            },
        };
        let late_failure = async move {
            match late_failure {
                Some(f) => f.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = self.wait(started) => r,
            r = &mut serving => {
                self.sign_in.abandon(&state);
                r
            }
            e = late_failure => {
                self.sign_in.abandon(&state);
                Err(e)
            }
        }
    }

    /// Opens the browser on the sign-in's URL.
    ///
    /// A launcher that reports failure is an error ([`CoreError::LoginFailed`],
    /// with the URL to open by hand) and the sign-in is abandoned: the user
    /// would otherwise wait for a browser that never came. A launcher still
    /// running after 10 s (1 s in unit tests) is not taken for a failure:
    /// some only return when the browser they started exits (a `$BROWSER` that starts a new
    /// browser process, a text browser), so being slow says nothing. The
    /// sign-in goes on, and for such a launcher a future is answered that
    /// resolves if it reports failure later (never, otherwise): callers
    /// waiting for the sign-in stop at it.
    async fn open_browser(
        &self,
        started: &Started,
    ) -> Result<Option<impl std::future::Future<Output = CoreError> + Send + 'static>, CoreError> {
        let browser = self.browser.clone();
        let url = started.authorization_url.clone();
        let by_hand = {
            let url = url.clone();
            move |e: String| CoreError::LoginFailed(format!("{e}; open this URL in a browser by hand: {url}"))
        };
        const PATIENCE: Duration = Duration::from_secs(if cfg!(test) { 1 } else { 10 });
        let mut opened = tokio::task::spawn_blocking(move || browser.open(&url));
        let slow = match tokio::time::timeout(PATIENCE, &mut opened).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => {
                self.sign_in.abandon(&started.state);
                return Err(by_hand(e));
            }
            Ok(Err(e)) => {
                self.sign_in.abandon(&started.state);
                return Err(by_hand(format!("the browser launcher failed: {e}")));
            }
            Err(_) => {
                tracing::info!(
                    "the browser launcher is still running after {PATIENCE:?}; waiting for the sign-in"
                );
                Some(opened)
            }
        };
        Ok(slow.map(|opened| async move {
            match opened.await {
                Ok(Ok(())) => std::future::pending().await,
                Ok(Err(e)) => by_hand(e),
                Err(e) => by_hand(format!("the browser launcher failed: {e}")),
            }
        }))
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
        self.keep(account, &set, SignInFor::Person)
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
        self.keep(account, &set, SignInFor::Person)
    }

    /// Keeps an added account for `for_whom` ([`AccountKeeper::keep`]) and
    /// announces it.
    pub(crate) fn keep(
        &self,
        account: crate::account::Account,
        set: &crate::oauth::TokenSet,
        for_whom: SignInFor,
    ) -> SignInResult {
        let info = self.broker.keep(account, set, for_whom)?;
        let _ = self.events.send(CoreEvent::SignedIn { account: info.clone() });
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
        let was_active = self.accounts.active_of(&account.provider).as_deref() == Some(account_id);
        self.accounts.remove(account_id)?;
        tracing::info!(account = %account_id, ?revocation, "signed out");
        let _ = self.events.send(CoreEvent::SignedOut { account: crate::broker::account_ref(&account) });
        if was_active {
            let next = self.accounts.active_of(&account.provider).and_then(|id| self.accounts.get(&id));
            let _ = self.events.send(CoreEvent::ActiveChanged {
                provider: account.provider.clone(),
                account: next.as_ref().map(crate::broker::account_ref),
            });
        }
        let _ = self.events.send(CoreEvent::AccountsChanged);
        Ok(SignedOut { account_id: account_id.to_string(), revocation, message })
    }

    /// Lets refreshes in flight finish (their rotated refresh tokens
    /// stored) for up to `limit`, before the process stops. Answers whether
    /// all finished.
    pub async fn shutdown(&self, limit: Duration) -> bool {
        let settled = self.broker.settle(limit).await;
        self.gate.flush_log().await;
        if !settled {
            tracing::warn!("stopping with a refresh still in flight");
        }
        settled
    }

    /// Pending sign-ins in this process (for status displays).
    /// Runs the validation duty now for every account whose validation is
    /// due (a timer does it every minute).
    pub async fn validate_due(&self) {
        self.broker.validate_due().await;
    }

    pub async fn pending_sign_ins(&self) -> usize {
        self.pending.len().await
    }
}

/// An exclusive lock on `<config dir>/castkey.lock` (`flock`, released by
/// the OS when the process ends, however it ends), with the owner's pid
/// written in it for the message the next one shows.
#[derive(Debug)]
struct StateLock {
    _file: std::fs::File,
}

impl StateLock {
    fn acquire(config_dir: &std::path::Path) -> Result<Self, CoreError> {
        use std::io::{Read, Seek, Write};
        let storage = |e: std::io::Error| CoreError::Storage(format!("{}: {e}", config_dir.display()));
        crate::atomic_file::create_private_dir(config_dir).map_err(storage)?;
        let path = config_dir.join("castkey.lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(storage)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut owner = String::new();
                let _ = file.read_to_string(&mut owner);
                let owner = owner.trim();
                let who = if owner.is_empty() { String::new() } else { format!(" (process {owner})") };
                return Err(CoreError::AlreadyRunning(format!(
                    "Castkey already runs{who} and owns {}: use that one (the app's window, or `castkey` \
                     commands, which talk to it), or stop it first",
                    config_dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(storage(e)),
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        Ok(StateLock { _file: file })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::oauth::Discovered;
    use crate::provider::{BrowserSignIn, Endpoints, LoopbackRedirect};
    use crate::secret::MemoryStore;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const ISSUER: &str = "http://127.0.0.1:9";

    /// A browser launcher that takes `delay`, then fails or not.
    #[derive(Debug)]
    struct Launcher {
        delay: Duration,
        fails: bool,
        /// Like a text browser: visits the URL (here: comes straight back
        /// to the redirect, refused) before returning.
        visits: bool,
        opened: Mutex<Vec<Url>>,
    }

    impl Launcher {
        fn new(delay_ms: u64, fails: bool) -> Arc<Self> {
            let delay = Duration::from_millis(delay_ms);
            Arc::new(Launcher { delay, fails, visits: false, opened: Mutex::default() })
        }
    }

    impl BrowserLauncher for Launcher {
        fn open(&self, url: &Url) -> Result<(), String> {
            use std::io::{Read, Write};
            self.opened.lock().unwrap().push(url.clone());
            if self.visits {
                let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
                let back = Url::parse(&q["redirect_uri"]).unwrap();
                let mut s = std::net::TcpStream::connect(("127.0.0.1", back.port().unwrap())).unwrap();
                let target = format!("{}?error=access_denied&state={}&iss={ISSUER}", back.path(), q["state"]);
                s.write_all(format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes()).unwrap();
                s.read_to_end(&mut Vec::new()).unwrap();
            }
            std::thread::sleep(self.delay);
            match self.fails {
                true => Err("could not open the browser: no display".into()),
                false => Ok(()),
            }
        }
    }

    /// A core offering the sandbox provider (already "discovered": no
    /// request leaves the process), its redirect as `redirect`.
    async fn core(
        browser: Arc<Launcher>,
        redirect: RedirectStyle,
        loopback: LoopbackRedirect,
    ) -> (Arc<Core>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut sandbox = crate::services::local_sandbox(Url::parse(ISSUER).unwrap());
        sandbox.sign_in = BrowserSignIn {
            endpoints: Endpoints::Discover { issuer: Url::parse(ISSUER).unwrap() },
            client_id: "castkey".into(),
            confidential: false,
            offline_access: true,
            exchange: None,
            redirect,
            loopback,
            platform: None,
        }
        .into();
        let mut catalog = ProviderCatalog::default();
        catalog.add(sandbox).unwrap();
        let core = Core::start(CoreOptions {
            config_dir: dir.path().to_path_buf(),
            redirect_mode: RedirectMode::Loopback,
            consent: ConsentMode::ListedOnly,
            secrets: Arc::new(MemoryStore::default()),
            catalog,
            browser,
            clock: ManualClock::new(50_000),
        })
        .await
        .unwrap();
        let endpoints = Endpoints::Discover { issuer: Url::parse(ISSUER).unwrap() };
        core.grants.oidc.get("sandbox", &endpoints, "castkey").set_discovered(Discovered::for_tests(ISSUER));
        (core, dir)
    }

    /// Starts `login_loopback` in the background; answers the redirect URI
    /// and `state` it started with, and the task.
    async fn login(
        core: &Arc<Core>,
        how: LoopbackLogin,
    ) -> (String, String, tokio::task::JoinHandle<SignInResult>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let core = core.clone();
        let task = tokio::spawn(async move {
            core.login_loopback("sandbox", &how, |s| {
                let _ = tx.send((s.redirect_uri.clone(), s.state.clone()));
            })
            .await
        });
        let (uri, state) = rx.await.unwrap();
        (uri, state, task)
    }

    /// A GET to `url` (on loopback); answers the status line.
    async fn get(url: &str) -> String {
        let url = Url::parse(url).unwrap();
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", url.port().unwrap())).await.unwrap();
        let target = &url[url::Position::BeforePath..];
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out.lines().next().unwrap_or_default().to_string()
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_browser_that_fails_to_open_is_an_error_with_the_url_to_open() {
        let browser = Launcher::new(0, true);
        let (core, _dir) = core(browser.clone(), RedirectStyle::AppScheme, LoopbackRedirect::default()).await;
        let err = core.login_loopback("sandbox", &LoopbackLogin::default(), |_| {}).await.unwrap_err();
        assert_eq!(err.reason(), castkey_ipc::Reason::LoginFailed);
        let opened = browser.opened.lock().unwrap()[0].to_string();
        assert!(err.to_string().contains("no display") && err.to_string().contains(&opened), "{err}");
        // The window's sign-in says the same.
        let err = core.begin_app_sign_in("sandbox").await.unwrap_err();
        assert!(err.to_string().contains("open this URL in a browser by hand"), "{err}");
    }

    #[tokio::test]
    async fn a_slow_launcher_does_not_end_the_sign_in_unless_it_fails_later() {
        let (core_ok, _dir) =
            core(Launcher::new(2_000, false), RedirectStyle::AppScheme, Default::default()).await;
        let (uri, state, task) = login(&core_ok, LoopbackLogin::default()).await;
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert!(!task.is_finished(), "{:?}", task.await);
        // The listener still waits: the provider's answer ends the sign-in.
        let status = get(&format!("{uri}?error=access_denied&state={state}&iss={ISSUER}")).await;
        assert_eq!(status, "HTTP/1.1 400 Bad Request");
        let err = task.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("access_denied"), "{err}");

        let (core_late, _dir2) =
            core(Launcher::new(2_000, true), RedirectStyle::AppScheme, Default::default()).await;
        let started = std::time::Instant::now();
        let (_, _, task) = login(&core_late, LoopbackLogin::default()).await;
        let err = task.await.unwrap().unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        assert!(err.to_string().contains("no display") && err.to_string().contains("by hand"), "{err}");
    }

    #[tokio::test]
    async fn the_redirect_is_served_while_the_launcher_runs() {
        let launcher = Arc::new(Launcher {
            delay: Duration::from_secs(3),
            fails: false,
            visits: true,
            opened: Mutex::default(),
        });
        let (core, _dir) = core(launcher, RedirectStyle::AppScheme, Default::default()).await;
        let started = std::time::Instant::now();
        let err = core.login_loopback("sandbox", &LoopbackLogin::default(), |_| {}).await.unwrap_err();
        assert!(err.to_string().contains("access_denied"), "{err}");
        assert!(started.elapsed() < Duration::from_millis(900), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_fixed_port_and_path_make_the_redirect_uri() {
        let browser = Launcher::new(0, false);
        let (core, _dir) = core(browser.clone(), RedirectStyle::AppScheme, Default::default()).await;
        let port = free_port();
        let how = LoopbackLogin { port: Some(port), path: Some("/oauth/done".into()), no_browser: true };
        let (uri, state, task) = login(&core, how.clone()).await;
        assert_eq!(uri, format!("http://127.0.0.1:{port}/oauth/done"));
        assert!(browser.opened.lock().unwrap().is_empty(), "--no-browser opened one");
        assert_eq!(
            get(&format!("http://127.0.0.1:{port}/callback?state={state}")).await,
            "HTTP/1.1 404 Not Found"
        );
        // The same port again, while this sign-in holds it: the error names it.
        let err = core.login_loopback("sandbox", &how, |_| {}).await.unwrap_err();
        assert!(err.to_string().contains(&format!("port {port} is in use")), "{err}");
        get(&format!("{uri}?error=access_denied&state={state}&iss={ISSUER}")).await;
        task.await.unwrap().unwrap_err();
        let how = LoopbackLogin { port: Some(80), ..Default::default() };
        let err = core.login_loopback("sandbox", &how, |_| {}).await.unwrap_err();
        assert!(err.to_string().contains("from 1024 to 65535"), "{err}");
    }

    #[tokio::test]
    async fn the_providers_loopback_setting_is_used_by_the_window_and_the_cli() {
        let port = free_port();
        let fixed = LoopbackRedirect::fixed(Some(port), "/cb").unwrap();
        let (core, _dir) = core(Launcher::new(0, false), RedirectStyle::Loopback, fixed).await;
        let started = core.begin_app_sign_in("sandbox").await.unwrap();
        assert_eq!(started.redirect_uri, format!("http://127.0.0.1:{port}/cb"));
        let redirect = started.authorization_url.query_pairs().find(|(k, _)| k == "redirect_uri");
        assert_eq!(redirect.map(|(_, v)| v.into_owned()), Some(started.redirect_uri.clone()));
        let status = get(&format!(
            "{}?error=access_denied&state={}&iss={ISSUER}",
            started.redirect_uri, started.state
        ))
        .await;
        assert_eq!(status, "HTTP/1.1 400 Bad Request");
        let (uri, state, task) = login(&core, LoopbackLogin::default()).await;
        assert_eq!(uri, format!("http://127.0.0.1:{port}/cb"));
        get(&format!("{uri}?error=access_denied&state={state}&iss={ISSUER}")).await;
        task.await.unwrap().unwrap_err();
    }
}

#[cfg(all(test, target_os = "linux"))]
mod launcher_tests {
    use super::launch_any;

    #[test]
    fn a_launcher_that_fails_is_an_error_and_the_next_one_is_tried() {
        let url = "https://id.example/authorize?state=s";
        let err = launch_any("false", url).unwrap_err();
        assert!(err.contains("`false` exit status: 1"), "{err}");
        let err = launch_any("/nonexistent/browser", url).unwrap_err();
        assert!(err.contains("could not run"), "{err}");
        launch_any("false:true", url).unwrap();
        // `%s` stands for the URL (not appended again: `test` takes 3 words).
        launch_any("test %s != other", url).unwrap();
        assert!(launch_any("test %s = other", url).is_err());
    }
}
