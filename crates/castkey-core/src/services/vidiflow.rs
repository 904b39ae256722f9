//! VidiFlow's authentication service at `{authServiceEndpoint}`: client
//! credentials with `scope=api1` from back-end services, discovery at
//! `{authServiceEndpoint}/.well-known/openid-configuration`; tokens last an
//! hour (VidiFlow developer docs, "Obtaining token via Token Endpoint").

use super::Service;
use crate::error::CoreError;
use crate::provider::{ClientCredentials, Endpoints, ProviderConfig};
use crate::template::{field, ConfiguredProvider};
use castkey_ipc::ui::{FieldKind, ProviderTemplate};
use std::collections::BTreeMap;
use url::Url;

pub const VIDIFLOW: &str = "vidiflow";

pub(crate) const SERVICE: Service = Service { template, build, named: false };

/// VidiFlow at `auth_service_endpoint`.
pub fn vidiflow(auth_service_endpoint: Url) -> ProviderConfig {
    ProviderConfig {
        id: VIDIFLOW.into(),
        display_name: "VidiFlow".into(),
        sign_in: ClientCredentials { endpoints: Endpoints::Discover { issuer: auth_service_endpoint } }
            .into(),
        scopes: vec!["api1".into()],
        broadcast_scope: Some("api1".into()),
        default_token_lifetime_secs: 3600,
        refresh_clocks: Default::default(),
        api_headers: BTreeMap::new(),
        template: None,
        app_redirect_uri: crate::APP_REDIRECT_URI.into(),
    }
}

fn template() -> ProviderTemplate {
    ProviderTemplate {
        id: VIDIFLOW.into(),
        display_name: "VidiFlow".into(),
        description: "Service accounts (client id and secret, scope api1) at your VidiFlow \
                      authentication service."
            .into(),
        fields: vec![field("auth_service_endpoint", "authServiceEndpoint", FieldKind::Url, true, None)],
    }
}

fn build(c: &ConfiguredProvider) -> Result<ProviderConfig, CoreError> {
    Ok(ProviderConfig { template: Some(c.template.clone()), ..vidiflow(c.url("auth_service_endpoint")?) })
}
