//! The token endpoint (RFC 6749 §3.2, §5; RFC 8628 §3.1-3.5; RFC 7009):
//! requests for each grant, and their answers parsed leniently into a
//! [`TokenSet`] or classified into a [`TokenError`].

use super::discovery::Discovered;
use super::OidcProvider;
use crate::error::CoreError;
use crate::provider::check_endpoint;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;
use url::Url;

/// Tokens from a token endpoint, parsed leniently, secrets wrapped.
pub struct TokenSet {
    pub access_token: SecretString,
    pub token_type: String,
    pub expires_at: u64,
    pub scopes: Vec<String>,
    pub refresh_token: Option<SecretString>,
    pub id_token: Option<String>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("refresh_token", &self.refresh_token.is_some())
            .field("id_token", &self.id_token.is_some())
            .finish_non_exhaustive()
    }
}

/// What a token response means when it leaves things out: RFC 6749 §5.1
/// (no `scope` = the scope asked for) and the provider's usual lifetime.
#[derive(Debug, Clone, Copy)]
pub struct ResponseDefaults<'a> {
    pub scopes: &'a [String],
    pub lifetime_secs: u64,
    pub now: u64,
}

/// RFC 8628 §3.2: what the user needs to finish a sign-in with a code.
#[derive(Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: SecretString,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub expires_in: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub interval: Option<u64>,
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// How a token request failed.
#[derive(Debug)]
pub enum TokenError {
    /// `invalid_grant`: the code or refresh token is no good.
    InvalidGrant(String),
    /// The provider could not be reached or failed (5xx, timeout).
    Unavailable(String),
    /// The provider answered, but not with something usable or safe.
    Rejected(String),
    /// RFC 8628 §3.5: the device sign-in is not finished (`authorization_pending`,
    /// `slow_down`) or ended (`access_denied`, `expired_token`).
    DeviceFlow(String),
}

impl TokenError {
    pub fn into_core(self, provider: &str, account: Option<&str>) -> CoreError {
        match self {
            TokenError::InvalidGrant(msg) => match account {
                Some(a) => CoreError::ReauthRequired(a.to_string()),
                None => CoreError::LoginFailed(msg),
            },
            TokenError::Unavailable(message) => {
                CoreError::ProviderUnavailable { provider: provider.to_string(), message }
            }
            TokenError::Rejected(msg) => CoreError::ProviderRejected(msg),
            TokenError::DeviceFlow(code) => {
                CoreError::LoginFailed(format!("the sign-in with a code ended: {code}"))
            }
        }
    }
}

impl OidcProvider {
    /// A confidential client's credentials for HTTP Basic (RFC 6749
    /// §2.3.1: id and secret form-encoded first).
    fn basic_auth(&self, client_secret: Option<&SecretString>) -> Option<(String, SecretString)> {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        client_secret.map(|s| (enc(&self.client_id), SecretString::from(enc(s.expose_secret()))))
    }

    /// `client_secret`: `Some` for a confidential client (HTTP Basic, as
    /// IBM Video Streaming asks), `None` for a public one (PKCE alone).
    pub async fn exchange_code(
        &self,
        d: &Discovered,
        code: &SecretString,
        pkce_verifier: &str,
        redirect_uri: &str,
        client_secret: Option<&SecretString>,
        defaults: ResponseDefaults<'_>,
    ) -> Result<TokenSet, TokenError> {
        let grant = [
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", pkce_verifier),
        ];
        self.token_grant(d, &grant, client_secret, defaults).await
    }

    pub async fn refresh(
        &self,
        d: &Discovered,
        refresh_token: &SecretString,
        client_secret: Option<&SecretString>,
        defaults: ResponseDefaults<'_>,
    ) -> Result<TokenSet, TokenError> {
        let grant = [("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose_secret())];
        self.token_grant(d, &grant, client_secret, defaults).await
    }

    /// A token endpoint request for this client: `grant` plus `client_id`,
    /// and HTTP Basic for a confidential client.
    async fn token_grant(
        &self,
        d: &Discovered,
        grant: &[(&str, &str)],
        client_secret: Option<&SecretString>,
        defaults: ResponseDefaults<'_>,
    ) -> Result<TokenSet, TokenError> {
        let mut form = grant.to_vec();
        form.push(("client_id", &self.client_id));
        let basic = self.basic_auth(client_secret);
        post_token_request(&self.http, &d.token_endpoint, &form, basic.as_ref(), defaults).await
    }

    /// RFC 6749 §4.4: a token for the client itself. The client
    /// authenticates with HTTP Basic (`client_secret_basic`, which every
    /// server must support, §2.3.1), id and secret form-encoded first.
    pub async fn client_credentials(
        &self,
        d: &Discovered,
        client_secret: &SecretString,
        defaults: ResponseDefaults<'_>,
    ) -> Result<TokenSet, TokenError> {
        let scope = defaults.scopes.join(" ");
        let form = [("grant_type", "client_credentials"), ("scope", scope.as_str())];
        let basic = self.basic_auth(Some(client_secret));
        post_token_request(&self.http, &d.token_endpoint, &form, basic.as_ref(), defaults).await
    }

    /// RFC 8628 §3.1: asks for a user code and where to enter it.
    pub async fn device_authorization(
        &self,
        d: &Discovered,
        scopes: &[String],
        offline_access: bool,
        client_secret: Option<&SecretString>,
    ) -> Result<DeviceAuthorization, CoreError> {
        let Some(endpoint) = &d.device_authorization_endpoint else {
            return Err(CoreError::InvalidRequest("this provider does not offer sign-in with a code".into()));
        };
        let mut scope: Vec<&str> = scopes.iter().map(String::as_str).collect();
        if d.verifies_id_tokens && !scope.contains(&"openid") {
            scope.insert(0, "openid");
        }
        if offline_access && !scope.contains(&"offline_access") {
            scope.push("offline_access");
        }
        let scope = scope.join(" ");
        let mut form = vec![("client_id", self.client_id.as_str()), ("scope", scope.as_str())];
        if offline_access {
            form.push(("prompt", "consent"));
        }
        let mut request =
            self.http.post(endpoint.clone()).header(reqwest::header::ACCEPT, "application/json").form(&form);
        if let Some((user, password)) = self.basic_auth(client_secret) {
            request = request.basic_auth(user, Some(password.expose_secret()));
        }
        let response =
            request.send().await.map_err(|e| self.unavailable(describe_http_error(endpoint, &e)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(self.unavailable(format!("the device authorization endpoint answered HTTP {status}")));
        }
        let body = response.bytes().await.map_err(|e| self.unavailable(describe_http_error(endpoint, &e)))?;
        if !status.is_success() {
            let why = serde_json::from_slice::<WireErrorResponse>(&body)
                .map(|e| e.error_description.unwrap_or(e.error))
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(CoreError::LoginFailed(format!("the provider refused sign-in with a code: {why}")));
        }
        let wire: DeviceAuthorization = serde_json::from_slice(&body).map_err(|e| {
            CoreError::ProviderRejected(format!("the device authorization answer could not be read ({e})"))
        })?;
        for u in std::iter::once(&wire.verification_uri).chain(wire.verification_uri_complete.as_ref()) {
            let url = Url::parse(u).map_err(|e| {
                CoreError::ProviderRejected(format!("the verification URL is not a URL ({e})"))
            })?;
            check_endpoint(&url, "verification URL")?;
        }
        Ok(wire)
    }

    /// RFC 8628 §3.4: one poll of the token endpoint for a device code.
    pub async fn poll_device(
        &self,
        d: &Discovered,
        device_code: &SecretString,
        client_secret: Option<&SecretString>,
        defaults: ResponseDefaults<'_>,
    ) -> Result<TokenSet, TokenError> {
        let grant = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code.expose_secret()),
        ];
        self.token_grant(d, &grant, client_secret, defaults).await
    }

    /// RFC 7009: tells the provider to forget a refresh token. Providers
    /// without a revocation endpoint get nothing (and `Ok(false)`).
    pub async fn revoke_refresh_token(
        &self,
        d: &Discovered,
        token: &SecretString,
        client_secret: Option<&SecretString>,
    ) -> Result<bool, CoreError> {
        let Some(endpoint) = &d.revocation_endpoint else { return Ok(false) };
        let form = [
            ("token", token.expose_secret()),
            ("token_type_hint", "refresh_token"),
            ("client_id", self.client_id.as_str()),
        ];
        let mut request = self.http.post(endpoint.clone()).form(&form);
        if let Some((user, password)) = self.basic_auth(client_secret) {
            request = request.basic_auth(user, Some(password.expose_secret()));
        }
        let response =
            request.send().await.map_err(|e| self.unavailable(describe_http_error(endpoint, &e)))?;
        // RFC 7009 §2.2: 200 also for tokens the provider no longer knows.
        match response.status() {
            s if s.is_success() => Ok(true),
            s => Err(self.unavailable(format!("the revocation endpoint answered HTTP {s}"))),
        }
    }
}

#[derive(Deserialize)]
struct WireTokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default, deserialize_with = "lenient_scope")]
    scope: Option<Vec<String>>,
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct WireErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// `3600`, `"3600"` or `3600.0` all mean an hour; anything else is refused.
fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| D::Error::custom("expires_in is not a whole number of seconds")),
        Some(serde_json::Value::String(s)) => {
            s.trim().parse::<u64>().map(Some).map_err(|_| D::Error::custom("expires_in is not a number"))
        }
        Some(_) => Err(D::Error::custom("expires_in is not a number")),
    }
}

/// `"a b"` or `["a","b"]`.
fn lenient_scope<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = Option::<castkey_ipc::ScopeParam>::deserialize(d)?;
    Ok(v.map(|s| s.names()))
}

/// Parses a token endpoint's successful answer into a [`TokenSet`].
pub fn parse_token_response(body: &[u8], defaults: ResponseDefaults<'_>) -> Result<TokenSet, TokenError> {
    let wire: WireTokenResponse = serde_json::from_slice(body).map_err(|e| {
        // Never echo the body: it may hold tokens.
        TokenError::Rejected(format!(
            "the token endpoint answered something that is not a token response ({e})"
        ))
    })?;
    if wire.access_token.is_empty() {
        return Err(TokenError::Rejected("the token endpoint sent an empty access token".into()));
    }
    let token_type = match wire.token_type.as_deref() {
        None => "Bearer".to_string(),
        Some(t) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_string(),
        Some(other) => {
            return Err(TokenError::Rejected(format!(
                "the token endpoint sent a `{other}` token; Castkey only hands out Bearer tokens"
            )))
        }
    };
    let lifetime = wire.expires_in.unwrap_or(defaults.lifetime_secs);
    Ok(TokenSet {
        access_token: SecretString::from(wire.access_token),
        token_type,
        expires_at: defaults.now.saturating_add(lifetime),
        // RFC 6749 §5.1: no scope in the answer means the scope asked for.
        scopes: wire.scope.unwrap_or_else(|| defaults.scopes.to_vec()),
        refresh_token: wire.refresh_token.filter(|r| !r.is_empty()).map(SecretString::from),
        id_token: wire.id_token,
    })
}

async fn post_token_request(
    http: &reqwest::Client,
    endpoint: &Url,
    form: &[(&str, &str)],
    basic_auth: Option<&(String, SecretString)>,
    defaults: ResponseDefaults<'_>,
) -> Result<TokenSet, TokenError> {
    let mut request =
        http.post(endpoint.clone()).header(reqwest::header::ACCEPT, "application/json").form(form);
    if let Some((user, password)) = basic_auth {
        request = request.basic_auth(user, Some(password.expose_secret()));
    }
    let response =
        request.send().await.map_err(|e| TokenError::Unavailable(describe_http_error(endpoint, &e)))?;
    let status = response.status();
    let body =
        response.bytes().await.map_err(|e| TokenError::Unavailable(describe_http_error(endpoint, &e)))?;
    if status.is_success() {
        return parse_token_response(&body, defaults);
    }
    if status.is_server_error() {
        return Err(TokenError::Unavailable(format!("the token endpoint answered HTTP {status}")));
    }
    match serde_json::from_slice::<WireErrorResponse>(&body) {
        Ok(err)
            if matches!(
                err.error.as_str(),
                "authorization_pending" | "slow_down" | "access_denied" | "expired_token"
            ) =>
        {
            Err(TokenError::DeviceFlow(err.error))
        }
        // invalid_client: the service account's id or secret was refused.
        Ok(err) if err.error == "invalid_grant" || err.error == "invalid_client" => {
            Err(TokenError::InvalidGrant(format!(
                "the provider refused the grant: {}",
                err.error_description.unwrap_or(err.error)
            )))
        }
        Ok(err) => Err(TokenError::Rejected(format!(
            "the token endpoint refused the request: {}{}",
            err.error,
            err.error_description.map(|d| format!(" ({d})")).unwrap_or_default()
        ))),
        Err(_) => Err(TokenError::Rejected(format!("the token endpoint answered HTTP {status}"))),
    }
}

/// A JSON POST to a vendor's endpoint (api.video, a token exchange): the
/// status and body of whatever it answered. `what` names the request in
/// messages ("the token exchange at host"); `timeout` overrides the client's.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &Url,
    body: &serde_json::Value,
    timeout: Option<Duration>,
    what: &str,
) -> Result<(reqwest::StatusCode, Vec<u8>), TokenError> {
    let failed = |e: reqwest::Error| {
        let why = match (e.is_timeout(), timeout) {
            (true, Some(t)) => format!("timed out after {} s", t.as_secs()),
            (true, None) => "timed out".to_string(),
            (false, _) => "could not be reached".to_string(),
        };
        TokenError::Unavailable(format!("{what} {why}"))
    };
    let mut request = http.post(url.clone()).header(reqwest::header::ACCEPT, "application/json").json(body);
    if let Some(t) = timeout {
        request = request.timeout(t);
    }
    let response = request.send().await.map_err(failed)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(failed)?;
    Ok((status, bytes.to_vec()))
}

/// A refusal's explanation: the first of `fields` the JSON body has, else
/// the status. Never the body itself (it may hold a secret).
pub(crate) fn refusal_text(body: &[u8], fields: &[&str], status: reqwest::StatusCode) -> String {
    let v = serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
    fields.iter().find_map(|f| v[*f].as_str().map(String::from)).unwrap_or_else(|| format!("HTTP {status}"))
}

fn describe_http_error(endpoint: &Url, e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not be reached"
    } else {
        "failed"
    };
    let host = endpoint.host_str().unwrap_or("?");
    format!("the request to {host} {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes() -> Vec<String> {
        vec!["openid".into(), "broadcaster".into()]
    }

    #[test]
    fn accepts_what_real_providers_send() {
        let t = parse_token_response(
            br#"{"access_token":"a","expires_in":"3600","scope":["broadcaster","email"]}"#,
            ResponseDefaults { scopes: &scopes(), lifetime_secs: 60, now: 100 },
        )
        .unwrap();
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_at, 3700);
        assert_eq!(t.scopes, vec!["broadcaster", "email"]);
        let t = parse_token_response(
            br#"{"access_token":"a","token_type":"bearer"}"#,
            ResponseDefaults { scopes: &scopes(), lifetime_secs: 60, now: 100 },
        )
        .unwrap();
        assert_eq!((t.expires_at, t.scopes), (160, scopes()));
    }

    #[test]
    fn rejects_what_is_unsafe_or_garbage() {
        for body in [
            &br#"<html>oops</html>"#[..],
            br#"{"token_type":"Bearer"}"#,
            br#"{"access_token":"","token_type":"Bearer"}"#,
            br#"{"access_token":"a","token_type":"mac"}"#,
            br#"{"access_token":"a","expires_in":"soon"}"#,
            br#"{"access_token":"a","expires_in":-5}"#,
        ] {
            let err =
                parse_token_response(body, ResponseDefaults { scopes: &scopes(), lifetime_secs: 60, now: 0 })
                    .unwrap_err();
            assert!(
                matches!(err, TokenError::Rejected(ref m) if !m.contains("oops")),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
