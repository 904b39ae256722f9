//! Provider templates: the kinds of service a user adds from the window.
//!
//! A template is a form ([`ProviderTemplate`], shown by the window) and a
//! rule that turns the filled-in form into a [`ProviderConfig`]. What the
//! user typed is kept as a [`ConfiguredProvider`] in `providers.json`,
//! except secret fields, which go to the keychain; the config is rebuilt from
//! it at every start, so a template fix reaches providers added before it.
//!
//! Presets carry the services' documented endpoints as defaults; every one
//! of them can be overridden in the form (self-hosted, staging, tests).

use crate::error::CoreError;
use crate::provider::{
    BrowserSignIn, Endpoints, IdentityTokenExchange, ProviderConfig, RedirectStyle, SignInKind,
};
use castkey_ipc::ui::{AddProvider, FieldKind, ProviderTemplate, TemplateField};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use url::Url;

pub const IBM: &str = "ibm";
pub const IBM_SERVICE: &str = "ibm-service";
pub const VIDIFLOW: &str = "vidiflow";
/// api.video at other hosts; replaces the built-in `apivideo`.
pub const APIVIDEO: &str = "apivideo";
pub const LIFEOMIC: &str = "lifeomic";
pub const OIDC: &str = "oidc";
pub const OAUTH2: &str = "oauth2";

/// IBM Video Streaming's documented endpoints (developers.video.ibm.com,
/// "Authentication" and "Token revocation").
pub const IBM_AUTHORIZATION_URL: &str = "https://authentication.video.ibm.com/authorize";
pub const IBM_TOKEN_URL: &str = "https://video.ibm.com/oauth2/token";
pub const IBM_REVOCATION_URL: &str = "https://video.ibm.com/oauth2/token/revoke";

/// api.video's documented hosts.
pub const APIVIDEO_PRODUCTION_URL: &str = "https://ws.api.video";
pub const APIVIDEO_SANDBOX_URL: &str = "https://sandbox.api.video";

/// The one field name that holds a secret, in every template.
pub const CLIENT_SECRET: &str = "client_secret";

/// A provider the user added: template, id, and the form's non-secret
/// values. `secrets` names the fields whose values are in the keychain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfiguredProvider {
    pub template: String,
    pub id: String,
    pub values: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: Vec<String>,
}

fn field(name: &str, label: &str, kind: FieldKind, required: bool, default: Option<&str>) -> TemplateField {
    TemplateField {
        name: name.into(),
        label: label.into(),
        kind,
        required,
        default: default.map(String::from),
        choices: Vec::new(),
    }
}

fn redirect_field() -> TemplateField {
    TemplateField {
        choices: vec!["app".into(), "loopback".into()],
        ..field(
            "redirect",
            "Redirect (app: dev.castkey.app:/callback; loopback: http://127.0.0.1:<port>/callback)",
            FieldKind::Choice,
            true,
            Some("app"),
        )
    }
}

/// Every template, in the order the window lists them.
pub fn templates() -> Vec<ProviderTemplate> {
    use FieldKind::{Secret, Text, Url as U};
    vec![
        ProviderTemplate {
            id: IBM.into(),
            display_name: "IBM Video Streaming".into(),
            description: "Browser sign-in with scopes broadcaster openid email. Needs an OAuth client \
                          (client id and secret) from IBM Video Streaming registered for \
                          dev.castkey.app:/callback."
                .into(),
            fields: vec![
                field("client_id", "Client id", Text, true, None),
                field(CLIENT_SECRET, "Client secret", Secret, true, None),
                field("authorization_url", "Authorization endpoint", U, true, Some(IBM_AUTHORIZATION_URL)),
                field("token_url", "Token endpoint", U, true, Some(IBM_TOKEN_URL)),
                field("revocation_url", "Revocation endpoint", U, false, Some(IBM_REVOCATION_URL)),
            ],
        },
        ProviderTemplate {
            id: IBM_SERVICE.into(),
            display_name: "IBM Video Streaming service account".into(),
            description: "Client credentials generated on the IBM Video Streaming dashboard; each \
                          service account is added with its own client id and secret."
                .into(),
            fields: vec![field("token_url", "Token endpoint", U, true, Some(IBM_TOKEN_URL))],
        },
        ProviderTemplate {
            id: VIDIFLOW.into(),
            display_name: "VidiFlow".into(),
            description: "Service accounts (client id and secret, scope api1) at your VidiFlow \
                          authentication service."
                .into(),
            fields: vec![field("auth_service_endpoint", "authServiceEndpoint", U, true, None)],
        },
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
        },
        ProviderTemplate {
            id: LIFEOMIC.into(),
            display_name: "LifeOmic-style video service (SSO)".into(),
            description: "Sign in with your own OpenID Connect provider, then trade the ID token for \
                          the video service's token. Needs your OIDC issuer and client, the service's \
                          token exchange URL and client id, and your account id."
                .into(),
            fields: vec![
                field("issuer", "Your OIDC issuer URL", U, true, None),
                field("client_id", "Your OAuth client id", Text, true, None),
                field(CLIENT_SECRET, "Your OAuth client secret (if it has one)", Secret, false, None),
                field("exchange_url", "Identity token exchange URL", U, true, None),
                field("service_client_id", "The service's OAuth client id", Text, true, None),
                field("account_id", "Account id (LifeOmic-Account header)", Text, true, None),
            ],
        },
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
                redirect_field(),
            ],
        },
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
                redirect_field(),
            ],
        },
    ]
}

/// A form checked and split: what to save, what to run, what to put in
/// the keychain.
#[derive(Debug)]
pub struct Prepared {
    pub configured: ConfiguredProvider,
    pub config: ProviderConfig,
    pub client_secret: Option<SecretString>,
}

/// Checks a filled-in form against its template and builds the provider.
pub fn prepare(setup: &AddProvider) -> Result<Prepared, CoreError> {
    let template = templates().into_iter().find(|t| t.id == setup.template).ok_or_else(|| {
        CoreError::InvalidRequest(format!(
            "unknown provider template `{}`; choose one of {}",
            setup.template,
            templates().iter().map(|t| t.id.clone()).collect::<Vec<_>>().join(", ")
        ))
    })?;
    if let Some(extra) = setup.values.keys().find(|k| !template.fields.iter().any(|f| &f.name == *k)) {
        return Err(CoreError::InvalidRequest(format!("{} has no field `{extra}`", template.display_name)));
    }
    let mut values = BTreeMap::new();
    let mut client_secret = None;
    for f in &template.fields {
        let v = setup.values.get(&f.name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let v = v.map(String::from).or_else(|| f.default.clone().filter(|_| f.kind != FieldKind::Secret));
        match (v, f.required) {
            (None, true) => return Err(CoreError::InvalidRequest(format!("enter the {}", f.label))),
            (None, false) => {}
            (Some(v), _) if f.kind == FieldKind::Secret => client_secret = Some(SecretString::from(v)),
            (Some(v), _) => {
                if f.kind == FieldKind::Choice && !f.choices.contains(&v) {
                    return Err(CoreError::InvalidRequest(format!(
                        "{}: choose one of {}",
                        f.label,
                        f.choices.join(", ")
                    )));
                }
                values.insert(f.name.clone(), v);
            }
        }
    }
    let id = match template.id.as_str() {
        OIDC | OAUTH2 => slug(values.get("name").map(String::as_str).unwrap_or_default())?,
        other => other.to_string(),
    };
    let configured = ConfiguredProvider {
        template: template.id.clone(),
        id,
        values,
        secrets: client_secret.iter().map(|_| CLIENT_SECRET.to_string()).collect(),
    };
    let config = build(&configured)?;
    config.validate()?;
    Ok(Prepared { configured, config, client_secret })
}

/// `My IdP` → `my-idp`.
fn slug(name: &str) -> Result<String, CoreError> {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        return Err(CoreError::InvalidRequest("the name needs at least one letter or digit".into()));
    }
    Ok(out)
}

/// Builds the provider a saved form describes.
pub fn build(c: &ConfiguredProvider) -> Result<ProviderConfig, CoreError> {
    let text = |name: &str| -> Result<String, CoreError> {
        c.values.get(name).cloned().ok_or_else(|| CoreError::InvalidRequest(format!("`{name}` is missing")))
    };
    let opt_url = |name: &str| -> Result<Option<Url>, CoreError> {
        c.values
            .get(name)
            .map(|v| {
                Url::parse(v)
                    .map_err(|e| CoreError::InvalidRequest(format!("{name} `{v}` is not a URL ({e})")))
            })
            .transpose()
    };
    let url = |name: &str| -> Result<Url, CoreError> {
        opt_url(name)?.ok_or_else(|| CoreError::InvalidRequest(format!("`{name}` is missing")))
    };
    let confidential = c.secrets.iter().any(|s| s == CLIENT_SECRET);
    let redirect = match c.values.get("redirect").map(String::as_str) {
        Some("loopback") => RedirectStyle::Loopback,
        _ => RedirectStyle::AppScheme,
    };
    let words = |name: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for w in c.values.get(name).map(String::as_str).unwrap_or_default().split_whitespace() {
            if !out.iter().any(|o| o == w) {
                out.push(w.to_string());
            }
        }
        out
    };
    let base = |display_name: String, sign_in: SignInKind| ProviderConfig {
        id: c.id.clone(),
        display_name,
        sign_in,
        scopes: Vec::new(),
        broadcast_scope: None,
        default_token_lifetime_secs: 3600,
        api_headers: BTreeMap::new(),
        template: Some(c.template.clone()),
    };
    Ok(match c.template.as_str() {
        IBM => ProviderConfig {
            scopes: ["broadcaster", "openid", "email"].map(String::from).to_vec(),
            broadcast_scope: Some(castkey_ipc::BROADCASTER_SCOPE.into()),
            // "By default, access tokens expire within a day."
            default_token_lifetime_secs: 86_400,
            ..base(
                "IBM Video Streaming".into(),
                SignInKind::Browser(BrowserSignIn {
                    endpoints: Endpoints::Fixed {
                        authorization: Some(url("authorization_url")?),
                        token: url("token_url")?,
                        revocation: opt_url("revocation_url")?,
                    },
                    client_id: text("client_id")?,
                    confidential,
                    offline_access: false,
                    exchange: None,
                    redirect: RedirectStyle::AppScheme,
                }),
            )
        },
        IBM_SERVICE => ProviderConfig {
            scopes: vec![castkey_ipc::BROADCASTER_SCOPE.into()],
            broadcast_scope: Some(castkey_ipc::BROADCASTER_SCOPE.into()),
            default_token_lifetime_secs: 86_400,
            ..base(
                "IBM Video Streaming (service account)".into(),
                SignInKind::ClientCredentials {
                    endpoints: Endpoints::Fixed {
                        authorization: None,
                        token: url("token_url")?,
                        revocation: None,
                    },
                },
            )
        },
        VIDIFLOW => ProviderConfig {
            template: Some(c.template.clone()),
            ..ProviderConfig::vidiflow(url("auth_service_endpoint")?)
        },
        APIVIDEO => ProviderConfig {
            template: Some(c.template.clone()),
            ..ProviderConfig::api_video(url("production_url")?, url("sandbox_url")?)
        },
        LIFEOMIC => ProviderConfig {
            scopes: ["openid", "email", "profile"].map(String::from).to_vec(),
            api_headers: BTreeMap::from([("LifeOmic-Account".to_string(), text("account_id")?)]),
            ..base(
                "LifeOmic-style video service".into(),
                SignInKind::Browser(BrowserSignIn {
                    endpoints: Endpoints::Discover { issuer: url("issuer")? },
                    client_id: text("client_id")?,
                    confidential,
                    offline_access: true,
                    exchange: Some(IdentityTokenExchange {
                        url: url("exchange_url")?,
                        service_client_id: text("service_client_id")?,
                    }),
                    redirect: RedirectStyle::AppScheme,
                }),
            )
        },
        OIDC | OAUTH2 => {
            let endpoints = if c.template == OIDC {
                Endpoints::Discover { issuer: url("issuer")? }
            } else {
                Endpoints::Fixed {
                    authorization: Some(url("authorization_url")?),
                    token: url("token_url")?,
                    revocation: opt_url("revocation_url")?,
                }
            };
            let broadcast_scope = c.values.get("broadcast_scope").cloned();
            let mut scopes = words("scopes");
            if let Some(b) = &broadcast_scope {
                if !scopes.contains(b) {
                    scopes.push(b.clone());
                }
            }
            ProviderConfig {
                scopes,
                broadcast_scope,
                ..base(
                    text("name")?,
                    SignInKind::Browser(BrowserSignIn {
                        endpoints,
                        client_id: text("client_id")?,
                        confidential,
                        // A refresh token from OIDC providers that follow §11.
                        offline_access: c.template == OIDC,
                        exchange: None,
                        redirect,
                    }),
                )
            }
        }
        other => return Err(CoreError::InvalidRequest(format!("unknown provider template `{other}`"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn setup(template: &str, values: &[(&str, &str)]) -> AddProvider {
        AddProvider {
            template: template.into(),
            values: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn ibm_uses_the_documented_endpoints_and_keeps_the_secret_apart() {
        let p = prepare(&setup(IBM, &[("client_id", "abc"), ("client_secret", " s3cret ")])).unwrap();
        assert_eq!(p.client_secret.as_ref().map(|s| s.expose_secret()), Some("s3cret"));
        assert!(!serde_json::to_string(&p.configured).unwrap().contains("s3cret"));
        assert_eq!(p.config.id, "ibm");
        assert_eq!(p.config.scopes, ["broadcaster", "openid", "email"]);
        assert_eq!(p.config.default_token_lifetime_secs, 86_400);
        let SignInKind::Browser(b) = &p.config.sign_in else { panic!("browser sign-in") };
        assert!(b.confidential);
        assert_eq!(
            b.endpoints,
            Endpoints::Fixed {
                authorization: Some(Url::parse(IBM_AUTHORIZATION_URL).unwrap()),
                token: Url::parse(IBM_TOKEN_URL).unwrap(),
                revocation: Some(Url::parse(IBM_REVOCATION_URL).unwrap()),
            }
        );
        // What is saved rebuilds the same provider.
        let again = build(&p.configured).unwrap();
        assert_eq!(format!("{:?}", again.sign_in), format!("{:?}", p.config.sign_in));
    }

    #[test]
    fn missing_unknown_and_unsafe_values_are_refused_with_the_field_named() {
        let e = prepare(&setup(IBM, &[("client_id", "abc")])).unwrap_err();
        assert_eq!(e.to_string(), "enter the Client secret");
        let e = prepare(&setup(IBM, &[("client_id", "a"), ("client_secret", "b"), ("colour", "red")]))
            .unwrap_err();
        assert!(e.to_string().contains("no field `colour`"), "{e}");
        let e = prepare(&setup(
            OAUTH2,
            &[
                ("name", "Corp"),
                ("authorization_url", "http://login.corp.example/auth"),
                ("token_url", "https://login.corp.example/token"),
                ("client_id", "c"),
            ],
        ))
        .unwrap_err();
        assert!(e.to_string().contains("plain HTTP; only loopback"), "{e}");
        let e = prepare(&setup(OIDC, &[("name", "!!"), ("issuer", "https://x"), ("client_id", "c")]))
            .unwrap_err();
        assert!(e.to_string().contains("at least one letter"), "{e}");
        let e = prepare(&setup(
            OIDC,
            &[("name", "x"), ("issuer", "https://x"), ("client_id", "c"), ("redirect", "carrier-pigeon")],
        ))
        .unwrap_err();
        assert!(e.to_string().contains("choose one of app, loopback"), "{e}");
        let e = prepare(&setup("nope", &[])).unwrap_err();
        assert!(e.to_string().contains("choose one of ibm"), "{e}");
    }

    #[test]
    fn custom_providers_get_an_id_from_their_name_and_ask_for_their_broadcast_scope() {
        let p = prepare(&setup(
            OIDC,
            &[
                ("name", "My Studio IdP"),
                ("issuer", "http://127.0.0.1:8080"),
                ("client_id", "castkey"),
                ("scopes", "openid email openid"),
                ("broadcast_scope", "stream"),
                ("redirect", "loopback"),
            ],
        ))
        .unwrap();
        assert_eq!(p.config.id, "my-studio-idp");
        assert_eq!(p.config.scopes, ["openid", "email", "stream"]);
        assert_eq!(p.config.broadcast_scope.as_deref(), Some("stream"));
        assert!(p.client_secret.is_none());
        let SignInKind::Browser(b) = &p.config.sign_in else { panic!("browser sign-in") };
        assert_eq!(b.redirect, RedirectStyle::Loopback);
        assert!(!b.confidential);
    }

    #[test]
    fn lifeomic_exchanges_the_id_token_and_names_the_account_header() {
        let p = prepare(&setup(
            LIFEOMIC,
            &[
                ("issuer", "https://sso.customer.example"),
                ("client_id", "cust"),
                ("exchange_url", "https://api.video.example/v1/client-tokens"),
                ("service_client_id", "svc"),
                ("account_id", "acme"),
            ],
        ))
        .unwrap();
        assert_eq!(p.config.api_headers.get("LifeOmic-Account").map(String::as_str), Some("acme"));
        let SignInKind::Browser(b) = &p.config.sign_in else { panic!("browser sign-in") };
        assert_eq!(b.exchange.as_ref().map(|x| x.service_client_id.as_str()), Some("svc"));
    }
}
