//! The services Castkey knows, one file each: its documented endpoints, its
//! form ([`ProviderTemplate`]) and how the filled-in form becomes a
//! [`ProviderConfig`]. A new service is one new file here plus one line in
//! [`SERVICES`].

mod apivideo;
mod custom;
mod google;
mod ibm;
mod kick;
mod lifeomic;
mod twitch;
mod vidiflow;

pub use apivideo::{api_video, APIVIDEO_PRODUCTION_URL, APIVIDEO_SANDBOX_URL};
pub use custom::local_sandbox;
pub use vidiflow::vidiflow;

/// Castkey's presets for the streaming platforms a build offers built in
/// (Twitch, when the build carries a public client id).
pub fn builtin_platforms() -> Result<Vec<ProviderConfig>, CoreError> {
    Ok(twitch::builtin()?.into_iter().collect())
}

use crate::error::CoreError;
use crate::provider::{ProviderConfig, SignInKind};
use crate::template::{ConfiguredProvider, CLIENT_SECRET};
use castkey_ipc::ui::{AddProvider, ProviderTemplate};
use secrecy::SecretString;
use std::collections::BTreeMap;

/// One kind of service a user can add.
pub(crate) struct Service {
    /// The form the window shows.
    pub template: fn() -> ProviderTemplate,
    /// The provider a saved form describes.
    pub build: fn(&ConfiguredProvider) -> Result<ProviderConfig, CoreError>,
    /// The provider's id comes from the form's `name` field (custom
    /// providers); otherwise it is the template's id.
    pub named: bool,
}

/// Every service, in the order the window lists them.
pub(crate) const SERVICES: &[Service] = &[
    ibm::BROWSER,
    ibm::SERVICE_ACCOUNT,
    vidiflow::SERVICE,
    apivideo::OTHER_HOSTS,
    lifeomic::OAUTH_CLIENT,
    lifeomic::SSO,
    twitch::SERVICE,
    google::SERVICE,
    kick::SERVICE,
    custom::OIDC_SERVICE,
    custom::OAUTH2_SERVICE,
];

/// Every template, in the order the window lists them.
pub fn templates() -> Vec<ProviderTemplate> {
    SERVICES.iter().map(|s| (s.template)()).collect()
}

fn service(template: &str) -> Option<(&'static Service, ProviderTemplate)> {
    SERVICES.iter().map(|s| (s, (s.template)())).find(|(_, t)| t.id == template)
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
    let (service, template) = service(&setup.template).ok_or_else(|| {
        CoreError::InvalidRequest(format!(
            "unknown provider template `{}`; choose one of {}",
            setup.template,
            templates().iter().map(|t| t.id.clone()).collect::<Vec<_>>().join(", ")
        ))
    })?;
    let checked = crate::template::check(&template, setup)?;
    let id = match service.named {
        true => crate::template::slug(checked.values.get("name").map(String::as_str).unwrap_or_default())?,
        false => template.id.clone(),
    };
    let configured = ConfiguredProvider {
        template: template.id.clone(),
        id,
        values: checked.values,
        secrets: checked.client_secret.iter().map(|_| CLIENT_SECRET.to_string()).collect(),
        own_redirect_uri: true,
    };
    let config = (service.build)(&configured)?;
    config.validate()?;
    Ok(Prepared { configured, config, client_secret: checked.client_secret })
}

/// The fields a provider's redirect URI depends on: its id (from `name`,
/// for named templates) and the redirect choice. Every other field is
/// irrelevant to it (a test checks this for every template).
const REDIRECT_FIELDS: [&str; 4] = ["name", "redirect", "loopback_port", "loopback_path"];

/// The redirect URI to register for the provider a form describes, while
/// the user is still filling it in: the add-service form shows it before
/// the provider exists, since each added provider gets its own (RFC 9700
/// §4.4.2). Built by the template's own builder from the name and redirect
/// fields as typed, every other field standing in with a placeholder, so
/// it is exactly the URI the added provider will send. `None`: the
/// template signs in without a browser, its name is not typed yet, or a
/// redirect field does not check (adding the provider says why).
pub fn redirect_uri_to_register(setup: &AddProvider) -> Option<String> {
    use castkey_ipc::ui::FieldKind;
    let (_, template) = service(&setup.template)?;
    let mut filled = AddProvider { template: setup.template.clone(), values: BTreeMap::new() };
    for f in &template.fields {
        let typed = setup.values.get(&f.name).filter(|v| !v.trim().is_empty());
        let value = match typed {
            Some(v) if REDIRECT_FIELDS.contains(&f.name.as_str()) => Some(v.clone()),
            _ if REDIRECT_FIELDS.contains(&f.name.as_str()) || !f.required || f.default.is_some() => None,
            _ => Some(
                match f.kind {
                    FieldKind::Url => "https://provider.invalid/",
                    FieldKind::Text | FieldKind::Secret => "stand-in",
                    FieldKind::Choice => f.choices.first().map(String::as_str).unwrap_or_default(),
                }
                .to_string(),
            ),
        };
        if let Some(v) = value {
            filled.values.insert(f.name.clone(), v);
        }
    }
    prepare(&filled).ok()?.config.redirect_uri_to_register()
}

/// Builds the provider a saved form describes.
pub fn build(c: &ConfiguredProvider) -> Result<ProviderConfig, CoreError> {
    match service(&c.template) {
        Some((s, _)) => (s.build)(c),
        None => Err(CoreError::InvalidRequest(format!("unknown provider template `{}`", c.template))),
    }
}

/// How long the service's refresh tokens last, where its documentation
/// says and its token responses do not (seconds; `None`: unknown or no end).
pub fn documented_refresh_token_lifetime(config: &ProviderConfig) -> Option<u64> {
    if let Some(lifetime) = config
        .sign_in
        .as_browser()
        .and_then(|b| b.platform.as_ref())
        .and_then(|p| p.refresh_token_lifetime_secs)
    {
        // Twitch public clients: 30 days unused (each refresh rotates the
        // token, so the end moves); Google projects in Testing: 7 days.
        return Some(lifetime);
    }
    config.refresh_clocks.refresh_token_lifetime_secs.or_else(|| {
        (config.template.as_deref() == Some(lifeomic::LIFEOMIC_OAUTH))
            .then_some(lifeomic::REFRESH_TOKEN_LIFETIME_SECS)
    })
}

/// `path` under `host` (whose own path is kept as a prefix).
fn join(host: &url::Url, path: &str) -> Result<url::Url, CoreError> {
    let mut base = host.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path).map_err(|e| CoreError::InvalidRequest(format!("{host}: {e}")))
}

/// The host a preset's form starts with: `$var` when set (a test points
/// the preset at a stand-in), else `default`.
fn default_host(var: &str, default: &str) -> String {
    std::env::var(var).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| default.to_string())
}

/// [`default_host`] parsed.
fn host_from_env(var: &str, default: &str) -> Result<url::Url, CoreError> {
    let v = default_host(var, default);
    url::Url::parse(&v).map_err(|e| CoreError::InvalidRequest(format!("{var} `{v}`: {e}")))
}

/// The earlier of two ends, either unknown.
fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// When the refresh token in `set`, stored at `now`, stops working (Unix
/// seconds): what the answer said, else the service's documented lifetime;
/// and, for a provider whose refresh tokens die unused, no later than
/// `now` plus that idle lifetime. `None`: no refresh token, or no known end.
pub fn refresh_token_end(config: &ProviderConfig, set: &crate::oauth::TokenSet, now: u64) -> Option<u64> {
    set.refresh_token.as_ref()?;
    let lifetime = set
        .refresh_expires_at
        .or_else(|| documented_refresh_token_lifetime(config).map(|l| now.saturating_add(l)));
    let idle = config.refresh_clocks.refresh_token_idle_lifetime_secs.map(|l| now.saturating_add(l));
    earliest(lifetime, idle)
}

/// A refresh at `now` used the refresh token stored at `stored_at` and did
/// not rotate it: for a provider whose refresh tokens die unused, the idle
/// clock starts again, capped by the documented lifetime from `stored_at`.
/// `None` when the provider has no idle lifetime (the end is unchanged).
pub fn refresh_token_end_after_use(config: &ProviderConfig, stored_at: Option<u64>, now: u64) -> Option<u64> {
    let idle = config.refresh_clocks.refresh_token_idle_lifetime_secs?;
    let lifetime =
        documented_refresh_token_lifetime(config).zip(stored_at).map(|(l, at)| at.saturating_add(l));
    earliest(lifetime, Some(now.saturating_add(idle)))
}

/// What every added provider starts from: its id and template, no scopes,
/// hour-long tokens, no extra headers.
fn base(c: &ConfiguredProvider, display_name: String, sign_in: impl Into<SignInKind>) -> ProviderConfig {
    ProviderConfig {
        id: c.id.clone(),
        display_name,
        sign_in: sign_in.into(),
        scopes: Vec::new(),
        broadcast_scope: None,
        default_token_lifetime_secs: 3600,
        refresh_clocks: Default::default(),
        api_headers: BTreeMap::new(),
        template: Some(c.template.clone()),
        app_redirect_uri: match c.own_redirect_uri {
            true => crate::app_redirect_uri(&c.id),
            false => crate::APP_REDIRECT_URI.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Endpoints, RedirectStyle};
    use custom::{OAUTH2, OIDC};
    use ibm::{IBM, IBM_AUTHORIZATION_URL, IBM_REVOCATION_URL, IBM_TOKEN_URL};
    use lifeomic::LIFEOMIC;
    use secrecy::ExposeSecret;
    use url::Url;

    fn setup(template: &str, values: &[(&str, &str)]) -> AddProvider {
        AddProvider {
            template: template.into(),
            values: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    fn with_clocks(lifetime: Option<u64>, idle: Option<u64>) -> ProviderConfig {
        let mut p = local_sandbox(Url::parse("http://127.0.0.1:9").unwrap());
        p.refresh_clocks = crate::provider::RefreshClocks {
            refresh_token_lifetime_secs: lifetime,
            refresh_token_idle_lifetime_secs: idle,
        };
        p
    }

    fn answer(refresh: bool, says: Option<u64>) -> crate::oauth::TokenSet {
        crate::oauth::TokenSet {
            access_token: "a".to_string().into(),
            token_type: "Bearer".into(),
            expires_at: 0,
            scopes: vec![],
            refresh_token: refresh.then(|| "r".to_string().into()),
            id_token: None,
            refresh_expires_at: says,
            lifetime_known: true,
        }
    }

    #[test]
    fn a_providers_refresh_token_clocks_give_the_grant_its_end() {
        const DAY: u64 = 86_400;
        let now = 1_000_000;
        // Nothing documented, nothing said: no known end.
        assert_eq!(refresh_token_end(&with_clocks(None, None), &answer(true, None), now), None);
        // No refresh token: nothing ends.
        assert_eq!(refresh_token_end(&with_clocks(Some(DAY), Some(DAY)), &answer(false, None), now), None);
        // Google project in "Testing": 7 days from issue.
        let testing = with_clocks(Some(7 * DAY), None);
        assert_eq!(refresh_token_end(&testing, &answer(true, None), now), Some(now + 7 * DAY));
        // What the answer says wins over the documented lifetime.
        assert_eq!(refresh_token_end(&testing, &answer(true, Some(now + DAY)), now), Some(now + DAY));
        // Twitch public client: 30 days unused.
        let twitch = with_clocks(None, Some(30 * DAY));
        assert_eq!(refresh_token_end(&twitch, &answer(true, None), now), Some(now + 30 * DAY));
        // Both: the earlier end.
        let both = with_clocks(Some(7 * DAY), Some(30 * DAY));
        assert_eq!(refresh_token_end(&both, &answer(true, None), now), Some(now + 7 * DAY));
        let both = with_clocks(Some(180 * DAY), Some(30 * DAY));
        assert_eq!(refresh_token_end(&both, &answer(true, None), now), Some(now + 30 * DAY));
    }

    #[test]
    fn using_a_refresh_token_restarts_only_the_idle_clock() {
        const DAY: u64 = 86_400;
        let stored = 1_000_000;
        let later = stored + 20 * DAY;
        // No idle lifetime: a use changes nothing.
        assert_eq!(refresh_token_end_after_use(&with_clocks(Some(7 * DAY), None), Some(stored), later), None);
        // 30 days unused, used 20 days in: 30 days from the use.
        let twitch = with_clocks(None, Some(30 * DAY));
        assert_eq!(refresh_token_end_after_use(&twitch, Some(stored), later), Some(later + 30 * DAY));
        // But never past the lifetime counted from issue.
        let capped = with_clocks(Some(40 * DAY), Some(30 * DAY));
        assert_eq!(refresh_token_end_after_use(&capped, Some(stored), later), Some(stored + 40 * DAY));
    }

    #[test]
    fn ibm_uses_the_documented_endpoints_and_keeps_the_secret_apart() {
        let p = prepare(&setup(IBM, &[("client_id", "abc"), ("client_secret", " s3cret ")])).unwrap();
        assert_eq!(p.client_secret.as_ref().map(|s| s.expose_secret()), Some("s3cret"));
        assert!(!serde_json::to_string(&p.configured).unwrap().contains("s3cret"));
        assert_eq!(p.config.id, "ibm");
        assert_eq!(p.config.scopes, ["broadcaster", "openid", "email"]);
        assert_eq!(p.config.default_token_lifetime_secs, 86_400);
        let b = p.config.sign_in.as_browser().expect("browser sign-in");
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
        let b = p.config.sign_in.as_browser().expect("browser sign-in");
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
        let b = p.config.sign_in.as_browser().expect("browser sign-in");
        assert_eq!(b.exchange.as_ref().map(|x| x.service_client_id.as_str()), Some("svc"));
    }

    #[test]
    fn lifeomic_s_own_oauth_client_signs_in_at_its_documented_endpoints() {
        let p = prepare(&setup(lifeomic::LIFEOMIC_OAUTH, &[("client_id", "svc"), ("account_id", "acme")]))
            .unwrap();
        assert_eq!(p.config.id, "lifeomic-oauth");
        assert_eq!(p.config.api_headers.get("LifeOmic-Account").map(String::as_str), Some("acme"));
        assert_eq!(p.config.default_token_lifetime_secs, 3600);
        let b = p.config.sign_in.as_browser().expect("browser sign-in");
        assert_eq!(
            b.endpoints,
            Endpoints::Fixed {
                authorization: Some(Url::parse(lifeomic::LIFEOMIC_AUTHORIZATION_URL).unwrap()),
                token: Url::parse(lifeomic::LIFEOMIC_TOKEN_URL).unwrap(),
                revocation: None,
            }
        );
        assert!(!b.confidential);
        let e = prepare(&setup(lifeomic::LIFEOMIC_OAUTH, &[("client_id", "svc")])).unwrap_err();
        assert!(e.to_string().contains("Account id"), "{e}");
    }

    #[test]
    fn any_provider_can_carry_extra_api_headers_and_bad_ones_are_named() {
        let base = [("name", "Studio"), ("issuer", "https://id.studio.example"), ("client_id", "c")];
        let with = |h: &str| {
            let mut v = base.to_vec();
            v.push(("api_headers", h));
            prepare(&setup(OIDC, &v))
        };
        let p = with("X-Tenant: acme; Client-Id : abc:def\nAccept-Version: 2").unwrap();
        let h = &p.config.api_headers;
        assert_eq!(h.get("X-Tenant").map(String::as_str), Some("acme"));
        assert_eq!(h.get("Client-Id").map(String::as_str), Some("abc:def"));
        assert_eq!(h.get("Accept-Version").map(String::as_str), Some("2"));
        assert!(with("no colon").unwrap_err().to_string().contains("Name: value"));
        assert!(with("Bad Name: x").unwrap_err().to_string().contains("not a header name"));
        assert!(with("authorization: Bearer x").unwrap_err().to_string().contains("Authorization"));
        // What is saved rebuilds the same headers.
        assert_eq!(&build(&p.configured).unwrap().api_headers, h);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod platform_tests {
    use super::*;
    use crate::provider::{Endpoints, PlatformKind, RedirectStyle};

    fn prepared(template: &str, values: &[(&str, &str)]) -> Result<Prepared, CoreError> {
        let values = values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        prepare(&AddProvider { template: template.into(), values })
    }

    fn endpoints(p: &Prepared) -> (String, String, String) {
        match &p.config.sign_in.as_browser().unwrap().endpoints {
            Endpoints::Fixed { authorization, token, revocation } => (
                authorization.as_ref().unwrap().to_string(),
                token.to_string(),
                revocation.as_ref().unwrap().to_string(),
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn twitch_public_and_confidential_apps() {
        let public = prepared(twitch::TWITCH, &[("client_id", "abc")]).unwrap();
        let b = public.config.sign_in.as_browser().unwrap();
        let p = b.platform.as_ref().unwrap();
        assert_eq!(p.kind, PlatformKind::Twitch);
        assert!(!b.confidential);
        assert_eq!(p.refresh_token_lifetime_secs, Some(30 * 86_400), "public: 30 days unused");
        assert_eq!(p.device_scope_param, "scopes");
        assert_eq!(p.validate.as_ref().unwrap().as_str(), "https://id.twitch.tv/oauth2/validate");
        assert_eq!(
            endpoints(&public),
            (
                "https://id.twitch.tv/oauth2/authorize".into(),
                "https://id.twitch.tv/oauth2/token".into(),
                "https://id.twitch.tv/oauth2/revoke".into()
            )
        );
        assert_eq!(public.config.api_headers.get("Client-Id").map(String::as_str), Some("abc"));
        assert_eq!((b.redirect, b.loopback.uri(17563)), (RedirectStyle::Loopback, twitch::redirect_uri()));
        let confidential = prepared(twitch::TWITCH, &[("client_id", "abc"), ("client_secret", "s")]).unwrap();
        let b = confidential.config.sign_in.as_browser().unwrap();
        assert!(b.confidential);
        assert_eq!(b.platform.as_ref().unwrap().refresh_token_lifetime_secs, None);
        assert!(confidential.client_secret.is_some());
        // The form names the exact redirect URI to register.
        let t = (twitch::SERVICE.template)();
        assert!(t.description.contains("http://127.0.0.1:17563/callback"), "{}", t.description);
        // Built in only when this build carries a client id.
        assert_eq!(
            twitch::builtin().unwrap().is_some(),
            twitch::BUILD_CLIENT_ID.is_some_and(|s| !s.is_empty())
        );
    }

    #[test]
    fn youtube_uses_google_s_hosts_loopback_and_the_testing_clock() {
        let real = prepared(google::YOUTUBE, &[("client_id", "c"), ("client_secret", "s")]).unwrap();
        assert_eq!(
            endpoints(&real),
            (google::AUTHORIZATION_URL.into(), google::TOKEN_URL.into(), google::REVOCATION_URL.into())
        );
        let b = real.config.sign_in.as_browser().unwrap();
        assert_eq!(b.redirect, RedirectStyle::Loopback);
        assert_eq!(b.loopback.port, None, "Google takes any loopback port");
        assert_eq!(b.platform.as_ref().unwrap().refresh_token_lifetime_secs, None);
        assert_eq!(documented_refresh_token_lifetime(&real.config), None);
        let testing = prepared(
            google::YOUTUBE,
            &[("client_id", "c"), ("client_secret", "s"), ("testing", "yes"), ("url", "http://127.0.0.1:5")],
        )
        .unwrap();
        assert_eq!(documented_refresh_token_lifetime(&testing.config), Some(7 * 86_400));
        let (a, t, r) = endpoints(&testing);
        assert_eq!(
            (a.as_str(), t.as_str(), r.as_str()),
            ("http://127.0.0.1:5/o/oauth2/v2/auth", "http://127.0.0.1:5/token", "http://127.0.0.1:5/revoke")
        );
        let e =
            prepared(google::YOUTUBE, &[("client_id", "c"), ("client_secret", "s"), ("testing", "maybe")])
                .unwrap_err();
        assert!(e.to_string().contains("choose one of no, yes"), "{e}");
    }

    #[test]
    fn kick_needs_its_secret_and_splits_id_and_api_hosts() {
        let e = prepared(kick::KICK, &[("client_id", "c")]).unwrap_err();
        assert!(e.to_string().contains("Client secret"), "{e}");
        let k = prepared(kick::KICK, &[("client_id", "c"), ("client_secret", "s")]).unwrap();
        assert_eq!(
            endpoints(&k),
            (
                "https://id.kick.com/oauth/authorize".into(),
                "https://id.kick.com/oauth/token".into(),
                "https://id.kick.com/oauth/revoke".into()
            )
        );
        let b = k.config.sign_in.as_browser().unwrap();
        assert!(b.confidential);
        assert_eq!(b.platform.as_ref().unwrap().identity.as_str(), "https://api.kick.com/public/v1/users");
        assert_eq!(b.loopback.uri(17564), kick::redirect_uri());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod redirect_tests {
    use super::*;
    use custom::OIDC;
    use ibm::IBM;

    fn setup(template: &str, values: &[(&str, &str)]) -> AddProvider {
        AddProvider {
            template: template.into(),
            values: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn each_added_provider_has_its_own_redirect_uri_and_the_form_shows_it_first() {
        // RFC 9700 §4.4.2: one redirect URI per authorization server.
        let full = prepare(&setup(IBM, &[("client_id", "abc"), ("client_secret", "s")])).unwrap();
        assert_eq!(full.config.app_redirect_uri, "dev.castkey.app:/callback/ibm");
        assert_eq!(full.config.info().redirect_uri.as_deref(), Some("dev.castkey.app:/callback/ibm"));
        // The form shows it before anything is typed, and it is what the
        // added provider sends.
        assert_eq!(redirect_uri_to_register(&setup(IBM, &[])), full.config.redirect_uri_to_register());
        let oidc_named = |extra: &[(&str, &str)]| {
            let mut v = vec![("name", "Studio IdP")];
            v.extend_from_slice(extra);
            setup(OIDC, &v)
        };
        assert_eq!(redirect_uri_to_register(&setup(OIDC, &[])), None, "no name, no id yet");
        assert_eq!(
            redirect_uri_to_register(&oidc_named(&[])).as_deref(),
            Some("dev.castkey.app:/callback/studio-idp")
        );
        let added = prepare(&oidc_named(&[("issuer", "https://idp.example"), ("client_id", "c")])).unwrap();
        assert_eq!(
            added.config.redirect_uri_to_register().as_deref(),
            Some("dev.castkey.app:/callback/studio-idp")
        );
        let loopback = [("redirect", "loopback"), ("loopback_port", "8765"), ("loopback_path", "/oidc/cb")];
        assert_eq!(
            redirect_uri_to_register(&oidc_named(&loopback)).as_deref(),
            Some("http://127.0.0.1:8765/oidc/cb")
        );
        assert_eq!(
            redirect_uri_to_register(&oidc_named(&[("redirect", "loopback")])).as_deref(),
            Some("http://127.0.0.1:<any port>/callback")
        );
        assert_eq!(
            redirect_uri_to_register(&oidc_named(&[("redirect", "loopback"), ("loopback_port", "80")])),
            None
        );
        // Platforms name their fixed loopback URIs; services without a
        // browser sign-in have none.
        assert_eq!(redirect_uri_to_register(&setup(twitch::TWITCH, &[])), Some(twitch::redirect_uri()));
        assert_eq!(redirect_uri_to_register(&setup(kick::KICK, &[])), Some(kick::redirect_uri()));
        assert_eq!(redirect_uri_to_register(&setup(ibm::IBM_SERVICE, &[])), None);
        assert_eq!(redirect_uri_to_register(&setup("no-such-template", &[])), None);
    }

    #[test]
    fn a_redirect_uri_depends_on_the_name_and_redirect_fields_alone() {
        // What the preview relies on, for every template: other fields
        // typed differently never change the URI.
        use castkey_ipc::ui::FieldKind;
        let mut browser = 0;
        for t in templates() {
            let with = |url: &str, text: &str| {
                let values = t
                    .fields
                    .iter()
                    .filter(|f| !REDIRECT_FIELDS.contains(&f.name.as_str()) || f.name == "name")
                    .map(|f| {
                        let v = match (f.name.as_str(), f.kind) {
                            ("name", _) => "Same Name".to_string(),
                            ("api_headers", _) => format!("X-Test: {text}"),
                            (_, FieldKind::Url) => url.to_string(),
                            (_, FieldKind::Choice) => f.choices.last().cloned().unwrap_or_default(),
                            _ => text.to_string(),
                        };
                        (f.name.clone(), v)
                    })
                    .collect();
                AddProvider { template: t.id.clone(), values }
            };
            let one = with("https://one.example/", "one");
            let other = with("https://other.example/base/", "other");
            let uri = |form: &AddProvider| match prepare(form) {
                Ok(p) => p.config.redirect_uri_to_register(),
                Err(e) => panic!("{}: {e}", t.id),
            };
            assert_eq!(uri(&one), uri(&other), "{}", t.id);
            assert_eq!(uri(&one), redirect_uri_to_register(&one), "{}", t.id);
            browser += usize::from(uri(&one).is_some());
        }
        assert_eq!(browser, 8, "every template with a browser sign-in was tried");
    }

    #[test]
    fn providers_added_before_keep_the_redirect_uri_they_registered() {
        // A `providers.json` entry written before each provider got its own
        // redirect URI says nothing about it: the shared one, as registered.
        let new = prepare(&setup(IBM, &[("client_id", "abc"), ("client_secret", "s")])).unwrap().configured;
        let mut saved: serde_json::Value = serde_json::to_value(&new).unwrap();
        saved.as_object_mut().unwrap().remove("own_redirect_uri");
        let saved = saved.to_string();
        let old: ConfiguredProvider = serde_json::from_str(&saved).unwrap();
        assert!(!old.own_redirect_uri);
        assert_eq!(build(&old).unwrap().app_redirect_uri, crate::APP_REDIRECT_URI);
        // Saved again, it stays as it was; a new one says it has its own.
        assert_eq!(serde_json::to_value(&old).unwrap().to_string(), saved);
        assert!(serde_json::to_string(&new).unwrap().contains("\"own_redirect_uri\":true"));
        assert_eq!(build(&new).unwrap().app_redirect_uri, "dev.castkey.app:/callback/ibm");
    }
}
