//! Forms: checking what a user typed into a service's form, and reading
//! the checked values back when the provider is built.
//!
//! A template is a form ([`ProviderTemplate`], shown by the window); each
//! service in `crate::services` declares its own and turns the filled-in
//! form into a provider. What the user typed is kept as a
//! [`ConfiguredProvider`] in `providers.json`, except secret fields, which
//! go to the keychain; the provider is rebuilt from it at every start, so a
//! service fix reaches providers added before it.

use crate::error::CoreError;
use crate::provider::{LoopbackRedirect, RedirectStyle, DEFAULT_LOOPBACK_PATH};
use castkey_ipc::ui::{AddProvider, FieldKind, ProviderTemplate, TemplateField};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use url::Url;

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
    /// Signs in through its own deep-link redirect URI,
    /// [`crate::app_redirect_uri`] (every provider added since Castkey
    /// gave each one its own). `false` — what `providers.json` entries
    /// written before say by leaving it out — keeps the shared
    /// [`crate::APP_REDIRECT_URI`] their registrations name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_redirect_uri: bool,
}

pub(crate) fn field(
    name: &str,
    label: &str,
    kind: FieldKind,
    required: bool,
    default: Option<&str>,
) -> TemplateField {
    TemplateField {
        name: name.into(),
        label: label.into(),
        kind,
        required,
        default: default.map(String::from),
        choices: Vec::new(),
    }
}

/// Extra headers a service's API needs (`Name: value`, several separated by
/// `;` or new lines): IPC token answers carry them beside `Authorization`.
pub(crate) fn api_headers_field() -> TemplateField {
    field(
        "api_headers",
        "Extra API headers (Name: value; separate several with ;)",
        FieldKind::Text,
        false,
        None,
    )
}

pub(crate) fn redirect_field() -> TemplateField {
    TemplateField {
        choices: vec!["app".into(), "loopback".into()],
        ..field(
            "redirect",
            "Redirect (app: through Castkey's link; loopback: http://127.0.0.1:<port>)",
            FieldKind::Choice,
            true,
            Some("app"),
        )
    }
}

/// The loopback redirect's fixed port and path, for servers that match the
/// registered redirect URI exactly (port included).
pub(crate) fn loopback_fields() -> [TemplateField; 2] {
    [
        field(
            "loopback_port",
            "Fixed loopback port, 1024-65535 (empty: any free port; register http://127.0.0.1:<port><path>)",
            FieldKind::Text,
            false,
            None,
        ),
        field("loopback_path", "Loopback path", FieldKind::Text, false, Some(DEFAULT_LOOPBACK_PATH)),
    ]
}

/// A form checked against its template: the values to save, and the client
/// secret for the keychain.
#[derive(Debug)]
pub(crate) struct Checked {
    pub values: BTreeMap<String, String>,
    pub client_secret: Option<SecretString>,
}

/// Checks a filled-in form against `template`: no unknown fields, every
/// required one present (defaults filled in, secrets never defaulted),
/// choices among the offered ones. Values are trimmed.
pub(crate) fn check(template: &ProviderTemplate, setup: &AddProvider) -> Result<Checked, CoreError> {
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
    Ok(Checked { values, client_secret })
}

/// `My IdP` → `my-idp`.
pub(crate) fn slug(name: &str) -> Result<String, CoreError> {
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

impl ConfiguredProvider {
    /// A required text value.
    pub(crate) fn text(&self, name: &str) -> Result<String, CoreError> {
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| CoreError::InvalidRequest(format!("`{name}` is missing")))
    }

    /// An optional URL value.
    pub(crate) fn opt_url(&self, name: &str) -> Result<Option<Url>, CoreError> {
        self.values
            .get(name)
            .map(|v| {
                Url::parse(v)
                    .map_err(|e| CoreError::InvalidRequest(format!("{name} `{v}` is not a URL ({e})")))
            })
            .transpose()
    }

    /// A required URL value.
    pub(crate) fn url(&self, name: &str) -> Result<Url, CoreError> {
        self.opt_url(name)?.ok_or_else(|| CoreError::InvalidRequest(format!("`{name}` is missing")))
    }

    /// Whether the client secret was given (it is in the keychain).
    pub(crate) fn confidential(&self) -> bool {
        self.secrets.iter().any(|s| s == CLIENT_SECRET)
    }

    /// The `redirect` choice.
    pub(crate) fn redirect(&self) -> RedirectStyle {
        match self.values.get("redirect").map(String::as_str) {
            Some("loopback") => RedirectStyle::Loopback,
            _ => RedirectStyle::AppScheme,
        }
    }

    /// The loopback port and path (`loopback_port`, `loopback_path`),
    /// checked. A fixed port with the app redirect is refused: it would
    /// never be used.
    pub(crate) fn loopback(&self) -> Result<LoopbackRedirect, CoreError> {
        let port = match self.values.get("loopback_port") {
            None => None,
            Some(v) => Some(v.parse::<u16>().map_err(|_| {
                CoreError::InvalidRequest(format!("loopback port `{v}`: enter a number from 1024 to 65535"))
            })?),
        };
        if port.is_some() && self.redirect() != RedirectStyle::Loopback {
            return Err(CoreError::InvalidRequest(
                "a loopback port is only used with the loopback redirect: choose `loopback`".into(),
            ));
        }
        let path = self.values.get("loopback_path").map(String::as_str).unwrap_or(DEFAULT_LOOPBACK_PATH);
        LoopbackRedirect::fixed(port, path)
    }

    /// A space-separated list, duplicates dropped, order kept.
    pub(crate) fn words(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for w in self.values.get(name).map(String::as_str).unwrap_or_default().split_whitespace() {
            if !out.iter().any(|o| o == w) {
                out.push(w.to_string());
            }
        }
        out
    }

    /// The `api_headers` value as header names and values. Names must be
    /// RFC 9110 tokens and not `Authorization` (Castkey sets that one);
    /// values must not break a header line.
    pub(crate) fn api_headers(&self) -> Result<BTreeMap<String, String>, CoreError> {
        let mut out = BTreeMap::new();
        let raw = self.values.get("api_headers").map(String::as_str).unwrap_or_default();
        for item in raw.split([';', '\n']).map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item.split_once(':').ok_or_else(|| {
                CoreError::InvalidRequest(format!("extra API header `{item}`: write it as `Name: value`"))
            })?;
            let (name, value) = (name.trim(), value.trim());
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(CoreError::InvalidRequest(format!("`{name}` is not a header name")));
            }
            if name.eq_ignore_ascii_case("authorization") {
                return Err(CoreError::InvalidRequest(
                    "Castkey sets the Authorization header itself; leave it out".into(),
                ));
            }
            if value.chars().any(|c| c.is_control()) {
                return Err(CoreError::InvalidRequest(format!(
                    "the value of `{name}` has a control character"
                )));
            }
            out.insert(name.to_string(), value.to_string());
        }
        Ok(out)
    }
}
