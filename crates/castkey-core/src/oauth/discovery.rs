//! OpenID Connect discovery (OIDC Discovery 1.0, RFC 8414), the document
//! parsed by the `openidconnect` crate's types: exact issuer match (with
//! one allowance: a trailing slash, see [`OidcProvider::discover`]),
//! endpoints checked against the plain-HTTP rule *before* the JWKS is
//! fetched, bodies capped at [`super::MAX_BODY_BYTES`], keys kept for
//! ID-token verification. Fixed endpoints (plain OAuth 2) need no fetch.

use super::token_endpoint::{classify_refusal, read_answer, Answer, TokenError};
use super::OidcProvider;
use crate::error::CoreError;
use crate::provider::{check_endpoint, Endpoints};
use openidconnect::core::CoreJsonWebKeySet;
use serde::Deserialize;
use std::sync::Arc;
use url::Url;

/// The members of a discovery document Castkey uses (OIDC Discovery §3,
/// RFC 8414 §2, RFC 9207 §3, RFC 8628 §4, RFC 7009), each with the type
/// the specs give it: a malformed one refuses the provider. Every other
/// member is ignored, whatever it holds: real documents carry members of
/// other specs, vendor extensions, and now and then one of the wrong type
/// (`"claims_supported": 5`, `"request_uri_parameter_supported": "yes"`),
/// none of which Castkey reads. (The `openidconnect` crate's own type
/// refuses such documents, and requires members Castkey does not use, such
/// as `subject_types_supported`.)
#[derive(Debug, Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    #[serde(default)]
    token_endpoint: Option<String>,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    /// RFC 9207: the provider puts `iss` on authorization responses.
    #[serde(default)]
    authorization_response_iss_parameter_supported: Option<bool>,
    /// RFC 7009 token revocation.
    #[serde(default)]
    revocation_endpoint: Option<String>,
    /// RFC 8628 device authorization.
    #[serde(default)]
    device_authorization_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    revocation_endpoint_auth_methods_supported: Option<Vec<String>>,
}

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
    /// `token_endpoint_auth_methods_supported` (RFC 8414 §2): how a
    /// confidential client may authenticate; empty when not said.
    pub token_endpoint_auth_methods: Vec<String>,
    /// `revocation_endpoint_auth_methods_supported`; empty when not said.
    pub revocation_endpoint_auth_methods: Vec<String>,
    pub(super) jwks: CoreJsonWebKeySet,
}

impl Discovered {
    /// A provider at `issuer` with the usual paths and no keys.
    #[cfg(test)]
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
            token_endpoint_auth_methods: vec![],
            revocation_endpoint_auth_methods: vec![],
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
            token_endpoint_auth_methods: vec![],
            revocation_endpoint_auth_methods: vec![],
            jwks: CoreJsonWebKeySet::new(vec![]),
        }
    }
}

fn issuer_string(url: &Url) -> String {
    // Issuers compare as written; Url adds a `/` to an empty path.
    let s = url.as_str();
    if url.path() == "/" {
        s.trim_end_matches('/').to_string()
    } else {
        s.to_string()
    }
}

/// The same issuer with or without its trailing slash.
fn other_form(issuer: &str) -> String {
    match issuer.strip_suffix('/') {
        Some(without) => without.to_string(),
        None => format!("{issuer}/"),
    }
}

impl OidcProvider {
    /// Tests start sign-ins without a provider on the network.
    #[cfg(test)]
    pub fn set_discovered(&self, d: Discovered) {
        *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(d));
    }

    /// A GET for a JSON document, body capped.
    async fn get_document(&self, url: &Url, what: &str) -> Result<Answer, CoreError> {
        let response = self
            .http_for(url)
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                let how = if e.is_timeout() { "timed out" } else { "could not be reached" };
                self.unavailable(format!("{what} {how}"))
            })?;
        let answer = read_answer(response, what).await.map_err(|e| e.into_core(&self.provider_id, None))?;
        if answer.status.is_success() {
            return Ok(answer);
        }
        Err(match classify_refusal(what, &answer) {
            TokenError::Unavailable(t) => CoreError::ProviderUnavailable {
                provider: self.provider_id.clone(),
                message: t.message,
                retry_after: t.retry_after,
            },
            _ => self.unavailable(format!("{what} answered HTTP {}", answer.status)),
        })
    }

    /// Discovery, cached; `refresh` forces a new fetch (e.g. rotated keys).
    /// Fixed endpoints need no fetch.
    ///
    /// The document must name the issuer asked for (OIDC Discovery §4.3),
    /// with one allowance for issuers as users type them: when it names the
    /// same issuer with or without a trailing slash (`https://x/realms/a/`
    /// against `https://x/realms/a`), the issuer it names is kept. Both
    /// forms have the same discovery URL, so the document is still the one
    /// that issuer publishes; ID tokens are then checked against the name
    /// the document gives. The JWKS URI is checked against the endpoint
    /// rules before anything is fetched from it.
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
        let issuer = issuer_string(&asked);
        let config_url =
            Url::parse(&format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')))
                .map_err(|e| CoreError::ProviderRejected(format!("issuer URL: {e}")))?;
        let what = format!("discovery at {asked}");
        let answer = self.get_document(&config_url, &what).await?;
        let meta: Document = serde_json::from_slice(&answer.body).map_err(|e| {
            CoreError::ProviderRejected(format!("the discovery document of {asked} could not be read: {e}"))
        })?;
        let named = meta.issuer.as_str();
        if named != issuer && named != other_form(&issuer) {
            // OIDC Discovery §4.3: the document must name the issuer asked for.
            return Err(CoreError::ProviderRejected(format!(
                "the discovery document at {asked} names another issuer (unexpected issuer URI `{named}`, \
                 expected `{issuer}`); enter the issuer URL exactly as the provider names it"
            )));
        }
        if named != issuer {
            tracing::info!("issuer {issuer} is named {named} by its discovery document; using that");
        }
        let endpoint = |s: &str, what: &str| -> Result<Url, CoreError> {
            let u = Url::parse(s).map_err(|e| CoreError::ProviderRejected(format!("{what}: {e}")))?;
            check_endpoint(&u, what)?;
            Ok(u)
        };
        let optional = |s: &Option<String>, what: &str| -> Result<Option<Url>, CoreError> {
            s.as_deref().map(|s| endpoint(s, what)).transpose()
        };
        let authorization_endpoint = endpoint(&meta.authorization_endpoint, "authorization endpoint")?;
        let token_endpoint = optional(&meta.token_endpoint, "token endpoint")?
            .ok_or_else(|| CoreError::ProviderRejected("the provider has no token endpoint".into()))?;
        // Before the fetch: a JWKS the endpoint rules refuse is never fetched.
        let jwks_uri = endpoint(&meta.jwks_uri, "JWKS URI")?;
        let revocation_endpoint = optional(&meta.revocation_endpoint, "revocation endpoint")?;
        let device_authorization_endpoint =
            optional(&meta.device_authorization_endpoint, "device authorization endpoint")?;
        let userinfo_endpoint = optional(&meta.userinfo_endpoint, "userinfo endpoint")?;
        let keys = self.get_document(&jwks_uri, &format!("the JWKS at {jwks_uri}")).await?;
        let jwks: CoreJsonWebKeySet = serde_json::from_slice(&keys.body).map_err(|e| {
            CoreError::ProviderRejected(format!("the JWKS of {asked} could not be read: {e}"))
        })?;
        let d = Arc::new(Discovered {
            userinfo_endpoint,
            issuer: named.to_string(),
            authorization_endpoint,
            token_endpoint,
            revocation_endpoint,
            device_authorization_endpoint,
            iss_parameter_supported: meta.authorization_response_iss_parameter_supported == Some(true),
            verifies_id_tokens: true,
            token_endpoint_auth_methods: meta.token_endpoint_auth_methods_supported.unwrap_or_default(),
            revocation_endpoint_auth_methods: meta
                .revocation_endpoint_auth_methods_supported
                .unwrap_or_default(),
            jwks,
        });
        *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = Some(d.clone());
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::test_http::{serve, Reply, Seen};

    /// A provider at `{base}{path}` whose document names `names` as its
    /// issuer (`{base}` replaced), with `jwks_uri` (default: its own).
    async fn provider_naming(
        path: &'static str,
        names: &'static str,
        jwks_uri: Option<&'static str>,
    ) -> (String, Seen) {
        serve(move |r| {
            let host = r.header("host").unwrap_or_default().to_string();
            let base = format!("http://{host}");
            if r.path.ends_with("/.well-known/openid-configuration") {
                let doc = serde_json::json!({
                    "issuer": names.replace("{base}", &base),
                    "authorization_endpoint": format!("{base}{path}/auth"),
                    "token_endpoint": format!("{base}{path}/token"),
                    "revocation_endpoint": format!("{base}{path}/revoke"),
                    "jwks_uri": jwks_uri.map(String::from).unwrap_or(format!("{base}{path}/jwks")),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                    "revocation_endpoint_auth_methods_supported": ["client_secret_basic"],
                });
                Reply::json(200, &doc.to_string())
            } else if r.path.ends_with("/jwks") {
                Reply::json(200, r#"{"keys":[]}"#)
            } else {
                Reply::json(404, "")
            }
        })
        .await
    }

    fn oidc(issuer: &str) -> OidcProvider {
        OidcProvider::new(
            "p",
            Endpoints::Discover { issuer: Url::parse(issuer).unwrap() },
            "castkey",
            crate::oauth::http_client(),
        )
    }

    #[tokio::test]
    async fn issuers_work_with_or_without_a_trailing_slash() {
        // (the document names, the user typed)
        for (names, typed) in [
            ("{base}/realms/a", "/realms/a/"),
            ("{base}/realms/a/", "/realms/a"),
            ("{base}/realms/a", "/realms/a"),
            ("{base}/realms/a/", "/realms/a/"),
            ("{base}/", ""),
            ("{base}", "/"),
        ] {
            let (base, seen) = provider_naming("/realms/a", names, None).await;
            let d = oidc(&format!("{base}{typed}"))
                .discover(false)
                .await
                .unwrap_or_else(|e| panic!("{names} {typed}: {e}"));
            assert_eq!(d.issuer, names.replace("{base}", &base), "the document's name is kept");
            let paths: Vec<String> = seen.lock().unwrap().iter().map(|r| r.path.clone()).collect();
            assert!(
                paths[0].ends_with("/.well-known/openid-configuration") && !paths[0].contains("//."),
                "{paths:?}"
            );
        }
        // Another issuer altogether is still refused (OIDC Discovery §4.3).
        let (base, _) = provider_naming("/realms/a", "{base}/realms/b", None).await;
        let err = oidc(&format!("{base}/realms/a")).discover(false).await.unwrap_err();
        assert!(matches!(err, CoreError::ProviderRejected(ref m) if m.contains("another issuer")), "{err:?}");
        let (base, _) = provider_naming("", "http://localhost:1", None).await;
        assert!(oidc(&base).discover(false).await.is_err(), "localhost is not 127.0.0.1");
    }

    #[tokio::test]
    async fn client_authentication_methods_are_read() {
        let (base, _) = provider_naming("", "{base}", None).await;
        let d = oidc(&base).discover(false).await.unwrap();
        assert_eq!(d.token_endpoint_auth_methods, vec!["client_secret_post", "private_key_jwt"]);
        assert_eq!(d.revocation_endpoint_auth_methods, vec!["client_secret_basic"]);
        assert_eq!(d.revocation_endpoint.as_ref().map(Url::path), Some("/revoke"));
    }

    #[tokio::test]
    async fn a_jwks_uri_the_endpoint_rules_refuse_is_never_fetched() {
        for jwks in ["http://jwks.invalid/keys", "ftp://127.0.0.1/keys"] {
            let jwks: &'static str = Box::leak(jwks.to_string().into_boxed_str());
            let (base, seen) = provider_naming("", "{base}", Some(jwks)).await;
            let err = oidc(&base).discover(false).await.unwrap_err();
            assert!(
                matches!(err, CoreError::ProviderRejected(ref m) if m.contains("JWKS URI")),
                "{jwks}: {err:?}"
            );
            assert_eq!(seen.lock().unwrap().len(), 1, "only the document was fetched");
        }
    }

    /// A provider whose document is the usual one with `patch` merged in
    /// (`{base}` replaced in string values; `null` removes a member).
    async fn provider_with(patch: serde_json::Value) -> String {
        let (base, _) = serve(move |r| {
            let base = format!("http://{}", r.header("host").unwrap_or_default());
            if r.path.ends_with("/.well-known/openid-configuration") {
                let mut doc = serde_json::json!({
                    "issuer": base,
                    "authorization_endpoint": format!("{base}/auth"),
                    "token_endpoint": format!("{base}/token"),
                    "jwks_uri": format!("{base}/jwks"),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                });
                for (k, v) in patch.as_object().unwrap() {
                    match v {
                        serde_json::Value::Null => {
                            doc.as_object_mut().unwrap().remove(k);
                        }
                        serde_json::Value::String(t) => doc[k] = t.replace("{base}", &base).into(),
                        other => doc[k] = other.clone(),
                    }
                }
                Reply::json(200, &doc.to_string())
            } else if r.path.ends_with("/jwks") {
                // A key of a type Castkey cannot use sits beside nothing else.
                Reply::json(200, r#"{"keys":[{"kty":"unknown-kty","kid":"x"}]}"#)
            } else {
                Reply::json(404, "")
            }
        })
        .await;
        base
    }

    #[tokio::test]
    async fn members_castkey_does_not_use_may_hold_anything() {
        // Each kind seen in the wild: a wrong type, an unknown object, a
        // member of another spec, one the spec requires but Castkey never
        // reads left out, an unknown key type in the JWKS.
        let kinds = [
            serde_json::json!({"claims_supported": 5}),
            serde_json::json!({"request_uri_parameter_supported": "yes"}),
            serde_json::json!({"mtls_endpoint_aliases": {"token_endpoint": 7, "nested": {"a": [1, {}]}}}),
            serde_json::json!({"x-vendor": [null, true, {"deep": "value"}], "frontchannel_logout_supported": "true"}),
            serde_json::json!({"scopes_supported": "openid profile", "response_types_supported": 1}),
            serde_json::json!({"subject_types_supported": null, "id_token_signing_alg_values_supported": null}),
            serde_json::json!({"code_challenge_methods_supported": {"S256": true}, "grant_types_supported": "all"}),
            serde_json::json!({"userinfo_endpoint": null, "revocation_endpoint": null}),
        ];
        for patch in kinds {
            let base = provider_with(patch.clone()).await;
            let d = oidc(&base).discover(false).await.unwrap_or_else(|e| panic!("{patch}: {e}"));
            assert_eq!(d.token_endpoint.path(), "/token", "{patch}");
            assert!(d.verifies_id_tokens);
        }
    }

    #[tokio::test]
    async fn members_castkey_uses_are_still_checked() {
        for (patch, says) in [
            (
                serde_json::json!({"authorization_response_iss_parameter_supported": "yes"}),
                "could not be read",
            ),
            (serde_json::json!({"token_endpoint": 5}), "could not be read"),
            (serde_json::json!({"token_endpoint": null}), "no token endpoint"),
            (serde_json::json!({"token_endpoint": "not a url"}), "token endpoint"),
            (serde_json::json!({"token_endpoint": "http://tokens.example/token"}), "token endpoint"),
            (serde_json::json!({"jwks_uri": null}), "could not be read"),
            (serde_json::json!({"revocation_endpoint": "http://revoke.example/r"}), "revocation endpoint"),
            (serde_json::json!({"device_authorization_endpoint": ["{base}/device"]}), "could not be read"),
            (serde_json::json!({"userinfo_endpoint": "ftp://127.0.0.1/u"}), "userinfo endpoint"),
            (
                serde_json::json!({"token_endpoint_auth_methods_supported": "client_secret_basic"}),
                "could not be read",
            ),
            (serde_json::json!({"issuer": "http://127.0.0.1:1"}), "another issuer"),
        ] {
            let base = provider_with(patch.clone()).await;
            let err = oidc(&base).discover(false).await.unwrap_err();
            assert!(
                matches!(err, CoreError::ProviderRejected(ref m) if m.contains(says)),
                "{patch}: expected `{says}` in {err:?}"
            );
        }
        // The flag that is read is honoured.
        let base =
            provider_with(serde_json::json!({"authorization_response_iss_parameter_supported": true})).await;
        assert!(oidc(&base).discover(false).await.unwrap().iss_parameter_supported);
    }

    #[tokio::test]
    async fn discovery_documents_beyond_one_mib_are_refused() {
        let (base, _) = serve(|_| {
            let pad = "x".repeat(crate::oauth::MAX_BODY_BYTES);
            Reply { no_length: true, ..Reply::json(200, &format!(r#"{{"pad":"{pad}"}}"#)) }
        })
        .await;
        let err = oidc(&base).discover(false).await.unwrap_err();
        assert!(matches!(err, CoreError::ProviderRejected(ref m) if m.contains("1 MiB")), "{err:?}");
    }

    #[tokio::test]
    async fn discovery_that_is_down_says_try_later() {
        let (base, _) = serve(|_| Reply::json(503, "").header("Retry-After", "20")).await;
        let err = oidc(&base).discover(false).await.unwrap_err();
        assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(20)), "{err:?}");
    }
}
