//! OAuth 2.0 / OpenID Connect as a client speaks it: [`discovery`], the
//! [`token_endpoint`] and [`id_token`] verification, and the authorization
//! request that starts a browser sign-in (RFC 6749 §4.1.1, RFC 7636).
//!
//! Discovery and ID-token verification use the `openidconnect` crate (exact
//! issuer match, JWKS signature, audience, expiry, nonce). Token endpoint
//! calls are plain form POSTs parsed into our own lenient [`TokenSet`]: real
//! providers send `expires_in` as a string or `scope` as an array, which the
//! crate's strict response type rejects (PITFALLS #15).

mod discovery;
mod id_token;
mod token_endpoint;

pub use discovery::Discovered;
pub use id_token::Identity;
pub(crate) use token_endpoint::{classify_refusal, lenient_seconds, post_json};
pub use token_endpoint::{parse_token_response, ResponseDefaults, TokenError, TokenSet};

use crate::error::CoreError;
pub use crate::provider::Endpoints;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// How every provider client is built: no redirects (SSRF), bounded time.
fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("castkey/", env!("CARGO_PKG_VERSION")))
}

/// The HTTP client every provider call uses: no redirects (SSRF), bounded
/// time, the system's proxy settings.
pub fn http_client() -> reqwest::Client {
    client_builder().build().unwrap_or_default()
}

/// `builder` without any proxy: reqwest honours `HTTP_PROXY`/`ALL_PROXY`
/// for `http://127.0.0.1` unless `NO_PROXY` covers it, which would send a
/// plain-HTTP loopback provider's secrets to the proxy (PITFALLS #39).
fn without_proxy(builder: reqwest::ClientBuilder) -> reqwest::Client {
    builder.no_proxy().build().unwrap_or_default()
}

/// The two clients provider calls use: the usual one, and one that never
/// goes through a proxy for loopback providers (which a proxy cannot reach
/// anyway, and must not see).
#[derive(Debug, Clone)]
pub struct HttpClients {
    normal: reqwest::Client,
    loopback: reqwest::Client,
}

impl Default for HttpClients {
    fn default() -> Self {
        http_client().into()
    }
}

impl From<reqwest::Client> for HttpClients {
    /// `normal` for every provider but loopback ones.
    fn from(normal: reqwest::Client) -> Self {
        HttpClients { normal, loopback: without_proxy(client_builder()) }
    }
}

impl HttpClients {
    /// The client for a request to `url`: no proxy for a loopback host.
    pub fn for_url(&self, url: &Url) -> &reqwest::Client {
        if crate::provider::is_loopback(url) {
            &self.loopback
        } else {
            &self.normal
        }
    }
}

/// One OAuth 2 / OpenID Connect provider as one client sees it, with its
/// discovery cached in memory.
pub struct OidcProvider {
    pub provider_id: String,
    pub endpoints: Endpoints,
    pub client_id: String,
    http: HttpClients,
    discovered: Mutex<Option<Arc<Discovered>>>,
}

impl fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProvider").field("endpoints", &self.endpoints).finish()
    }
}

impl OidcProvider {
    pub fn new(
        provider_id: &str,
        endpoints: Endpoints,
        client_id: &str,
        http: impl Into<HttpClients>,
    ) -> Self {
        OidcProvider {
            provider_id: provider_id.into(),
            endpoints,
            client_id: client_id.into(),
            http: http.into(),
            discovered: Mutex::new(None),
        }
    }

    /// The client for a request to `url` (no proxy for loopback).
    fn http_for(&self, url: &Url) -> &reqwest::Client {
        self.http.for_url(url)
    }

    fn unavailable(&self, message: String) -> CoreError {
        CoreError::unavailable(&self.provider_id, message)
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
}

/// The OIDC providers in use, one client each, created on first use.
#[derive(Debug, Default)]
pub struct OidcProviders {
    http: HttpClients,
    /// By provider id and client id (service accounts bring their own).
    by_id: Mutex<HashMap<(String, String), Arc<OidcProvider>>>,
}

impl OidcProviders {
    /// `http` for every provider but loopback ones, which get a client of
    /// the same kind that ignores proxy settings.
    pub fn new(http: reqwest::Client) -> Self {
        OidcProviders::with_clients(http.into())
    }

    pub fn with_clients(http: HttpClients) -> Self {
        OidcProviders { http, by_id: Default::default() }
    }

    /// The HTTP client for providers that are not on loopback. Prefer
    /// [`OidcProviders::http_for`], which also keeps loopback requests away
    /// from proxies.
    pub fn http(&self) -> &reqwest::Client {
        &self.http.normal
    }

    /// The HTTP client for a request to `url` (also the non-OIDC ones:
    /// api.video, token exchanges): no proxy for a loopback host.
    pub fn http_for(&self, url: &Url) -> &reqwest::Client {
        self.http.for_url(url)
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
    use openidconnect::core::CoreJsonWebKeySet;

    fn scopes() -> Vec<String> {
        vec!["openid".into(), "broadcaster".into()]
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
            token_endpoint_auth_methods: vec![],
            revocation_endpoint_auth_methods: vec![],
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
}
