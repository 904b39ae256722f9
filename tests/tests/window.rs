//! The real window, driven through tauri-driver + WebKitWebDriver under Xvfb.

use castkey_scenarios::webdriver::WebDriver;
use castkey_scenarios::{binary, standin_calls, standin_get, standin_post, EnvOptions, TestEnv};
use std::time::Duration;

#[test]
fn streamer_signs_in_from_the_window_and_sees_the_account() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();

    // The window offers the sandbox provider; the user presses Sign in.
    driver.show_screen("add");
    let button = driver.wait("#providers button[data-provider=\"sandbox\"]", Duration::from_secs(60));
    assert!(driver.text(&button).contains("Sign in"), "{}", driver.text(&button));
    assert!(driver.find("#accounts [data-account-id]").is_none());
    driver.click(&button);

    // The system browser signs in and hands the redirect to xdg-open; the
    // running window shows the account.
    let name = driver
        .wait("#accounts [data-account-id=\"sandbox:streamer\"] .account-name", Duration::from_secs(60));
    driver.show_screen("accounts");
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
    // configured as VidiFlow documents it (client credentials, scope api1),
    // its authServiceEndpoint typed in the window.
    let issuer = env.issuer.clone();
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    driver.set_up_service("vidiflow", &[("auth_service_endpoint", &issuer)]);
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
        .call::<castkey_ipc::Token>(&castkey_ipc::TokenParams { force_refresh: Some(true), ..params.clone() })
        .unwrap();
    assert_ne!(fresh.access_token, grant.access_token);
    assert_eq!(env.introspect(&fresh.access_token)["active"], true);

    // Sign-out: the secret leaves the keychain, the account the window.
    driver.sign_out("vidiflow:vidiflow-service");
    assert!(env.keychain_lookup("account/vidiflow:vidiflow-service/client_secret").is_none());
    let err = env.client().call::<castkey_ipc::Token>(&params).unwrap_err().to_string();
    assert!(err.contains("not_signed_in"), "{err}");
}

#[test]
fn vidiflow_token_endpoint_faults_are_clear_and_lose_nothing() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    // The authentication service behind a gate that can fail like real
    // services do; discovery leads every request through it.
    let issuer = env.issuer.clone();
    let gate = env.start_standin("faultgate", "faultgate.mjs", &[("UPSTREAM", &issuer), ("AS_ISSUER", "1")]);
    let fail = |mode: &str| standin_post(&gate, &format!("/_test/fail?path=/token&mode={mode}"));
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    driver.set_up_service("vidiflow", &[("auth_service_endpoint", &gate)]);
    let row = "#providers [data-provider-id=\"vidiflow\"]";
    let client_id = driver.wait(&format!("{row} input[name=\"client-id\"]"), Duration::from_secs(30));
    let secret = driver.find(&format!("{row} input[name=\"client-secret\"]")).unwrap();
    let add = format!("{row} button[data-provider=\"vidiflow\"]");

    // Adding the account while the token endpoint answers 500: the window says so.
    fail("500");
    driver.type_text(&client_id, "vidiflow-service");
    driver.type_text(&secret, "vidiflow-secret");
    driver.click_css(&add, Duration::from_secs(10));
    castkey_scenarios::wait_for("the error banner", Duration::from_secs(30), || {
        let banner = driver.find("#error-text")?;
        driver.text(&banner).contains("answered HTTP 500").then_some(())
    });
    assert!(env.client().call::<castkey_ipc::Accounts>(&Default::default()).unwrap().is_empty());

    // With the odd-but-valid answers some services send, it works.
    fail("lenient");
    driver.type_text(&secret, "vidiflow-secret");
    driver.click_css(&add, Duration::from_secs(10));
    driver.wait("#accounts [data-account-id=\"vidiflow:vidiflow-service\"]", Duration::from_secs(30));
    let params = castkey_ipc::TokenParams { provider: Some("vidiflow".into()), ..Default::default() };
    let grant = env.client().call::<castkey_ipc::Token>(&params).unwrap();
    assert_eq!(grant.scope, vec!["api1"]);

    // 500, an HTML page, silence: clear errors over IPC, the secret kept.
    let fresh = castkey_ipc::TokenParams { force_refresh: Some(true), ..params.clone() };
    for (mode, says) in
        [("500", "answered HTTP 500"), ("garbage", "not a token response"), ("hang", "timed out")]
    {
        // Castkey backs off after a provider failed to answer: wait it out.
        if mode == "garbage" {
            castkey_scenarios::wait_out_backoff(1);
        }
        fail(mode);
        let err = env.client().call::<castkey_ipc::Token>(&fresh).unwrap_err().to_string();
        assert!(err.contains("provider_unavailable") && err.contains(says), "{mode}: {err}");
        assert_eq!(
            env.keychain_lookup("account/vidiflow:vidiflow-service/client_secret").as_deref(),
            Some("vidiflow-secret"),
            "{mode}"
        );
    }
    // The secret revoked at the service (invalid_client): sign in again, secret kept.
    fail("invalid_grant");
    castkey_scenarios::wait_out_backoff(2);
    let err = env.client().call::<castkey_ipc::Token>(&fresh).unwrap_err().to_string();
    assert!(err.contains("reauth_required"), "{err}");
    assert!(env.keychain_lookup("account/vidiflow:vidiflow-service/client_secret").is_some());
}

#[test]
fn an_api_video_key_is_added_from_the_window_and_refreshed_without_resending_it() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    let sandbox = env.start_standin(
        "apivideo-sandbox",
        "apivideo.mjs",
        &[("APIVIDEO_KEY", "sandbox-key-1234"), ("APIVIDEO_ENV", "sandbox")],
    );
    let production = env.start_standin(
        "apivideo-production",
        "apivideo.mjs",
        &[("APIVIDEO_KEY", "prod-key-9876"), ("APIVIDEO_ENV", "production")],
    );
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    // api.video's hosts, pointed at the stand-ins from the window.
    driver.set_up_service("apivideo", &[("production_url", &production), ("sandbox_url", &sandbox)]);
    driver.wait("#providers button[data-remove-provider=\"apivideo\"]", Duration::from_secs(30));
    let row = "#providers [data-provider-id=\"apivideo\"]";
    let key = driver.wait(&format!("{row} input[name=\"api-key\"]"), Duration::from_secs(60));
    let add = driver.find(&format!("{row} button[data-provider=\"apivideo\"]")).unwrap();
    let environment = driver.find(&format!("{row} select[name=\"environment\"]")).unwrap();
    assert_eq!(driver.value(&environment), "sandbox");

    // The production key entered as a sandbox key: refused at once, nothing kept.
    driver.type_text(&key, "prod-key-9876");
    driver.click(&add);
    let banner = driver.wait("#error-text", Duration::from_secs(5));
    castkey_scenarios::wait_for("the error banner", Duration::from_secs(30), || {
        driver.text(&banner).contains("refused this sandbox API key").then_some(())
    });
    assert!(env.client().call::<castkey_ipc::Accounts>(&Default::default()).unwrap().is_empty());
    assert_eq!(standin_calls(&production, "/auth/api-key"), 0, "a sandbox key went to production");

    driver.type_text(&key, "sandbox-key-1234");
    driver.click(&add);
    let card = driver.wait("#accounts [data-account-id^=\"apivideo:sandbox-\"]", Duration::from_secs(30));
    driver.show_screen("accounts");
    assert!(driver.text(&card).contains("…1234"), "{}", driver.text(&card));
    assert!(!driver.source().contains("sandbox-key-1234"));
    let requests = standin_get(&sandbox, "/_test/requests");
    assert_eq!(requests[1]["keys"], serde_json::json!(["apiKey"]), "{requests}");
    assert_eq!(requests[1]["content_type"], "application/json");

    // A broadcasting app gets the sandbox token; it carries no scopes.
    let params = castkey_ipc::TokenParams { provider: Some("apivideo".into()), ..Default::default() };
    let grant = env.client().call::<castkey_ipc::Token>(&params).unwrap();
    assert!(grant.access_token.starts_with("sandbox-at-"));
    assert_eq!(standin_get(&sandbox, &format!("/_test/token/{}", grant.access_token))["active"], true);

    // Refresh with the refresh token, not the key.
    let fresh = castkey_ipc::TokenParams { force_refresh: Some(true), ..params.clone() };
    let second = env.client().call::<castkey_ipc::Token>(&fresh).unwrap();
    assert_ne!(second.access_token, grant.access_token);
    assert_eq!(standin_calls(&sandbox, "/auth/refresh"), 1);
    assert_eq!(standin_calls(&sandbox, "/auth/api-key"), 2, "only the refused and the accepted key so far");

    // api.video failing (500, an HTML page, silence): a clear error over
    // IPC; the account stays signed in and keeps its secrets.
    let refresh_key = format!("account/{}/refresh_token", grant.account.id);
    let refresh = env.keychain_lookup(&refresh_key).unwrap();
    // (A forced refresh just succeeded: the next within 10 s is served from memory.)
    castkey_scenarios::wait_out_forced_refresh();
    for (mode, says) in
        [("500", "answered HTTP 500"), ("garbage", "not a token response"), ("hang", "timed out")]
    {
        // Castkey backs off after a provider failed to answer: wait it out.
        if mode == "garbage" {
            castkey_scenarios::wait_out_backoff(1);
        }
        standin_post(&sandbox, &format!("/_test/fail?mode={mode}"));
        let err = env.client().call::<castkey_ipc::Token>(&fresh).unwrap_err().to_string();
        assert!(err.contains("provider_unavailable") && err.contains(says), "{mode}: {err}");
        assert!(!err.contains("maintenance"), "the body was echoed: {err}");
        let accounts = env.client().call::<castkey_ipc::Accounts>(&Default::default()).unwrap();
        assert_eq!(accounts[0].status, castkey_ipc::AccountStatus::SignedIn, "{mode}");
        assert_eq!(env.keychain_lookup(&refresh_key).as_deref(), Some(refresh.as_str()), "{mode}");
    }
    standin_post(&sandbox, "/_test/fail?mode=none");
    castkey_scenarios::wait_out_backoff(2);

    // The refresh token refused: the key gets a new pair.
    standin_post(&sandbox, "/_test/revoke-refresh");
    let third = env.client().call::<castkey_ipc::Token>(&fresh).unwrap();
    assert_eq!(standin_get(&sandbox, &format!("/_test/token/{}", third.access_token))["active"], true);
    assert_eq!(standin_calls(&sandbox, "/auth/api-key"), 3);

    // The key revoked too: "sign in again", and nothing is deleted. (A
    // forced refresh just succeeded: wait out the interval.)
    castkey_scenarios::wait_out_forced_refresh();
    standin_post(&sandbox, "/_test/revoke-refresh");
    standin_post(&sandbox, "/_test/revoke-key");
    let err = env.client().call::<castkey_ipc::Token>(&fresh).unwrap_err();
    assert!(err.to_string().contains("reauth_required"), "{err}");
    let accounts = env.client().call::<castkey_ipc::Accounts>(&Default::default()).unwrap();
    assert_eq!(accounts[0].status, castkey_ipc::AccountStatus::ReauthRequired);
    assert_eq!(
        env.keychain_lookup(&format!("account/{}/api_key", accounts[0].id)).as_deref(),
        Some("sandbox-key-1234")
    );

    // Adding a key while api.video fails: the window says so.
    standin_post(&production, "/_test/fail?mode=500");
    driver.show_screen("add");
    let production_option =
        driver.find(&format!("{row} select[name=\"environment\"] option[value=\"production\"]"));
    driver.click(&production_option.unwrap());
    driver.type_text(&key, "prod-key-9876");
    driver.click(&add);
    castkey_scenarios::wait_for("the error banner", Duration::from_secs(30), || {
        let banner = driver.find("#error-text")?;
        driver.text(&banner).contains("answered HTTP 500").then_some(())
    });
    assert_eq!(env.client().call::<castkey_ipc::Accounts>(&Default::default()).unwrap().len(), 1);

    // Sign-out: the key and the refresh token leave the keychain.
    let id = accounts[0].id.clone();
    driver.sign_out(&id);
    assert!(env.keychain_lookup(&format!("account/{id}/api_key")).is_none());
    assert!(env.keychain_lookup(&format!("account/{id}/refresh_token")).is_none());
    assert!(env.client().call::<castkey_ipc::Accounts>(&Default::default()).unwrap().is_empty());
}

#[test]
fn streamer_signs_in_with_a_code_shown_in_the_window() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();

    // The sandbox offers RFC 8628; the window learns it from discovery.
    // A first code, cancelled: the panel closes.
    driver.show_screen("add");
    driver.click_css("#providers button[data-device-provider=\"sandbox\"]", Duration::from_secs(60));
    driver.wait("#device-sign-in:not([hidden]) #device-user-code", Duration::from_secs(30));
    driver.click_css("#device-hide", Duration::from_secs(10));
    driver.wait("#device-sign-in[hidden]", Duration::from_secs(10));

    driver.click_css("#providers button[data-device-provider=\"sandbox\"]", Duration::from_secs(10));
    let code = driver.wait("#device-sign-in:not([hidden]) #device-user-code", Duration::from_secs(30));
    let user_code = driver.text(&code);
    assert!(user_code.len() >= 8, "{user_code}");
    let uri = driver.find("#device-verification-uri").unwrap();
    assert_eq!(driver.text(&uri), format!("{}/device", env.issuer));
    let complete = driver.attribute(&uri, "data-complete").unwrap();
    assert!(complete.contains("user_code="), "{complete}");
    assert!(driver.find("#device-qr svg").is_some(), "no QR code");

    // The user finishes on another device (here: the scripted browser,
    // opening the URL the QR code carries).
    let status =
        env.command(castkey_scenarios::repo().join("tests/idp/browser")).arg(&complete).status().unwrap();
    assert!(status.success());
    driver.wait("#accounts [data-account-id=\"sandbox:streamer\"]", Duration::from_secs(60));
    castkey_scenarios::wait_for("the code panel to close", Duration::from_secs(10), || {
        driver.find("#device-sign-in[hidden]").map(|_| ())
    });
    let grant = env.client().call::<castkey_ipc::Token>(&Default::default()).unwrap();
    assert!(grant.scope.iter().any(|s| s == "broadcaster"));
    assert_eq!(env.introspect(&grant.access_token)["active"], true);
    assert!(env.keychain_lookup("account/sandbox:streamer/refresh_token").is_some());
}
