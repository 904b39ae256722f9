//! What the streaming platforms add to OAuth 2 (see [`Platform`]): who
//! signed in, the authorization request's own parameters, and the
//! validation the platform requires of every app.
//!
//! - Twitch (dev.twitch.tv/docs/authentication/validate-tokens): `GET
//!   /oauth2/validate` with `Authorization: OAuth <token>` answers
//!   `{client_id, login, scopes, user_id, expires_in}`, or 401 once the
//!   token is no longer valid; "your app must validate the OAuth token when
//!   it starts and on an hourly basis thereafter", and end every session
//!   that uses an invalid one. `force_verify=true` shows the account
//!   chooser (dev.twitch.tv/docs/authentication/getting-tokens-oauth).
//! - Google (developers.google.com/identity/protocols/oauth2/native-app):
//!   `access_type=offline` for a refresh token, `prompt=consent`, and
//!   `select_account` to pick another account; who signed in from
//!   `openidconnect.googleapis.com/v1/userinfo` (`sub`, `name`, `email`).
//! - Kick (docs.kick.com, "OAuth 2.1" and "Users"): who signed in from
//!   `GET api.kick.com/public/v1/users` → `{data: [{user_id, name, email}]}`.

use crate::error::CoreError;
use crate::oauth::{read_answer, Answer, Identity, TokenError};
use crate::provider::{Platform, PlatformKind};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

/// The authorization request's platform parameters; `another`: the user
/// adds an account beside one Castkey holds, so the platform must let them
/// choose (not sign in silently as the account the browser knows).
pub(crate) fn authorization_params(p: &Platform, another: bool) -> Vec<(&'static str, &'static str)> {
    match p.kind {
        PlatformKind::Twitch if another => vec![("force_verify", "true")],
        PlatformKind::Twitch => vec![],
        // Without `consent` Google sends a refresh token only the first time.
        PlatformKind::Google => vec![
            ("access_type", "offline"),
            ("prompt", if another { "select_account consent" } else { "consent" }),
        ],
        PlatformKind::Kick => vec![],
    }
}

/// The platform's name for people.
pub(crate) fn name(kind: PlatformKind) -> &'static str {
    match kind {
        PlatformKind::Twitch => "Twitch",
        PlatformKind::Google => "Google",
        PlatformKind::Kick => "Kick",
    }
}

async fn get(
    http: &reqwest::Client,
    url: &Url,
    kind: PlatformKind,
    token: &SecretString,
) -> Result<Answer, String> {
    // Twitch's /validate documents the `OAuth` scheme; the others Bearer.
    let scheme = if kind == PlatformKind::Twitch { "OAuth" } else { "Bearer" };
    let response = http
        .get(url.clone())
        .header(reqwest::header::AUTHORIZATION, format!("{scheme} {}", token.expose_secret()))
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("{url} could not be reached ({})", e.without_url()))?;
    read_answer(response, "the platform").await.map_err(|e| match e {
        TokenError::Unavailable(t) => t.message,
        TokenError::Rejected(m)
        | TokenError::Refused(m)
        | TokenError::InvalidGrant(m)
        | TokenError::DeviceFlow(m) => m,
    })
}

/// Who the access token `token` belongs to.
pub(crate) async fn identify(
    http: &reqwest::Client,
    p: &Platform,
    provider_id: &str,
    token: &SecretString,
) -> Result<Identity, CoreError> {
    let answer =
        get(http, &p.identity, p.kind, token).await.map_err(|m| CoreError::unavailable(provider_id, m))?;
    let who = name(p.kind);
    if answer.status.is_server_error() || answer.status.as_u16() == 429 {
        return Err(CoreError::unavailable(
            provider_id,
            format!("{who} answered HTTP {} when asked who signed in", answer.status),
        ));
    }
    if !answer.status.is_success() {
        return Err(CoreError::ProviderRejected(format!(
            "{who} refused the new token when asked who signed in (HTTP {})",
            answer.status
        )));
    }
    let v: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    let text = |v: &Value, k: &str| match v.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let identity = match p.kind {
        PlatformKind::Twitch => text(&v, "user_id").map(|subject| Identity {
            subject,
            name: text(&v, "login"),
            preferred_username: text(&v, "login"),
            email: None,
        }),
        PlatformKind::Google => text(&v, "sub").map(|subject| Identity {
            subject,
            name: text(&v, "name"),
            preferred_username: None,
            email: text(&v, "email"),
        }),
        PlatformKind::Kick => {
            let user = v.get("data").and_then(|d| d.get(0)).cloned().unwrap_or_default();
            text(&user, "user_id").map(|subject| Identity {
                subject,
                name: text(&user, "name"),
                preferred_username: text(&user, "name"),
                email: text(&user, "email"),
            })
        }
    };
    identity
        .ok_or_else(|| CoreError::ProviderRejected(format!("{who}'s answer to who signed in names no user")))
}

/// What the platform said of a token at its validation endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Validation {
    Valid,
    /// HTTP 401: the token no longer works although it has not expired.
    Invalid,
    /// 429, 5xx, unreachable: ask again later (`retry_after` seconds, if said).
    TryLater {
        retry_after: Option<u64>,
        why: String,
    },
}

/// One call to the validation endpoint `url`.
pub(crate) async fn validate(
    http: &reqwest::Client,
    url: &Url,
    kind: PlatformKind,
    token: &SecretString,
) -> Validation {
    match get(http, url, kind, token).await {
        Err(why) => Validation::TryLater { retry_after: None, why },
        Ok(a) if a.status.is_success() => Validation::Valid,
        Ok(a) if a.status == reqwest::StatusCode::UNAUTHORIZED => Validation::Invalid,
        Ok(a) => Validation::TryLater {
            retry_after: a.retry_after.map(|d| d.as_secs()),
            why: format!("{} answered HTTP {} at {url}", name(kind), a.status),
        },
    }
}
