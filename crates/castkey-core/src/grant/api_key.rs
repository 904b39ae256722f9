//! API keys (api.video, "Authentication and refresh tokens"): an API key
//! for an access + refresh token, then refreshes with the refresh token
//! (`POST /auth/api-key`, `POST /auth/refresh`, JSON bodies, snake_case
//! answers; 400 with a problem document when the key or refresh token is
//! refused). Only when the refresh token is refused is the key sent again,
//! as api.video asks clients to.

use super::Grants;
use crate::account::Account;
use crate::error::CoreError;
use crate::oauth::{parse_token_response, ResponseDefaults, TokenError, TokenSet};
use crate::provider::{ApiKeySignIn, ProviderConfig};
use crate::secret::SecretKey;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

async fn authenticate(
    http: &reqwest::Client,
    base: &Url,
    api_key: &SecretString,
    defaults: ResponseDefaults<'_>,
) -> Result<TokenSet, TokenError> {
    let body = serde_json::json!({ "apiKey": api_key.expose_secret() });
    post(http, base, "auth/api-key", &body, defaults).await
}

async fn refresh(
    http: &reqwest::Client,
    base: &Url,
    refresh_token: &SecretString,
    defaults: ResponseDefaults<'_>,
) -> Result<TokenSet, TokenError> {
    let body = serde_json::json!({ "refreshToken": refresh_token.expose_secret() });
    post(http, base, "auth/refresh", &body, defaults).await
}

/// `base` with `path` under it: `https://host/v1` and `https://host/v1/`
/// both give `https://host/v1/auth/api-key` (`Url::join` would drop `v1`
/// without the trailing slash).
fn endpoint(base: &Url, path: &str) -> Result<Url, TokenError> {
    let mut dir = base.clone();
    if !dir.path().ends_with('/') {
        dir.set_path(&format!("{}/", dir.path()));
    }
    dir.set_query(None);
    dir.set_fragment(None);
    dir.join(path).map_err(|e| TokenError::Rejected(format!("bad api.video URL: {e}")))
}

/// One call to api.video; refusals classified like any provider's: a
/// problem document with 400/401/403 means the key or refresh token is
/// dead, 5xx/429 means try later (with `Retry-After`).
async fn post(
    http: &reqwest::Client,
    base: &Url,
    path: &str,
    body: &serde_json::Value,
    defaults: ResponseDefaults<'_>,
) -> Result<TokenSet, TokenError> {
    let url = endpoint(base, path)?;
    let what = format!("the request to {}", url.host_str().unwrap_or("?"));
    let answer = crate::oauth::post_json(http, &url, body, None, &what).await?;
    if answer.status.is_success() {
        return parse_token_response(&answer.body, defaults);
    }
    Err(crate::oauth::classify_refusal("api.video", &answer))
}

impl Grants {
    /// Adds an account for an API-key provider. The key is tried first; a
    /// wrong key is refused here with nothing kept. The key and the refresh
    /// token go to the keychain; the account shows only the key's last four
    /// characters. Answers the account and its first token.
    pub(crate) async fn add_api_key_account(
        &self,
        provider: &ProviderConfig,
        environment: &str,
        api_key: &SecretString,
    ) -> Result<(Account, TokenSet), CoreError> {
        use sha2::Digest;
        let Some(base) = provider.sign_in.environment(environment) else {
            return Err(CoreError::InvalidRequest(match provider.sign_in.as_api_key() {
                Some(a) => format!(
                    "{} has no environment `{environment}` (choose {})",
                    provider.display_name,
                    a.environments.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(" or ")
                ),
                None => format!("{} does not sign in with an API key", provider.display_name),
            }));
        };
        let key = api_key.expose_secret().trim();
        if key.is_empty() {
            return Err(CoreError::InvalidRequest("enter the API key".into()));
        }
        let api_key = SecretString::from(key.to_string());
        self.secrets.check_available().await?;
        let now = self.clock.now();
        let defaults = ResponseDefaults {
            scopes: &provider.scopes,
            lifetime_secs: provider.default_token_lifetime_secs,
            now,
        };
        let http = self.oidc.http_for(base);
        let set = authenticate(http, base, &api_key, defaults).await.map_err(|e| match e {
            TokenError::InvalidGrant(_) => CoreError::LoginFailed(format!(
                "{} refused this {environment} API key (check it is the {environment} key)",
                provider.display_name
            )),
            other => other.into_core(&provider.id, None),
        })?;
        let digest = sha2::Sha256::digest(key.as_bytes());
        let subject: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let id = Account::make_id(&provider.id, &format!("{environment}-{subject}"));
        self.secrets.put(&SecretKey::api_key(&id), &api_key).await?;
        if let Some(rt) = &set.refresh_token {
            self.secrets.put(&SecretKey::refresh_token(&id), rt).await?;
        }
        let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        let display_name = format!("{} {environment} key …{tail}", provider.display_name);
        let mut account = Account::signed_in(&id, &provider.id, &subject, &display_name, &set.scopes, now);
        account.environment = Some(environment.to_string());
        tracing::info!(account = %id, "api key account added");
        Ok((account, set))
    }

    /// Refresh with the refresh token; only when that is refused,
    /// authenticate again with the API key.
    pub(super) async fn refresh_api_key_account(
        &self,
        account: &Account,
        provider: &ProviderConfig,
        a: &ApiKeySignIn,
    ) -> Result<TokenSet, CoreError> {
        let env = account.environment.as_deref().unwrap_or("production");
        let base = a.environment(env).ok_or_else(|| {
            CoreError::Internal(format!("{} has no environment `{env}`", provider.display_name))
        })?;
        let http = self.oidc.http_for(base);
        let defaults = ResponseDefaults {
            scopes: &account.scopes,
            lifetime_secs: provider.default_token_lifetime_secs,
            now: self.clock.now(),
        };
        let previous = self.current_refresh_token(&account.id).await?;
        let refreshed = match &previous {
            Some(rt) => match refresh(http, base, rt, defaults).await {
                Err(TokenError::InvalidGrant(why)) => {
                    tracing::info!(account = %account.id, "refresh token refused ({why}); using the API key");
                    None
                }
                other => Some(other.map_err(|e| e.into_core(&provider.id, Some(&account.id)))?),
            },
            None => None,
        };
        let set = match refreshed {
            Some(set) => set,
            None => {
                let Some(key) = self.secrets.get(&SecretKey::api_key(&account.id)).await? else {
                    return Err(CoreError::ReauthRequired(account.id.clone()));
                };
                // A refused key means the API key itself was revoked.
                authenticate(http, base, &key, defaults)
                    .await
                    .map_err(|e| e.into_core(&provider.id, Some(&account.id)))?
            }
        };
        self.store_rotated(&account.id, previous.as_ref(), &set).await?;
        tracing::info!(account = %account.id, expires_at = set.expires_at, "api.video token refreshed");
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::test_http::{serve, Reply};
    use std::time::Duration;

    fn defaults() -> ResponseDefaults<'static> {
        ResponseDefaults { scopes: &[], lifetime_secs: 3600, now: 100 }
    }

    const TOKENS: &str =
        r#"{"token_type":"Bearer","expires_in":3600,"access_token":"at","refresh_token":"rt"}"#;

    #[test]
    fn base_urls_with_a_path_keep_it() {
        for (base, want) in [
            ("https://ws.api.video", "https://ws.api.video/auth/api-key"),
            ("https://ws.api.video/", "https://ws.api.video/auth/api-key"),
            ("https://host/v1", "https://host/v1/auth/api-key"),
            ("https://host/v1/", "https://host/v1/auth/api-key"),
            ("https://host/a/b?x=1", "https://host/a/b/auth/api-key"),
        ] {
            assert_eq!(
                endpoint(&Url::parse(base).unwrap(), "auth/api-key").unwrap().as_str(),
                want,
                "{base}"
            );
        }
    }

    #[tokio::test]
    async fn base_urls_with_a_path_reach_the_endpoint() {
        let (server, seen) =
            serve(
                |r| {
                    if r.path == "/v1/auth/api-key" {
                        Reply::json(200, TOKENS)
                    } else {
                        Reply::json(404, "")
                    }
                },
            )
            .await;
        for typed in [format!("{server}/v1"), format!("{server}/v1/")] {
            let base = Url::parse(&typed).unwrap();
            let http = crate::oauth::http_client();
            let set = authenticate(&http, &base, &SecretString::from("key"), defaults()).await;
            assert!(set.is_ok(), "{typed}: {set:?}");
        }
        assert!(seen.lock().unwrap().iter().all(|r| r.path == "/v1/auth/api-key"));
    }

    #[tokio::test]
    async fn refusals_are_classified_by_meaning() {
        let problem = r#"{"type":"https://docs.api.video/reference/authentication-failed","title":"The API key is invalid.","status":400}"#;
        for (reply, dead) in [
            (Reply::json(400, problem), true),
            (Reply::json(401, r#"{"title":"Unauthorized","status":401}"#), true),
            (Reply::json(403, r#"{"title":"Forbidden","status":403}"#), true),
            (Reply::json(400, ""), true),
            (Reply::json(500, ""), false),
            (Reply::json(429, "").header("Retry-After", "15"), false),
        ] {
            let status = reply.status;
            let (server, _) = serve(move |_| reply.clone()).await;
            let base = Url::parse(&server).unwrap();
            let http = crate::oauth::http_client();
            let err = refresh(&http, &base, &SecretString::from("rt"), defaults()).await.unwrap_err();
            match (dead, err) {
                (true, TokenError::InvalidGrant(m)) => {
                    assert!(
                        status != 400 || m.contains("The API key is invalid.") || m.contains("HTTP 400"),
                        "{m}"
                    )
                }
                (false, TokenError::Unavailable(t)) => {
                    let want = (status == 429).then(|| Duration::from_secs(15));
                    assert_eq!(t.retry_after, want, "{status}");
                }
                (_, other) => panic!("{status}: {other:?}"),
            }
        }
    }
}
