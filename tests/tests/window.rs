//! The real window, driven through tauri-driver + WebKitWebDriver under Xvfb.

use castkey_scenarios::webdriver::WebDriver;
use castkey_scenarios::{binary, EnvOptions, TestEnv};
use std::time::Duration;

#[test]
fn streamer_signs_in_from_the_window_and_sees_the_account() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();

    // The window offers the sandbox provider; the user presses Sign in.
    let button = driver.wait("#providers button[data-provider=\"sandbox\"]", Duration::from_secs(60));
    assert!(driver.text(&button).contains("Sign in"), "{}", driver.text(&button));
    assert!(driver.find("#accounts [data-account-id]").is_none());
    driver.click(&button);

    // The system browser signs in and hands the redirect to xdg-open; the
    // running window shows the account.
    let name = driver
        .wait("#accounts [data-account-id=\"sandbox:streamer\"] .account-name", Duration::from_secs(60));
    assert_eq!(driver.text(&name), "streamer");
    let card = driver.find("#accounts [data-account-id=\"sandbox:streamer\"]").unwrap();
    let card_text = driver.text(&card);
    assert!(card_text.contains("streamer@example.test"), "{card_text}");
    assert!(card_text.contains("broadcaster"), "{card_text}");
    let status = driver.wait("#status", Duration::from_secs(10));
    assert!(driver.text(&status).contains("castkey.sock"), "{}", driver.text(&status));

    // The webview never holds a secret.
    let token = env.client().call::<castkey_ipc::Token>(&Default::default()).unwrap();
    let refresh = env.keychain_lookup("account/sandbox:streamer/refresh_token").unwrap();
    let html = driver.source();
    assert!(!html.contains(&token.access_token) && !html.contains(&refresh));

    let png = env.window_screenshot("Castkey");
    assert_eq!(&png[1..4], b"PNG");
    if let Ok(out) = std::env::var("CASTKEY_SCREENSHOT_OUT") {
        std::fs::write(out, &png).unwrap();
    }

    // Sign out: the provider revokes the refresh token (RFC 7009), the
    // keychain forgets it and the account leaves the window.
    let sign_out = driver.find("#accounts [data-account-id=\"sandbox:streamer\"] button").unwrap();
    assert!(driver.text(&sign_out).contains("Sign out"));
    driver.click(&sign_out);
    castkey_scenarios::wait_for("the confirmation", Duration::from_secs(10), || {
        driver.accept_prompt().then_some(())
    });
    castkey_scenarios::wait_for("the account to leave the window", Duration::from_secs(30), || {
        driver.find("#accounts [data-account-id]").is_none().then_some(())
    });
    assert_eq!(env.introspect(&refresh)["active"], false, "refresh token still active after sign-out");
    assert!(env.keychain_lookup("account/sandbox:streamer/refresh_token").is_none());
    assert!(env.client().call::<castkey_ipc::Accounts>(&Default::default()).unwrap().is_empty());
}

#[test]
fn a_service_account_is_added_from_the_window_and_serves_tokens() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    // VidiFlow's authentication service, played by the sandbox provider
    // configured as VidiFlow documents it (client credentials, scope api1).
    let issuer = env.issuer.clone();
    env.vars.insert("CASTKEY_VIDIFLOW_ENDPOINT".into(), issuer);
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    let row = "#providers [data-provider-id=\"vidiflow\"]";
    let client_id = driver.wait(&format!("{row} input[name=\"client-id\"]"), Duration::from_secs(60));
    let secret = driver.find(&format!("{row} input[name=\"client-secret\"]")).unwrap();
    let add = driver.find(&format!("{row} button[data-provider=\"vidiflow\"]")).unwrap();

    // A wrong secret: a clear error in the window, nothing kept.
    driver.type_text(&client_id, "vidiflow-service");
    driver.type_text(&secret, "not-the-secret");
    driver.click(&add);
    let banner = driver.wait("#error-text", Duration::from_secs(5));
    castkey_scenarios::wait_for("the error banner", Duration::from_secs(30), || {
        driver.text(&banner).contains("refused the client id or secret").then_some(())
    });
    assert_eq!(driver.value(&secret), "", "the window kept the secret");
    assert!(env.client().call::<castkey_ipc::Accounts>(&Default::default()).unwrap().is_empty());
    assert!(env.keychain_lookup("account/vidiflow:vidiflow-service/client_secret").is_none());

    // The right one: the account appears and a broadcasting app gets a token.
    driver.type_text(&secret, "vidiflow-secret");
    driver.click(&add);
    driver.wait("#accounts [data-account-id=\"vidiflow:vidiflow-service\"]", Duration::from_secs(30));
    let params = castkey_ipc::TokenParams { provider: Some("vidiflow".into()), ..Default::default() };
    let grant = env.client().call::<castkey_ipc::Token>(&params).unwrap();
    assert_eq!(grant.scope, vec!["api1"]);
    let info = env.introspect(&grant.access_token);
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["scope"], "api1", "{info}");
    assert!(!driver.source().contains("vidiflow-secret"));
    assert_eq!(
        env.keychain_lookup("account/vidiflow:vidiflow-service/client_secret").as_deref(),
        Some("vidiflow-secret")
    );

    // No refresh token: a token that would expire too soon is replaced by a
    // new client-credentials token.
    let fresh = env
        .client()
        .call::<castkey_ipc::Token>(&castkey_ipc::TokenParams { min_valid_secs: Some(10 * 3600), ..params })
        .unwrap();
    assert_ne!(fresh.access_token, grant.access_token);
    assert_eq!(env.introspect(&fresh.access_token)["active"], true);
}
