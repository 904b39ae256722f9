//! IBM Video Streaming (developers.video.ibm.com, "Authentication" and
//! "Token revocation"): authorization code in the browser with a
//! confidential client, scopes `broadcaster openid email`, day-long tokens,
//! revocation; and service accounts (client credentials). IBM publishes no
//! discovery document, so the endpoints are fixed (and can be changed).

use super::{base, Service};
use crate::error::CoreError;
use crate::provider::{BrowserSignIn, ClientCredentials, Endpoints, ProviderConfig, RedirectStyle};
use crate::template::{field, ConfiguredProvider, CLIENT_SECRET};
use castkey_ipc::ui::{FieldKind, ProviderTemplate};

pub const IBM: &str = "ibm";
pub const IBM_SERVICE: &str = "ibm-service";

pub const IBM_AUTHORIZATION_URL: &str = "https://authentication.video.ibm.com/authorize";
pub const IBM_TOKEN_URL: &str = "https://video.ibm.com/oauth2/token";
pub const IBM_REVOCATION_URL: &str = "https://video.ibm.com/oauth2/token/revoke";

/// "By default, access tokens expire within a day."
const DAY_SECS: u64 = 86_400;

pub(crate) const BROWSER: Service = Service { template, build, named: false };
pub(crate) const SERVICE_ACCOUNT: Service =
    Service { template: service_template, build: build_service, named: false };

fn template() -> ProviderTemplate {
    use FieldKind::{Secret, Text, Url as U};
    ProviderTemplate {
        id: IBM.into(),
        display_name: "IBM Video Streaming".into(),
        description: "Browser sign-in with scopes broadcaster openid email. Needs an OAuth client \
                      (client id and secret) from IBM Video Streaming registered for \
                      the redirect URI shown below."
            .into(),
        fields: vec![
            field("client_id", "Client id", Text, true, None),
            field(CLIENT_SECRET, "Client secret", Secret, true, None),
            field("authorization_url", "Authorization endpoint", U, true, Some(IBM_AUTHORIZATION_URL)),
            field("token_url", "Token endpoint", U, true, Some(IBM_TOKEN_URL)),
            field("revocation_url", "Revocation endpoint", U, false, Some(IBM_REVOCATION_URL)),
        ],
    }
}

fn build(c: &ConfiguredProvider) -> Result<ProviderConfig, CoreError> {
    Ok(ProviderConfig {
        scopes: ["broadcaster", "openid", "email"].map(String::from).to_vec(),
        broadcast_scope: Some(castkey_ipc::BROADCASTER_SCOPE.into()),
        default_token_lifetime_secs: DAY_SECS,
        refresh_clocks: Default::default(),
        ..base(
            c,
            "IBM Video Streaming".into(),
            BrowserSignIn {
                endpoints: Endpoints::Fixed {
                    authorization: Some(c.url("authorization_url")?),
                    token: c.url("token_url")?,
                    revocation: c.opt_url("revocation_url")?,
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

fn service_template() -> ProviderTemplate {
    ProviderTemplate {
        id: IBM_SERVICE.into(),
        display_name: "IBM Video Streaming service account".into(),
        description: "Client credentials generated on the IBM Video Streaming dashboard; each \
                      service account is added with its own client id and secret."
            .into(),
        fields: vec![field("token_url", "Token endpoint", FieldKind::Url, true, Some(IBM_TOKEN_URL))],
    }
}

fn build_service(c: &ConfiguredProvider) -> Result<ProviderConfig, CoreError> {
    Ok(ProviderConfig {
        scopes: vec![castkey_ipc::BROADCASTER_SCOPE.into()],
        broadcast_scope: Some(castkey_ipc::BROADCASTER_SCOPE.into()),
        default_token_lifetime_secs: DAY_SECS,
        refresh_clocks: Default::default(),
        ..base(
            c,
            "IBM Video Streaming (service account)".into(),
            ClientCredentials {
                endpoints: Endpoints::Fixed {
                    authorization: None,
                    token: c.url("token_url")?,
                    revocation: None,
                },
            },
        )
    })
}
