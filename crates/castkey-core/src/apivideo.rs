//! api.video's authentication: an API key for an access + refresh token,
//! then refreshes with the refresh token (`POST /auth/api-key`,
//! `POST /auth/refresh`, JSON bodies, snake_case answers; 400 with a problem
//! document when the key or refresh token is refused).

use crate::oidc::{parse_token_response, ResponseDefaults, TokenError, TokenSet};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub async fn authenticate(
    http: &reqwest::Client,
    base: &Url,
    api_key: &SecretString,
    defaults: ResponseDefaults<'_>,
) -> Result<TokenSet, TokenError> {
    let body = serde_json::json!({ "apiKey": api_key.expose_secret() });
    post(http, base, "auth/api-key", &body, defaults).await
}

pub async fn refresh(
    http: &reqwest::Client,
    base: &Url,
    refresh_token: &SecretString,
    defaults: ResponseDefaults<'_>,
) -> Result<TokenSet, TokenError> {
    let body = serde_json::json!({ "refreshToken": refresh_token.expose_secret() });
    post(http, base, "auth/refresh", &body, defaults).await
}

async fn post(
    http: &reqwest::Client,
    base: &Url,
    path: &str,
    body: &serde_json::Value,
    defaults: ResponseDefaults<'_>,
) -> Result<TokenSet, TokenError> {
    let url = base.join(path).map_err(|e| TokenError::Rejected(format!("bad api.video URL: {e}")))?;
    let what = format!("the request to {}", url.host_str().unwrap_or("?"));
    let (status, bytes) = crate::oidc::post_json(http, &url, body, None, &what).await?;
    if status.is_success() {
        return parse_token_response(&bytes, defaults);
    }
    if status.is_server_error() {
        return Err(TokenError::Unavailable(format!("api.video answered HTTP {status}")));
    }
    let title = crate::oidc::refusal_text(&bytes, &["title"], status);
    match status.as_u16() {
        400 | 401 | 403 => Err(TokenError::InvalidGrant(title)),
        _ => Err(TokenError::Rejected(format!("api.video refused the request: {title}"))),
    }
}
