//! Scenarios with the desktop app: a real window under Xvfb, the scheme
//! registered by the app itself, redirects delivered by `xdg-open` to the
//! `.desktop` handler and, for a running app, through single-instance.

use castkey_ipc::{Token, TokenParams};
use castkey_scenarios::{text, wait_for, EnvOptions, TestEnv};
use std::time::Duration;

fn desktop() -> TestEnv {
    TestEnv::start(EnvOptions { display: true, ..Default::default() })
}

#[test]
fn streamer_signs_in_through_the_deep_link_and_a_broadcast_app_gets_a_token() {
    let mut env = desktop();
    let app = env.start_app("app", &[]);

    // The app registered itself for its scheme, as a run-from-source build must.
    let handler = env
        .command("xdg-mime")
        .args(["query", "default", "x-scheme-handler/dev.castkey.app"])
        .output()
        .unwrap();
    assert_eq!(text(&handler.stdout).trim(), "castkey-app-handler.desktop");

    // A script starts the sign-in in the running app; the scripted browser
    // logs in and hands the redirect to xdg-open, which starts a second
    // castkey-app that passes it to the first and exits.
    let login = env.castkey(&["login", "sandbox"]);
    assert!(login.status.success(), "{}", text(&login.stderr));
    assert!(text(&login.stdout).contains("Signed in as streamer (sandbox:streamer)"));
    let browser_log = std::fs::read_to_string(env.path("browser.log")).unwrap();
    assert!(browser_log.contains("xdg-open"), "{browser_log}");
    // The shell logs this just after the core answers `login`: wait for it.
    wait_for("the app to log the deep link", Duration::from_secs(10), || {
        env.log("app").contains("sign-in completed through deep link").then_some(())
    });

    let token = env.castkey(&["token"]);
    assert!(token.status.success());
    let access = text(&token.stdout).trim().to_string();
    let info = env.introspect(&access);
    assert_eq!(info["active"], true, "{info}");
    assert!(info["scope"].as_str().unwrap().split(' ').any(|s| s == "broadcaster"));
    assert!(env.keychain_lookup("account/sandbox:streamer/refresh_token").is_some());

    // Quit and start again: still signed in; the refresh token from the
    // keychain gets a new token when the old one is not valid long enough.
    env.stop(app);
    env.start_app("app2", &[]);
    assert_eq!(env.account_ids(), vec!["sandbox:streamer"]);
    // The account a program signed in with is that program's choice while
    // the app runs, not the active account: after a restart it names it.
    let named = TokenParams {
        force_refresh: Some(true),
        account: Some("sandbox:streamer".into()),
        ..Default::default()
    };
    let unnamed = env.client().call::<Token>(&TokenParams::default()).unwrap_err().to_string();
    assert!(unnamed.contains("no account is active") && unnamed.contains("sandbox:streamer"), "{unnamed}");
    let grant = env.client().call::<Token>(&named).unwrap();
    assert_ne!(grant.access_token, access);
    assert_eq!(env.introspect(&grant.access_token)["active"], true);
}

#[test]
fn a_redirect_that_cold_starts_the_app_completes_the_sign_in() {
    let mut env = desktop();
    let (k, v) = env.hold_redirect_var();
    let app = env.start_app("app", &[(&k, &v)]);
    let login = env.spawn_castkey("login", &["login", "sandbox"]);
    let url = env.held_redirect();
    // The user quits Castkey while the browser is still open.
    env.stop(app);
    assert_ne!(env.wait_exit(login, Duration::from_secs(30)), Some(0));
    assert!(castkey_ipc::Client::connect(&env.socket()).is_err());

    // The redirect arrives: xdg-open starts the app with the URL.
    env.xdg_open("cold-app", &url);
    env.wait_for_broker();
    wait_for("the cold-started app to finish the sign-in", Duration::from_secs(60), || {
        env.account_ids().contains(&"sandbox:streamer".to_string()).then_some(())
    });
    // A program started that sign-in (this test runs `castkey login`, at no
    // terminal): the flow kept that through the restart, so the account is
    // added without becoming the account everyone gets.
    let unnamed = env.client().call::<Token>(&TokenParams::default()).unwrap_err().to_string();
    assert!(unnamed.contains("no account is active"), "{unnamed}");
    let named = TokenParams { account: Some("sandbox:streamer".into()), ..Default::default() };
    let grant = env.client().call::<Token>(&named).unwrap();
    assert_eq!(env.introspect(&grant.access_token)["active"], true);
}

#[test]
fn forged_replayed_and_wrong_issuer_redirects_are_refused_and_change_nothing() {
    let mut env = desktop();
    let (k, v) = env.hold_redirect_var();
    env.start_app("app", &[(&k, &v)]);
    let refusals = |env: &TestEnv| env.log("app").matches("deep link refused").count();

    // A forged link: no sign-in waits for its state.
    env.xdg_open("forged", "dev.castkey.app:/callback?code=stolen&state=made-up");
    wait_for("the forged link to be refused", Duration::from_secs(30), || {
        (refusals(&env) == 1).then_some(())
    });
    assert!(env.log("app").contains("no sign-in is waiting for this redirect"));
    assert!(env.account_ids().is_empty());

    // A redirect that names another issuer (RFC 9207) is refused.
    let login = env.spawn_castkey("login1", &["login", "sandbox"]);
    let url = env.held_redirect();
    let mut parsed = url::Url::parse(&url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" { "https://evil.example".to_string() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    env.xdg_open("wrong-iss", parsed.as_str());
    assert_eq!(env.wait_exit(login, Duration::from_secs(60)), Some(1));
    assert!(env.log("login1").contains("names issuer"), "{}", env.log("login1"));
    assert!(env.account_ids().is_empty());

    // The provider's real answer, arriving at another provider's redirect
    // URI (a mix-up, RFC 9700 §4.4.2): refused, and that sign-in ends.
    let login = env.spawn_castkey("login-mixup", &["login", "sandbox"]);
    let url = env.held_redirect();
    let elsewhere = url.replacen("dev.castkey.app:/callback?", "dev.castkey.app:/callback/another-idp?", 1);
    assert_ne!(elsewhere, url, "{url}");
    env.xdg_open("mix-up", &elsewhere);
    assert_eq!(env.wait_exit(login, Duration::from_secs(60)), Some(1));
    assert!(env.log("login-mixup").contains("another route"), "{}", env.log("login-mixup"));
    assert!(env.account_ids().is_empty());

    // A real sign-in, then the same redirect again: accepted once only.
    let login = env.spawn_castkey("login2", &["login", "sandbox"]);
    let url = env.held_redirect();
    env.xdg_open("real", &url);
    assert_eq!(env.wait_exit(login, Duration::from_secs(60)), Some(0));
    let before = refusals(&env);
    env.xdg_open("replay", &url);
    wait_for("the replay to be refused", Duration::from_secs(30), || (refusals(&env) > before).then_some(()));
    assert_eq!(env.account_ids(), vec!["sandbox:streamer"]);
    // The provider revokes a grant whose code is used twice: a working
    // refresh proves Castkey never sent the code again.
    let grant =
        env.client().call::<Token>(&TokenParams { force_refresh: Some(true), ..Default::default() }).unwrap();
    assert_eq!(env.introspect(&grant.access_token)["active"], true);
}

#[test]
fn a_denied_sign_in_is_reported_and_changes_nothing() {
    let mut env = desktop();
    env.start_app("app", &[("CASTKEY_TEST_BROWSER_DENY", "1")]);
    let login = env.castkey(&["login", "sandbox"]);
    assert_eq!(login.status.code(), Some(1));
    let err = text(&login.stderr);
    assert!(err.contains("access_denied") && err.contains("login_failed"), "{err}");
    assert!(env.account_ids().is_empty());
}
