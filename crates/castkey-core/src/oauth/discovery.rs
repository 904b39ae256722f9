//! OpenID Connect discovery (OIDC Discovery 1.0, RFC 8414) through the
//! `openidconnect` crate: exact issuer match, endpoints checked against the
//! plain-HTTP rule, keys kept for ID-token verification. Fixed endpoints
//! (plain OAuth 2) need no fetch.

use super::OidcProvider;
use crate::error::CoreError;
use crate::provider::{check_endpoint, Endpoints};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, IssuerUrl, ProviderMetadata};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
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
    /// Tests start sign-ins without a provider on the network.
    #[cfg(test)]
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
}
