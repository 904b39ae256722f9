//! Twitch (dev.twitch.tv/docs/authentication, "Getting OAuth Access Tokens",
//! "Validating Tokens", "Refreshing Access Tokens", "Revoking Access
//! Tokens"), all at `https://id.twitch.tv/oauth2/`:
//!
//! - sign-in with a code (device code grant) with a **public** client: no
//!   client secret; the device endpoint takes `scopes` (space-separated),
//!   not RFC 8628's `scope`; polls answer `{"status":400,"message":
//!   "authorization_pending"}`;
//! - the authorization code grant for a **confidential** client (a client
//!   secret; Twitch documents no PKCE, Castkey sends it anyway);
//!   `force_verify=true` shows the account chooser when adding another
//!   account;
//! - token answers give `scope` as a JSON array; a refused refresh token is
//!   `{"status":400,"message":"Invalid refresh token"}`;
//! - a public client's refresh token is one-time use (replaying a spent one
//!   ends the whole connection) and "expires after 30 days of inactivity";
//! - revocation: `POST /oauth2/revoke` with `client_id` and `token`;
//! - `GET /oauth2/validate` (`Authorization: OAuth <token>`) names the user
//!   (`login`, `user_id`) and must be called at start and hourly.
//!
//! A build may carry Castkey's own public client id (`CASTKEY_TWITCH_CLIENT_ID`
//! at build time); then Twitch is offered built in, with a code.

use super::Service;
use crate::error::CoreError;
use crate::provider::{
    BrowserSignIn, Endpoints, LoopbackRedirect, Platform, PlatformKind, ProviderConfig, RedirectStyle,
};
use crate::template::{field, ConfiguredProvider, CLIENT_SECRET};
use castkey_ipc::ui::{FieldKind, ProviderTemplate};
use url::Url;

pub const TWITCH: &str = "twitch";
pub const TWITCH_URL: &str = "https://id.twitch.tv";
/// Castkey's own public client id, if this build carries one.
pub const BUILD_CLIENT_ID: Option<&str> = option_env!("CASTKEY_TWITCH_CLIENT_ID");
/// Points the Twitch preset at another host (a stand-in), for tests.
pub const URL_VAR: &str = "CASTKEY_TWITCH_URL";
/// Twitch matches redirect URIs exactly, port included: a fixed one.
pub const LOOPBACK_PORT: u16 = 17563;
pub const DEFAULT_SCOPES: &str =
    "channel:manage:broadcast channel:read:stream_key user:read:chat user:write:chat";
/// "Public client refresh tokens expire after 30 days of inactivity" (each
/// refresh gives a new one, so the 30 days start again).
pub const PUBLIC_REFRESH_TOKEN_SECS: u64 = 30 * 86_400;
/// User access tokens last about four hours when the answer does not say.
const ACCESS_TOKEN_SECS: u64 = 4 * 3600;

pub(crate) const SERVICE: Service = Service { template, build, named: false };

/// The redirect URI to register on the Twitch console.
pub fn redirect_uri() -> String {
    LoopbackRedirect { port: Some(LOOPBACK_PORT), path: "/callback".into() }.uri(LOOPBACK_PORT)
}

/// Twitch at `host` (`https://id.twitch.tv`, or a stand-in) for
/// `client_id`; `confidential`: its client secret is in the keychain.
pub fn twitch(
    host: &Url,
    client_id: &str,
    confidential: bool,
    scopes: Vec<String>,
) -> Result<ProviderConfig, CoreError> {
    let at = |path: &str| super::join(host, path);
    Ok(ProviderConfig {
        id: TWITCH.into(),
        display_name: "Twitch".into(),
        sign_in: BrowserSignIn {
            endpoints: Endpoints::Fixed {
                authorization: Some(at("oauth2/authorize")?),
                token: at("oauth2/token")?,
                revocation: Some(at("oauth2/revoke")?),
            },
            client_id: client_id.into(),
            confidential,
            offline_access: false,
            exchange: None,
            redirect: RedirectStyle::Loopback,
            loopback: LoopbackRedirect { port: Some(LOOPBACK_PORT), path: "/callback".into() },
            platform: Some(Box::new(Platform {
                kind: PlatformKind::Twitch,
                identity: at("oauth2/validate")?,
                device_authorization: Some(at("oauth2/device")?),
                device_scope_param: "scopes",
                validate: Some(at("oauth2/validate")?),
                refresh_token_lifetime_secs: (!confidential).then_some(PUBLIC_REFRESH_TOKEN_SECS),
            })),
        }
        .into(),
        scopes,
        broadcast_scope: None,
        default_token_lifetime_secs: ACCESS_TOKEN_SECS,
        api_headers: [("Client-Id".to_string(), client_id.to_string())].into(),
        template: None,
        app_redirect_uri: crate::APP_REDIRECT_URI.into(),
        // Twitch's 30 days unused is the platform's documented lifetime
        // (each refresh rotates the token and so restarts it).
        refresh_clocks: Default::default(),
    })
}

/// Twitch built in, with this build's public client id (none: not offered
/// built in; the user adds their own app).
pub fn builtin() -> Result<Option<ProviderConfig>, CoreError> {
    let Some(id) = BUILD_CLIENT_ID.filter(|s| !s.is_empty()) else { return Ok(None) };
    let host = super::host_from_env(URL_VAR, TWITCH_URL)?;
    twitch(&host, id, false, DEFAULT_SCOPES.split(' ').map(String::from).collect()).map(Some)
}

fn template() -> ProviderTemplate {
    use FieldKind::{Secret, Text, Url as U};
    ProviderTemplate {
        id: TWITCH.into(),
        display_name: "Twitch".into(),
        description: format!(
            "Use your own app: register one at dev.twitch.tv/console/apps with the OAuth Redirect URL \
             {} and enter its client id. Client type Public (no secret): sign in with a code \
             (castkey login --code twitch). Confidential (with its secret): sign in in the browser too.",
            redirect_uri()
        ),
        fields: vec![
            field("client_id", "Client id", Text, true, BUILD_CLIENT_ID.filter(|s| !s.is_empty())),
            field(CLIENT_SECRET, "Client secret (confidential apps only)", Secret, false, None),
            field("scopes", "Scopes", Text, true, Some(DEFAULT_SCOPES)),
            field(
                "url",
                "Twitch authentication host",
                U,
                true,
                Some(&super::default_host(URL_VAR, TWITCH_URL)),
            ),
        ],
    }
}

fn build(c: &ConfiguredProvider) -> Result<ProviderConfig, CoreError> {
    let config = twitch(&c.url("url")?, &c.text("client_id")?, c.confidential(), c.words("scopes"))?;
    Ok(ProviderConfig { template: Some(c.template.clone()), ..config })
}
