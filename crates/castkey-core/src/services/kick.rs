//! Kick (docs.kick.com, "OAuth 2.1", "Users", "Token introspection"):
//!
//! - authorization code with **PKCE S256 required** and the client secret
//!   on the code exchange and on refresh (`client_id`, `client_secret` in
//!   the form body), at `https://id.kick.com/oauth/authorize` and
//!   `/oauth/token`;
//! - refresh tokens rotate on every refresh;
//! - revocation at `https://id.kick.com/oauth/revoke`;
//! - `POST https://api.kick.com/public/v1/token/introspect` (RFC 7662 shape
//!   inside `data`) and `GET /public/v1/users` (who signed in, needs
//!   `user:read`).
//!
//! Kick has no public clients: every user brings their own app.

use super::{base, Service};
use crate::error::CoreError;
use crate::provider::{
    BrowserSignIn, Endpoints, LoopbackRedirect, Platform, PlatformKind, ProviderConfig, RedirectStyle,
};
use crate::template::{field, ConfiguredProvider, CLIENT_SECRET};
use castkey_ipc::ui::{FieldKind, ProviderTemplate};
use url::Url;

pub const KICK: &str = "kick";
/// Points the Kick preset at one other host serving both id.kick.com's and
/// api.kick.com's paths (a stand-in), for tests.
pub const URL_VAR: &str = "CASTKEY_KICK_URL";
pub const ID_URL: &str = "https://id.kick.com";
pub const API_URL: &str = "https://api.kick.com";
/// Kick matches the registered redirect URL exactly: a fixed port.
pub const LOOPBACK_PORT: u16 = 17564;
pub const DEFAULT_SCOPES: &str = "user:read channel:read channel:write chat:write streamkey:read";

pub(crate) const SERVICE: Service = Service { template, build, named: false };

/// The redirect URI to register on Kick's developer settings.
pub fn redirect_uri() -> String {
    LoopbackRedirect { port: Some(LOOPBACK_PORT), path: "/callback".into() }.uri(LOOPBACK_PORT)
}

fn template() -> ProviderTemplate {
    use FieldKind::{Secret, Text};
    let host = super::default_host(URL_VAR, "");
    ProviderTemplate {
        id: KICK.into(),
        display_name: "Kick".into(),
        description: format!(
            "Use your own app: create one in Kick's account settings (Developer) with the Redirect URL \
             {} and enter its client id and secret.",
            redirect_uri()
        ),
        fields: vec![
            field("client_id", "Client id", Text, true, None),
            field(CLIENT_SECRET, "Client secret", Secret, true, None),
            field("scopes", "Scopes", Text, true, Some(DEFAULT_SCOPES)),
            field(
                "url",
                "Test server (leave empty for Kick)",
                FieldKind::Url,
                false,
                (!host.is_empty()).then_some(host.as_str()),
            ),
        ],
    }
}

fn build(c: &ConfiguredProvider) -> Result<ProviderConfig, CoreError> {
    let host = c.opt_url("url")?;
    let parse = |u: &str| Url::parse(u).map_err(|e| CoreError::Internal(e.to_string()));
    let (id, api) = match host {
        Some(h) => (h.clone(), h),
        None => (parse(ID_URL)?, parse(API_URL)?),
    };
    Ok(ProviderConfig {
        scopes: c.words("scopes"),
        ..base(
            c,
            "Kick".into(),
            BrowserSignIn {
                endpoints: Endpoints::Fixed {
                    authorization: Some(super::join(&id, "oauth/authorize")?),
                    token: super::join(&id, "oauth/token")?,
                    revocation: Some(super::join(&id, "oauth/revoke")?),
                },
                client_id: c.text("client_id")?,
                confidential: c.confidential(),
                offline_access: false,
                exchange: None,
                redirect: RedirectStyle::Loopback,
                loopback: LoopbackRedirect { port: Some(LOOPBACK_PORT), path: "/callback".into() },
                platform: Some(Box::new(Platform {
                    kind: PlatformKind::Kick,
                    identity: super::join(&api, "public/v1/users")?,
                    device_authorization: None,
                    device_scope_param: "scope",
                    validate: None,
                    refresh_token_lifetime_secs: None,
                })),
            },
        )
    })
}
