//! Consent for local programs, in the real window (tauri-driver +
//! WebKitWebDriver under Xvfb): a program nobody approved asks for a token,
//! the prompt comes up, the user allows it always (only the scopes it asked
//! for), it shows in Connected apps, gets tokens without asking again, is
//! revoked, asks again, is denied, and is refused without a prompt while the
//! denial lasts. Then "Allow once", Escape as Deny, the activity log, and two
//! accounts of one provider switched with "Make active".
//!
//! The program is a small Python script written at test time (standard
//! library only), run with /usr/bin/python3: Castkey knows it by the
//! interpreter and the script's path, the weaker identity the prompt warns
//! about.
//!
//! Screenshots of the prompt and of Connected apps go to
//! `target/scenario-screenshots/`; with `CASTKEY_SCREENSHOTS=1` also to
//! `docs/screenshot-consent.png` and `docs/screenshot-connected-apps.png`.

use castkey_scenarios::steps::{
    answer_consent_prompt, focused_id, sign_in_from_window, ConsentAnswer, CONSENT_DIALOG,
};
use castkey_scenarios::webdriver::WebDriver;
use castkey_scenarios::{
    answered_refusal, answered_token, binary, repo, wait_for, EnvOptions, LocalProgram, TestEnv,
};
use serde_json::Value;
use std::time::Duration;

/// Saves the window as `name`, and under docs/ as `docs_name` when
/// CASTKEY_SCREENSHOTS=1.
fn save_screenshot(env: &TestEnv, name: &str, docs_name: &str) {
    let png = env.window_screenshot("Castkey");
    assert_eq!(&png[1..4], b"PNG");
    let path = castkey_scenarios::screenshot_dir("").join(name);
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());
    if std::env::var("CASTKEY_SCREENSHOTS").as_deref() == Ok("1") {
        std::fs::write(repo().join("docs").join(docs_name), &png).unwrap();
    }
}

/// The `sub` of the token `castkey token` prints.
fn castkey_token_user(env: &TestEnv) -> String {
    let out = env.castkey(&["token"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let info = env.introspect(&token);
    assert_eq!(info["active"], true, "{info}");
    info["sub"].as_str().unwrap_or_else(|| panic!("no sub: {info}")).to_string()
}

#[test]
fn a_new_program_is_asked_about_allowed_revoked_and_denied_in_the_window() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    env.browser_with_chosen_login();
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    sign_in_from_window(&env, &driver, "streamer");

    let script = LocalProgram::install(&env, "stream-bot.py");
    let script_path = script.display().to_string();

    // 1. A program nobody approved asks: the prompt comes up, focus in it.
    let mut first = LocalProgram::start(&env, &script, "Stream Bot");
    let dialog = driver.wait(CONSENT_DIALOG, Duration::from_secs(30));
    assert_eq!(driver.attribute(&dialog, "aria-modal").as_deref(), Some("true"));
    let shown = driver.text(&dialog);
    for expected in [
        "Stream Bot",
        "what it says about itself",
        "/usr/bin/python3",
        &script_path,
        "a weaker identity",
        "broadcaster",
        "Only these scopes: broadcaster",
        "Allow once",
        "Always allow",
        "Deny",
    ] {
        assert!(shown.contains(expected), "the prompt lacks `{expected}`:\n{shown}");
    }
    let pid = first.pid().to_string();
    assert!(shown.contains(&pid), "the prompt does not show pid {pid}:\n{shown}");
    assert_eq!(focused_id(&driver), "consent-deny", "focus did not move into the prompt");
    let only = driver.execute("return document.getElementById('consent-only-scopes').checked;");
    assert_eq!(only, Some(Value::Bool(true)), "\"Only these scopes\" should be checked");
    let bind = driver.find("#consent-bind").unwrap();
    assert_eq!(driver.value(&bind), "", "binding should default to following the active account");
    assert!(first.still_waiting(), "the program did not wait for the answer");
    save_screenshot(&env, "consent-dialog.png", "screenshot-consent.png");

    // "Always allow", only the scopes it asked for: it gets its token.
    answer_consent_prompt(&driver, ConsentAnswer::Always);
    let answer = first.answer(Duration::from_secs(30));
    let token = answered_token(&answer);
    assert_eq!(env.introspect(&token)["active"], true);
    wait_for("the prompt to close", Duration::from_secs(10), || {
        driver.find(CONSENT_DIALOG).is_none().then_some(())
    });

    // Connected apps lists it, with its policy.
    driver.show_screen("apps");
    let card = format!("#apps [data-app-script=\"{script_path}\"]");
    let card_el = driver.wait(&card, Duration::from_secs(30));
    let card_text = driver.text(&card_el);
    assert!(card_text.contains("Stream Bot") && card_text.contains("/usr/bin/python3"), "{card_text}");
    let scopes = driver.find(&format!("{card} input[name=\"scopes\"]")).unwrap();
    assert_eq!(driver.value(&scopes), "broadcaster");
    let account = driver.find(&format!("{card} select[name=\"account\"]")).unwrap();
    assert_eq!(driver.value(&account), "", "it should follow the active account");
    driver.execute("document.getElementById('apps-title').scrollIntoView();").expect("scroll");
    save_screenshot(&env, "connected-apps.png", "screenshot-connected-apps.png");

    // 2. It asks again: a token, no prompt.
    let second = LocalProgram::start(&env, &script, "Stream Bot").answer(Duration::from_secs(30));
    assert_eq!(second["hello"]["result"]["client"]["approval"], "approved", "{second}");
    assert_eq!(second["hello"]["result"]["client"]["allowed_scopes"], serde_json::json!(["broadcaster"]));
    answered_token(&second);
    assert!(driver.find(CONSENT_DIALOG).is_none(), "a prompt for an approved program");

    // The health of the account and the activity log say what happened;
    // the webview holds no token.
    driver.show_screen("accounts");
    castkey_scenarios::wait_for("the health line", Duration::from_secs(30), || {
        let line = driver.find("#accounts [data-account-id=\"sandbox:streamer\"] .account-health")?;
        driver.text(&line).contains("Access token expires in").then_some(())
    });
    driver.show_screen("activity");
    wait_for("two served entries in Activity", Duration::from_secs(30), || {
        driver.click_css("#activity-refresh", Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(300));
        let rows = driver.find("#activity-rows")?;
        (driver.text(&rows).matches("Served").count() >= 2).then_some(())
    });
    let client_filter = driver.find("#activity-client").unwrap();
    driver.type_text(&client_filter, "no-such-program");
    wait_for("the filter to apply", Duration::from_secs(10), || {
        driver.text(&driver.find("#activity-rows")?).contains("No activity matches").then_some(())
    });
    driver.clear(&client_filter);
    driver.type_text(&client_filter, "stream-bot");
    wait_for("the filter to match the script", Duration::from_secs(10), || {
        driver.text(&driver.find("#activity-rows")?).contains("Stream Bot").then_some(())
    });
    let html = driver.source();
    assert!(
        !html.contains(&token) && !html.contains(&answered_token(&second)),
        "a token reached the webview"
    );

    // Revoke: it leaves Connected apps.
    driver.show_screen("apps");
    driver.click_css(&format!("{card} button[data-revoke-app]"), Duration::from_secs(10));
    wait_for("the confirmation", Duration::from_secs(10), || driver.accept_prompt().then_some(()));
    wait_for("the app to leave Connected apps", Duration::from_secs(30), || {
        driver.find(&card).is_none().then_some(())
    });

    // 3. It asks again: the prompt again; Deny.
    let third = LocalProgram::start(&env, &script, "Stream Bot");
    driver.wait(CONSENT_DIALOG, Duration::from_secs(30));
    answer_consent_prompt(&driver, ConsentAnswer::Deny);
    let denied = third.answer(Duration::from_secs(30));
    assert_eq!(answered_refusal(&denied), "consent_denied", "{denied}");
    wait_for("the prompt to close", Duration::from_secs(10), || {
        driver.find(CONSENT_DIALOG).is_none().then_some(())
    });

    // 4. While the denial lasts it is refused without a prompt.
    let fourth = LocalProgram::start(&env, &script, "Stream Bot").answer(Duration::from_secs(10));
    assert_eq!(answered_refusal(&fourth), "consent_denied", "{fourth}");
    assert_eq!(fourth["hello"]["result"]["client"]["approval"], "denied", "{fourth}");
    assert!(driver.find(CONSENT_DIALOG).is_none(), "a prompt during the denial");
    assert!(driver.find(&card).is_none());

    // Another program: "Allow once" serves this connection only; its next
    // connection asks again, and Escape denies.
    let other = LocalProgram::install(&env, "overlay.py");
    let once = LocalProgram::start(&env, &other, "Overlay");
    driver.wait(CONSENT_DIALOG, Duration::from_secs(30));
    answer_consent_prompt(&driver, ConsentAnswer::AllowOnce);
    answered_token(&once.answer(Duration::from_secs(30)));
    wait_for("the prompt to close", Duration::from_secs(10), || {
        driver.find(CONSENT_DIALOG).is_none().then_some(())
    });
    assert!(driver.find(&format!("#apps [data-app-script=\"{}\"]", other.display())).is_none());
    let again = LocalProgram::start(&env, &other, "Overlay");
    driver.wait(CONSENT_DIALOG, Duration::from_secs(30));
    assert_eq!(focused_id(&driver), "consent-deny");
    let deny = driver.find("#consent-deny").unwrap();
    driver.type_text(&deny, "\u{E00C}"); // Escape
    let escaped = again.answer(Duration::from_secs(30));
    assert_eq!(answered_refusal(&escaped), "consent_denied", "{escaped}");

    // Refusals are in the activity log too.
    driver.show_screen("activity");
    driver.clear(&client_filter);
    wait_for("the denials in Activity", Duration::from_secs(30), || {
        driver.click_css("#activity-refresh", Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(300));
        driver.text(&driver.find("#activity-rows")?).contains("Denied").then_some(())
    });
    driver.execute("document.getElementById('activity-title').scrollIntoView();").expect("scroll");
    let png = env.window_screenshot("Castkey");
    std::fs::write(castkey_scenarios::screenshot_dir("").join("activity.png"), png).unwrap();
}

#[test]
fn two_accounts_of_one_provider_are_switched_with_make_active() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    env.browser_with_chosen_login();
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    sign_in_from_window(&env, &driver, "streamer");
    sign_in_from_window(&env, &driver, "viewer");

    // The newest sign-in is active; the other offers "Make active".
    driver.show_screen("accounts");
    let streamer = "#accounts [data-account-id=\"sandbox:streamer\"]";
    let viewer = "#accounts [data-account-id=\"sandbox:viewer\"]";
    wait_for("viewer to be active", Duration::from_secs(30), || {
        driver.find(&format!("{viewer} .badge-active"))?;
        driver.find(&format!("{streamer} button[data-make-active]"))
    });
    assert!(driver.find(&format!("{viewer} button[data-make-active]")).is_none());
    assert_eq!(castkey_token_user(&env), "viewer");

    // "Make active" on streamer: `castkey token` follows.
    driver.click_css(&format!("{streamer} button[data-make-active]"), Duration::from_secs(10));
    wait_for("streamer to be active", Duration::from_secs(30), || {
        driver.find(&format!("{streamer} .badge-active"))?;
        driver.find(&format!("{viewer} button[data-make-active]"))
    });
    assert!(driver.find(&format!("{streamer} button[data-make-active]")).is_none());
    assert_eq!(castkey_token_user(&env), "streamer");

    // Both cards show their health.
    for card in [streamer, viewer] {
        wait_for("the health lines", Duration::from_secs(30), || {
            let line = driver.find(&format!("{card} .account-health"))?;
            driver.text(&line).contains("Access token expires in").then_some(())
        });
    }
    let png = env.window_screenshot("Castkey");
    std::fs::write(castkey_scenarios::screenshot_dir("").join("two-accounts.png"), png).unwrap();

    // Connected apps: this test binary (approved by the harness) bound to
    // viewer gets viewer's tokens while streamer is active…
    driver.show_screen("apps");
    let me = std::env::current_exe().unwrap().display().to_string();
    let card = format!("#apps [data-app-executable=\"{me}\"]");
    driver.click_css(
        &format!("{card} select[name=\"account\"] option[value=\"sandbox:viewer\"]"),
        Duration::from_secs(30),
    );
    driver.click_css(&format!("{card} button[data-save-app]"), Duration::from_secs(10));
    wait_for("the binding to be saved", Duration::from_secs(30), || {
        let a = env.approval_of(&me)?;
        (a["account"] == "sandbox:viewer").then_some(())
    });
    let grant = env.client().call::<castkey_ipc::Token>(&Default::default()).unwrap();
    assert_eq!(grant.account.id, "sandbox:viewer");
    let other = castkey_ipc::TokenParams { account: Some("sandbox:streamer".into()), ..Default::default() };
    let err = env.client().call::<castkey_ipc::Token>(&other).unwrap_err().to_string();
    assert!(err.contains("client_not_allowed"), "{err}");
    assert_eq!(
        castkey_token_user(&env),
        "viewer",
        "Castkey's command acts for the program that runs it: this one, bound to viewer"
    );
    // The person types `castkey token` at a terminal: asked about once in
    // the window (that terminal, until it closes), and gets the active account.
    let typed = std::thread::scope(|s| {
        let typed = s.spawn(|| env.castkey_at_terminal(&["token"]));
        wait_for("the prompt about the terminal", Duration::from_secs(30), || driver.find(CONSENT_DIALOG));
        let shown = driver.text(&driver.find(CONSENT_DIALOG).expect("the prompt"));
        assert!(shown.contains("/dev/pts/"), "the prompt does not name the terminal: {shown}");
        answer_consent_prompt(&driver, ConsentAnswer::AllowOnce);
        typed.join().expect("the terminal")
    });
    assert!(typed.status.success(), "{}", String::from_utf8_lossy(&typed.stderr));
    let token = String::from_utf8_lossy(&typed.stdout).trim().to_string();
    assert_eq!(env.introspect(&token)["sub"], "streamer", "a person at a terminal gets the active account");

    // …and limited to `openid` it no longer gets `broadcaster`. The card
    // re-renders when the binding's save is announced, which may replace
    // the field under the typing: type and save again until the file says so.
    wait_for("the scopes to be saved", Duration::from_secs(30), || {
        let scopes = driver.find(&format!("{card} input[name=\"scopes\"]"))?;
        driver.try_clear(&scopes)?;
        driver.try_type_text(&scopes, "openid")?;
        driver.click_css(&format!("{card} button[data-save-app]"), Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(300));
        let a = env.approval_of(&me)?;
        (a["scopes"] == serde_json::json!(["openid"]) && a["account"] == "sandbox:viewer").then_some(())
    });
    let err = env.client().call::<castkey_ipc::Token>(&Default::default()).unwrap_err().to_string();
    assert!(err.contains("scope_not_allowed"), "{err}");

    // Back to any scope, following the active account. The list re-renders
    // when the last save is announced, which may replace the field under a
    // click: clear, choose and save again until the file says so.
    wait_for("the policy to be cleared", Duration::from_secs(30), || {
        let scopes = driver.find(&format!("{card} input[name=\"scopes\"]"))?;
        driver.try_clear(&scopes)?;
        driver.click_css(
            &format!("{card} select[name=\"account\"] option[value=\"\"]"),
            Duration::from_secs(10),
        );
        driver.click_css(&format!("{card} button[data-save-app]"), Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(300));
        let a = env.approval_of(&me)?;
        (a.get("scopes").is_none_or(Value::is_null)
            && a.get("account").is_none_or(Value::is_null)
            && a["name"] == "castkey scenarios")
            .then_some(())
    });
    let grant = env.client().call::<castkey_ipc::Token>(&Default::default()).unwrap();
    assert_eq!(grant.account.id, "sandbox:streamer");
}
