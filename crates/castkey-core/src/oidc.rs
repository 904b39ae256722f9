//! OpenID Connect: discovery, the token endpoint, ID-token verification.
//!
//! Discovery and ID-token verification use the `openidconnect` crate
//! (exact issuer match, JWKS signature, audience, expiry, nonce). Token
//! endpoint calls are plain form POSTs parsed into our own lenient
//! [`TokenSet`]: real providers send `expires_in` as a string or `scope` as
//! an array, which the crate's strict response type rejects.

use crate::error::CoreError;
use crate::provider::{check_endpoint, Endpoints};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType, CoreIdToken,
    CoreIdTokenVerifier, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, ClientId, IssuerUrl, Nonce, ProviderMetadata};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExtraMetadata {
    /// RFC 9207: the provider puts `iss` on authorization responses.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// RFC 7009 token revocation.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// RFC 8628 device authorization.
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// What discovery told us, checked.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub revocation_endpoint: Option<Url>,
    pub userinfo_endpoint: Option<Url>,
    /// RFC 8628: the provider offers sign-in with a code.
    pub device_authorization_endpoint: Option<Url>,
    pub iss_parameter_supported: bool,
    /// Found by discovery, with keys: ID tokens can be verified. Fixed
    /// endpoints have no keys, so no ID token from them is trusted.
    pub verifies_id_tokens: bool,
    jwks: CoreJsonWebKeySet,
}

impl Discovered {
    /// A provider at `issuer` with the usual paths and no keys.
    #[cfg(any(test, feature = "test-support"))]
    pub fn for_tests(issuer: &str) -> Self {
        let at = |p: &str| Url::parse(&format!("{issuer}{p}")).expect("test URL");
        Discovered {
            issuer: issuer.into(),
            authorization_endpoint: at("/auth"),
            token_endpoint: at("/token"),
            revocation_endpoint: None,
            userinfo_endpoint: None,
            device_authorization_endpoint: None,
            iss_parameter_supported: true,
            verifies_id_tokens: true,
            jwks: CoreJsonWebKeySet::new(vec![]),
        }
    }

    /// Endpoints given rather than discovered (plain OAuth 2).
    fn fixed(authorization: Option<&Url>, token: &Url, revocation: Option<&Url>) -> Self {
        Discovered {
            issuer: String::new(),
            // A client-credentials provider has no authorization endpoint;
            // nothing sends a browser there.
            authorization_endpoint: authorization.unwrap_or(token).clone(),
            token_endpoint: token.clone(),
            revocation_endpoint: revocation.cloned(),
            userinfo_endpoint: None,
            device_authorization_endpoint: None,
            iss_parameter_supported: false,
            verifies_id_tokens: false,
            jwks: CoreJsonWebKeySet::new(vec![]),
        }
    }
}

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

/// Who signed in, from a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    pub email: Option<String>,
}

impl Identity {
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.preferred_username.clone())
            .or_else(|| self.email.clone())
            .unwrap_or_else(|| self.subject.clone())
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

/// The HTTP client every provider call uses: no redirects (SSRF), bounded time.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("castkey/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// One OAuth 2 / OpenID Connect provider as one client sees it, with its
/// discovery cached in memory.
pub struct OidcProvider {
    pub provider_id: String,
    pub endpoints: Endpoints,
    pub client_id: String,
    http: reqwest::Client,
    discovered: Mutex<Option<Arc<Discovered>>>,
}

impl fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProvider").field("endpoints", &self.endpoints).finish()
    }
}

fn issuer_string(url: &Url) -> String {
    // IssuerUrl compares as written; Url adds a `/` to an empty path.
    let s = url.as_str();
    if url.path() == "/" {
        s.trim_end_matches('/').to_string()
    } else {
        s.to_string()
    }
}

impl OidcProvider {
    pub fn new(provider_id: &str, endpoints: Endpoints, client_id: &str, http: reqwest::Client) -> Self {
        OidcProvider {
            provider_id: provider_id.into(),
            endpoints,
            client_id: client_id.into(),
            http,
            discovered: Mutex::new(None),
        }
    }

    fn unavailable(&self, message: String) -> CoreError {
        CoreError::ProviderUnavailable { provider: self.provider_id.clone(), message }
    }

    /// Tests start sign-ins without a provider on the network.
    #[cfg(any(test, feature = "test-support"))]
    pub fn set_discovered(&self, d: Discovered) {
        *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(d));
    }

    /// Discovery, cached; `refresh` forces a new fetch (e.g. rotated keys).
    /// Fixed endpoints need no fetch.
    pub async fn discover(&self, refresh: bool) -> Result<Arc<Discovered>, CoreError> {
        if !refresh {
            if let Some(d) = self.discovered.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                return Ok(d);
            }
        }
        let asked = match &self.endpoints {
            Endpoints::Discover { issuer } => issuer.clone(),
            Endpoints::Fixed { authorization, token, revocation } => {
                let d = Arc::new(Discovered::fixed(authorization.as_ref(), token, revocation.as_ref()));
                *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = Some(d.clone());
                return Ok(d);
            }
        };
        check_endpoint(&asked, "issuer")?;
        let issuer = IssuerUrl::new(issuer_string(&asked))
            .map_err(|e| CoreError::ProviderRejected(format!("issuer URL: {e}")))?;
        let meta = Metadata::discover_async(issuer, &self.http).await.map_err(|e| {
            use openidconnect::DiscoveryError as D;
            match e {
                // OIDC Discovery §4.3: the document must name the issuer asked for.
                D::Validation(msg) if msg.contains("unexpected issuer") => {
                    CoreError::ProviderRejected(format!(
                    "the discovery document at {asked} names another issuer ({msg}); enter the issuer URL \
                     exactly as the provider names it"
                ))
                }
                D::Validation(msg) => CoreError::ProviderRejected(format!(
                    "the discovery document of {asked} is not valid: {msg}"
                )),
                D::Parse(err) => CoreError::ProviderRejected(format!(
                    "the discovery document of {asked} could not be read: {err}"
                )),
                D::Response(status, _, _) => {
                    self.unavailable(format!("discovery at {asked} answered HTTP {status}"))
                }
                other => self.unavailable(format!("discovery at {asked} failed: {other}")),
            }
        })?;
        let authorization_endpoint = meta.authorization_endpoint().url().clone();
        let token_endpoint = meta
            .token_endpoint()
            .map(|t| t.url().clone())
            .ok_or_else(|| CoreError::ProviderRejected("the provider has no token endpoint".into()))?;
        check_endpoint(&authorization_endpoint, "authorization endpoint")?;
        check_endpoint(&token_endpoint, "token endpoint")?;
        check_endpoint(meta.jwks_uri().url(), "JWKS URI")?;
        let extra = meta.additional_metadata();
        let optional = |s: &Option<String>, what: &str| -> Result<Option<Url>, CoreError> {
            let Some(s) = s else { return Ok(None) };
            let u = Url::parse(s).map_err(|e| CoreError::ProviderRejected(format!("{what}: {e}")))?;
            check_endpoint(&u, what)?;
            Ok(Some(u))
        };
        let revocation_endpoint = optional(&extra.revocation_endpoint, "revocation endpoint")?;
        let device_authorization_endpoint =
            optional(&extra.device_authorization_endpoint, "device authorization endpoint")?;
        let userinfo_endpoint = match meta.userinfo_endpoint() {
            Some(u) => {
                check_endpoint(u.url(), "userinfo endpoint")?;
                Some(u.url().clone())
            }
            None => None,
        };
        let d = Arc::new(Discovered {
            userinfo_endpoint,
            issuer: meta.issuer().to_string(),
            authorization_endpoint,
            token_endpoint,
            revocation_endpoint,
            device_authorization_endpoint,
            iss_parameter_supported: extra.authorization_response_iss_parameter_supported == Some(true),
            verifies_id_tokens: true,
            jwks: meta.jwks().clone(),
        });
        *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = Some(d.clone());
        Ok(d)
    }

    /// The browser's first stop: authorization code + PKCE S256 + state + nonce.
    #[allow(clippy::too_many_arguments)]
    pub fn authorization_url(
        &self,
        d: &Discovered,
        redirect_uri: &str,
        scopes: &[String],
        state: &str,
        nonce: &str,
        pkce_challenge: &str,
        offline_access: bool,
    ) -> Url {
        let mut scope: Vec<&str> = scopes.iter().map(String::as_str).collect();
        if d.verifies_id_tokens && !scope.contains(&"openid") {
            scope.insert(0, "openid");
        }
        if offline_access && !scope.contains(&"offline_access") {
            scope.push("offline_access");
        }
        let mut url = d.authorization_endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &scope.join(" "))
                .append_pair("state", state)
                .append_pair("nonce", nonce)
                .append_pair("code_challenge", pkce_challenge)
                .append_pair("code_challenge_method", "S256");
            if offline_access {
                // OIDC Core §11: offline_access is only honoured with consent.
                q.append_pair("prompt", "consent");
            }
        }
        url
    }

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

    /// Verifies signature (JWKS), issuer, audience, expiry and nonce. On a
    /// refresh (`nonce` = `None`) a token may omit the nonce, as many
    /// providers' refreshed ID tokens do.
    pub async fn verify_id_token(
        &self,
        d: &Discovered,
        raw: &str,
        nonce: Option<&str>,
    ) -> Result<Identity, CoreError> {
        match self.verify_with(d, raw, nonce) {
            Ok(id) => Ok(id),
            // The provider may have rotated its keys since discovery: one
            // fresh look, and if that fails the first error stands.
            Err(Unverified { error, signature: true }) => match self.discover(true).await {
                Ok(fresh) => self.verify_with(&fresh, raw, nonce).map_err(|e| e.error),
                Err(_) => Err(error),
            },
            Err(Unverified { error, .. }) => Err(error),
        }
    }

    fn verify_with(&self, d: &Discovered, raw: &str, nonce: Option<&str>) -> Result<Identity, Unverified> {
        if !d.verifies_id_tokens {
            return Err(Unverified::claims(
                "the provider publishes no keys to verify an ID token with".into(),
            ));
        }
        let token = CoreIdToken::from_str(raw)
            .map_err(|e| Unverified::claims(format!("the ID token is malformed: {e}")))?;
        let issuer =
            IssuerUrl::new(d.issuer.clone()).map_err(|e| Unverified::claims(format!("issuer: {e}")))?;
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.client_id.clone()),
            issuer,
            d.jwks.clone(),
        );
        let expected = nonce.map(|n| Nonce::new(n.to_string()));
        let claims = token
            .claims(&verifier, |got: Option<&Nonce>| match (&expected, got) {
                (Some(want), Some(got)) if want.secret() == got.secret() => Ok(()),
                (Some(_), _) => Err("the nonce does not match the sign-in".to_string()),
                (None, None) => Ok(()),
                (None, Some(_)) => Ok(()),
            })
            .map_err(|e| Unverified {
                signature: matches!(e, openidconnect::ClaimsVerificationError::SignatureVerification(_)),
                error: CoreError::ProviderRejected(format!("the ID token failed verification: {e}")),
            })?;
        Ok(Identity {
            subject: claims.subject().to_string(),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
            preferred_username: claims.preferred_username().map(|u| u.to_string()),
            email: claims.email().map(|e| e.to_string()),
        })
    }
}

/// Why an ID token was refused; `signature` errors may be cured by fresh keys.
#[derive(Debug)]
struct Unverified {
    error: CoreError,
    signature: bool,
}

impl Unverified {
    fn claims(message: String) -> Self {
        Unverified { error: CoreError::ProviderRejected(message), signature: false }
    }
}

#[derive(Deserialize)]
struct WireUserInfo {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

impl OidcProvider {
    /// Fills in name and email from the userinfo endpoint when the ID token
    /// left them out (providers put scope claims there by default). Best
    /// effort: the identity from the ID token stands if this fails.
    pub async fn complete_identity(
        &self,
        d: &Discovered,
        identity: &mut Identity,
        access_token: &SecretString,
    ) {
        if identity.email.is_some() && (identity.name.is_some() || identity.preferred_username.is_some()) {
            return;
        }
        let Some(endpoint) = &d.userinfo_endpoint else { return };
        let answer = async {
            let r = self
                .http
                .get(endpoint.clone())
                .bearer_auth(access_token.expose_secret())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .ok()?;
            if !r.status().is_success() {
                return None;
            }
            r.json::<WireUserInfo>().await.ok()
        }
        .await;
        match answer {
            // OIDC Core §5.3.2: userinfo is only about the ID token's subject.
            Some(info) if info.sub == identity.subject => {
                identity.name = identity.name.take().or(info.name);
                identity.preferred_username = identity.preferred_username.take().or(info.preferred_username);
                identity.email = identity.email.take().or(info.email);
            }
            Some(_) => tracing::warn!("userinfo answered about another subject; ignored"),
            None => tracing::debug!("userinfo unavailable; keeping the ID token's claims"),
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

/// The OIDC providers in use, one client each, created on first use.
#[derive(Debug, Default)]
pub struct OidcProviders {
    http: reqwest::Client,
    /// By provider id and client id (service accounts bring their own).
    by_id: Mutex<HashMap<(String, String), Arc<OidcProvider>>>,
}

impl OidcProviders {
    pub fn new(http: reqwest::Client) -> Self {
        OidcProviders { http, by_id: Default::default() }
    }

    /// The HTTP client shared by every provider call (also the non-OIDC ones).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// What discovery found for a provider, if it ran already (no request).
    pub fn cached(&self, provider_id: &str, client_id: &str) -> Option<Arc<Discovered>> {
        let map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let p = map.get(&(provider_id.to_string(), client_id.to_string()))?;
        let d = p.discovered.lock().unwrap_or_else(|e| e.into_inner()).clone();
        d
    }

    pub fn get(&self, provider_id: &str, endpoints: &Endpoints, client_id: &str) -> Arc<OidcProvider> {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let key = (provider_id.to_string(), client_id.to_string());
        if let Some(p) = map.get(&key) {
            if &p.endpoints == endpoints {
                return p.clone();
            }
        }
        let p = Arc::new(OidcProvider::new(provider_id, endpoints.clone(), client_id, self.http.clone()));
        map.insert(key, p.clone());
        p
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

    #[test]
    fn authorization_url_carries_pkce_state_nonce() {
        let p = OidcProvider::new(
            "x",
            Endpoints::Discover { issuer: Url::parse("http://127.0.0.1:1").unwrap() },
            "castkey",
            http_client(),
        );
        let d = Discovered {
            issuer: "http://127.0.0.1:1".into(),
            authorization_endpoint: Url::parse("http://127.0.0.1:1/auth").unwrap(),
            token_endpoint: Url::parse("http://127.0.0.1:1/token").unwrap(),
            revocation_endpoint: None,
            userinfo_endpoint: None,
            device_authorization_endpoint: None,
            iss_parameter_supported: true,
            verifies_id_tokens: true,
            jwks: CoreJsonWebKeySet::new(vec![]),
        };
        let url = p.authorization_url(&d, crate::APP_REDIRECT_URI, &scopes(), "st", "no", "ch", true);
        let q: HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"], "ch");
        assert_eq!(q["state"], "st");
        assert_eq!(q["nonce"], "no");
        assert_eq!(q["scope"], "openid broadcaster offline_access");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["redirect_uri"], "dev.castkey.app:/callback");
    }

    mod id_tokens {
        use super::super::*;
        use openidconnect::core::{CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
        use openidconnect::{
            Audience, EmptyAdditionalClaims, EndUserEmail, JsonWebKeyId, PrivateSigningKey, StandardClaims,
            SubjectIdentifier,
        };

        const ISSUER: &str = "http://127.0.0.1:9";

        fn key(pem: &str) -> CoreRsaPrivateSigningKey {
            CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("k1".into()))).unwrap()
        }

        fn provider_key() -> CoreRsaPrivateSigningKey {
            key(include_str!("../testdata/provider-key.pem"))
        }

        fn discovered() -> Discovered {
            Discovered {
                issuer: ISSUER.into(),
                authorization_endpoint: Url::parse("http://127.0.0.1:9/auth").unwrap(),
                token_endpoint: Url::parse("http://127.0.0.1:9/token").unwrap(),
                revocation_endpoint: None,
                userinfo_endpoint: None,
                device_authorization_endpoint: None,
                iss_parameter_supported: true,
                verifies_id_tokens: true,
                jwks: CoreJsonWebKeySet::new(vec![provider_key().as_verification_key()]),
            }
        }

        struct Spec<'a> {
            signer: CoreRsaPrivateSigningKey,
            issuer: &'a str,
            audience: &'a str,
            expires_in: i64,
            nonce: Option<&'a str>,
        }

        fn spec() -> Spec<'static> {
            Spec {
                signer: provider_key(),
                issuer: ISSUER,
                audience: "castkey",
                expires_in: 300,
                nonce: Some("n-1"),
            }
        }

        fn token(s: Spec<'_>) -> String {
            let now = chrono::Utc::now();
            let claims = CoreIdTokenClaims::new(
                IssuerUrl::new(s.issuer.into()).unwrap(),
                vec![Audience::new(s.audience.into())],
                now + chrono::Duration::seconds(s.expires_in),
                now - chrono::Duration::seconds(10),
                StandardClaims::new(SubjectIdentifier::new("streamer".into()))
                    .set_email(Some(EndUserEmail::new("streamer@example.test".into()))),
                EmptyAdditionalClaims {},
            )
            .set_nonce(s.nonce.map(|n| Nonce::new(n.into())));
            CoreIdToken::new(claims, &s.signer, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, None, None)
                .unwrap()
                .to_string()
        }

        fn provider() -> OidcProvider {
            OidcProvider::new(
                "sandbox",
                Endpoints::Discover { issuer: Url::parse(ISSUER).unwrap() },
                "castkey",
                http_client(),
            )
        }

        fn refused(raw: &str, nonce: Option<&str>, what: &str) {
            let err = provider().verify_with(&discovered(), raw, nonce).unwrap_err();
            assert!(err.error.to_string().contains(what), "expected `{what}` in: {}", err.error);
        }

        #[test]
        fn a_genuine_token_yields_the_identity() {
            let id = provider().verify_with(&discovered(), &token(spec()), Some("n-1")).unwrap();
            assert_eq!(id.subject, "streamer");
            assert_eq!(id.email.as_deref(), Some("streamer@example.test"));
        }

        #[test]
        fn signature_issuer_audience_expiry_and_nonce_are_checked() {
            let other = key(include_str!("../testdata/other-key.pem"));
            let forged = token(Spec { signer: other, ..spec() });
            let err = provider().verify_with(&discovered(), &forged, Some("n-1")).unwrap_err();
            assert!(err.signature, "{}", err.error);
            refused(&token(Spec { issuer: "http://127.0.0.1:10", ..spec() }), Some("n-1"), "issuer");
            refused(&token(Spec { audience: "someone-else", ..spec() }), Some("n-1"), "audience");
            refused(&token(Spec { expires_in: -120, ..spec() }), Some("n-1"), "expired");
            refused(&token(spec()), Some("n-2"), "nonce");
            refused(&token(Spec { nonce: None, ..spec() }), Some("n-1"), "nonce");
            refused("not.a.jwt", Some("n-1"), "malformed");
        }

        #[test]
        fn a_refreshed_token_may_omit_the_nonce() {
            provider().verify_with(&discovered(), &token(Spec { nonce: None, ..spec() }), None).unwrap();
            provider().verify_with(&discovered(), &token(spec()), None).unwrap();
        }

        #[tokio::test]
        async fn a_bad_signature_stays_refused_when_the_provider_is_unreachable() {
            let other = key(include_str!("../testdata/other-key.pem"));
            let err = provider()
                .verify_id_token(&discovered(), &token(Spec { signer: other, ..spec() }), Some("n-1"))
                .await
                .unwrap_err();
            assert!(matches!(err, CoreError::ProviderRejected(_)), "{err}");
        }
    }
}
