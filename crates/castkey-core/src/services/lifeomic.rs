//! A LifeOmic-style video service, both ways its document describes:
//!
//! - its own OAuth client ("Obtaining access tokens with an OAuth client",
//!   the main path): authorization code + PKCE at the service's OAuth
//!   endpoints (LifeOmic documents `https://api.us.lifeomic.com/v1/oauth/
//!   authorize` and `/token`; access tokens last an hour, refresh tokens
//!   24 h);
//! - single sign-on: the user signs in at the customer's own OpenID Connect
//!   provider, then the ID token is traded for the service's access token
//!   (JSON `identityToken`, `providerName`, `oidcClientId`,
//!   `lifeomicClientId` → `accessToken`).
//!
//! Either way, API calls carry the `LifeOmic-Account` header.

use super::{base, Service};
use crate::error::CoreError;
use crate::provider::{BrowserSignIn, Endpoints, IdentityTokenExchange, ProviderConfig, RedirectStyle};
use crate::template::{field, ConfiguredProvider, CLIENT_SECRET};
use castkey_ipc::ui::{FieldKind, ProviderTemplate};
use std::collections::BTreeMap;

pub const LIFEOMIC: &str = "lifeomic";
pub const LIFEOMIC_OAUTH: &str = "lifeomic-oauth";

/// The service's documented OAuth endpoints.
pub const LIFEOMIC_AUTHORIZATION_URL: &str = "https://api.us.lifeomic.com/v1/oauth/authorize";
pub const LIFEOMIC_TOKEN_URL: &str = "https://api.us.lifeomic.com/v1/oauth/token";

/// How long a refresh token of the service's own OAuth client lasts: 24 h
/// (the service's developer page). The user signs in again after it.
pub const REFRESH_TOKEN_LIFETIME_SECS: u64 = 24 * 3600;

/// The header every API call of the service needs.
pub const ACCOUNT_HEADER: &str = "LifeOmic-Account";

pub(crate) const SSO: Service = Service { template, build, named: false };
pub(crate) const OAUTH_CLIENT: Service =
    Service { template: oauth_template, build: build_oauth, named: false };

fn oauth_template() -> ProviderTemplate {
    use FieldKind::{Secret, Text, Url as U};
    ProviderTemplate {
        id: LIFEOMIC_OAUTH.into(),
        display_name: "LifeOmic-style video service".into(),
        description: "Browser sign-in with the service's own OAuth client (ask the service's support \
                      for one, registered for the redirect URI shown below), and your account id for the \
                      LifeOmic-Account header."
            .into(),
        fields: vec![
            field("client_id", "OAuth client id", Text, true, None),
            field(CLIENT_SECRET, "OAuth client secret (if it has one)", Secret, false, None),
            field("account_id", "Account id (LifeOmic-Account header)", Text, true, None),
            field("authorization_url", "Authorization endpoint", U, true, Some(LIFEOMIC_AUTHORIZATION_URL)),
            field("token_url", "Token endpoint", U, true, Some(LIFEOMIC_TOKEN_URL)),
            field("scopes", "Scopes", Text, false, Some("openid")),
        ],
    }
}

fn build_oauth(c: &ConfiguredProvider) -> Result<ProviderConfig, CoreError> {
    Ok(ProviderConfig {
        scopes: c.words("scopes"),
        api_headers: BTreeMap::from([(ACCOUNT_HEADER.to_string(), c.text("account_id")?)]),
        ..base(
            c,
            "LifeOmic-style video service".into(),
            BrowserSignIn {
                endpoints: Endpoints::Fixed {
                    authorization: Some(c.url("authorization_url")?),
                    token: c.url("token_url")?,
                    revocation: None,
                },
                client_id: c.text("client_id")?,
                confidential: c.confidential(),
                offline_access: false,
                exchange: None,
                redirect: RedirectStyle::AppScheme,
                loopback: Default::default(),
                platform: None,
            },
        )
    })
}

fn template() -> ProviderTemplate {
    use FieldKind::{Secret, Text, Url as U};
    ProviderTemplate {
        id: LIFEOMIC.into(),
        display_name: "LifeOmic-style video service (SSO)".into(),
        description: "Sign in with your own OpenID Connect provider, then trade the ID token for \
                      the video service's token. Needs your OIDC issuer and client, the service's \
                      token exchange URL and client id, and your account id. Register the redirect URI \
                      shown below for your client."
            .into(),
        fields: vec![
            field("issuer", "Your OIDC issuer URL", U, true, None),
            field("client_id", "Your OAuth client id", Text, true, None),
            field(CLIENT_SECRET, "Your OAuth client secret (if it has one)", Secret, false, None),
            field("exchange_url", "Identity token exchange URL", U, true, None),
            field("service_client_id", "The service's OAuth client id", Text, true, None),
            field("account_id", "Account id (LifeOmic-Account header)", Text, true, None),
        ],
    }
}

fn build(c: &ConfiguredProvider) -> Result<ProviderConfig, CoreError> {
    Ok(ProviderConfig {
        scopes: ["openid", "email", "profile"].map(String::from).to_vec(),
        api_headers: BTreeMap::from([(ACCOUNT_HEADER.to_string(), c.text("account_id")?)]),
        ..base(
            c,
            "LifeOmic-style video service".into(),
            BrowserSignIn {
                endpoints: Endpoints::Discover { issuer: c.url("issuer")? },
                client_id: c.text("client_id")?,
                confidential: c.confidential(),
                offline_access: true,
                exchange: Some(IdentityTokenExchange {
                    url: c.url("exchange_url")?,
                    service_client_id: c.text("service_client_id")?,
                }),
                redirect: RedirectStyle::AppScheme,
                loopback: Default::default(),
                platform: None,
            },
        )
    })
}
