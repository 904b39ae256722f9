//! The token endpoint (RFC 6749 §3.2, §5; RFC 8628 §3.1-3.5; RFC 7009):
//! requests for each grant, and their answers parsed leniently into a
//! [`TokenSet`] or classified into a [`TokenError`].
//!
//! Every provider answer that is not a success is classified by what it
//! means in one place, [`classify_refusal`] (also used for api.video and
//! token exchanges): "the grant is dead" ([`TokenError::InvalidGrant`]),
//! "the request was refused" ([`TokenError::Refused`]) or "try later"
//! ([`TokenError::Unavailable`], with the provider's `Retry-After`).
//! Bodies are read up to [`MAX_BODY_BYTES`] and never echoed: only the
//! `error`, `error_description`, `message` and `title` strings of a refusal
//! are quoted, cut to 200 characters.

use super::discovery::Discovered;
use super::OidcProvider;
use crate::error::CoreError;
use crate::provider::check_endpoint;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use url::Url;

/// The most Castkey reads of any provider answer; a longer one is refused.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longer lifetimes are clamped to a year (the token is refreshed sooner).
const MAX_LIFETIME_SECS: u64 = 365 * 24 * 3600;
/// A longer `Retry-After` is clamped to a day.
const MAX_RETRY_AFTER_SECS: u64 = 24 * 3600;
/// RFC 8628 §3.5: the default polling interval.
const DEFAULT_DEVICE_INTERVAL_SECS: u64 = 5;
/// The most characters of a provider's own words quoted in a message.
const QUOTE_CHARS: usize = 200;

/// Tokens from a token endpoint, parsed leniently, secrets wrapped.
pub struct TokenSet {
    pub access_token: SecretString,
    pub token_type: String,
    pub expires_at: u64,
    pub scopes: Vec<String>,
    pub refresh_token: Option<SecretString>,
    pub id_token: Option<String>,
    /// When the refresh token stops working (Unix seconds), where the
    /// answer says: `refresh_token_expires_in` (Microsoft identity
    /// platform, GitHub Apps) or `refresh_expires_in` (Keycloak, where 0
    /// means an offline token without an end). Not in RFC 6749.
    pub refresh_expires_at: Option<u64>,
    /// Whether the answer stated the access token's lifetime (`expires_in`,
    /// or `expires`). When not, `expires_at` is the provider's usual
    /// lifetime, a guess; without a refresh token either, the token is
    /// taken to last until revoked (RFC 6749 §5.1 makes `expires_in`
    /// optional; GitHub OAuth apps send neither).
    pub lifetime_known: bool,
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
pub struct DeviceAuthorization {
    pub device_code: SecretString,
    pub user_code: String,
    /// `verification_uri`, or `verification_url` as Google still sends it.
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    /// `None` when the provider left it out (it is required; be lenient).
    pub expires_in: Option<u64>,
    /// The provider's, or the RFC's default of 5 seconds.
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

/// "Try later": why, and how long the provider asked to be left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLater {
    pub message: String,
    /// From `Retry-After` (seconds or an HTTP date), clamped to a day.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for TryLater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for TryLater {
    fn from(message: String) -> Self {
        TryLater { message, retry_after: None }
    }
}

/// How a token request failed.
#[derive(Debug)]
pub enum TokenError {
    /// The grant or the client's credentials are dead: `invalid_grant`,
    /// `invalid_token`, `invalid_code`, `unauthorized_client`,
    /// `invalid_client` (and GitHub's `bad_refresh_token`,
    /// `bad_verification_code`, `incorrect_client_credentials`), HTTP 401
    /// with any body, HTTP 400/403 with no OAuth `error` (an empty body, a
    /// vendor's `{"status":400,"message":…}`, a problem document).
    InvalidGrant(String),
    /// "Try later": 5xx, 408, 429, `temporarily_unavailable`, a timeout,
    /// a connection error.
    Unavailable(TryLater),
    /// The provider refused the request for another reason it named
    /// (`invalid_request`, `invalid_scope`, `unsupported_grant_type`, …)
    /// or with another 4xx status. Asking again the same way will not help.
    Refused(String),
    /// The provider answered, but not with something usable or safe.
    Rejected(String),
    /// RFC 8628 §3.5: the device sign-in is not finished (`authorization_pending`,
    /// `slow_down`) or ended (`access_denied`, `expired_token`).
    DeviceFlow(String),
}

impl TokenError {
    /// What the error means to the user: with an `account` (a refresh), a
    /// dead grant or a refusal is "sign in again"; without one (a
    /// sign-in), both are a failed sign-in showing the provider's words.
    pub fn into_core(self, provider: &str, account: Option<&str>) -> CoreError {
        match self {
            TokenError::InvalidGrant(msg) | TokenError::Refused(msg) => match account {
                Some(a) => {
                    tracing::warn!(account = %a, "the provider refused the grant: {msg}");
                    CoreError::ReauthRequired(a.to_string())
                }
                None => CoreError::LoginFailed(msg),
            },
            TokenError::Unavailable(t) => CoreError::ProviderUnavailable {
                provider: provider.to_string(),
                message: t.message,
                retry_after: t.retry_after,
            },
            TokenError::Rejected(msg) => CoreError::ProviderRejected(msg),
            TokenError::DeviceFlow(code) => {
                CoreError::LoginFailed(format!("the sign-in with a code ended: {code}"))
            }
        }
    }

    fn unavailable(message: String) -> Self {
        TokenError::Unavailable(message.into())
    }
}

/// A provider's answer, its body read up to [`MAX_BODY_BYTES`].
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: reqwest::StatusCode,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// Reads `response` up to [`MAX_BODY_BYTES`], chunk by chunk; stops and
/// refuses beyond. `what` names the endpoint in messages.
pub(crate) async fn read_answer(mut response: reqwest::Response, what: &str) -> Result<Answer, TokenError> {
    let too_long = || TokenError::Rejected(format!("{what} answered more than 1 MiB; Castkey reads no more"));
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, unix_now()));
    if response.content_length().is_some_and(|l| l > MAX_BODY_BYTES as u64) {
        return Err(too_long());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_long());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(TokenError::unavailable(describe_http_error(what, &e))),
        }
    }
    Ok(Answer { status, retry_after, body })
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// RFC 9110 §10.2.3: `Retry-After` as delay-seconds or an HTTP date (any
/// of the three formats of §5.6.7), relative to `now`; clamped to a day.
fn parse_retry_after(value: &str, now: u64) -> Option<Duration> {
    let value = value.trim();
    let secs = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse::<u64>().unwrap_or(u64::MAX)
    } else {
        parse_http_date(value)?.saturating_sub(now)
    };
    Some(Duration::from_secs(secs.min(MAX_RETRY_AFTER_SECS)))
}

/// Seconds since the epoch of an HTTP date: IMF-fixdate (`Sun, 06 Nov 1994
/// 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) or asctime
/// (`Sun Nov  6 08:49:37 1994`).
fn parse_http_date(s: &str) -> Option<u64> {
    let month = |m: &str| {
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            .iter()
            .position(|n| n.eq_ignore_ascii_case(m))
            .map(|i| i as i64 + 1)
    };
    let (year, mon, day, time) = match s.split_once(',') {
        Some((_, rest)) => {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            match parts.as_slice() {
                [d, m, y, t, "GMT"] => (y.parse::<i64>().ok()?, month(m)?, d.parse::<i64>().ok()?, *t),
                [dmy, t, "GMT"] => {
                    let mut it = dmy.split('-');
                    let (d, m, y) = (it.next()?, it.next()?, it.next()?);
                    let y = y.parse::<i64>().ok()?;
                    // RFC 9110: a two-digit year more than 50 years ahead is in the past.
                    let y = if y < 70 {
                        2000 + y
                    } else if y < 100 {
                        1900 + y
                    } else {
                        y
                    };
                    (y, month(m)?, d.parse::<i64>().ok()?, *t)
                }
                _ => return None,
            }
        }
        None => match s.split_whitespace().collect::<Vec<_>>().as_slice() {
            [_, m, d, t, y] => (y.parse::<i64>().ok()?, month(m)?, d.parse::<i64>().ok()?, *t),
            _ => return None,
        },
    };
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, se) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if mon <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((mon + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + se).ok()
}

/// A provider's own words, safe to show: no control characters, at most
/// [`QUOTE_CHARS`] characters.
fn quote(s: &str) -> String {
    let clean: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let clean = clean.trim();
    if clean.chars().count() > QUOTE_CHARS {
        format!("{}…", clean.chars().take(QUOTE_CHARS).collect::<String>())
    } else {
        clean.to_string()
    }
}

/// What a refusal's body says: its OAuth `error` code and its explanation
/// (`error_description`, a vendor's `message`, a problem document's
/// `title`). Nothing else of the body is kept: it may hold a secret.
struct RefusalBody {
    code: Option<String>,
    text: Option<String>,
}

impl RefusalBody {
    fn read(body: &[u8]) -> Self {
        let v: Value = serde_json::from_slice(body).unwrap_or_default();
        let text_of =
            |v: &Value, f: &str| v.get(f).and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(quote);
        let code = text_of(&v, "error");
        let text = ["error_description", "message", "title"]
            .iter()
            .find_map(|f| text_of(&v, f))
            // `{"error":{"message":…}}`, as Google's APIs answer.
            .or_else(|| v.get("error").and_then(|e| text_of(e, "message")));
        RefusalBody { code, text }
    }

    fn why(&self, status: reqwest::StatusCode) -> String {
        match (&self.code, &self.text) {
            (Some(c), Some(t)) => format!("{c} ({t})"),
            (Some(c), None) => c.clone(),
            (None, Some(t)) => t.clone(),
            (None, None) => format!("HTTP {status}"),
        }
    }
}

/// The OAuth `error` codes that mean the grant or the client's credentials
/// are dead (RFC 6749 §5.2, RFC 6750 §3.1, and names used in the wild).
const DEAD_GRANT_CODES: &[&str] = &[
    "invalid_grant",
    "invalid_token",
    "invalid_code",
    "unauthorized_client",
    "invalid_client",
    "bad_refresh_token",
    "bad_verification_code",
    "incorrect_client_credentials",
];

/// RFC 8628 §3.5: the device flow's own codes.
const DEVICE_FLOW_CODES: &[&str] = &["authorization_pending", "slow_down", "access_denied", "expired_token"];

/// What a provider's answer that is not a success means. `what` names the
/// endpoint in messages ("the token endpoint", "api.video").
pub(crate) fn classify_refusal(what: &str, answer: &Answer) -> TokenError {
    let status = answer.status;
    let body = RefusalBody::read(&answer.body);
    let try_later =
        |message: String| TokenError::Unavailable(TryLater { message, retry_after: answer.retry_after });
    let code = status.as_u16();
    if status.is_server_error() || code == 429 || code == 408 {
        return try_later(match &body.text {
            Some(t) => format!("{what} answered HTTP {status} ({t})"),
            None => format!("{what} answered HTTP {status}"),
        });
    }
    if !status.is_client_error() {
        // 1xx, 3xx (redirects are not followed), or a success read as one.
        return TokenError::Rejected(format!("{what} answered HTTP {status}"));
    }
    let refused = format!("{what} refused the request: {}", body.why(status));
    if code == 401 {
        return TokenError::InvalidGrant(refused);
    }
    // Twitch answers a device poll with `{"status":400,"message":
    // "authorization_pending"}`: the state is the message, no `error`.
    let device_message = || {
        let v: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        v.get("message").and_then(Value::as_str).map(str::trim).map(str::to_string)
    };
    if body.code.is_none() {
        if let Some(m) = device_message().filter(|m| DEVICE_FLOW_CODES.contains(&m.as_str())) {
            return TokenError::DeviceFlow(m);
        }
    }
    match body.code.as_deref() {
        Some(c) if DEVICE_FLOW_CODES.contains(&c) => TokenError::DeviceFlow(c.to_string()),
        Some("temporarily_unavailable" | "server_error") => try_later(refused),
        Some(c) if DEAD_GRANT_CODES.contains(&c) => TokenError::InvalidGrant(refused),
        Some(_) => TokenError::Refused(refused),
        None if code == 400 || code == 403 => TokenError::InvalidGrant(refused),
        None => TokenError::Refused(refused),
    }
}

/// The client's authentication at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthMethod {
    /// `client_secret_basic`: id and secret form-encoded, then HTTP Basic.
    Basic,
    /// `client_secret_post`: id and secret in the form body.
    Post,
}

/// The methods to try, in order, for a confidential client, given what
/// discovery lists (empty: it said nothing). Basic first (every server
/// must support it, §2.3.1) unless only `client_secret_post` is listed;
/// a refused Basic is retried as POST when POST may be accepted.
fn auth_plan(listed: &[String]) -> &'static [AuthMethod] {
    let has = |m: &str| listed.iter().any(|l| l == m);
    match (has("client_secret_basic"), has("client_secret_post")) {
        (_, _) if listed.is_empty() => &[AuthMethod::Basic, AuthMethod::Post],
        (true, true) => &[AuthMethod::Basic, AuthMethod::Post],
        (false, true) => &[AuthMethod::Post],
        _ => &[AuthMethod::Basic],
    }
}

/// Whether an answer refused the client's authentication (so another
/// method may be tried): HTTP 401 or `invalid_client`.
fn client_auth_refused(answer: &Answer) -> bool {
    answer.status == reqwest::StatusCode::UNAUTHORIZED
        || (!answer.status.is_success()
            && RefusalBody::read(&answer.body).code.as_deref() == Some("invalid_client"))
}

/// RFC 6749 §2.3.1: id and secret form-encoded before they go into Basic.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A confidential client: its id, secret and what the endpoint accepts.
#[derive(Clone, Copy)]
struct ClientAuth<'a> {
    client_id: &'a str,
    secret: &'a SecretString,
    listed: &'a [String],
}

/// One form POST to `endpoint`, authenticated as `auth` says. Basic
/// refused with 401 or `invalid_client` is retried once as POST when
/// discovery lists `client_secret_post` or lists nothing.
async fn post_form(
    http: &reqwest::Client,
    endpoint: &Url,
    form: &[(&str, &str)],
    auth: Option<ClientAuth<'_>>,
    what: &str,
) -> Result<Answer, TokenError> {
    let send = |form: Vec<(&str, &str)>, basic: Option<(String, String)>| {
        let mut request =
            http.post(endpoint.clone()).header(reqwest::header::ACCEPT, "application/json").form(&form);
        if let Some((user, password)) = basic {
            request = request.basic_auth(user, Some(password));
        }
        async move {
            let response =
                request.send().await.map_err(|e| TokenError::unavailable(describe_http_error(what, &e)))?;
            read_answer(response, what).await
        }
    };
    let Some(auth) = auth else { return send(form.to_vec(), None).await };
    let plan = auth_plan(auth.listed);
    let mut answer = None;
    for method in plan {
        if let Some(previous) = &answer {
            if !client_auth_refused(previous) {
                break;
            }
            tracing::info!("{what} refused client_secret_basic; trying client_secret_post");
        }
        answer = Some(match method {
            AuthMethod::Basic => {
                let basic = (form_encode(auth.client_id), form_encode(auth.secret.expose_secret()));
                send(form.to_vec(), Some(basic)).await?
            }
            AuthMethod::Post => {
                let mut with_secret: Vec<(&str, &str)> =
                    form.iter().filter(|(k, _)| *k != "client_id").copied().collect();
                with_secret.push(("client_id", auth.client_id));
                with_secret.push(("client_secret", auth.secret.expose_secret()));
                send(with_secret, None).await?
            }
        });
    }
    Ok(answer.expect("the plan has a method"))
}

impl OidcProvider {
    fn client_auth<'a>(
        &'a self,
        client_secret: Option<&'a SecretString>,
        listed: &'a [String],
    ) -> Option<ClientAuth<'a>> {
        client_secret.map(|secret| ClientAuth { client_id: &self.client_id, secret, listed })
    }

    /// `client_secret`: `Some` for a confidential client (HTTP Basic, as
    /// IBM Video Streaming asks, or POST when that is what the provider
    /// takes), `None` for a public one (PKCE alone).
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
    /// and the client's secret for a confidential client.
    async fn token_grant(
        &self,
        d: &Discovered,
        grant: &[(&str, &str)],
        client_secret: Option<&SecretString>,
        defaults: ResponseDefaults<'_>,
    ) -> Result<TokenSet, TokenError> {
        let mut form = grant.to_vec();
        form.push(("client_id", &self.client_id));
        let auth = self.client_auth(client_secret, &d.token_endpoint_auth_methods);
        post_token_request(self.http_for(&d.token_endpoint), &d.token_endpoint, &form, auth, defaults).await
    }

    /// RFC 6749 §4.4: a token for the client itself, authenticated as
    /// discovery says (Basic unless only `client_secret_post` is listed).
    pub async fn client_credentials(
        &self,
        d: &Discovered,
        client_secret: &SecretString,
        defaults: ResponseDefaults<'_>,
    ) -> Result<TokenSet, TokenError> {
        let scope = defaults.scopes.join(" ");
        let form = [("grant_type", "client_credentials"), ("scope", scope.as_str())];
        let auth = self.client_auth(Some(client_secret), &d.token_endpoint_auth_methods);
        post_token_request(self.http_for(&d.token_endpoint), &d.token_endpoint, &form, auth, defaults).await
    }

    /// RFC 8628 §3.1: asks for a user code and where to enter it.
    pub async fn device_authorization(
        &self,
        d: &Discovered,
        scopes: &[String],
        offline_access: bool,
        client_secret: Option<&SecretString>,
        scope_param: &str,
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
        // `scope_param`: RFC 8628 says `scope`; Twitch's device endpoint
        // takes `scopes` (dev.twitch.tv/docs/authentication/getting-tokens-oauth).
        let mut form = vec![("client_id", self.client_id.as_str()), (scope_param, scope.as_str())];
        if offline_access {
            form.push(("prompt", "consent"));
        }
        let what = "the device authorization endpoint";
        let auth = self.client_auth(client_secret, &d.token_endpoint_auth_methods);
        let answer = post_form(self.http_for(endpoint), endpoint, &form, auth, what)
            .await
            .map_err(|e| e.into_core(&self.provider_id, None))?;
        if !answer.status.is_success() {
            return Err(match classify_refusal(what, &answer) {
                e @ (TokenError::Unavailable(_) | TokenError::Rejected(_)) => {
                    e.into_core(&self.provider_id, None)
                }
                _ => CoreError::LoginFailed(format!(
                    "the provider refused sign-in with a code: {}",
                    RefusalBody::read(&answer.body).why(answer.status)
                )),
            });
        }
        let wire = parse_device_authorization(&answer.body).map_err(CoreError::ProviderRejected)?;
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

    /// RFC 7009: tells the provider to forget a refresh token, with the
    /// client authentication `revocation_endpoint_auth_methods_supported`
    /// names. `Ok(true)`: confirmed (§2.2: 200, also for a token the
    /// provider no longer knows); `Ok(false)`: no revocation endpoint.
    /// An error means "not confirmed": `ProviderUnavailable` (5xx, 429,
    /// unreachable; try later), `ProviderRejected` (the client's
    /// authentication was refused, `unsupported_token_type`, another
    /// refusal), each saying so.
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
        let what = "the revocation endpoint";
        let auth = self.client_auth(client_secret, &d.revocation_endpoint_auth_methods);
        let answer = post_form(self.http_for(endpoint), endpoint, &form, auth, what)
            .await
            .map_err(|e| e.into_core(&self.provider_id, None))?;
        revocation_outcome(&answer).map_err(|e| match e {
            TokenError::Unavailable(t) => CoreError::ProviderUnavailable {
                provider: self.provider_id.clone(),
                message: format!("{t}; the provider did not confirm the revocation"),
                retry_after: t.retry_after,
            },
            TokenError::InvalidGrant(m)
            | TokenError::Refused(m)
            | TokenError::Rejected(m)
            | TokenError::DeviceFlow(m) => CoreError::ProviderRejected(m),
        })
    }
}

/// RFC 7009 §2.2 and §2.2.1: what a revocation answer means.
fn revocation_outcome(answer: &Answer) -> Result<bool, TokenError> {
    let status = answer.status;
    if status.is_success() {
        return Ok(true);
    }
    let not_confirmed = "the provider did not confirm the revocation";
    if status == reqwest::StatusCode::UNAUTHORIZED || client_auth_refused(answer) {
        return Err(TokenError::Refused(format!(
            "the revocation endpoint refused Castkey's client authentication (HTTP {status}); {not_confirmed}"
        )));
    }
    let body = RefusalBody::read(&answer.body);
    if body.code.as_deref() == Some("unsupported_token_type") {
        return Err(TokenError::Refused(format!(
            "the provider does not revoke refresh tokens (unsupported_token_type); {not_confirmed}"
        )));
    }
    Err(match classify_refusal("the revocation endpoint", answer) {
        e @ TokenError::Unavailable(_) => e,
        _ => TokenError::Refused(format!(
            "the revocation endpoint refused the request: {}; {not_confirmed}",
            body.why(status)
        )),
    })
}

/// A whole number of seconds as providers send it: `3600`, `3600.0`,
/// `3599.7` (rounded down), `"3600"`; `null`, `""` or `0` mean "not
/// said". Negative or non-numeric values are refused; more than a year is
/// clamped to a year.
pub(crate) fn lenient_seconds(v: Option<&Value>, name: &str) -> Result<Option<u64>, String> {
    let refused = || format!("`{name}` is not a number of seconds");
    let from_f64 = |f: f64| -> Result<Option<u64>, String> {
        if !f.is_finite() {
            Err(refused())
        } else if f < 0.0 {
            Err(format!("`{name}` is negative"))
        } else {
            Ok(Some(f.floor().min(MAX_LIFETIME_SECS as f64) as u64))
        }
    };
    let secs = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(u) => Some(u.min(MAX_LIFETIME_SECS)),
            None => from_f64(n.as_f64().ok_or_else(refused)?)?,
        },
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => match s.trim().parse::<u64>() {
            Ok(u) => Some(u.min(MAX_LIFETIME_SECS)),
            Err(_) => from_f64(s.trim().parse::<f64>().map_err(|_| refused())?)?,
        },
        Some(_) => return Err(refused()),
    };
    // Some providers send 0 for "no expiry given"; the default applies.
    Ok(secs.filter(|s| *s > 0))
}

/// Scope names from a string separated by spaces, commas or both (GitHub:
/// `"repo,user:email"`), or an array of such strings; deduplicated.
fn lenient_scope(v: &Value) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        for name in s.split(|c: char| c.is_whitespace() || c == ',') {
            if !name.is_empty() && !out.iter().any(|o| o == name) {
                out.push(name.to_string());
            }
        }
    };
    match v {
        Value::String(s) => push(s),
        Value::Array(items) => {
            for item in items {
                push(item.as_str().ok_or("`scope` holds something that is not a name")?);
            }
        }
        _ => return Err("`scope` is neither a string nor a list".into()),
    }
    Ok(out)
}

/// A string member that is present, a string and not blank; `Err` when it
/// is something other than a string or null.
fn string_member<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

/// A JSON object, or a message that says what it is not (never the body).
fn json_object(body: &[u8], what: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(format!("{what} is not a JSON object")),
        Err(e) => Err(format!("{what} is not JSON (line {}, column {})", e.line(), e.column())),
    }
}

/// Parses a token endpoint's successful answer into a [`TokenSet`]
/// (RFC 6749 §5.1, §6). Accepts every harmless variant: `token_type` in
/// any case, `expires_in` as a number, float or string or under its old
/// name `expires`, `scope` separated by spaces or commas or as a list,
/// extra members, an empty `refresh_token` (ignored). Refuses what is
/// unsafe: no access token, a token type other than Bearer, a negative
/// lifetime. An OAuth error in a 200 answer (GitHub does this) is
/// classified like any refusal.
pub fn parse_token_response(body: &[u8], defaults: ResponseDefaults<'_>) -> Result<TokenSet, TokenError> {
    let what = "the token endpoint";
    // Never echo the body: it may hold tokens.
    let not_a_token = |why: String| {
        TokenError::Rejected(format!(
            "the token endpoint answered something that is not a token response: {why}"
        ))
    };
    let obj = json_object(body, "the answer").map_err(not_a_token)?;
    let access_token = string_member(&obj, "access_token").map_err(not_a_token)?;
    let Some(access_token) = access_token else {
        if matches!(obj.get("error"), Some(Value::String(_))) {
            let as_refusal =
                Answer { status: reqwest::StatusCode::BAD_REQUEST, retry_after: None, body: body.to_vec() };
            return Err(classify_refusal(what, &as_refusal));
        }
        return Err(TokenError::Rejected("the token endpoint sent no access token".into()));
    };
    let token_type = match string_member(&obj, "token_type").map_err(not_a_token)? {
        None => "Bearer".to_string(),
        Some(t) if t.trim().eq_ignore_ascii_case("bearer") => "Bearer".to_string(),
        Some(other) => {
            return Err(TokenError::Rejected(format!(
                "the token endpoint sent a `{}` token; Castkey only hands out Bearer tokens",
                other.chars().filter(|c| !c.is_control()).take(32).collect::<String>()
            )))
        }
    };
    // `expires` is the name of drafts before RFC 6749 (Facebook still sends it).
    let lifetime = match lenient_seconds(obj.get("expires_in"), "expires_in").map_err(not_a_token)? {
        Some(l) => Some(l),
        None if !obj.contains_key("expires_in") || obj["expires_in"].is_null() => {
            lenient_seconds(obj.get("expires"), "expires").map_err(not_a_token)?
        }
        None => None,
    };
    let scopes = match obj.get("scope") {
        // RFC 6749 §5.1: no scope in the answer means the scope asked for.
        None | Some(Value::Null) => defaults.scopes.to_vec(),
        Some(v) => lenient_scope(v).map_err(not_a_token)?,
    };
    // No refresh token on a refresh: the caller keeps the old one (§6).
    let refresh_token = string_member(&obj, "refresh_token").map_err(not_a_token)?;
    let id_token = string_member(&obj, "id_token").map_err(not_a_token)?;
    // Harmless if unreadable: the refresh token's end is only shown.
    let refresh_lifetime = ["refresh_token_expires_in", "refresh_expires_in"]
        .iter()
        .find_map(|name| lenient_seconds(obj.get(*name), name).ok().flatten())
        .filter(|secs| *secs > 0);
    Ok(TokenSet {
        access_token: SecretString::from(access_token.to_string()),
        token_type,
        expires_at: defaults.now.saturating_add(lifetime.unwrap_or(defaults.lifetime_secs)),
        scopes,
        refresh_token: refresh_token.map(|r| SecretString::from(r.to_string())),
        id_token: id_token.map(String::from),
        refresh_expires_at: refresh_lifetime.map(|l| defaults.now.saturating_add(l.min(MAX_LIFETIME_SECS))),
        lifetime_known: lifetime.is_some(),
    })
}

/// RFC 8628 §3.2, leniently: `verification_url` (Google's older name) for
/// `verification_uri`, numbers in any form, `interval` defaulting to 5.
fn parse_device_authorization(body: &[u8]) -> Result<DeviceAuthorization, String> {
    let unreadable = |why: String| format!("the device authorization answer could not be read: {why}");
    let obj = json_object(body, "the answer").map_err(unreadable)?;
    let required = |name: &str| -> Result<String, String> {
        string_member(&obj, name)
            .map_err(unreadable)?
            .map(String::from)
            .ok_or_else(|| unreadable(format!("no `{name}`")))
    };
    let either = |a: &str, b: &str| -> Result<Option<String>, String> {
        Ok(string_member(&obj, a)
            .map_err(unreadable)?
            .or(string_member(&obj, b).map_err(unreadable)?)
            .map(String::from))
    };
    let verification_uri = either("verification_uri", "verification_url")?
        .ok_or_else(|| unreadable("no `verification_uri`".into()))?;
    Ok(DeviceAuthorization {
        device_code: SecretString::from(required("device_code")?),
        user_code: required("user_code")?,
        verification_uri,
        verification_uri_complete: either("verification_uri_complete", "verification_url_complete")?,
        expires_in: lenient_seconds(obj.get("expires_in"), "expires_in").map_err(unreadable)?,
        interval: Some(
            lenient_seconds(obj.get("interval"), "interval")
                .map_err(unreadable)?
                .unwrap_or(DEFAULT_DEVICE_INTERVAL_SECS),
        ),
    })
}

/// A token request and its answer: a [`TokenSet`], or the refusal
/// classified by what it means ([`classify_refusal`]).
async fn post_token_request(
    http: &reqwest::Client,
    endpoint: &Url,
    form: &[(&str, &str)],
    auth: Option<ClientAuth<'_>>,
    defaults: ResponseDefaults<'_>,
) -> Result<TokenSet, TokenError> {
    let what = "the token endpoint";
    let answer = post_form(http, endpoint, form, auth, what).await?;
    if answer.status.is_success() {
        return parse_token_response(&answer.body, defaults);
    }
    Err(classify_refusal(what, &answer))
}

/// A JSON POST to a vendor's endpoint (api.video, a token exchange): what
/// it answered, the body capped. `what` names the request in messages
/// ("the token exchange at host"); `timeout` overrides the client's.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &Url,
    body: &Value,
    timeout: Option<Duration>,
    what: &str,
) -> Result<Answer, TokenError> {
    let failed = |e: reqwest::Error| {
        let why = match (e.is_timeout(), timeout) {
            (true, Some(t)) => format!("timed out after {} s", t.as_secs()),
            (true, None) => "timed out".to_string(),
            (false, _) => "could not be reached".to_string(),
        };
        TokenError::unavailable(format!("{what} {why}"))
    };
    let mut request = http.post(url.clone()).header(reqwest::header::ACCEPT, "application/json").json(body);
    if let Some(t) = timeout {
        request = request.timeout(t);
    }
    let response = request.send().await.map_err(failed)?;
    read_answer(response, what).await
}

fn describe_http_error(what: &str, e: &reqwest::Error) -> String {
    let how = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not be reached"
    } else {
        "failed"
    };
    match e.url().and_then(|u| u.host_str()) {
        Some(host) => format!("the request to {what} at {host} {how}"),
        None => format!("the request to {what} {how}"),
    }
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

    use crate::oauth::test_http::{serve, Reply, Request, Seen};
    use crate::oauth::Endpoints;

    fn defaults(scopes: &[String]) -> ResponseDefaults<'_> {
        ResponseDefaults { scopes, lifetime_secs: 60, now: 100 }
    }

    fn parse(body: &str) -> Result<TokenSet, TokenError> {
        parse_token_response(
            body.as_bytes(),
            ResponseDefaults { scopes: &scopes(), lifetime_secs: 60, now: 100 },
        )
    }

    fn provider(base: &str) -> (OidcProvider, Discovered) {
        let p = OidcProvider::new(
            "p",
            Endpoints::Discover { issuer: Url::parse(base).unwrap() },
            "castkey",
            crate::oauth::http_client(),
        );
        (p, Discovered::for_tests(base))
    }

    /// A refresh against a token endpoint that answers every request with `reply`.
    async fn refresh_against(reply: Reply) -> Result<TokenSet, TokenError> {
        let (base, _) = serve(move |_| reply.clone()).await;
        let (p, d) = provider(&base);
        p.refresh(&d, &SecretString::from("rt-1"), None, defaults(&scopes())).await
    }

    #[test]
    fn token_responses_in_every_harmless_form() {
        let at = |body: &str| parse(body).unwrap();
        // expires_in: number, float, string, string float, missing, null, 0, the old name.
        for (body, expires_at) in [
            (r#"{"access_token":"a","expires_in":3600}"#, 3700),
            (r#"{"access_token":"a","expires_in":3600.0}"#, 3700),
            (r#"{"access_token":"a","expires_in":3599.9}"#, 3699),
            (r#"{"access_token":"a","expires_in":"3600"}"#, 3700),
            (r#"{"access_token":"a","expires_in":" 3600.5 "}"#, 3700),
            (r#"{"access_token":"a"}"#, 160),
            (r#"{"access_token":"a","expires_in":null}"#, 160),
            (r#"{"access_token":"a","expires_in":""}"#, 160),
            (r#"{"access_token":"a","expires_in":0}"#, 160),
            (r#"{"access_token":"a","expires":5183999}"#, 5184099),
            (r#"{"access_token":"a","expires":"7200"}"#, 7300),
            (r#"{"access_token":"a","expires_in":10,"expires":7200}"#, 110),
            // Absurd lifetimes are clamped to a year.
            (r#"{"access_token":"a","expires_in":99999999999999}"#, 100 + MAX_LIFETIME_SECS),
            (r#"{"access_token":"a","expires_in":1e300}"#, 100 + MAX_LIFETIME_SECS),
        ] {
            assert_eq!(at(body).expires_at, expires_at, "{body}");
        }
        // scope: spaces, commas (GitHub), commas and spaces, a list, missing, empty.
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (body, want) in [
            (r#"{"access_token":"a","scope":"repo user:email"}"#, names(&["repo", "user:email"])),
            (r#"{"access_token":"a","scope":"repo,user:email"}"#, names(&["repo", "user:email"])),
            (r#"{"access_token":"a","scope":"repo, user:email"}"#, names(&["repo", "user:email"])),
            (r#"{"access_token":"a","scope":["repo","user:email","repo"]}"#, names(&["repo", "user:email"])),
            (r#"{"access_token":"a","scope":["repo user:email"]}"#, names(&["repo", "user:email"])),
            (r#"{"access_token":"a"}"#, scopes()),
            (r#"{"access_token":"a","scope":null}"#, scopes()),
            (r#"{"access_token":"a","scope":""}"#, vec![]),
        ] {
            assert_eq!(at(body).scopes, want, "{body}");
        }
        // token_type in any case; extra members ignored.
        for body in [
            r#"{"access_token":"a","token_type":"bearer"}"#,
            r#"{"access_token":"a","token_type":"BEARER"}"#,
            r#"{"access_token":"a","token_type":"Bearer","x_vendor":{"n":1},"user_id":42}"#,
        ] {
            assert_eq!(at(body).token_type, "Bearer", "{body}");
        }
        // No refresh token on a refresh, or an empty one: none (the caller keeps the old).
        assert!(at(r#"{"access_token":"a"}"#).refresh_token.is_none());
        assert!(at(r#"{"access_token":"a","refresh_token":""}"#).refresh_token.is_none());
        assert!(at(r#"{"access_token":"a","refresh_token":null}"#).refresh_token.is_none());
        assert!(at(r#"{"access_token":"a","id_token":""}"#).id_token.is_none());
        let t = at(r#"{"access_token":"a","refresh_token":"r2","id_token":"h.p.s"}"#);
        assert_eq!(t.refresh_token.unwrap().expose_secret(), "r2");
        assert_eq!(t.id_token.as_deref(), Some("h.p.s"));
    }

    #[test]
    fn a_refresh_token_s_end_is_read_where_providers_say_it() {
        // (answer, refresh_expires_at) with now = 100.
        for (body, end) in [
            // Microsoft identity platform, GitHub Apps.
            (r#"{"access_token":"a","refresh_token":"r","refresh_token_expires_in":86400}"#, Some(86_500)),
            // Keycloak, as a string too.
            (r#"{"access_token":"a","refresh_token":"r","refresh_expires_in":"1800"}"#, Some(1900)),
            // Keycloak's offline tokens: 0 means no end.
            (r#"{"access_token":"a","refresh_token":"r","refresh_expires_in":0}"#, None),
            // Nobody says: unknown, not an error.
            (r#"{"access_token":"a","refresh_token":"r"}"#, None),
            // Unreadable: ignored, the token is still good.
            (r#"{"access_token":"a","refresh_token":"r","refresh_token_expires_in":"soon"}"#, None),
        ] {
            let set = parse(body).unwrap_or_else(|e| panic!("{body}: {e:?}"));
            assert_eq!(set.refresh_expires_at, end, "{body}");
        }
    }

    #[test]
    fn unsafe_token_responses_are_refused_without_echoing_them() {
        for body in [
            r#"{"token_type":"Bearer","secret_stuff":"s3cr3t"}"#,
            r#"{"access_token":"","token_type":"Bearer"}"#,
            r#"{"access_token":"   "}"#,
            r#"{"access_token":null}"#,
            r#"{"access_token":12345}"#,
            r#"{"access_token":"s3cr3t","token_type":"mac"}"#,
            r#"{"access_token":"s3cr3t","token_type":"DPoP"}"#,
            r#"{"access_token":"s3cr3t","expires_in":-5}"#,
            r#"{"access_token":"s3cr3t","expires_in":"-5"}"#,
            r#"{"access_token":"s3cr3t","expires_in":"soon"}"#,
            r#"{"access_token":"s3cr3t","expires_in":true}"#,
            r#"{"access_token":"s3cr3t","scope":42}"#,
            r#"{"access_token":"s3cr3t","scope":["a",1]}"#,
            r#"{"access_token":"s3cr3t","refresh_token":7}"#,
            r#"["s3cr3t"]"#,
            r#"<html>s3cr3t</html>"#,
        ] {
            match parse(body) {
                Err(TokenError::Rejected(m)) => assert!(!m.contains("s3cr3t"), "{body}: {m}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_error_in_a_200_answer_is_a_refusal() {
        // GitHub answers token errors with HTTP 200.
        let r = parse(
            r#"{"error":"bad_refresh_token","error_description":"The refresh token passed is incorrect or expired."}"#,
        );
        assert!(
            matches!(r, Err(TokenError::InvalidGrant(ref m)) if m.contains("incorrect or expired")),
            "{r:?}"
        );
        let r = parse(r#"{"error":"authorization_pending"}"#);
        assert!(matches!(r, Err(TokenError::DeviceFlow(ref c)) if c == "authorization_pending"), "{r:?}");
    }

    #[test]
    fn twitch_device_poll_states_come_as_messages_and_other_messages_stay_refusals() {
        let answer = |body: &str| Answer {
            status: reqwest::StatusCode::BAD_REQUEST,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        };
        for state in ["authorization_pending", "slow_down", "access_denied", "expired_token"] {
            let body = format!(r#"{{"status":400,"message":"{state}"}}"#);
            let e = classify_refusal("the token endpoint", &answer(&body));
            assert!(matches!(e, TokenError::DeviceFlow(ref c) if c == state), "{body}: {e:?}");
        }
        for dead in [
            r#"{"status":400,"message":"Invalid refresh token"}"#,
            r#"{"status":400,"message":"invalid device code"}"#,
        ] {
            let e = classify_refusal("the token endpoint", &answer(dead));
            assert!(matches!(e, TokenError::InvalidGrant(_)), "{dead}: {e:?}");
        }
        // An OAuth `error` wins over a message.
        let e = classify_refusal(
            "the token endpoint",
            &answer(r#"{"error":"invalid_grant","message":"authorization_pending"}"#),
        );
        assert!(matches!(e, TokenError::InvalidGrant(_)), "{e:?}");
    }

    #[test]
    fn device_authorizations_in_every_harmless_form() {
        let d = parse_device_authorization(
            br#"{"device_code":"dc","user_code":"ABCD","verification_uri":"https://x/device","expires_in":"1800","interval":"10"}"#,
        )
        .unwrap();
        assert_eq!(
            (d.verification_uri.as_str(), d.expires_in, d.interval),
            ("https://x/device", Some(1800), Some(10))
        );
        // Google's older names; no interval (RFC 8628 §3.2: 5 s); a float lifetime.
        let d = parse_device_authorization(
            br#"{"device_code":"dc","user_code":"ABCD","verification_url":"https://www.google.com/device","verification_url_complete":"https://www.google.com/device?c=1","expires_in":1800.0,"extra":1}"#,
        )
        .unwrap();
        assert_eq!(d.verification_uri, "https://www.google.com/device");
        assert_eq!(d.verification_uri_complete.as_deref(), Some("https://www.google.com/device?c=1"));
        assert_eq!((d.expires_in, d.interval), (Some(1800), Some(5)));
        let d = parse_device_authorization(
            br#"{"device_code":"dc","user_code":"ABCD","verification_uri":"https://x/d"}"#,
        )
        .unwrap();
        assert_eq!((d.expires_in, d.interval), (None, Some(5)));
        for bad in [
            &br#"{"user_code":"ABCD","verification_uri":"https://x/d"}"#[..],
            br#"{"device_code":"dc","verification_uri":"https://x/d"}"#,
            br#"{"device_code":"dc","user_code":"ABCD"}"#,
            br#"{"device_code":"dc","user_code":"ABCD","verification_uri":"https://x/d","expires_in":-1}"#,
            br#"{"device_code":"dc","user_code":"ABCD","verification_uri":"https://x/d","interval":"often"}"#,
            br#"<html>"#,
        ] {
            assert!(parse_device_authorization(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn retry_after_in_seconds_or_any_http_date() {
        // 1994-11-06 08:49:37 UTC
        const T: u64 = 784_111_777;
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(T));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(T));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(T));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"), Some(1_835_438_400));
        let secs = |v: &str| parse_retry_after(v, T).map(|d| d.as_secs());
        assert_eq!(secs("120"), Some(120));
        assert_eq!(secs(" 0 "), Some(0));
        assert_eq!(secs("Sun, 06 Nov 1994 08:50:07 GMT"), Some(30));
        assert_eq!(secs("Sun, 06 Nov 1994 08:00:00 GMT"), Some(0), "a date in the past");
        assert_eq!(secs("99999999999999999999"), Some(MAX_RETRY_AFTER_SECS));
        for bad in ["", "-5", "1.5", "soon", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT"]
        {
            assert_eq!(secs(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_dead_grant_in_any_of_its_shapes_means_sign_in_again() {
        for (status, body) in [
            (400, ""),
            (400, r#"{"status":400,"message":"Invalid refresh token"}"#),
            (400, "<html>Bad Request</html>"),
            (401, ""),
            (401, r#"{"error":"invalid_scope"}"#),
            (401, "Unauthorized"),
            (400, r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#),
            (400, r#"{"error":"invalid_token"}"#),
            (400, r#"{"error":"invalid_code"}"#),
            (400, r#"{"error":"unauthorized_client"}"#),
            (400, r#"{"error":"invalid_client"}"#),
            (403, r#"{"type":"https://docs.example/problems/forbidden","title":"Forbidden"}"#),
        ] {
            let err = refresh_against(Reply::json(status, body)).await.unwrap_err();
            assert!(matches!(err, TokenError::InvalidGrant(_)), "{status} {body}: {err:?}");
            let core = err.into_core("p", Some("p:acct"));
            assert!(matches!(core, CoreError::ReauthRequired(ref a) if a == "p:acct"), "{status} {body}");
        }
        // The vendor's own words are shown, nothing else of the body.
        let err = refresh_against(Reply::json(
            400,
            r#"{"status":400,"message":"Invalid refresh token","rt":"rt-1"}"#,
        ))
        .await
        .unwrap_err();
        let TokenError::InvalidGrant(m) = err else { panic!() };
        assert!(m.contains("Invalid refresh token") && !m.contains("rt-1"), "{m}");
    }

    #[tokio::test]
    async fn try_later_in_any_of_its_shapes_keeps_the_grant_and_says_how_long() {
        for (reply, retry_after) in [
            (Reply::json(500, r#"{"error":"server_error"}"#), None),
            (Reply::json(502, "<html>Bad Gateway</html>"), None),
            (Reply::json(503, "").header("Retry-After", "120"), Some(120)),
            (Reply::json(408, ""), None),
            (Reply::json(429, r#"{"message":"slow down"}"#).header("Retry-After", "30"), Some(30)),
            (Reply::json(429, "").header("Retry-After", "Thu, 01 Jan 1970 00:00:00 GMT"), Some(0)),
            (Reply::json(429, ""), None),
            (Reply::json(400, r#"{"error":"temporarily_unavailable"}"#), None),
        ] {
            let what = format!("{} {:?}", reply.status, reply.headers);
            match refresh_against(reply).await.unwrap_err() {
                TokenError::Unavailable(t) => {
                    assert_eq!(t.retry_after.map(|d| d.as_secs()), retry_after, "{what}");
                    let core = TokenError::Unavailable(t).into_core("p", Some("p:acct"));
                    assert_eq!(core.retry_after().map(|d| d.as_secs()), retry_after, "{what}");
                    assert_eq!(core.reason(), castkey_ipc::Reason::ProviderUnavailable);
                }
                other => panic!("{what}: {other:?}"),
            }
        }
        // An HTTP date in the future: the seconds until then.
        let later = SystemTime::now() + Duration::from_secs(3600);
        let date = http_date(later.duration_since(UNIX_EPOCH).unwrap().as_secs());
        let TokenError::Unavailable(t) =
            refresh_against(Reply::json(429, "").header("Retry-After", &date)).await.unwrap_err()
        else {
            panic!()
        };
        let secs = t.retry_after.unwrap().as_secs();
        assert!((3590..=3600).contains(&secs), "{date}: {secs}");
    }

    /// An IMF-fixdate for `t` (tests only).
    fn http_date(t: u64) -> String {
        let days = t / 86_400;
        let rem = t % 86_400;
        // Civil from days (H. Hinnant).
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let h = rem / 3600;
        let mi = rem % 3600 / 60;
        let s = rem % 60;
        format!("Mon, {d:02} {} {y} {h:02}:{mi:02}:{s:02} GMT", months[(m - 1) as usize])
    }

    #[tokio::test]
    async fn timeouts_and_connection_errors_are_try_later() {
        let (base, _) = serve(|_| Reply::hang()).await;
        let http = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
        let p = OidcProvider::new(
            "p",
            Endpoints::Discover { issuer: Url::parse(&base).unwrap() },
            "castkey",
            http,
        );
        let d = Discovered::for_tests(&base);
        let err = p.refresh(&d, &SecretString::from("rt"), None, defaults(&scopes())).await.unwrap_err();
        assert!(matches!(err, TokenError::Unavailable(ref t) if t.message.contains("timed out")), "{err:?}");
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
        };
        let (p, d) = provider(&closed);
        let err = p.refresh(&d, &SecretString::from("rt"), None, defaults(&scopes())).await.unwrap_err();
        assert!(
            matches!(err, TokenError::Unavailable(ref t) if t.message.contains("could not be reached")),
            "{err:?}"
        );
        assert!(matches!(err.into_core("p", Some("p:a")), CoreError::ProviderUnavailable { .. }));
    }

    #[tokio::test]
    async fn a_sign_in_refused_with_400_is_login_failed_with_the_providers_words() {
        for (status, body, shown) in [
            (
                400,
                r#"{"error":"invalid_scope","error_description":"Scope 'admin' is not allowed"}"#,
                "Scope 'admin' is not allowed",
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"PKCE verification failed"}"#,
                "PKCE verification failed",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"code already used"}"#,
                "code already used",
            ),
            (400, r#"{"error":"unsupported_grant_type"}"#, "unsupported_grant_type"),
            (404, "", "HTTP 404"),
        ] {
            let (base, _) = serve(move |_| Reply::json(status, body)).await;
            let (p, d) = provider(&base);
            let err = p
                .exchange_code(
                    &d,
                    &SecretString::from("c"),
                    "v",
                    "http://127.0.0.1:1/cb",
                    None,
                    defaults(&scopes()),
                )
                .await
                .unwrap_err()
                .into_core("p", None);
            assert!(matches!(err, CoreError::LoginFailed(ref m) if m.contains(shown)), "{body}: {err:?}");
            assert_eq!(err.reason(), castkey_ipc::Reason::LoginFailed);
        }
        // Long descriptions are cut; control characters go.
        let long = format!(r#"{{"error":"invalid_request","error_description":"{}\nend"}}"#, "x".repeat(500));
        let (base, _) = serve(move |_| Reply::json(400, &long)).await;
        let (p, d) = provider(&base);
        let TokenError::Refused(m) = p
            .exchange_code(
                &d,
                &SecretString::from("c"),
                "v",
                "http://127.0.0.1:1/cb",
                None,
                defaults(&scopes()),
            )
            .await
            .unwrap_err()
        else {
            panic!()
        };
        assert!(m.len() < 320 && !m.contains('\n') && m.contains('…'), "{m}");
    }

    #[tokio::test]
    async fn bodies_beyond_one_mib_are_refused() {
        let big = format!(r#"{{"access_token":"a","pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        for no_length in [false, true] {
            let big = big.clone();
            let reply = Reply { no_length, ..Reply::json(200, &big) };
            let err = refresh_against(reply).await.unwrap_err();
            assert!(
                matches!(err, TokenError::Rejected(ref m) if m.contains("1 MiB")),
                "{no_length}: {err:?}"
            );
        }
        let fits = format!(r#"{{"access_token":"a","pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES - 100));
        let reply = Reply { no_length: true, ..Reply::json(200, &fits) };
        assert!(refresh_against(reply).await.is_ok());
    }

    const ODD_ID: &str = "my client:id+/%=?~ x";
    const ODD_SECRET: &str = "s3:cr+t/%2F=?~ &y";

    /// A token endpoint that takes only `methods` ("basic", "post"),
    /// decoding strictly, and refuses anything else with 401 invalid_client.
    async fn strict_endpoint(methods: &'static [&'static str]) -> (String, Seen) {
        serve(move |r: &Request| {
            let form = r.form().expect("a strictly form-encoded body");
            let basic_ok = r.basic() == Some(Some((ODD_ID.into(), ODD_SECRET.into())));
            let post_ok = form.get("client_id").map(String::as_str) == Some(ODD_ID)
                && form.get("client_secret").map(String::as_str) == Some(ODD_SECRET)
                && r.header("authorization").is_none();
            let ok = (methods.contains(&"basic") && basic_ok) || (methods.contains(&"post") && post_ok);
            if !ok {
                return Reply::json(401, r#"{"error":"invalid_client"}"#);
            }
            assert_eq!(r.method, "POST");
            if r.path.ends_with("/revoke") {
                Reply::json(200, "")
            } else {
                Reply::json(200, r#"{"access_token":"a","token_type":"Bearer"}"#)
            }
        })
        .await
    }

    fn odd_client(
        base: &str,
        token_methods: &[&str],
        revocation_methods: &[&str],
    ) -> (OidcProvider, Discovered) {
        let p = OidcProvider::new(
            "p",
            Endpoints::Discover { issuer: Url::parse(base).unwrap() },
            ODD_ID,
            crate::oauth::http_client(),
        );
        let mut d = Discovered::for_tests(base);
        d.token_endpoint_auth_methods = token_methods.iter().map(|m| m.to_string()).collect();
        d.revocation_endpoint_auth_methods = revocation_methods.iter().map(|m| m.to_string()).collect();
        d.revocation_endpoint = Some(Url::parse(&format!("{base}/revoke")).unwrap());
        (p, d)
    }

    #[tokio::test]
    async fn client_secret_basic_form_encodes_and_falls_back_to_post() {
        let secret = SecretString::from(ODD_SECRET);
        let s = scopes();
        // (server takes, discovery lists, succeeds, requests made, last one by POST)
        for (takes, lists, ok, calls, post) in [
            (&["basic"][..], &[][..], true, 1, false),
            (&["basic"], &["client_secret_basic"], true, 1, false),
            (&["post"], &[], true, 2, true),
            (&["post"], &["client_secret_basic", "client_secret_post"], true, 2, true),
            (&["post"], &["client_secret_post"], true, 1, true),
            (&["post"], &["client_secret_basic"], false, 1, false),
            (&["basic"], &["client_secret_post"], false, 1, true),
        ] {
            let (base, seen) = strict_endpoint(takes).await;
            let (p, d) = odd_client(&base, lists, &[]);
            let what = format!("takes {takes:?}, lists {lists:?}");
            let r = p.client_credentials(&d, &secret, defaults(&s)).await;
            assert_eq!(r.is_ok(), ok, "{what}: {r:?}");
            if !ok {
                assert!(matches!(r, Err(TokenError::InvalidGrant(_))), "{what}");
            }
            let seen = seen.lock().unwrap().clone();
            assert_eq!(seen.len(), calls, "{what}");
            assert_eq!(seen.last().unwrap().header("authorization").is_none(), post, "{what}");
            // A refresh authenticates the same way.
            let (base, _) = strict_endpoint(takes).await;
            let (p, d) = odd_client(&base, lists, &[]);
            assert_eq!(
                p.refresh(&d, &SecretString::from("rt"), Some(&secret), defaults(&s)).await.is_ok(),
                ok,
                "{what}"
            );
        }
    }

    #[tokio::test]
    async fn revocation_authenticates_as_discovery_says() {
        let secret = SecretString::from(ODD_SECRET);
        let (base, seen) = strict_endpoint(&["post"]).await;
        let (p, d) = odd_client(&base, &["client_secret_basic"], &["client_secret_post"]);
        assert!(p.revoke_refresh_token(&d, &SecretString::from("rt"), Some(&secret)).await.unwrap());
        assert_eq!(seen.lock().unwrap().len(), 1, "straight to POST");
        let (base, seen) = strict_endpoint(&["basic"]).await;
        let (p, d) = odd_client(&base, &[], &["client_secret_basic"]);
        assert!(p.revoke_refresh_token(&d, &SecretString::from("rt"), Some(&secret)).await.unwrap());
        assert!(seen.lock().unwrap()[0].header("authorization").is_some());
    }

    #[tokio::test]
    async fn revocation_answers_say_whether_the_provider_confirmed() {
        let revoke = |reply: Reply| async move {
            let (base, _) = serve(move |_| reply.clone()).await;
            let (p, mut d) = provider(&base);
            d.revocation_endpoint = Some(Url::parse(&format!("{base}/revoke")).unwrap());
            p.revoke_refresh_token(&d, &SecretString::from("rt"), None).await
        };
        assert!(revoke(Reply::json(200, "")).await.unwrap());
        assert!(revoke(Reply::json(204, "")).await.unwrap());
        for reply in [
            Reply::json(503, "").header("Retry-After", "60"),
            Reply::json(500, ""),
            Reply::json(429, "").header("Retry-After", "60"),
        ] {
            let status = reply.status;
            let err = revoke(reply).await.unwrap_err();
            assert!(matches!(err, CoreError::ProviderUnavailable { .. }), "{status}: {err:?}");
            assert!(err.to_string().contains("did not confirm"), "{err}");
            if status != 500 {
                assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
            }
        }
        let err = revoke(Reply::json(400, r#"{"error":"unsupported_token_type"}"#)).await.unwrap_err();
        assert!(
            matches!(err, CoreError::ProviderRejected(ref m) if m.contains("unsupported_token_type") && m.contains("did not confirm")),
            "{err:?}"
        );
        let err = revoke(Reply::json(401, r#"{"error":"invalid_client"}"#)).await.unwrap_err();
        assert!(
            matches!(err, CoreError::ProviderRejected(ref m) if m.contains("client authentication") && m.contains("did not confirm")),
            "{err:?}"
        );
        // No revocation endpoint: nothing sent.
        let (p, d) = provider("http://127.0.0.1:9");
        assert!(!p.revoke_refresh_token(&d, &SecretString::from("rt"), None).await.unwrap());
    }

    #[tokio::test]
    async fn device_authorization_refusals_and_variants() {
        let device = |reply: Reply| async move {
            let (base, _) = serve(move |_| reply.clone()).await;
            let (p, mut d) = provider(&base);
            d.device_authorization_endpoint = Some(Url::parse(&format!("{base}/device")).unwrap());
            p.device_authorization(&d, &scopes(), false, None, "scope").await
        };
        let ok = device(Reply::json(
            200,
            r#"{"device_code":"dc","user_code":"U","verification_url":"https://example.com/device","expires_in":"900"}"#,
        ))
        .await
        .unwrap();
        assert_eq!(
            (ok.verification_uri.as_str(), ok.expires_in, ok.interval),
            ("https://example.com/device", Some(900), Some(5))
        );
        let err =
            device(Reply::json(400, r#"{"error":"invalid_client","error_description":"unknown client"}"#))
                .await
                .unwrap_err();
        assert!(matches!(err, CoreError::LoginFailed(ref m) if m.contains("unknown client")), "{err:?}");
        let err = device(Reply::json(429, "").header("Retry-After", "7")).await.unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)), "{err:?}");
    }
}
