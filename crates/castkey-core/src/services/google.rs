//! YouTube through Google's OAuth 2.0 for installed apps
//! (developers.google.com/identity/protocols/oauth2/native-app):
//!
//! - authorization code + PKCE in the system browser with a **loopback**
//!   redirect (`http://127.0.0.1:<any port>`); custom schemes are refused
//!   for desktop clients;
//! - the desktop client's secret is sent on the token requests, though
//!   Google says it is "obviously not treated as a secret" there;
//! - `access_type=offline` for a refresh token, `prompt=consent` (Google
//!   sends a refresh token again only with it), `select_account` so that
//!   another account can be chosen;
//! - sign-in with a code (oauth2/limited-input-device) for the YouTube Data
//!   API scopes, with a "TVs and Limited Input devices" client;
//! - refresh tokens last until revoked or unused for six months, but
//!   **seven days** when the Google Cloud project's publishing status is
//!   "Testing" (developers.google.com/identity/protocols/oauth2#expiration);
//!   the user says which in the form;
//! - revocation at `https://oauth2.googleapis.com/revoke`; who signed in from
//!   `https://openidconnect.googleapis.com/v1/userinfo`.

use super::{base, Service};
use crate::error::CoreError;
use crate::provider::{
    BrowserSignIn, Endpoints, LoopbackRedirect, Platform, PlatformKind, ProviderConfig, RedirectStyle,
};
use crate::template::{field, ConfiguredProvider, CLIENT_SECRET};
use castkey_ipc::ui::{FieldKind, ProviderTemplate, TemplateField};
use url::Url;

pub const YOUTUBE: &str = "youtube";
/// Castkey's own desktop client id, if this build carries one.
pub const BUILD_CLIENT_ID: Option<&str> = option_env!("CASTKEY_GOOGLE_CLIENT_ID");
/// Points the YouTube preset at one other host serving every endpoint
/// under Google's paths (a stand-in), for tests.
pub const URL_VAR: &str = "CASTKEY_GOOGLE_URL";
pub const AUTHORIZATION_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const REVOCATION_URL: &str = "https://oauth2.googleapis.com/revoke";
pub const DEVICE_URL: &str = "https://oauth2.googleapis.com/device/code";
pub const USERINFO_URL: &str = "https://openidconnect.googleapis.com/v1/userinfo";
pub const DEFAULT_SCOPES: &str = "openid email profile https://www.googleapis.com/auth/youtube";
/// A project in "Testing": refresh tokens end seven days after they are issued.
pub const TESTING_REFRESH_TOKEN_SECS: u64 = 7 * 86_400;

pub(crate) const SERVICE: Service = Service { template, build, named: false };

fn template() -> ProviderTemplate {
    use FieldKind::{Choice, Secret, Text};
    let host = super::default_host(URL_VAR, "");
    ProviderTemplate {
        id: YOUTUBE.into(),
        display_name: "YouTube (Google)".into(),
        description: "Use your own app: in the Google Cloud console create an OAuth client of type \
                      Desktop app (Google accepts its loopback redirect http://127.0.0.1:<any port>/callback \
                      with nothing to register) and enter its client id and secret. While the project's \
                      publishing status is Testing, Google ends refresh tokens after 7 days: say so below \
                      and Castkey warns a day before."
            .into(),
        fields: vec![
            field("client_id", "Client id", Text, true, BUILD_CLIENT_ID.filter(|s| !s.is_empty())),
            field(CLIENT_SECRET, "Client secret", Secret, true, None),
            field("scopes", "Scopes", Text, true, Some(DEFAULT_SCOPES)),
            TemplateField {
                choices: vec!["no".into(), "yes".into()],
                ..field(
                    "testing",
                    "Project in Testing (refresh tokens last 7 days)",
                    Choice,
                    true,
                    Some("no"),
                )
            },
            field(
                "url",
                "Test server (leave empty for Google)",
                FieldKind::Url,
                false,
                (!host.is_empty()).then_some(host.as_str()),
            ),
        ],
    }
}

/// Google's endpoints, or all of them under `host` (a stand-in).
fn endpoint(host: Option<&Url>, real: &str) -> Result<Url, CoreError> {
    let real = Url::parse(real).map_err(|e| CoreError::Internal(e.to_string()))?;
    match host {
        None => Ok(real),
        Some(h) => super::join(h, real.path().trim_start_matches('/')),
    }
}

fn build(c: &ConfiguredProvider) -> Result<ProviderConfig, CoreError> {
    let host = c.opt_url("url")?;
    let at = |real: &str| endpoint(host.as_ref(), real);
    let testing = c.values.get("testing").is_some_and(|v| v == "yes");
    Ok(ProviderConfig {
        scopes: c.words("scopes"),
        ..base(
            c,
            "YouTube (Google)".into(),
            BrowserSignIn {
                endpoints: Endpoints::Fixed {
                    authorization: Some(at(AUTHORIZATION_URL)?),
                    token: at(TOKEN_URL)?,
                    revocation: Some(at(REVOCATION_URL)?),
                },
                client_id: c.text("client_id")?,
                confidential: c.confidential(),
                offline_access: false,
                exchange: None,
                redirect: RedirectStyle::Loopback,
                loopback: LoopbackRedirect::default(),
                platform: Some(Box::new(Platform {
                    kind: PlatformKind::Google,
                    identity: at(USERINFO_URL)?,
                    device_authorization: Some(at(DEVICE_URL)?),
                    device_scope_param: "scope",
                    validate: None,
                    refresh_token_lifetime_secs: testing.then_some(TESTING_REFRESH_TOKEN_SECS),
                })),
            },
        )
    })
}
