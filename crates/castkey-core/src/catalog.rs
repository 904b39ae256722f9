//! [`ProviderCatalog`]: the providers a user can add accounts for, built in
//! (`crate::services`' presets, from the environment) and added from a
//! service's form (kept in `providers.json`, their secrets in the keychain).

use crate::error::CoreError;
use crate::provider::ProviderConfig;
use crate::template::ConfiguredProvider;
use castkey_ipc::ProviderInfo;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use url::Url;

/// The providers a user can add accounts for: the built-in ones, and the
/// ones the user added from a template (kept in `providers.json`, their
/// secrets in the keychain). Lookups hand out `Arc`s: cheap on the broker's
/// hot path.
#[derive(Debug, Default)]
pub struct ProviderCatalog {
    builtin: Vec<Arc<ProviderConfig>>,
    added: RwLock<Vec<(ConfiguredProvider, Arc<ProviderConfig>)>>,
    file: Option<PathBuf>,
}

impl ProviderCatalog {
    /// The catalog for this environment: the local sandbox when
    /// `$CASTKEY_SANDBOX_ISSUER` names one (the run command starts it).
    pub fn from_env() -> Result<Self, CoreError> {
        let mut catalog = ProviderCatalog::default();
        if let Some(issuer) = std::env::var("CASTKEY_SANDBOX_ISSUER").ok().filter(|s| !s.is_empty()) {
            let url = Url::parse(&issuer)
                .map_err(|e| CoreError::InvalidRequest(format!("CASTKEY_SANDBOX_ISSUER `{issuer}`: {e}")))?;
            catalog.add(crate::services::local_sandbox(url))?;
        }
        // api.video is always offered, at its documented hosts; the
        // variables (or the "api.video at other hosts" template) point
        // either environment elsewhere.
        let url_from_env = |var: &str, default: &str| -> Result<Url, CoreError> {
            let v = std::env::var(var).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| default.to_string());
            Url::parse(&v).map_err(|e| CoreError::InvalidRequest(format!("{var} `{v}`: {e}")))
        };
        catalog.add(crate::services::api_video(
            url_from_env("CASTKEY_APIVIDEO_PRODUCTION_URL", crate::services::APIVIDEO_PRODUCTION_URL)?,
            url_from_env("CASTKEY_APIVIDEO_SANDBOX_URL", crate::services::APIVIDEO_SANDBOX_URL)?,
        ))?;
        // Twitch, when this build carries Castkey's own public client id.
        for p in crate::services::builtin_platforms()? {
            catalog.add(p)?;
        }
        // VidiFlow is normally added from the window (its endpoint is per
        // customer); the variable is a shortcut for scripts.
        if let Some(endpoint) = std::env::var("CASTKEY_VIDIFLOW_ENDPOINT").ok().filter(|s| !s.is_empty()) {
            let url = Url::parse(&endpoint).map_err(|e| {
                CoreError::InvalidRequest(format!("CASTKEY_VIDIFLOW_ENDPOINT `{endpoint}`: {e}"))
            })?;
            catalog.add(crate::services::vidiflow(url))?;
        }
        Ok(catalog)
    }

    /// Adds a built-in provider.
    pub fn add(&mut self, provider: ProviderConfig) -> Result<(), CoreError> {
        provider.validate()?;
        self.builtin.retain(|p| p.id != provider.id);
        self.builtin.push(Arc::new(provider));
        Ok(())
    }

    /// Loads the providers the user added, kept in `file` from now on. One
    /// that no longer builds (a template changed) is skipped with a warning
    /// rather than stopping Castkey.
    pub fn load_added(&mut self, file: PathBuf) -> Result<(), CoreError> {
        let saved: Vec<ConfiguredProvider> = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CoreError::Storage(format!("{} is not valid ({e}); fix or remove it", file.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(CoreError::Storage(format!("{}: {e}", file.display()))),
        };
        let mut added = Vec::new();
        for c in saved {
            match crate::services::build(&c) {
                Ok(config) if config.validate().is_ok() => added.push((c, Arc::new(config))),
                Ok(_) | Err(_) => {
                    tracing::warn!(provider = %c.id, "an added provider no longer builds; skipped")
                }
            }
        }
        *self.added.get_mut().unwrap_or_else(|e| e.into_inner()) = added;
        self.file = Some(file);
        Ok(())
    }

    /// Whether `config` may be added: its id must be new, except that a
    /// built-in provider may be replaced by its own template (api.video at
    /// other hosts); removing the replacement brings the built-in back.
    pub fn check_new(&self, config: &ProviderConfig) -> Result<(), CoreError> {
        self.check_new_among(&self.added.read().unwrap_or_else(|e| e.into_inner()), config)
    }

    fn check_new_among(
        &self,
        added: &[(ConfiguredProvider, Arc<ProviderConfig>)],
        config: &ProviderConfig,
    ) -> Result<(), CoreError> {
        let replaces_builtin = config.template.as_deref() == Some(config.id.as_str());
        if added.iter().any(|(_, p)| p.id == config.id)
            || (!replaces_builtin && self.builtin.iter().any(|p| p.id == config.id))
        {
            return Err(CoreError::InvalidRequest(format!(
                "a provider `{}` exists already; remove it first or choose another name",
                config.id
            )));
        }
        Ok(())
    }

    /// Whether the added provider `id` stands in for a built-in one.
    pub fn replaces_builtin(&self, id: &str) -> bool {
        self.builtin.iter().any(|p| p.id == id)
    }

    /// Adds a provider the user configured; saved before it is offered.
    pub fn add_configured(
        &self,
        configured: ConfiguredProvider,
        config: ProviderConfig,
    ) -> Result<(), CoreError> {
        config.validate()?;
        let mut added = self.added.write().unwrap_or_else(|e| e.into_inner());
        self.check_new_among(&added, &config)?;
        let mut next = added.clone();
        next.push((configured, Arc::new(config)));
        self.save(&next)?;
        *added = next;
        Ok(())
    }

    /// Removes a provider the user added (built-in ones stay).
    pub fn remove_configured(&self, id: &str) -> Result<(), CoreError> {
        let mut added = self.added.write().unwrap_or_else(|e| e.into_inner());
        if !added.iter().any(|(c, _)| c.id == id) {
            return Err(match self.builtin.iter().any(|p| p.id == id) {
                true => CoreError::InvalidRequest(format!("`{id}` is built in and cannot be removed")),
                false => self.unknown(id, &added),
            });
        }
        let next: Vec<_> = added.iter().filter(|(c, _)| c.id != id).cloned().collect();
        self.save(&next)?;
        *added = next;
        Ok(())
    }

    fn save(&self, added: &[(ConfiguredProvider, Arc<ProviderConfig>)]) -> Result<(), CoreError> {
        let Some(file) = &self.file else { return Ok(()) };
        let list: Vec<&ConfiguredProvider> = added.iter().map(|(c, _)| c).collect();
        let bytes = serde_json::to_vec_pretty(&list).map_err(|e| CoreError::Internal(e.to_string()))?;
        crate::atomic_file::write(file, &bytes)
            .map_err(|e| CoreError::Storage(format!("{}: {e}", file.display())))
    }

    fn unknown(&self, id: &str, added: &[(ConfiguredProvider, Arc<ProviderConfig>)]) -> CoreError {
        CoreError::UnknownProvider {
            id: id.to_string(),
            known: self
                .builtin
                .iter()
                .map(|p| p.id.clone())
                .chain(added.iter().map(|(_, p)| p.id.clone()))
                .collect(),
        }
    }

    /// An added provider first: it may stand in for a built-in one.
    pub fn get(&self, id: &str) -> Result<Arc<ProviderConfig>, CoreError> {
        let added = self.added.read().unwrap_or_else(|e| e.into_inner());
        if let Some((_, p)) = added.iter().find(|(_, p)| p.id == id) {
            return Ok(p.clone());
        }
        match self.builtin.iter().find(|p| p.id == id) {
            Some(p) => Ok(p.clone()),
            None => Err(self.unknown(id, &added)),
        }
    }

    /// Every provider offered: the built-in ones not replaced, then the added ones.
    pub fn all(&self) -> Vec<Arc<ProviderConfig>> {
        let added = self.added.read().unwrap_or_else(|e| e.into_inner());
        let replaced = |id: &str| added.iter().any(|(_, p)| p.id == id);
        self.builtin
            .iter()
            .filter(|p| !replaced(&p.id))
            .chain(added.iter().map(|(_, p)| p))
            .cloned()
            .collect()
    }

    pub fn list(&self) -> Vec<ProviderInfo> {
        self.all().iter().map(|p| p.info()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{BrowserSignIn, Endpoints, RedirectStyle};

    #[test]
    fn catalog_refuses_bad_ids_and_plain_http_issuers() {
        let mut c = ProviderCatalog::default();
        let mut p = crate::services::local_sandbox(Url::parse("http://idp.example.com").unwrap());
        assert!(c.add(p.clone()).is_err());
        p.sign_in = BrowserSignIn {
            endpoints: Endpoints::Discover { issuer: Url::parse("http://127.0.0.1:9").unwrap() },
            client_id: "c".into(),
            confidential: false,
            offline_access: false,
            exchange: None,
            redirect: RedirectStyle::AppScheme,
            loopback: Default::default(),
            platform: None,
        }
        .into();
        p.id = "no spaces".into();
        assert!(c.add(p.clone()).is_err());
        p.id = "sandbox".into();
        c.add(p).unwrap();
        assert_eq!(c.list()[0].display_name, "Local sandbox");
        let err = c.get("other").unwrap_err();
        assert_eq!(err.to_string(), "unknown provider `other`; known providers: sandbox");
    }

    #[test]
    fn added_providers_are_kept_on_disk_without_secrets_and_can_be_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("providers.json");
        let setup = castkey_ipc::ui::AddProvider {
            template: "ibm".into(),
            values: [("client_id", "abc"), ("client_secret", "s3cret")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
        };
        let prepared = crate::services::prepare(&setup).unwrap();
        let mut c = ProviderCatalog::default();
        c.load_added(file.clone()).unwrap();
        c.add_configured(prepared.configured.clone(), prepared.config.clone()).unwrap();
        let err = c.add_configured(prepared.configured, prepared.config).unwrap_err();
        assert!(err.to_string().contains("exists already"), "{err}");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("abc") && !text.contains("s3cret"), "{text}");

        let mut again = ProviderCatalog::default();
        again.load_added(file.clone()).unwrap();
        assert_eq!(again.get("ibm").unwrap().template.as_deref(), Some("ibm"));
        again.remove_configured("ibm").unwrap();
        assert!(again.get("ibm").is_err());
        let mut third = ProviderCatalog::default();
        third.load_added(file.clone()).unwrap();
        assert!(third.list().is_empty());

        std::fs::write(&file, b"{not json").unwrap();
        let err = ProviderCatalog::default().load_added(file).unwrap_err();
        assert!(err.to_string().contains("providers.json is not valid"), "{err}");
    }

    #[test]
    fn a_builtin_is_replaced_only_by_its_own_template_and_comes_back_when_that_goes() {
        let mut c = ProviderCatalog::default();
        c.add(crate::services::api_video(
            Url::parse("https://ws.api.video").unwrap(),
            Url::parse("https://sandbox.api.video").unwrap(),
        ))
        .unwrap();
        let form = |template: &str, values: &[(&str, &str)]| castkey_ipc::ui::AddProvider {
            template: template.into(),
            values: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        let other = crate::services::prepare(&form(
            "oidc",
            &[("name", "apivideo"), ("issuer", "https://id.example"), ("client_id", "c")],
        ))
        .unwrap();
        assert!(c.check_new(&other.config).unwrap_err().to_string().contains("exists already"));

        let proxy = crate::services::prepare(&form(
            "apivideo",
            &[("production_url", "http://127.0.0.1:8081"), ("sandbox_url", "http://127.0.0.1:8082")],
        ))
        .unwrap();
        c.add_configured(proxy.configured, proxy.config).unwrap();
        assert_eq!(c.list().len(), 1, "the replacement shows instead of the built-in");
        let p = c.get("apivideo").unwrap();
        assert_eq!(p.sign_in.environment("sandbox").unwrap().as_str(), "http://127.0.0.1:8082/");
        c.remove_configured("apivideo").unwrap();
        assert_eq!(
            c.get("apivideo").unwrap().sign_in.environment("sandbox").unwrap().as_str(),
            "https://sandbox.api.video/"
        );
        assert!(c.remove_configured("apivideo").unwrap_err().to_string().contains("built in"));
    }
}
