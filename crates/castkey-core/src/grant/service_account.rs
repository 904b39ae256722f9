//! Service accounts: OAuth 2 client credentials (RFC 6749 §4.4). The client
//! id and secret belong to the account (the secret in the keychain); there
//! is no refresh token, so a new access token is fetched with the secret
//! whenever one is due.

use super::Grants;
use crate::account::Account;
use crate::error::CoreError;
use crate::oauth::{ResponseDefaults, TokenError, TokenSet};
use crate::provider::{ClientCredentials, ProviderConfig};
use crate::secret::SecretKey;
use secrecy::{ExposeSecret, SecretString};

impl Grants {
    /// Adds a service account. The credentials are tried first: a wrong id
    /// or secret is refused here, with nothing kept. Answers the account
    /// (its secret already in the keychain) and its first token.
    pub(crate) async fn add_service_account(
        &self,
        provider: &ProviderConfig,
        client_id: &str,
        client_secret: &SecretString,
    ) -> Result<(Account, TokenSet), CoreError> {
        let Some(c) = provider.sign_in.as_client_credentials() else {
            return Err(CoreError::InvalidRequest(format!(
                "{} does not use service accounts (client id and secret)",
                provider.display_name
            )));
        };
        let client_id = client_id.trim();
        if client_id.is_empty() || client_secret.expose_secret().trim().is_empty() {
            return Err(CoreError::InvalidRequest("enter both the client id and the client secret".into()));
        }
        self.secrets.check_available().await?;
        let oidc = self.oidc.get(&provider.id, &c.endpoints, client_id);
        let d = oidc.discover(false).await?;
        let now = self.clock.now();
        let defaults = ResponseDefaults {
            scopes: &provider.scopes,
            lifetime_secs: provider.default_token_lifetime_secs,
            now,
        };
        let set = oidc.client_credentials(&d, client_secret, defaults).await.map_err(|e| match e {
            TokenError::InvalidGrant(_) => {
                CoreError::LoginFailed(format!("{} refused the client id or secret", provider.display_name))
            }
            other => other.into_core(&provider.id, None),
        })?;
        let id = Account::make_id(&provider.id, client_id);
        self.secrets.put(&SecretKey::client_secret(&id), client_secret).await?;
        let account = Account::signed_in(&id, &provider.id, client_id, client_id, &set.scopes, now);
        tracing::info!(account = %id, "service account added");
        Ok((account, set))
    }

    /// A service account has no refresh token: its client secret gets a new token.
    pub(super) async fn fetch_for_service_account(
        &self,
        account: &Account,
        provider: &ProviderConfig,
        c: &ClientCredentials,
    ) -> Result<TokenSet, CoreError> {
        let Some(secret) = self.secrets.get(&SecretKey::client_secret(&account.id)).await? else {
            return Err(CoreError::ReauthRequired(account.id.clone()));
        };
        let oidc = self.oidc.get(&provider.id, &c.endpoints, &account.subject);
        let d = oidc.discover(false).await?;
        let defaults = ResponseDefaults {
            scopes: &account.scopes,
            lifetime_secs: provider.default_token_lifetime_secs,
            now: self.clock.now(),
        };
        let set = oidc
            .client_credentials(&d, &secret, defaults)
            .await
            .map_err(|e| e.into_core(&provider.id, Some(&account.id)))?;
        tracing::info!(account = %account.id, expires_at = set.expires_at, "service account token fetched");
        Ok(set)
    }
}
