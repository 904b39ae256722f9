//! Any OpenID Connect provider (found by discovery from its issuer URL) or
//! plain OAuth 2 provider (endpoints typed in), and the local sandbox the
//! run command starts (`oidc-provider` on loopback).

use super::{base, Service};
use crate::error::CoreError;
use crate::provider::{BrowserSignIn, Endpoints, ProviderConfig, RedirectStyle};
use crate::template::{
    api_headers_field, field, loopback_fields, redirect_field, ConfiguredProvider, CLIENT_SECRET,
};
use castkey_ipc::ui::{FieldKind, ProviderTemplate};
use std::collections::BTreeMap;
use url::Url;

pub const OIDC: &str = "oidc";
pub const OAUTH2: &str = "oauth2";

pub(crate) const OIDC_SERVICE: Service = Service { template: oidc_template, build, named: true };
pub(crate) const OAUTH2_SERVICE: Service = Service { template: oauth2_template, build, named: true };

/// The local sandbox provider the run command starts (`oidc-provider`).
pub fn local_sandbox(issuer: Url) -> ProviderConfig {
    ProviderConfig {
        id: "sandbox".into(),
        display_name: "Local sandbox".into(),
        sign_in: BrowserSignIn {
            endpoints: Endpoints::Discover { issuer },
            client_id: "castkey".into(),
            confidential: false,
            offline_access: true,
            exchange: None,
            redirect: RedirectStyle::AppScheme,
            loopback: Default::default(),
            platform: None,
        }
        .into(),
        scopes: ["openid", "email", "profile", "broadcaster"].map(String::from).to_vec(),
        broadcast_scope: Some(castkey_ipc::BROADCASTER_SCOPE.into()),
        default_token_lifetime_secs: 3600,
        refresh_clocks: Default::default(),
        api_headers: BTreeMap::new(),
        template: None,
        app_redirect_uri: crate::APP_REDIRECT_URI.into(),
    }
}

fn oidc_template() -> ProviderTemplate {
    use FieldKind::{Secret, Text, Url as U};
    ProviderTemplate {
        id: OIDC.into(),
        display_name: "OpenID Connect provider".into(),
        description: "Any OpenID Connect provider, found by discovery from its issuer URL. Register \
                      a client for the redirect below."
            .into(),
        fields: vec![
            field("name", "Name", Text, true, None),
            field("issuer", "Issuer URL", U, true, None),
            field("client_id", "Client id", Text, true, None),
            field(CLIENT_SECRET, "Client secret (if it has one)", Secret, false, None),
            field("scopes", "Scopes", Text, true, Some("openid email profile")),
            field("broadcast_scope", "Scope that allows broadcasting", Text, false, None),
            api_headers_field(),
            redirect_field(),
        ]
        .into_iter()
        .chain(loopback_fields())
        .collect(),
    }
}

fn oauth2_template() -> ProviderTemplate {
    use FieldKind::{Secret, Text, Url as U};
    ProviderTemplate {
        id: OAUTH2.into(),
        display_name: "OAuth 2 provider".into(),
        description: "Any OAuth 2 provider without discovery: type its endpoints.".into(),
        fields: vec![
            field("name", "Name", Text, true, None),
            field("authorization_url", "Authorization endpoint", U, true, None),
            field("token_url", "Token endpoint", U, true, None),
            field("revocation_url", "Revocation endpoint", U, false, None),
            field("client_id", "Client id", Text, true, None),
            field(CLIENT_SECRET, "Client secret (if it has one)", Secret, false, None),
            field("scopes", "Scopes", Text, false, None),
            field("broadcast_scope", "Scope that allows broadcasting", Text, false, None),
            api_headers_field(),
            redirect_field(),
        ]
        .into_iter()
        .chain(loopback_fields())
        .collect(),
    }
}

fn build(c: &ConfiguredProvider) -> Result<ProviderConfig, CoreError> {
    let oidc = c.template == OIDC;
    let endpoints = if oidc {
        Endpoints::Discover { issuer: c.url("issuer")? }
    } else {
        Endpoints::Fixed {
            authorization: Some(c.url("authorization_url")?),
            token: c.url("token_url")?,
            revocation: c.opt_url("revocation_url")?,
        }
    };
    let broadcast_scope = c.values.get("broadcast_scope").cloned();
    let mut scopes = c.words("scopes");
    if let Some(b) = &broadcast_scope {
        if !scopes.contains(b) {
            scopes.push(b.clone());
        }
    }
    Ok(ProviderConfig {
        scopes,
        broadcast_scope,
        api_headers: c.api_headers()?,
        ..base(
            c,
            c.text("name")?,
            BrowserSignIn {
                endpoints,
                client_id: c.text("client_id")?,
                confidential: c.confidential(),
                // A refresh token from OIDC providers that follow §11.
                offline_access: oidc,
                exchange: None,
                redirect: c.redirect(),
                loopback: c.loopback()?,
                platform: None,
            },
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::provider::LoopbackRedirect;
    use castkey_ipc::ui::AddProvider;

    fn oidc(extra: &[(&str, &str)]) -> Result<crate::services::Prepared, CoreError> {
        let mut values: BTreeMap<String, String> =
            [("name", "Corp"), ("issuer", "https://id.corp.example"), ("client_id", "c")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        values.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        crate::services::prepare(&AddProvider { template: OIDC.into(), values })
    }

    fn loopback(p: &crate::services::Prepared) -> LoopbackRedirect {
        p.config.sign_in.as_browser().unwrap().loopback.clone()
    }

    #[test]
    fn a_fixed_loopback_port_and_path_are_kept_and_rebuilt() {
        for template in [oidc_template(), oauth2_template()] {
            let names: Vec<_> = template.fields.iter().map(|f| f.name.as_str()).collect();
            assert!(names.ends_with(&["redirect", "loopback_port", "loopback_path"]), "{names:?}");
        }
        let p = oidc(&[("redirect", "loopback"), ("loopback_port", " 8765 "), ("loopback_path", "/oidc/cb")])
            .unwrap();
        assert_eq!(loopback(&p), LoopbackRedirect { port: Some(8765), path: "/oidc/cb".into() });
        assert_eq!(loopback(&p).uri(8765), "http://127.0.0.1:8765/oidc/cb");
        let again = build(&p.configured).unwrap();
        assert_eq!(again.sign_in.as_browser().unwrap().loopback, loopback(&p));
        // Without them: any port, `/callback` (providers saved before these
        // fields existed rebuild the same way).
        let p = oidc(&[("redirect", "loopback")]).unwrap();
        assert_eq!(loopback(&p), LoopbackRedirect::default());
        let mut saved = p.configured.clone();
        saved.values.remove("loopback_path");
        assert_eq!(
            build(&saved).unwrap().sign_in.as_browser().unwrap().loopback,
            LoopbackRedirect::default()
        );
    }

    #[test]
    fn bad_loopback_ports_and_paths_are_refused() {
        for (port, want) in [("80", "from 1024 to 65535"), ("70000", "a number"), ("http", "a number")] {
            let e = oidc(&[("redirect", "loopback"), ("loopback_port", port)]).unwrap_err();
            assert!(e.to_string().contains(want), "{port}: {e}");
        }
        let e = oidc(&[("loopback_port", "8765")]).unwrap_err();
        assert!(e.to_string().contains("choose `loopback`"), "{e}");
        for path in ["callback", "/a b", "/cb?x=1", "/../cb"] {
            let e = oidc(&[("redirect", "loopback"), ("loopback_path", path)]).unwrap_err();
            assert!(e.to_string().contains("loopback path"), "{path}: {e}");
        }
    }
}
