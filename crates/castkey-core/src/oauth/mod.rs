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
#[cfg(test)]
pub(crate) use token_endpoint::MAX_BODY_BYTES;
pub(crate) use token_endpoint::{classify_refusal, lenient_seconds, post_json, read_answer, Answer};
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
        let d = Discovered::for_tests("http://127.0.0.1:1");
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

    #[tokio::test]
    async fn loopback_providers_bypass_proxies() {
        let (base, seen) = test_http::serve(|_| test_http::Reply::json(200, "{}")).await;
        let url = Url::parse(&format!("{base}/token")).unwrap();
        // A proxy that is not there, as HTTP_PROXY/ALL_PROXY would set one.
        let proxied = || client_builder().proxy(reqwest::Proxy::all("http://127.0.0.1:9").unwrap());
        assert!(proxied().build().unwrap().get(url.clone()).send().await.is_err(), "the proxy is used");
        let clients = HttpClients { normal: proxied().build().unwrap(), loopback: without_proxy(proxied()) };
        let answer = clients.for_url(&url).get(url.clone()).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let remote = Url::parse("https://id.example.com/token").unwrap();
        assert!(std::ptr::eq(clients.for_url(&remote), &clients.normal));
        for loopback in ["http://localhost:1/", "http://[::1]:1/", "https://127.0.0.1:1/"] {
            let u = Url::parse(loopback).unwrap();
            assert!(std::ptr::eq(clients.for_url(&u), &clients.loopback), "{loopback}");
        }
        // Every provider call goes through the same choice.
        let providers = OidcProviders::with_clients(clients);
        assert_eq!(providers.http_for(&url).get(url.clone()).send().await.unwrap().status(), 200);
        let p = providers.get("p", &Endpoints::Discover { issuer: url.clone() }, "castkey");
        assert_eq!(p.http_for(&url).get(url.clone()).send().await.unwrap().status(), 200);
        assert_eq!(seen.lock().unwrap().len(), 3);
    }
}

/// A local HTTP server for tests of provider answers: each request is
/// handed to a closure that says what to answer (status, headers, body,
/// or no answer at all).
#[cfg(test)]
pub(crate) mod test_http {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[derive(Debug, Clone)]
    pub struct Request {
        pub method: String,
        pub path: String,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    /// Strict `application/x-www-form-urlencoded` decoding, as a server
    /// that does not forgive: only the characters the encoding produces,
    /// `%` followed by two hex digits, `+` for a space.
    pub fn strict_decode(s: &str) -> Option<String> {
        let mut out = Vec::new();
        let mut bytes = s.bytes();
        while let Some(b) = bytes.next() {
            match b {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = [bytes.next()?, bytes.next()?];
                    out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                }
                b if b.is_ascii_alphanumeric() || b"*-._".contains(&b) => out.push(b),
                _ => return None,
            }
        }
        String::from_utf8(out).ok()
    }

    impl Request {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }

        /// The form body, strictly decoded (`None` if any part is not).
        pub fn form(&self) -> Option<HashMap<String, String>> {
            let body = std::str::from_utf8(&self.body).ok()?;
            body.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    Some((strict_decode(k)?, strict_decode(v)?))
                })
                .collect()
        }

        /// HTTP Basic credentials, base64 then strictly form-decoded
        /// (RFC 6749 §2.3.1). `Some(None)`: Basic, but not decodable.
        pub fn basic(&self) -> Option<Option<(String, String)>> {
            use base64::Engine as _;
            let v = self.header("authorization")?.strip_prefix("Basic ")?;
            let raw = base64::engine::general_purpose::STANDARD.decode(v.trim()).ok()?;
            let raw = String::from_utf8(raw).ok()?;
            let (id, secret) = raw.split_once(':')?;
            Some(strict_decode(id).zip(strict_decode(secret)))
        }
    }

    #[derive(Debug, Clone)]
    pub struct Reply {
        pub status: u16,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
        /// Send no Content-Length: the body ends when the connection does.
        pub no_length: bool,
        /// Never answer.
        pub hang: bool,
    }

    impl Reply {
        pub fn json(status: u16, body: &str) -> Self {
            Reply {
                status,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: body.as_bytes().to_vec(),
                no_length: false,
                hang: false,
            }
        }

        pub fn header(mut self, name: &str, value: &str) -> Self {
            self.headers.push((name.into(), value.into()));
            self
        }

        pub fn hang() -> Self {
            Reply { hang: true, ..Reply::json(200, "") }
        }
    }

    /// What the server has seen.
    pub type Seen = Arc<Mutex<Vec<Request>>>;

    /// Starts a server on 127.0.0.1; answers its base URL (no trailing
    /// slash) and the requests it receives.
    pub async fn serve<F>(answer: F) -> (String, Seen)
    where
        F: Fn(&Request) -> Reply + Send + Sync + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let seen: Seen = Default::default();
        let answer = Arc::new(answer);
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let answer = answer.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut s).await else { return };
                    log.lock().unwrap().push(request.clone());
                    let reply = answer(&request);
                    if reply.hang {
                        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                        return;
                    }
                    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", reply.status);
                    for (k, v) in &reply.headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    if !reply.no_length {
                        head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
                    }
                    head.push_str("\r\n");
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(&reply.body).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        (base, seen)
    }

    async fn read_request(s: &mut tokio::net::TcpStream) -> Option<Request> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
            .collect();
        let length = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        while body.len() < length {
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Some(Request { method, path, headers, body })
    }
}
