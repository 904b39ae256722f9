//! Providers as data: what Castkey needs to know to sign in to one, and the
//! checks every description must pass (URL rules, ids).
//!
//! A [`ProviderConfig`] describes a provider; `crate::catalog` holds the ones
//! a user can add accounts for, `crate::services` builds them, and
//! `crate::grant` is the one place that acts on a [`SignInKind`]: a new way
//! of holding a grant is a new kind there, not a code path elsewhere.

use crate::error::CoreError;
use castkey_ipc::ProviderInfo;
use std::collections::BTreeMap;
use url::Url;

/// Whether `id` can be a provider's id: letters, digits, `-` and `_`, not
/// empty (safe in account ids, keychain names and a redirect URI's path).
pub(crate) fn is_provider_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Stable id used in account ids, IPC and the CLI, e.g. `sandbox`.
    pub id: String,
    pub display_name: String,
    pub sign_in: SignInKind,
    /// Scopes asked for at sign-in.
    pub scopes: Vec<String>,
    /// The scope that means "can broadcast": what IPC `token` asks for by
    /// default. `None` when the provider's tokens carry no scopes.
    pub broadcast_scope: Option<String>,
    /// Lifetime assumed when a token response omits `expires_in`.
    pub default_token_lifetime_secs: u64,
    /// The refresh-token clocks the provider documents (its token answers
    /// do not say them): what "ready to go live" warns about ahead.
    pub refresh_clocks: RefreshClocks,
    /// Extra HTTP headers every API call needs, handed to IPC clients.
    pub api_headers: BTreeMap<String, String>,
    /// The template a user added this provider from (`None`: built in).
    pub template: Option<String>,
    /// Where browser sign-ins that come back through the deep link
    /// ([`RedirectStyle::AppScheme`]) are redirected: the provider's own
    /// [`crate::app_redirect_uri`] when the user added it (RFC 9700
    /// §4.4.2), the shared [`crate::APP_REDIRECT_URI`] for built-in
    /// providers and for those added before each got its own.
    pub app_redirect_uri: String,
}

/// How long a provider's refresh tokens keep working, as its documentation
/// says (seconds; `None`: not documented, or until revoked). A token
/// answer's own `refresh_token_expires_in` wins over
/// `refresh_token_lifetime_secs`. Examples (check each against the
/// provider's docs when setting it): Twitch public clients' refresh tokens
/// die after 30 days unused (idle); a Google project in "Testing" issues
/// refresh tokens that end 7 days after issue (lifetime), otherwise after
/// 6 months unused (idle).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshClocks {
    /// From when the refresh token was issued (a rotated one starts again).
    pub refresh_token_lifetime_secs: Option<u64>,
    /// From when the refresh token was last used: each refresh with it
    /// starts this clock again.
    pub refresh_token_idle_lifetime_secs: Option<u64>,
}

/// Where a provider's OAuth endpoints come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoints {
    /// OpenID Connect discovery at `issuer`: endpoints, keys, and verified
    /// ID tokens (the account is named by who signed in).
    Discover { issuer: Url },
    /// Documented or typed-in endpoints, plain OAuth 2 (IBM Video Streaming
    /// publishes no discovery document). With no keys to check an ID token
    /// against, none is trusted: such accounts are named by their provider.
    Fixed { authorization: Option<Url>, token: Url, revocation: Option<Url> },
}

impl Endpoints {
    fn validate(&self) -> Result<(), CoreError> {
        match self {
            Endpoints::Discover { issuer } => check_endpoint(issuer, "issuer"),
            Endpoints::Fixed { authorization, token, revocation } => {
                if let Some(a) = authorization {
                    check_endpoint(a, "authorization endpoint")?;
                }
                check_endpoint(token, "token endpoint")?;
                revocation.as_ref().map_or(Ok(()), |r| check_endpoint(r, "revocation endpoint"))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub enum SignInKind {
    /// Authorization code + PKCE in the system browser, OpenID Connect or
    /// plain OAuth 2.
    Browser(BrowserSignIn),
    /// OAuth 2 client credentials (RFC 6749 §4.4) for a service account.
    ClientCredentials(ClientCredentials),
    /// An API key exchanged for an access and a refresh token (api.video).
    ApiKey(ApiKeySignIn),
}

/// OAuth 2 client credentials (RFC 6749 §4.4) for a service account: no
/// person, no browser. The client id and secret belong to the account (the
/// secret in the keychain). No refresh token: a new token is fetched before
/// the old one expires.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub endpoints: Endpoints,
}

/// An API key exchanged for an access and a refresh token (api.video:
/// `POST /auth/api-key`, `POST /auth/refresh`, JSON). Each account picks one
/// environment, by name, from `environments` (name, base URL).
#[derive(Debug, Clone)]
pub struct ApiKeySignIn {
    pub environments: Vec<(String, Url)>,
}

impl ApiKeySignIn {
    /// The base URL of the environment `name`.
    pub fn environment(&self, name: &str) -> Option<&Url> {
        self.environments.iter().find(|(n, _)| n == name).map(|(_, u)| u)
    }
}

impl From<BrowserSignIn> for SignInKind {
    fn from(b: BrowserSignIn) -> Self {
        SignInKind::Browser(b)
    }
}

impl From<ClientCredentials> for SignInKind {
    fn from(c: ClientCredentials) -> Self {
        SignInKind::ClientCredentials(c)
    }
}

impl From<ApiKeySignIn> for SignInKind {
    fn from(a: ApiKeySignIn) -> Self {
        SignInKind::ApiKey(a)
    }
}

#[derive(Debug, Clone)]
pub struct BrowserSignIn {
    pub endpoints: Endpoints,
    pub client_id: String,
    /// The client authenticates at the token endpoint with a secret (HTTP
    /// Basic), kept in the keychain as [`crate::secret::SecretKey::provider_client_secret`].
    pub confidential: bool,
    /// Ask for `offline_access` with `prompt=consent` to get a refresh
    /// token from providers that follow OIDC Core §11.
    pub offline_access: bool,
    /// After signing in at the customer's own identity provider, trade the
    /// ID token for the service's access token (LifeOmic-style SSO).
    pub exchange: Option<IdentityTokenExchange>,
    pub redirect: RedirectStyle,
    /// Where the loopback listener waits, when `redirect` is
    /// [`RedirectStyle::Loopback`].
    pub loopback: LoopbackRedirect,
    /// A streaming platform's own rules beyond OAuth 2 (Twitch, Google,
    /// Kick); `None` for every other provider.
    pub platform: Option<Box<Platform>>,
}

/// The streaming platforms Castkey has presets for (`crate::services`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformKind {
    Twitch,
    Google,
    Kick,
}

/// What a streaming platform adds to plain OAuth 2 with fixed endpoints:
/// where to learn who signed in, sign-in with a code, the validation duty,
/// and how long its refresh tokens last. Acted on in `crate::grant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub kind: PlatformKind,
    /// Who signed in, from the access token: Twitch `/oauth2/validate`,
    /// Google's userinfo, Kick's `/public/v1/users`. With fixed endpoints
    /// nothing else names the user, and a second account must be told apart
    /// from the first.
    pub identity: Url,
    /// RFC 8628 device authorization endpoint (fixed endpoints have no
    /// discovery document to name one).
    pub device_authorization: Option<Url>,
    /// The device endpoint's scope parameter: `scopes` at Twitch, `scope`
    /// (RFC 8628 §3.1) elsewhere.
    pub device_scope_param: &'static str,
    /// The endpoint the platform requires every app to call at start and
    /// hourly (Twitch `/oauth2/validate`); the broker does it for all apps.
    pub validate: Option<Url>,
    /// How long a refresh token lasts, where the platform documents it and
    /// token answers do not say.
    pub refresh_token_lifetime_secs: Option<u64>,
}

/// The loopback redirect `http://127.0.0.1:<port><path>`. RFC 8252 §7.3
/// lets the port vary, but many servers match the registered redirect URI
/// exactly, port included: for those, the port is fixed (and registered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopbackRedirect {
    /// A fixed port (1024-65535); `None`: any free port, per sign-in.
    pub port: Option<u16>,
    /// The path, `/callback` unless the provider's registration says otherwise.
    pub path: String,
}

impl Default for LoopbackRedirect {
    fn default() -> Self {
        LoopbackRedirect { port: None, path: DEFAULT_LOOPBACK_PATH.into() }
    }
}

/// The loopback redirect's path unless a provider asks for another.
pub const DEFAULT_LOOPBACK_PATH: &str = "/callback";

/// The lowest fixed loopback port accepted (below it, ports are privileged).
pub const MIN_LOOPBACK_PORT: u16 = 1024;

impl LoopbackRedirect {
    /// A fixed port and path, checked: the port 1024-65535, the path
    /// absolute, without query, fragment, spaces, `.` or `..` segments.
    pub fn fixed(port: Option<u16>, path: &str) -> Result<Self, CoreError> {
        if let Some(p) = port.filter(|p| *p < MIN_LOOPBACK_PORT) {
            return Err(CoreError::InvalidRequest(format!(
                "loopback port {p}: choose a port from {MIN_LOOPBACK_PORT} to 65535"
            )));
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || "/-._~".contains(c);
        if !path.starts_with('/') || !path.chars().all(ok) || path.split('/').any(|s| s == ".." || s == ".") {
            return Err(CoreError::InvalidRequest(format!(
                "loopback path `{path}`: it must start with `/` and hold only letters, digits and `/-._~`"
            )));
        }
        Ok(LoopbackRedirect { port, path: path.into() })
    }

    /// The redirect URI a provider must have registered, for a listener
    /// on `port` (the fixed one, or the one picked for this sign-in).
    pub fn uri(&self, port: u16) -> String {
        format!("http://127.0.0.1:{port}{}", self.path)
    }
}

/// The identity-token exchange: `POST url` with JSON `{identityToken,
/// providerName: "custom", oidcClientId, lifeomicClientId}` → `{accessToken}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityTokenExchange {
    pub url: Url,
    /// The service's own OAuth client id (`lifeomicClientId`).
    pub service_client_id: String,
}

/// How the browser comes back to Castkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedirectStyle {
    /// The app's private-use scheme, delivered as a deep link, at
    /// [`ProviderConfig::app_redirect_uri`].
    #[default]
    AppScheme,
    /// `http://127.0.0.1:<port>/callback` (RFC 8252 §7.3), for providers
    /// that refuse custom schemes; port and path in [`BrowserSignIn::loopback`].
    Loopback,
}

impl SignInKind {
    /// The browser sign-in, if this kind is one.
    pub fn as_browser(&self) -> Option<&BrowserSignIn> {
        match self {
            SignInKind::Browser(b) => Some(b),
            _ => None,
        }
    }

    /// The client credentials, if this kind is a service account.
    pub fn as_client_credentials(&self) -> Option<&ClientCredentials> {
        match self {
            SignInKind::ClientCredentials(c) => Some(c),
            _ => None,
        }
    }

    /// The API-key sign-in, if this kind is one.
    pub fn as_api_key(&self) -> Option<&ApiKeySignIn> {
        match self {
            SignInKind::ApiKey(a) => Some(a),
            _ => None,
        }
    }

    /// The base URL of an API-key provider's environment.
    pub fn environment(&self, name: &str) -> Option<&Url> {
        self.as_api_key().and_then(|a| a.environment(name))
    }
}

impl ProviderConfig {
    pub fn info(&self) -> ProviderInfo {
        ProviderInfo {
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            sign_in: match self.sign_in {
                SignInKind::Browser(_) => "browser".into(),
                SignInKind::ClientCredentials(_) => "service_account".into(),
                SignInKind::ApiKey(_) => "api_key".into(),
            },
            scopes: self.scopes.clone(),
            environments: match &self.sign_in {
                SignInKind::ApiKey(a) => a.environments.iter().map(|(n, _)| n.clone()).collect(),
                _ => Vec::new(),
            },
            device_flow: false,
            template: self.template.clone(),
            redirect_uri: self.redirect_uri_to_register(),
        }
    }

    /// The redirect URI to register for this provider's OAuth client: the
    /// deep-link URI, or the loopback one (`<any port>` where the port is
    /// picked per sign-in). `None` for providers without browser sign-in.
    pub fn redirect_uri_to_register(&self) -> Option<String> {
        let b = self.sign_in.as_browser()?;
        Some(match b.redirect {
            RedirectStyle::AppScheme => self.app_redirect_uri.clone(),
            RedirectStyle::Loopback => match b.loopback.port {
                Some(port) => b.loopback.uri(port),
                None => format!("http://127.0.0.1:<any port>{}", b.loopback.path),
            },
        })
    }

    pub fn validate(&self) -> Result<(), CoreError> {
        if !is_provider_id(&self.id) {
            return Err(CoreError::InvalidRequest(format!(
                "provider id `{}` must be letters, digits, `-` or `_`",
                self.id
            )));
        }
        match &self.sign_in {
            SignInKind::Browser(b) => {
                b.endpoints.validate()?;
                if let Endpoints::Fixed { authorization: None, .. } = b.endpoints {
                    return Err(CoreError::InvalidRequest(
                        "a browser sign-in needs an authorization endpoint".into(),
                    ));
                }
                b.exchange.as_ref().map_or(Ok(()), |x| check_endpoint(&x.url, "token exchange endpoint"))
            }
            SignInKind::ClientCredentials(c) => c.endpoints.validate(),
            SignInKind::ApiKey(a) => a
                .environments
                .iter()
                .try_for_each(|(name, url)| check_endpoint(url, &format!("{name} endpoint"))),
        }
    }
}

/// Endpoints must be HTTPS, except on loopback where plain HTTP is allowed
/// (a local test or sandbox provider).
pub fn check_endpoint(url: &Url, what: &str) -> Result<(), CoreError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(CoreError::ProviderRejected(format!(
            "the {what} {url} uses plain HTTP; only loopback addresses may (use https://)"
        ))),
        other => Err(CoreError::ProviderRejected(format!(
            "the {what} {url} has scheme `{other}`; it must be https"
        ))),
    }
}

pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in
            ["https://id.example.com", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:3000"]
        {
            check_endpoint(&Url::parse(ok).unwrap(), "issuer").unwrap();
        }
        for bad in
            ["http://id.example.com", "http://10.0.0.1", "ftp://127.0.0.1", "http://127.0.0.1.example.com"]
        {
            let err = check_endpoint(&Url::parse(bad).unwrap(), "issuer").unwrap_err();
            assert!(
                err.to_string().contains(bad.trim_end_matches('/')) || err.to_string().contains("scheme"),
                "{err}"
            );
        }
    }
}
