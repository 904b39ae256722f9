//! api.video (docs.api.video, "Authentication and refresh tokens"): an API
//! key per account, sandbox or production; access tokens last an hour;
//! refresh tokens are renewed on every refresh. Always offered at its
//! documented hosts; the "other hosts" form replaces the built-in.

use super::Service;
use crate::error::CoreError;
use crate::provider::{ApiKeySignIn, ProviderConfig};
use crate::template::{field, ConfiguredProvider};
use castkey_ipc::ui::{FieldKind, ProviderTemplate};
use std::collections::BTreeMap;
use url::Url;

/// api.video at other hosts; replaces the built-in `apivideo`.
pub const APIVIDEO: &str = "apivideo";

pub const APIVIDEO_PRODUCTION_URL: &str = "https://ws.api.video";
pub const APIVIDEO_SANDBOX_URL: &str = "https://sandbox.api.video";

pub(crate) const OTHER_HOSTS: Service = Service { template, build, named: false };

/// api.video with its production and sandbox base URLs.
pub fn api_video(production: Url, sandbox: Url) -> ProviderConfig {
    ProviderConfig {
        id: APIVIDEO.into(),
        display_name: "api.video".into(),
        sign_in: ApiKeySignIn {
            environments: vec![("sandbox".into(), sandbox), ("production".into(), production)],
        }
        .into(),
        scopes: Vec::new(),
        broadcast_scope: None,
        default_token_lifetime_secs: 3600,
        refresh_clocks: Default::default(),
        api_headers: BTreeMap::new(),
        template: None,
        app_redirect_uri: crate::APP_REDIRECT_URI.into(),
    }
}

fn template() -> ProviderTemplate {
    use FieldKind::Url as U;
    ProviderTemplate {
        id: APIVIDEO.into(),
        display_name: "api.video at other hosts".into(),
        description: "Points api.video's sandbox and production at other hosts (a proxy, a test \
                      server). It replaces the built-in api.video; remove it to go back."
            .into(),
        fields: vec![
            field("production_url", "Production", U, true, Some(APIVIDEO_PRODUCTION_URL)),
            field("sandbox_url", "Sandbox", U, true, Some(APIVIDEO_SANDBOX_URL)),
        ],
    }
}

fn build(c: &ConfiguredProvider) -> Result<ProviderConfig, CoreError> {
    Ok(ProviderConfig {
        template: Some(c.template.clone()),
        ..api_video(c.url("production_url")?, c.url("sandbox_url")?)
    })
}
