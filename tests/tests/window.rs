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
