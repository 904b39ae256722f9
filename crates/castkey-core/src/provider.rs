//! Providers as data: what Castkey needs to know to sign in to one.
//!
//! A [`ProviderConfig`] describes a provider; the [`ProviderCatalog`] holds the
//! ones a user can add accounts for. Sign-in kinds beyond OpenID Connect's
//! authorization code (API keys, client credentials, token exchange) become
//! further [`SignInKind`] variants.

use crate::error::CoreError;
use castkey_ipc::ProviderInfo;
use std::collections::BTreeMap;
use url::Url;

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
    /// Extra HTTP headers every API call needs, handed to IPC clients.
    pub api_headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub enum SignInKind {
    /// OpenID Connect authorization code + PKCE in the system browser.
    OidcAuthorizationCode {
        issuer: Url,
        client_id: String,
        /// Ask for `offline_access` with `prompt=consent` to get a refresh
        /// token from providers that follow OIDC Core §11.
        offline_access: bool,
    },
    /// OAuth 2 client credentials (RFC 6749 §4.4) for a service account:
    /// no person, no browser. The token endpoint comes from OpenID discovery
    /// at `issuer`; the client id and secret belong to the account (the
    /// secret in the keychain). No refresh token: a new token is fetched
    /// before the old one expires.
    ClientCredentials { issuer: Url },
    /// An API key exchanged for an access and a refresh token (api.video:
    /// `POST /auth/api-key`, `POST /auth/refresh`, JSON). Each account picks
    /// one environment, by name, from `environments` (name, base URL).
    ApiKey { environments: Vec<(String, Url)> },
}

impl SignInKind {
    /// The base URL of an API-key provider's environment.
    pub fn environment(&self, name: &str) -> Option<&Url> {
        match self {
            SignInKind::ApiKey { environments } => {
                environments.iter().find(|(n, _)| n == name).map(|(_, u)| u)
            }
            _ => None,
        }
    }
}

impl ProviderConfig {
    /// The local sandbox provider the run command starts (`oidc-provider`).
    pub fn local_sandbox(issuer: Url) -> Self {
        ProviderConfig {
            id: "sandbox".into(),
            display_name: "Local sandbox".into(),
            sign_in: SignInKind::OidcAuthorizationCode {
                issuer,
                client_id: "castkey".into(),
                offline_access: true,
            },
            scopes: ["openid", "email", "profile", "broadcaster"].map(String::from).to_vec(),
            broadcast_scope: Some(castkey_ipc::BROADCASTER_SCOPE.into()),
            default_token_lifetime_secs: 3600,
            api_headers: BTreeMap::new(),
        }
    }

    /// VidiFlow's authentication service at `{authServiceEndpoint}`: client
    /// credentials with `scope=api1`, discovery at
    /// `{authServiceEndpoint}/.well-known/openid-configuration`; tokens last
    /// an hour.
    pub fn vidiflow(auth_service_endpoint: Url) -> Self {
        ProviderConfig {
            id: "vidiflow".into(),
            display_name: "VidiFlow".into(),
            sign_in: SignInKind::ClientCredentials { issuer: auth_service_endpoint },
            scopes: vec!["api1".into()],
            broadcast_scope: Some("api1".into()),
            default_token_lifetime_secs: 3600,
            api_headers: BTreeMap::new(),
        }
    }

    /// api.video: an API key per account, sandbox or production. Access
    /// tokens last an hour; refresh tokens are renewed on every refresh.
    pub fn api_video(production: Url, sandbox: Url) -> Self {
        ProviderConfig {
            id: "apivideo".into(),
            display_name: "api.video".into(),
            sign_in: SignInKind::ApiKey {
                environments: vec![("sandbox".into(), sandbox), ("production".into(), production)],
            },
            scopes: Vec::new(),
            broadcast_scope: None,
            default_token_lifetime_secs: 3600,
            api_headers: BTreeMap::new(),
        }
    }

    pub fn info(&self) -> ProviderInfo {
        ProviderInfo {
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            sign_in: match self.sign_in {
                SignInKind::OidcAuthorizationCode { .. } => "browser".into(),
                SignInKind::ClientCredentials { .. } => "service_account".into(),
                SignInKind::ApiKey { .. } => "api_key".into(),
            },
            scopes: self.scopes.clone(),
            environments: match &self.sign_in {
                SignInKind::ApiKey { environments } => environments.iter().map(|(n, _)| n.clone()).collect(),
                _ => Vec::new(),
            },
        }
    }

    pub fn validate(&self) -> Result<(), CoreError> {
        if self.id.is_empty() || !self.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(CoreError::InvalidRequest(format!(
                "provider id `{}` must be letters, digits, `-` or `_`",
                self.id
            )));
        }
        match &self.sign_in {
            SignInKind::OidcAuthorizationCode { issuer, .. } | SignInKind::ClientCredentials { issuer } => {
                check_endpoint(issuer, "issuer")
            }
            SignInKind::ApiKey { environments } => environments
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

/// The providers a user can add accounts for.
#[derive(Debug, Clone, Default)]
pub struct ProviderCatalog {
    providers: Vec<ProviderConfig>,
}

impl ProviderCatalog {
    /// The catalog for this environment: the local sandbox when
    /// `$CASTKEY_SANDBOX_ISSUER` names one (the run command starts it).
    pub fn from_env() -> Result<Self, CoreError> {
        let mut catalog = ProviderCatalog::default();
        if let Some(issuer) = std::env::var("CASTKEY_SANDBOX_ISSUER").ok().filter(|s| !s.is_empty()) {
            let url = Url::parse(&issuer)
                .map_err(|e| CoreError::InvalidRequest(format!("CASTKEY_SANDBOX_ISSUER `{issuer}`: {e}")))?;
            catalog.add(ProviderConfig::local_sandbox(url))?;
        }
        // api.video is always offered, at its documented hosts; tests (or a
        // proxy) may point either environment elsewhere.
        let url_from_env = |var: &str, default: &str| -> Result<Url, CoreError> {
            let v = std::env::var(var).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| default.to_string());
            Url::parse(&v).map_err(|e| CoreError::InvalidRequest(format!("{var} `{v}`: {e}")))
        };
        catalog.add(ProviderConfig::api_video(
            url_from_env("CASTKEY_APIVIDEO_PRODUCTION_URL", "https://ws.api.video")?,
            url_from_env("CASTKEY_APIVIDEO_SANDBOX_URL", "https://sandbox.api.video")?,
        ))?;
        if let Some(endpoint) = std::env::var("CASTKEY_VIDIFLOW_ENDPOINT").ok().filter(|s| !s.is_empty()) {
            let url = Url::parse(&endpoint).map_err(|e| {
                CoreError::InvalidRequest(format!("CASTKEY_VIDIFLOW_ENDPOINT `{endpoint}`: {e}"))
            })?;
            catalog.add(ProviderConfig::vidiflow(url))?;
        }
        Ok(catalog)
    }

    pub fn add(&mut self, provider: ProviderConfig) -> Result<(), CoreError> {
        provider.validate()?;
        self.providers.retain(|p| p.id != provider.id);
        self.providers.push(provider);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<&ProviderConfig, CoreError> {
        self.providers.iter().find(|p| p.id == id).ok_or_else(|| CoreError::UnknownProvider {
            id: id.to_string(),
            known: self.providers.iter().map(|p| p.id.clone()).collect(),
        })
    }

    pub fn list(&self) -> Vec<ProviderInfo> {
        self.providers.iter().map(ProviderConfig::info).collect()
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

    #[test]
    fn catalog_refuses_bad_ids_and_plain_http_issuers() {
        let mut c = ProviderCatalog::default();
        let mut p = ProviderConfig::local_sandbox(Url::parse("http://idp.example.com").unwrap());
        assert!(c.add(p.clone()).is_err());
        p.sign_in = SignInKind::OidcAuthorizationCode {
            issuer: Url::parse("http://127.0.0.1:9").unwrap(),
            client_id: "c".into(),
            offline_access: false,
        };
        p.id = "no spaces".into();
        assert!(c.add(p.clone()).is_err());
        p.id = "sandbox".into();
        c.add(p).unwrap();
        assert_eq!(c.list()[0].display_name, "Local sandbox");
        let err = c.get("other").unwrap_err();
        assert_eq!(err.to_string(), "unknown provider `other`; known providers: sandbox");
    }
}
