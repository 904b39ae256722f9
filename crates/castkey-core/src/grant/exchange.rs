//! The identity-token exchange of LifeOmic-style video services: after the
//! user signed in at the customer's own OpenID Connect provider, the ID token
//! is traded for the service's access token.
//!
//! `POST {url}` with JSON `{"identityToken", "providerName": "custom",
//! "oidcClientId", "lifeomicClientId"}` answers `{"accessToken": …}`. The
//! service documents no lifetime: an `expiresIn` is honoured if present,
//! else the token's own `exp` if it is a JWT (read only to schedule the next
//! exchange, never trusted for anything else), else the provider's default.
//! The service's API timeout is 10 seconds, and so is this call's.

use crate::oauth::{ResponseDefaults, TokenError, TokenSet};
use base64::Engine as _;
use secrecy::SecretString;
use serde::Deserialize;
use std::time::Duration;
use url::Url;

pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAnswer {
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

pub struct ExchangeRequest<'a> {
    pub url: &'a Url,
    pub identity_token: &'a str,
    /// The customer's OAuth client id at their identity provider.
    pub oidc_client_id: &'a str,
    /// The service's OAuth client id.
    pub service_client_id: &'a str,
}

pub async fn exchange(
    http: &reqwest::Client,
    req: ExchangeRequest<'_>,
    defaults: ResponseDefaults<'_>,
) -> Result<TokenSet, TokenError> {
    let body = serde_json::json!({
        "identityToken": req.identity_token,
        "providerName": "custom",
        "oidcClientId": req.oidc_client_id,
        "lifeomicClientId": req.service_client_id,
    });
    let what = format!("the token exchange at {}", req.url.host_str().unwrap_or("?"));
    // The URL exactly as configured: no path is added or dropped.
    let answer = crate::oauth::post_json(http, req.url, &body, Some(TIMEOUT), &what).await?;
    if !answer.status.is_success() {
        return Err(match crate::oauth::classify_refusal("the token exchange", &answer) {
            TokenError::InvalidGrant(why) | TokenError::Refused(why) => {
                TokenError::InvalidGrant(format!("the video service refused the identity token: {why}"))
            }
            other => other,
        });
    }
    // Never echo the body: it may hold the token.
    let wire: WireAnswer = serde_json::from_slice(&answer.body).map_err(|e| {
        TokenError::Rejected(format!(
            "the token exchange answered something that is not a token (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let access_token = wire
        .access_token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| TokenError::Rejected("the token exchange sent no access token".into()))?;
    let lifetime = crate::oauth::lenient_seconds(wire.expires_in.as_ref(), "expiresIn")
        .map_err(|why| TokenError::Rejected(format!("the token exchange answered a bad lifetime: {why}")))?;
    let exp = jwt_exp(&access_token).filter(|exp| *exp > defaults.now);
    let lifetime_known = lifetime.is_some() || exp.is_some();
    let expires_at = match lifetime {
        Some(l) => defaults.now.saturating_add(l),
        None => exp.unwrap_or(defaults.now.saturating_add(defaults.lifetime_secs)),
    };
    Ok(TokenSet {
        access_token: SecretString::from(access_token),
        token_type: "Bearer".into(),
        expires_at,
        scopes: defaults.scopes.to_vec(),
        refresh_token: None,
        id_token: None,
        refresh_expires_at: None,
        lifetime_known,
    })
}

impl std::fmt::Debug for ExchangeRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The identity token is a credential.
        f.debug_struct("ExchangeRequest").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

/// The `exp` claim of a JWT, unverified (scheduling only).
fn jwt_exp(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?["exp"].as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwt_access_token_tells_its_expiry() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1234}"#);
        assert_eq!(jwt_exp(&format!("h.{payload}.s")), Some(1234));
        assert_eq!(jwt_exp("opaque-token"), None);
    }

    use crate::oauth::test_http::{serve, Reply};
    use std::time::Duration;

    async fn exchange_at(url: &str) -> Result<TokenSet, TokenError> {
        let url = Url::parse(url).unwrap();
        let http = crate::oauth::http_client();
        let req = ExchangeRequest {
            url: &url,
            identity_token: "id-token",
            oidc_client_id: "oidc",
            service_client_id: "svc",
        };
        exchange(&http, req, ResponseDefaults { scopes: &[], lifetime_secs: 600, now: 100 }).await
    }

    #[tokio::test]
    async fn the_exchange_url_is_used_exactly_as_typed() {
        let (server, seen) = serve(|_| Reply::json(200, r#"{"accessToken":"svc-token"}"#)).await;
        for path in ["/v1/auth/exchange", "/v1/auth/exchange/", "/exchange?tenant=a", "/"] {
            exchange_at(&format!("{server}{path}")).await.unwrap();
            assert_eq!(seen.lock().unwrap().last().unwrap().path, path);
        }
    }

    #[tokio::test]
    async fn lifetimes_in_every_form_and_refusals_by_meaning() {
        for (body, expires_at) in [
            (r#"{"accessToken":"t","expiresIn":3600}"#, 3700),
            (r#"{"accessToken":"t","expiresIn":"3600"}"#, 3700),
            (r#"{"accessToken":"t","expiresIn":3600.5}"#, 3700),
            (r#"{"accessToken":"t"}"#, 700),
        ] {
            let (server, _) = serve(move |_| Reply::json(200, body)).await;
            assert_eq!(exchange_at(&server).await.unwrap().expires_at, expires_at, "{body}");
        }
        for body in [r#"{"accessToken":"t","expiresIn":-1}"#, r#"{"accessToken":""}"#, r#"{"token":"t"}"#] {
            let (server, _) = serve(move |_| Reply::json(200, body)).await;
            assert!(matches!(exchange_at(&server).await, Err(TokenError::Rejected(_))), "{body}");
        }
        for (status, body) in [
            (400, ""),
            (401, r#"{"message":"Token expired"}"#),
            (403, r#"{"error":"forbidden"}"#),
            (422, r#"{"error":"bad_token"}"#),
        ] {
            let (server, _) = serve(move |_| Reply::json(status, body)).await;
            let err = exchange_at(&server).await.unwrap_err();
            assert!(
                matches!(err, TokenError::InvalidGrant(ref m) if m.contains("refused the identity token")),
                "{status}: {err:?}"
            );
        }
        let (server, _) = serve(|_| Reply::json(429, "").header("Retry-After", "9")).await;
        match exchange_at(&server).await.unwrap_err() {
            TokenError::Unavailable(t) => assert_eq!(t.retry_after, Some(Duration::from_secs(9))),
            other => panic!("{other:?}"),
        }
        let (server, _) = serve(|_| Reply::json(500, "")).await;
        let err = exchange_at(&server).await.unwrap_err();
        assert!(
            matches!(err, TokenError::Unavailable(ref t) if t.message.contains("the token exchange answered HTTP 500")),
            "{err:?}"
        );
    }
}
