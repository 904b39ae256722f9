//! Services added from the window ("Add a service"), each used by a
//! broadcasting app over IPC, refreshed and signed out: IBM Video Streaming
//! (browser and service account), the LifeOmic-style SSO with its identity
//! token exchange, and a custom OpenID Connect provider. The identity
//! provider is the real sandbox oidc-provider configured the way each
//! service's documents describe; the exchange is `tests/standins/lifeomic.mjs`.

use castkey_ipc::{Accounts, Token, TokenParams};
use castkey_scenarios::webdriver::WebDriver;
use castkey_scenarios::{binary, standin_get, standin_post, wait_for, EnvOptions, TestEnv};
use std::time::Duration;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The error banner, or the sign-in panel's failure (a sign-in that failed
/// after the browser), says `what`.
fn banner_says(driver: &WebDriver, what: &str) {
    let shown = "#error:not([hidden]) #error-text, #sign-in-progress:not([hidden]) #sign-in-failure";
    wait_for(&format!("the error banner to say `{what}`"), Duration::from_secs(30), || {
        let banner = driver.find(shown)?;
        driver.text(&banner).contains(what).then_some(())
    });
}

fn for_provider(provider: &str) -> TokenParams {
    TokenParams { provider: Some(provider.into()), ..Default::default() }
}

#[test]
fn ibm_video_streaming_from_set_up_to_sign_out() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    let issuer = env.issuer.clone();
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();

    // The form comes with IBM's documented endpoints; the test points them
    // at the sandbox provider, configured as IBM documents its service.
    let form = "#templates form[data-template=\"ibm\"]";
    driver.wait(form, Duration::from_secs(60));
    let token_field = driver.find(&format!("{form} [name=\"token_url\"]")).unwrap();
    assert_eq!(driver.value(&token_field), "https://video.ibm.com/oauth2/token");
    let ibm_form = [
        ("client_id", "ibm-app"),
        ("client_secret", "ibm-app-secret"),
        ("authorization_url", &format!("{issuer}/auth")),
        ("token_url", &format!("{issuer}/token")),
        ("revocation_url", &format!("{issuer}/token/revocation")),
    ];
    // The form names the provider's own redirect URI (RFC 9700 §4.4.2),
    // the only one the sandbox's `ibm-app` client has registered.
    driver.fill_service_form("ibm", &ibm_form);
    assert_eq!(driver.redirect_uri_shown("ibm"), "dev.castkey.app:/callback/ibm");
    driver.set_up_service("ibm", &ibm_form);
    driver.wait("#providers button[data-provider=\"ibm\"]", Duration::from_secs(30));
    assert_eq!(env.keychain_lookup("provider/ibm/client_secret").as_deref(), Some("ibm-app-secret"));
    assert!(!env.config_files_text().contains("ibm-app-secret"), "the client secret reached a file");
    assert!(!driver.source().contains("ibm-app-secret"), "the window kept the client secret");

    driver.click_css("#providers button[data-provider=\"ibm\"]", Duration::from_secs(30));
    let card = driver.wait("#accounts [data-account-id^=\"ibm:\"]", Duration::from_secs(60));
    driver.show_screen("accounts");
    assert!(driver.text(&card).contains("IBM Video Streaming account"), "{}", driver.text(&card));

    // A broadcasting app asks for the broadcaster scope (the default).
    let grant = env.client().call::<Token>(&for_provider("ibm")).unwrap();
    assert!(grant.scope.iter().any(|s| s == "broadcaster"), "{:?}", grant.scope);
    let info = env.introspect(&grant.access_token);
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], "ibm-app", "{info}");
    assert!(grant.expires_at > now() + 23 * 3600, "IBM access tokens last a day");
    let account = grant.account.id.clone();
    let refresh_key = format!("account/{account}/refresh_token");
    let first_refresh = env.keychain_lookup(&refresh_key).expect("a refresh token in the keychain");

    // A refresh (the confidential client authenticates with its secret).
    // This provider does not rotate a confidential client's refresh token;
    // whichever it is, the keychain holds the live one.
    let fresh = TokenParams { force_refresh: Some(true), ..for_provider("ibm") };
    let second = env.client().call::<Token>(&fresh).unwrap();
    assert_ne!(second.access_token, grant.access_token);
    assert_eq!(env.introspect(&second.access_token)["active"], true);
    let rotated = env.keychain_lookup(&refresh_key).unwrap();
    assert_eq!(env.introspect(&rotated)["active"], true, "the keychain holds a dead refresh token");
    let _ = first_refresh;

    // Sign-out revokes the refresh token at the provider, then forgets it.
    driver.sign_out(&account);
    assert_eq!(env.introspect(&rotated)["active"], false, "refresh token still active after sign-out");
    assert_eq!(env.introspect(&second.access_token)["active"], false, "the grant outlived the sign-out");
    assert!(env.keychain_lookup(&refresh_key).is_none());

    // The service account (client credentials) at the same token endpoint.
    driver.set_up_service("ibm-service", &[("token_url", &format!("{issuer}/token"))]);
    let row = "#providers [data-provider-id=\"ibm-service\"]";
    let client_id = driver.wait(&format!("{row} input[name=\"client-id\"]"), Duration::from_secs(30));
    let secret = driver.find(&format!("{row} input[name=\"client-secret\"]")).unwrap();
    driver.type_text(&client_id, "ibm-service");
    driver.type_text(&secret, "ibm-service-secret");
    driver.click_css(&format!("{row} button[data-provider=\"ibm-service\"]"), Duration::from_secs(10));
    driver.wait("#accounts [data-account-id=\"ibm-service:ibm-service\"]", Duration::from_secs(30));
    let service = env.client().call::<Token>(&for_provider("ibm-service")).unwrap();
    assert_eq!(service.scope, vec!["broadcaster"]);
    let info = env.introspect(&service.access_token);
    assert_eq!(info["active"], true, "{info}");
    assert!(service.expires_at > now() + 23 * 3600);
}

#[test]
fn lifeomic_s_own_oauth_client_signs_in_and_hands_out_the_account_header() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    let issuer = env.issuer.clone();
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();

    // The service's own OAuth client (the seed document's main path). The
    // form comes with the documented endpoints; the test points them at the
    // sandbox provider, whose confidential `ibm-app` client plays the
    // service's client (authorization code + refresh token).
    let form = "#templates form[data-template=\"lifeomic-oauth\"]";
    driver.wait(form, Duration::from_secs(60));
    let token_field = driver.find(&format!("{form} [name=\"token_url\"]")).unwrap();
    assert_eq!(driver.value(&token_field), "https://api.us.lifeomic.com/v1/oauth/token");
    driver.set_up_service(
        "lifeomic-oauth",
        &[
            ("client_id", "ibm-app"),
            ("client_secret", "ibm-app-secret"),
            ("account_id", "acme-studio"),
            ("authorization_url", &format!("{issuer}/auth")),
            ("token_url", &format!("{issuer}/token")),
            ("scopes", "openid email"),
        ],
    );
    driver.click_css("#providers button[data-provider=\"lifeomic-oauth\"]", Duration::from_secs(30));
    driver.wait("#accounts [data-account-id^=\"lifeomic-oauth:\"]", Duration::from_secs(60));

    // A broadcasting app gets the token with both headers the GraphQL API needs.
    let grant = env.client().call::<Token>(&for_provider("lifeomic-oauth")).unwrap();
    assert_eq!(grant.headers["LifeOmic-Account"], "acme-studio");
    assert_eq!(grant.headers["Authorization"], format!("Bearer {}", grant.access_token));
    assert_eq!(env.introspect(&grant.access_token)["active"], true);

    // A refresh keeps the header and a live grant in the keychain.
    let fresh = TokenParams { force_refresh: Some(true), ..for_provider("lifeomic-oauth") };
    let second = env.client().call::<Token>(&fresh).unwrap();
    assert_ne!(second.access_token, grant.access_token);
    assert_eq!(second.headers["LifeOmic-Account"], "acme-studio");
    let refresh_key = format!("account/{}/refresh_token", second.account.id);
    let current = env.keychain_lookup(&refresh_key).expect("a refresh token in the keychain");
    assert_eq!(env.introspect(&current)["active"], true);
}

#[test]
fn lifeomic_sso_exchanges_the_identity_token_and_hands_out_both_headers() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    let issuer = env.issuer.clone();
    let service = env.start_standin(
        "lifeomic",
        "lifeomic.mjs",
        &[
            ("OIDC_ISSUER", &issuer),
            ("OIDC_CLIENT_ID", "customer-sso"),
            ("SERVICE_CLIENT_ID", "video-service-client"),
            ("ACCOUNT", "acme-studios"),
        ],
    );
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    let exchange_url = format!("{service}/v1/identity-token-exchange");
    driver.set_up_service(
        "lifeomic",
        &[
            ("issuer", &issuer),
            ("client_id", "customer-sso"),
            ("client_secret", "customer-sso-secret"),
            ("exchange_url", &exchange_url),
            ("service_client_id", "video-service-client"),
            ("account_id", "acme-studios"),
        ],
    );
    // The exchange failing at sign-in: the window says so, nothing is kept.
    standin_post(&service, "/_test/fail?mode=500");
    driver.click_css("#providers button[data-provider=\"lifeomic\"]", Duration::from_secs(30));
    banner_says(&driver, "the token exchange answered HTTP 500");
    assert!(env.client().call::<Accounts>(&Default::default()).unwrap().is_empty());
    assert!(env.keychain_lookup("account/lifeomic:streamer/refresh_token").is_none());
    standin_post(&service, "/_test/fail?mode=none");

    driver.click_css("#providers button[data-provider=\"lifeomic\"]", Duration::from_secs(30));
    driver.wait("#accounts [data-account-id=\"lifeomic:streamer\"]", Duration::from_secs(60));

    // The exchange got exactly the documented fields, as JSON.
    let requests = standin_get(&service, "/_test/requests");
    let exchange = requests.as_array().unwrap().iter().rfind(|r| r["path"] == "/v1/identity-token-exchange");
    let exchange = exchange.expect("an exchange request");
    assert_eq!(
        exchange["keys"],
        serde_json::json!(["identityToken", "lifeomicClientId", "oidcClientId", "providerName"])
    );
    assert_eq!(exchange["content_type"], "application/json");

    // A broadcasting app gets the service's token and both headers, and can
    // call the GraphQL API with them as they are.
    let grant = env.client().call::<Token>(&for_provider("lifeomic")).unwrap();
    assert!(grant.access_token.starts_with("svc-"), "not the service's token");
    assert_eq!(grant.headers["LifeOmic-Account"], "acme-studios");
    assert_eq!(grant.headers["Authorization"], format!("Bearer {}", grant.access_token));
    let mut request = ureq::post(format!("{service}/graphql"));
    for (k, v) in &grant.headers {
        request = request.header(k, v);
    }
    let mut answer = request.send_json(serde_json::json!({"query": "{ me { sub } }"})).unwrap();
    let answer: serde_json::Value = answer.body_mut().read_json().unwrap();
    assert_eq!(answer["data"]["me"]["sub"], "streamer");

    // Refresh: at the customer's provider, then a second exchange.
    let exchanges = || {
        standin_get(&service, "/_test/requests")
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["path"] == "/v1/identity-token-exchange")
            .count()
    };
    let refresh_key = "account/lifeomic:streamer/refresh_token";
    let first_refresh = env.keychain_lookup(refresh_key).expect("the customer's refresh token");
    let fresh = TokenParams { force_refresh: Some(true), ..for_provider("lifeomic") };
    let second = env.client().call::<Token>(&fresh).unwrap();
    assert_ne!(second.access_token, grant.access_token);
    assert_eq!(exchanges(), 3, "the refused one at sign-in, the good one, the refresh");
    assert_eq!(standin_get(&service, &format!("/_test/token/{}", second.access_token))["active"], true);
    let current = env.keychain_lookup(refresh_key).unwrap();
    assert_eq!(env.introspect(&current)["active"], true, "the keychain holds a dead refresh token");
    let _ = first_refresh;

    // Faults of the exchange: a clear error over IPC, the account and its
    // secrets kept, and the next good answer works again. (A forced refresh
    // just succeeded: the next within 10 s is served from memory.)
    castkey_scenarios::wait_out_forced_refresh();
    for (mode, says) in
        [("500", "answered HTTP 500"), ("garbage", "not a token"), ("hang", "timed out after 10 s")]
    {
        // Castkey backs off after a provider failed to answer: wait it out.
        if mode == "garbage" {
            castkey_scenarios::wait_out_backoff(1);
        }
        standin_post(&service, &format!("/_test/fail?mode={mode}"));
        let err = env.client().call::<Token>(&fresh).unwrap_err().to_string();
        assert!(err.contains(says), "{mode}: {err}");
        let accounts = env.client().call::<Accounts>(&Default::default()).unwrap();
        assert_eq!(accounts[0].status, castkey_ipc::AccountStatus::SignedIn, "{mode}");
        assert!(env.keychain_lookup(refresh_key).is_some(), "{mode}: the refresh token was lost");
    }
    standin_post(&service, "/_test/fail?mode=none");
    castkey_scenarios::wait_out_backoff(2);
    let again = env.client().call::<Token>(&fresh).unwrap();
    assert_eq!(standin_get(&service, &format!("/_test/token/{}", again.access_token))["active"], true);

    // Sign-out revokes the customer's refresh token.
    let last_refresh = env.keychain_lookup(refresh_key).unwrap();
    driver.sign_out("lifeomic:streamer");
    assert_eq!(env.introspect(&last_refresh)["active"], false);
    assert!(env.keychain_lookup(refresh_key).is_none());
}

#[test]
fn a_custom_openid_provider_is_checked_added_used_through_a_loopback_redirect_and_removed() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    let issuer = env.issuer.clone();
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    let base = [("name", "Studio IdP"), ("client_id", "castkey"), ("broadcast_scope", "broadcaster")];
    let with_issuer = |url: &str| {
        let mut v: Vec<(&str, String)> = base.iter().map(|(k, v)| (*k, v.to_string())).collect();
        v.push(("issuer", url.to_string()));
        v.push(("redirect", "loopback".into()));
        v
    };
    let set_up = |values: Vec<(&str, String)>| {
        let refs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        driver.set_up_service("oidc", &refs);
    };

    // Plain HTTP away from loopback is refused.
    set_up(with_issuer("http://idp.example.com"));
    banner_says(&driver, "plain HTTP; only loopback");
    // The same provider under another name: its discovery document names
    // 127.0.0.1, not localhost, and is refused with a clear message.
    let port = issuer.rsplit(':').next().unwrap();
    set_up(with_issuer(&format!("http://localhost:{port}")));
    banner_says(&driver, "names another issuer");
    assert!(driver.find("#providers [data-provider-id=\"studio-idp\"]").is_none());

    set_up(with_issuer(&issuer));
    driver.click_css("#providers button[data-provider=\"studio-idp\"]", Duration::from_secs(30));
    // The browser comes back to a loopback listener (RFC 8252 §7.3).
    driver.wait("#accounts [data-account-id=\"studio-idp:streamer\"]", Duration::from_secs(60));
    let grant = env.client().call::<Token>(&for_provider("studio-idp")).unwrap();
    assert!(grant.scope.iter().any(|s| s == "broadcaster"));
    assert_eq!(env.introspect(&grant.access_token)["active"], true);

    // A provider with accounts cannot be removed; after sign-out it can.
    driver.show_screen("add");
    driver.click_css("#providers button[data-remove-provider=\"studio-idp\"]", Duration::from_secs(10));
    wait_for("the confirmation", Duration::from_secs(10), || driver.accept_prompt().then_some(()));
    banner_says(&driver, "sign out of Studio IdP first");
    driver.sign_out("studio-idp:streamer");
    driver.show_screen("add");
    driver.click_css("#providers button[data-remove-provider=\"studio-idp\"]", Duration::from_secs(10));
    wait_for("the confirmation", Duration::from_secs(10), || driver.accept_prompt().then_some(()));
    wait_for("the provider to leave the window", Duration::from_secs(30), || {
        driver.find("#providers [data-provider-id=\"studio-idp\"]").is_none().then_some(())
    });
    assert!(!env.config_files_text().contains("studio-idp"));

    // A plain OAuth 2 provider, endpoints typed in: no ID token is trusted,
    // so the account gets a name of its own; tokens work the same. Its
    // redirect URI follows the name as it is typed.
    let plain = [
        ("name", "Plain OAuth"),
        ("authorization_url", &format!("{issuer}/auth")),
        ("token_url", &format!("{issuer}/token")),
        ("revocation_url", &format!("{issuer}/token/revocation")),
        ("client_id", "castkey"),
        ("scopes", "openid broadcaster"),
        ("broadcast_scope", "broadcaster"),
    ];
    driver.fill_service_form("oauth2", &plain);
    wait_for("the form to name the redirect URI", Duration::from_secs(30), || {
        (driver.redirect_uri_shown("oauth2") == "dev.castkey.app:/callback/plain-oauth").then_some(())
    });
    driver.set_up_service("oauth2", &plain);
    driver.click_css("#providers button[data-provider=\"plain-oauth\"]", Duration::from_secs(30));
    let card = driver.wait("#accounts [data-account-id^=\"plain-oauth:\"]", Duration::from_secs(60));
    driver.show_screen("accounts");
    assert!(driver.text(&card).contains("Plain OAuth account"), "{}", driver.text(&card));
    let grant = env.client().call::<Token>(&for_provider("plain-oauth")).unwrap();
    assert_eq!(env.introspect(&grant.access_token)["active"], true);
}

#[test]
fn ibm_token_endpoint_faults_are_clear_in_the_window_and_over_ipc_and_lose_nothing() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    let issuer = env.issuer.clone();
    // The token endpoint is reached through a gate that can fail like real
    // providers do; everything else goes straight to the sandbox provider.
    let gate = env.start_standin("faultgate", "faultgate.mjs", &[("UPSTREAM", &issuer)]);
    let fail = |mode: &str| standin_post(&gate, &format!("/_test/fail?path=/token&mode={mode}"));
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    driver.set_up_service(
        "ibm",
        &[
            ("client_id", "ibm-app"),
            ("client_secret", "ibm-app-secret"),
            ("authorization_url", &format!("{issuer}/auth")),
            ("token_url", &format!("{gate}/token")),
            ("revocation_url", &format!("{issuer}/token/revocation")),
        ],
    );
    let sign_in = "#providers button[data-provider=\"ibm\"]";

    // The code exchange answered 500: the window says so; no account, no secret.
    fail("500");
    driver.click_css(sign_in, Duration::from_secs(30));
    banner_says(&driver, "the token endpoint answered HTTP 500");
    assert!(env.client().call::<Accounts>(&Default::default()).unwrap().is_empty());

    // Providers that send expires_in as a string, scope as an array and no
    // token_type are accepted.
    fail("lenient");
    driver.click_css(sign_in, Duration::from_secs(30));
    driver.wait("#accounts [data-account-id^=\"ibm:\"]", Duration::from_secs(60));
    let grant = env.client().call::<Token>(&for_provider("ibm")).unwrap();
    assert_eq!(grant.token_type, "Bearer");
    assert!(grant.scope.iter().any(|s| s == "broadcaster"), "{:?}", grant.scope);
    let account = grant.account.id.clone();
    let refresh_key = format!("account/{account}/refresh_token");
    let refresh = env.keychain_lookup(&refresh_key).unwrap();

    // A refresh that meets 500, an HTML page or silence: a clear error over
    // IPC, the account still signed in, the refresh token kept.
    // Castkey backs off after a provider failed to answer (5 s, then 10 s):
    // each fault is tried once its back-off is over.
    let fresh = TokenParams { force_refresh: Some(true), ..for_provider("ibm") };
    for (mode, says) in
        [("500", "answered HTTP 500"), ("garbage", "not a token response"), ("hang", "timed out")]
    {
        if mode == "garbage" {
            castkey_scenarios::wait_out_backoff(1);
        }
        fail(mode);
        let err = env.client().call::<Token>(&fresh).unwrap_err().to_string();
        assert!(err.contains("provider_unavailable") && err.contains(says), "{mode}: {err}");
        assert!(!err.contains("maintenance"), "the body was echoed: {err}");
        let accounts = env.client().call::<Accounts>(&Default::default()).unwrap();
        assert_eq!(accounts[0].status, castkey_ipc::AccountStatus::SignedIn, "{mode}");
        assert_eq!(env.keychain_lookup(&refresh_key).as_deref(), Some(refresh.as_str()), "{mode}");
    }
    // The cached token is still served meanwhile.
    let cached = env.client().call::<Token>(&for_provider("ibm")).unwrap();
    assert_eq!(cached.access_token, grant.access_token);

    // The refresh token refused: "sign in again" in the window and over IPC;
    // the secrets stay until the user acts.
    fail("invalid_grant");
    castkey_scenarios::wait_out_backoff(2);
    let err = env.client().call::<Token>(&fresh).unwrap_err().to_string();
    assert!(err.contains("reauth_required"), "{err}");
    // (The window redraws the card: find it afresh each time.)
    driver.show_screen("accounts");
    wait_for("the card to ask for a new sign-in", Duration::from_secs(30), || {
        let card = driver.find(&format!("#accounts [data-account-id=\"{account}\"]"))?;
        driver.text(&card).contains("Sign in again").then_some(())
    });
    assert_eq!(env.keychain_lookup(&refresh_key).as_deref(), Some(refresh.as_str()));
    assert!(env.keychain_lookup("provider/ibm/client_secret").is_some());
    let err = env.client().call::<Token>(&for_provider("ibm")).unwrap_err().to_string();
    assert!(
        err.contains("reauth_required"),
        "a cached token was served to an account that must sign in: {err}"
    );

    // Signing in again mends it.
    fail("none");
    driver.show_screen("add");
    driver.click_css(sign_in, Duration::from_secs(30));
    wait_for("the account to be signed in again", Duration::from_secs(60), || {
        let accounts = env.client().call::<Accounts>(&Default::default()).unwrap();
        accounts.iter().any(|a| a.status == castkey_ipc::AccountStatus::SignedIn).then_some(())
    });
    env.client().call::<Token>(&for_provider("ibm")).unwrap();
}
