//! Grants: one file per way Castkey holds a grant, and here the only place
//! that tells them apart.
//!
//! - [`browser`]: authorization code + PKCE (RFC 6749 §4.1, RFC 7636) and
//!   sign-in with a code (RFC 8628); refresh (RFC 6749 §6); revocation
//!   (RFC 7009).
//! - [`service_account`]: client credentials (RFC 6749 §4.4).
//! - [`api_key`]: an API key exchanged for tokens (api.video).
//! - [`exchange`]: the identity-token exchange step of LifeOmic-style SSO.
//!
//! Every function here answers a dead grant (refused refresh token, missing
//! secret) as [`CoreError::ReauthRequired`]; the broker turns that into
//! "sign in again" in one place.

mod api_key;
mod browser;
mod exchange;
mod platform;
mod service_account;

pub(crate) use platform::Validation;

pub use browser::{DeviceStarted, RedirectTarget, SignIn, SignInResult, Started};

use crate::account::Account;
use crate::clock::Clock;
use crate::error::CoreError;
use crate::oauth::{Discovered, OidcProvider, OidcProviders, TokenSet};
use crate::provider::{BrowserSignIn, ProviderConfig, RedirectStyle, SignInKind};
use crate::secret::{SecretKey, SecretStore};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Who a sign-in is for, decided when it starts and carried with it to
/// the end (issue 17). The person's sign-in (window, tray, a terminal)
/// makes the account its provider's active one and the provider the
/// default; a program's sign-in only adds the account, which that program
/// then gets, and everyone else keeps what the person chose. Because the
/// choice travels with the flow, a program's account is never everyone's,
/// not even for the moment between the sign-in and its settling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInFor {
    /// The person: the account becomes active.
    #[default]
    Person,
    /// A program: the account is added, the active one stays.
    Program,
}

/// Where a just-signed-in account goes: saved (as its provider's active
/// account when the person signed in), its first token served from memory.
/// The broker is the keeper; the sign-in code only knows this trait.
pub(crate) trait AccountKeeper: Send + Sync {
    /// `account`'s secrets are already in the keychain when this is called.
    fn keep(&self, account: Account, set: &TokenSet, for_whom: SignInFor) -> SignInResult;

    /// Whether an account of `provider` is held already (a sign-in then
    /// adds another one, and the platform must offer its account chooser).
    fn holds_account_of(&self, provider: &str) -> bool;

    /// Whether `account_id` is held and working (not waiting for the user
    /// to sign in again): signing it in again would add nothing.
    fn holds_working(&self, account_id: &str) -> bool;
}

/// What every grant needs: the provider clients (HTTP, discovery), the
/// keychain and the clock; and the refresh tokens the keychain refused.
pub(crate) struct Grants {
    pub(crate) oidc: Arc<OidcProviders>,
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Rotated refresh tokens the keychain refused to store: used for the
    /// next refresh so that a keychain hiccup does not lose the grant.
    unsaved_refresh: Mutex<HashMap<String, SecretString>>,
}

impl fmt::Debug for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grants").finish_non_exhaustive()
    }
}

impl Grants {
    pub(crate) fn new(
        oidc: Arc<OidcProviders>,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Grants { oidc, secrets, clock, unsaved_refresh: Default::default() }
    }

    /// A new access token for `account`, by the kind of its grant.
    /// `refused`: the SHA-256 digest of an access token an API refused
    /// (the reason for this refresh, if it is one); a standing token
    /// (no refresh token, no expiry) that was refused is a dead grant.
    pub(crate) async fn refresh(
        &self,
        account: &Account,
        provider: &ProviderConfig,
        refused: Option<&[u8; 32]>,
    ) -> Result<TokenSet, CoreError> {
        match &provider.sign_in {
            SignInKind::Browser(b) => self.refresh_browser(account, provider, b, refused).await,
            SignInKind::ClientCredentials(c) => self.fetch_for_service_account(account, provider, c).await,
            SignInKind::ApiKey(a) => self.refresh_api_key_account(account, provider, a).await,
        }
    }

    /// Asks the provider to forget `refresh_token` (RFC 7009). Answers
    /// whether it confirmed.
    pub(crate) async fn revoke(
        &self,
        provider: &ProviderConfig,
        refresh_token: &SecretString,
    ) -> Result<bool, CoreError> {
        match &provider.sign_in {
            SignInKind::Browser(b) => self.revoke_browser(provider, b, refresh_token).await,
            // A service account holds no refresh token to revoke; api.video
            // documents no revocation (a new api-key call ends old tokens).
            SignInKind::ClientCredentials(_) | SignInKind::ApiKey(_) => Ok(false),
        }
    }

    /// Reads the provider's discovery document (`force`: again, even if
    /// cached). Providers without one need nothing.
    pub(crate) async fn discover(&self, provider: &ProviderConfig, force: bool) -> Result<(), CoreError> {
        let (endpoints, client_id) = match &provider.sign_in {
            SignInKind::Browser(b) => (&b.endpoints, b.client_id.as_str()),
            SignInKind::ClientCredentials(c) => (&c.endpoints, ""),
            SignInKind::ApiKey(_) => return Ok(()),
        };
        self.oidc.get(&provider.id, endpoints, client_id).discover(force).await.map(|_| ())
    }

    /// Whether discovery (if it ran already) or the platform's preset
    /// offers sign-in with a code.
    pub(crate) fn device_flow_offered(&self, provider: &ProviderConfig) -> bool {
        match &provider.sign_in {
            SignInKind::Browser(b) => {
                b.platform.as_ref().is_some_and(|p| p.device_authorization.is_some())
                    || self
                        .oidc
                        .cached(&provider.id, &b.client_id)
                        .is_some_and(|d| d.device_authorization_endpoint.is_some())
            }
            SignInKind::ClientCredentials(_) | SignInKind::ApiKey(_) => false,
        }
    }

    /// The OAuth client of a browser provider and what discovery found,
    /// with what a platform's preset adds to fixed endpoints: its device
    /// endpoint, and client authentication in the form body (Twitch, Google
    /// and Kick document `client_id` and `client_secret` as form
    /// parameters).
    pub(crate) async fn discovered(
        &self,
        provider: &ProviderConfig,
        b: &BrowserSignIn,
    ) -> Result<(Arc<OidcProvider>, Arc<Discovered>), CoreError> {
        let oidc = self.oidc.get(&provider.id, &b.endpoints, &b.client_id);
        let d = oidc.discover(false).await?;
        let Some(p) = &b.platform else { return Ok((oidc, d)) };
        let mut amended = (*d).clone();
        if amended.device_authorization_endpoint.is_none() {
            amended.device_authorization_endpoint = p.device_authorization.clone();
        }
        if amended.token_endpoint_auth_methods.is_empty() {
            amended.token_endpoint_auth_methods = vec!["client_secret_post".into()];
        }
        if amended.revocation_endpoint_auth_methods.is_empty() {
            amended.revocation_endpoint_auth_methods = vec!["client_secret_post".into()];
        }
        Ok((oidc, Arc::new(amended)))
    }

    /// Asks the platform whether `token` still works, where the platform
    /// requires apps to (Twitch `/oauth2/validate`). `None`: no such duty.
    pub(crate) async fn validate(
        &self,
        provider: &ProviderConfig,
        token: &SecretString,
    ) -> Option<Validation> {
        let p = provider.sign_in.as_browser()?.platform.as_ref()?;
        let url = p.validate.as_ref()?;
        Some(platform::validate(self.oidc.http_for(url), url, p.kind, token).await)
    }

    /// How the browser comes back from `provider` (only browser sign-ins go there).
    pub(crate) fn redirect_style(provider: &ProviderConfig) -> RedirectStyle {
        match &provider.sign_in {
            SignInKind::Browser(b) => b.redirect,
            SignInKind::ClientCredentials(_) | SignInKind::ApiKey(_) => RedirectStyle::AppScheme,
        }
    }

    /// Stores a rotated refresh token. If the keychain refuses, the new
    /// token is kept in memory for the next attempt and the error returned:
    /// the caller hands nothing out.
    pub(crate) async fn store_rotated(
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
    pub(crate) async fn current_refresh_token(
        &self,
        account_id: &str,
    ) -> Result<Option<SecretString>, CoreError> {
        let unsaved = self.unsaved_refresh.lock().unwrap_or_else(|e| e.into_inner()).get(account_id).cloned();
        match unsaved {
            Some(t) => Ok(Some(t)),
            None => Ok(self.secrets.get(&SecretKey::refresh_token(account_id)).await?),
        }
    }

    /// Drops what is held in memory for an account (sign-out).
    pub(crate) fn forget(&self, account_id: &str) {
        self.unsaved_refresh.lock().unwrap_or_else(|e| e.into_inner()).remove(account_id);
    }
}
