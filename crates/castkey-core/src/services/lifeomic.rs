//! A LifeOmic-style video service with single sign-on: the user signs in at
//! the customer's own OpenID Connect provider, then the ID token is traded
//! for the service's access token (JSON `identityToken`, `providerName`,
//! `oidcClientId`, `lifeomicClientId` → `accessToken`); API calls carry the
//! `LifeOmic-Account` header.

use super::{base, Service};
use crate::error::CoreError;
use crate::provider::{BrowserSignIn, Endpoints, IdentityTokenExchange, ProviderConfig, RedirectStyle};
use crate::template::{field, ConfiguredProvider, CLIENT_SECRET};
use castkey_ipc::ui::{FieldKind, ProviderTemplate};
use std::collections::BTreeMap;

pub const LIFEOMIC: &str = "lifeomic";

/// The header every API call of the service needs.
pub const ACCOUNT_HEADER: &str = "LifeOmic-Account";

pub(crate) const SSO: Service = Service { template, build, named: false };

fn template() -> ProviderTemplate {
    use FieldKind::{Secret, Text, Url as U};
    ProviderTemplate {
        id: LIFEOMIC.into(),
        display_name: "LifeOmic-style video service (SSO)".into(),
        description: "Sign in with your own OpenID Connect provider, then trade the ID token for \
                      the video service's token. Needs your OIDC issuer and client, the service's \
                      token exchange URL and client id, and your account id."
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
            },
        )
    })
}
