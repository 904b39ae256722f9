//! Every screen of the window, light and dark, as a person sees it: the real
//! app under Xvfb (tauri-driver + WebKitWebDriver), signed in to the sandbox
//! provider through the real deep link, a local program asking for consent.
//! Each step checks what the screen shows before its screenshot is taken.
//!
//! Screenshots go to `target/scenario-screenshots/screens/`; with
//! `CASTKEY_SCREENSHOTS=1` also to `docs/screens/<screen>-<theme>.png`.
//! The dark run starts the app with `GTK_THEME=Adwaita:dark`, which
//! WebKitGTK turns into `prefers-color-scheme: dark` (checked in the page).

use castkey_scenarios::steps::{answer_consent_prompt, ConsentAnswer, CONSENT_DIALOG as DIALOG};
use castkey_scenarios::webdriver::WebDriver;
use castkey_scenarios::{binary, repo, wait_for, EnvOptions, LocalProgram, TestEnv};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
enum Theme {
    Light,
    Dark,
}

impl Theme {
    fn name(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }
}

struct Shots {
    theme: Theme,
    dir: PathBuf,
    saved: Vec<String>,
}

impl Shots {
    /// Saves the window as `<screen>-<theme>.png`.
    fn save(&mut self, env: &TestEnv, screen: &str) {
        // Let the last redraw and the focus ring settle.
        std::thread::sleep(Duration::from_millis(400));
        let png = env.window_screenshot("Castkey");
        assert_eq!(&png[1..4], b"PNG");
        let file = format!("{screen}-{}.png", self.theme.name());
        std::fs::write(self.dir.join(&file), &png).unwrap();
        if std::env::var("CASTKEY_SCREENSHOTS").as_deref() == Ok("1") {
            let docs = repo().join("docs/screens");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(&file), &png).unwrap();
        }
        println!("screenshot: {}", self.dir.join(&file).display());
        self.saved.push(file);
    }
}

/// The visible text of `css` (empty when hidden: WebDriver reads rendered text).
fn shown(driver: &WebDriver, css: &str) -> String {
    driver.find(css).map(|e| driver.text(&e)).unwrap_or_default()
}

fn wait_shown(driver: &WebDriver, css: &str, what: &str) -> String {
    wait_for(&format!("`{css}` to show `{what}`"), Duration::from_secs(60), || {
        let text = shown(driver, css);
        text.contains(what).then_some(text)
    })
}

/// The redirect `held` as the provider sends it when the user denies access
/// (RFC 6749 §4.1.2.1): same `state` and `iss`, an error instead of the code.
fn denied(held: &str) -> String {
    let mut url = url::Url::parse(held).expect("the held redirect is a URL");
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k == "state" || k == "iss")
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("error", "access_denied")
        .append_pair("error_description", "The user denied access");
    url.to_string()
}

fn dismiss_notice(driver: &WebDriver) {
    if driver.find("#notice:not([hidden])").is_some() {
        driver.click_css("#notice-dismiss", Duration::from_secs(10));
    }
}

fn every_screen(theme: Theme) {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    env.vars.insert("GTK_THEME".into(), gtk_theme(theme).into());
    // The browser keeps the redirect so the progress screen can be seen; the
    // test then hands it to xdg-open, the real deep link.
    env.vars.insert("CASTKEY_TEST_BROWSER_HOLD".into(), env.path("redirect.url").display().to_string());
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    let _ = driver.set_window_size(1000, 760);
    let mut shots = Shots { theme, dir: castkey_scenarios::screenshot_dir("screens"), saved: Vec::new() };

    // The page really follows the theme.
    let dark = driver.execute("return window.matchMedia('(prefers-color-scheme: dark)').matches;");
    assert_eq!(
        dark,
        Some(Value::Bool(theme == Theme::Dark)),
        "prefers-color-scheme does not follow GTK_THEME"
    );
    let background = driver
        .execute("return getComputedStyle(document.body).backgroundColor;")
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let expected = if theme == Theme::Dark { "rgb(21, 23, 27)" } else { "rgb(246, 247, 249)" };
    assert_eq!(background, expected, "the page's background is not the {} one", theme.name());

    // Accounts, empty: what Castkey does, and "Add account".
    let empty = wait_shown(&driver, "#panel-accounts #accounts-empty", "No accounts yet");
    assert!(empty.contains("Add account"), "{empty}");
    wait_shown(&driver, "#status", "castkey.sock");
    shots.save(&env, "accounts-empty");

    // Add account: the sandbox offers browser sign-in and a code; services to set up below.
    driver.click_css("#empty-add", Duration::from_secs(10));
    let row = wait_shown(&driver, "#panel-add #providers [data-provider-id=\"sandbox\"]", "Local sandbox");
    assert!(row.contains("Sign in") && row.contains("Sign in with a code"), "{row}");
    wait_shown(&driver, "#panel-add #templates", "OpenID Connect");
    shots.save(&env, "add-account");

    // Setting up a service: the form names the redirect URI to register,
    // the provider's own, as its name is typed.
    driver.fill_service_form("oidc", &[("name", "Studio IdP")]);
    // (While the name is typed, it may show the URI of a shorter one.)
    wait_for("the form to name the redirect URI", Duration::from_secs(30), || {
        (driver.redirect_uri_shown("oidc") == "dev.castkey.app:/callback/studio-idp").then_some(())
    });
    driver.execute(
        "document.querySelector('#templates form[data-template=\"oidc\"] [data-redirect-uri]')\
         .scrollIntoView({block: 'center'})",
    );
    shots.save(&env, "add-service-form");
    driver.click_css("#templates [data-setup-template=\"oidc\"]", Duration::from_secs(10));

    // Sign-in with a code: the code, the URL, the QR code; Cancel.
    driver.click_css("#providers button[data-device-provider=\"sandbox\"]", Duration::from_secs(30));
    let code = wait_shown(&driver, "#device-sign-in:not([hidden])", "On any device, open");
    assert!(code.contains(&format!("{}/device", env.issuer)), "{code}");
    assert!(driver.find("#device-qr svg").is_some(), "no QR code");
    shots.save(&env, "sign-in-code");
    driver.click_css("#device-hide", Duration::from_secs(10));
    driver.wait("#device-sign-in[hidden]", Duration::from_secs(10));

    // Sign-in progress: waiting for the browser, the address to copy, time left.
    driver.click_css("#providers button[data-provider=\"sandbox\"]", Duration::from_secs(30));
    let waiting = wait_shown(&driver, "#sign-in-progress:not([hidden])", "Waiting for your browser");
    assert!(waiting.contains("Time left"), "{waiting}");
    let url = driver.find("#sign-in-url").unwrap();
    assert!(driver.value(&url).starts_with(&env.issuer), "{}", driver.value(&url));
    let redirect = env.held_redirect();
    shots.save(&env, "sign-in-progress");

    // Denied at the provider: the redirect comes back with an error; the
    // panel says so and shows the redirect URI to register.
    env.xdg_open("deliver-denied", &denied(&redirect));
    let failed = wait_shown(&driver, "#sign-in-progress:not([hidden])", "The provider refused the sign-in");
    assert!(failed.contains("dev.castkey.app:/callback") && failed.contains("Try again"), "{failed}");
    shots.save(&env, "sign-in-failed");

    // Try again; this time the redirect comes back through the deep link
    // with a code: the account shows.
    driver.click_css("#sign-in-retry", Duration::from_secs(10));
    wait_shown(&driver, "#sign-in-progress:not([hidden])", "Waiting for your browser");
    let redirect = env.held_redirect();
    env.xdg_open("deliver", &redirect);
    driver.wait("#accounts [data-account-id=\"sandbox:streamer\"]", Duration::from_secs(60));
    driver.show_screen("accounts");
    let card =
        wait_shown(&driver, "#accounts [data-account-id=\"sandbox:streamer\"]", "Access token expires in");
    assert!(card.contains("streamer@example.test") && card.contains("Active"), "{card}");
    wait_for("the sign-in panel to close", Duration::from_secs(10), || {
        driver.find("#sign-in-progress[hidden]").map(drop)
    });
    // A broadcasting app (this test binary, approved by the harness) gets a token.
    let token = env.client().call::<castkey_ipc::Token>(&Default::default()).unwrap();
    assert!(!driver.source().contains(&token.access_token), "a token reached the webview");
    let ready = wait_shown(&driver, "#readiness", "go live");
    assert!(ready.contains("Ready to go live"), "{ready}");
    dismiss_notice(&driver);
    shots.save(&env, "accounts");

    // The consent prompt, over the window, focus on Deny.
    let script = LocalProgram::install(&env, "stream-bot.py");
    let asker = LocalProgram::start(&env, &script, "Stream Bot");
    let dialog = wait_shown(&driver, DIALOG, "A program asks for access");
    assert!(dialog.contains("Stream Bot") && dialog.contains("/usr/bin/python3"), "{dialog}");
    let focused = driver.execute("return document.activeElement.id;");
    assert_eq!(focused, Some(Value::from("consent-deny")));
    shots.save(&env, "consent");
    answer_consent_prompt(&driver, ConsentAnswer::Always);
    let answer = asker.answer(Duration::from_secs(30));
    assert!(answer["token"]["result"]["access_token"].is_string(), "{answer}");

    // Connected apps: the script and this test binary.
    driver.show_screen("apps");
    let apps = wait_shown(&driver, "#panel-apps #apps", "Stream Bot");
    assert!(apps.contains("castkey scenarios") && apps.contains("Revoke"), "{apps}");
    shots.save(&env, "connected-apps");

    // Activity: who got what.
    driver.show_screen("activity");
    let rows = wait_for("served entries in Activity", Duration::from_secs(30), || {
        driver.click_css("#activity-refresh", Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(300));
        let rows = shown(&driver, "#activity-rows");
        (rows.contains("Stream Bot") && rows.contains("Served")).then_some(rows)
    });
    assert!(!rows.contains(&token.access_token));
    shots.save(&env, "activity");

    // Settings: the horizon, the socket path with Copy, diagnostics.
    driver.show_screen("settings");
    let settings = wait_shown(&driver, "#panel-settings", "Start Castkey when I log in");
    assert!(settings.contains("Warn me when an account will need me within"), "{settings}");
    assert!(settings.contains("castkey.sock") && settings.contains("Copy"), "{settings}");
    let hours = driver.find("#setting-go-live-hours").unwrap();
    assert_eq!(driver.value(&hours), "4");
    driver.execute("window.scrollTo(0, 0);").expect("scroll");
    shots.save(&env, "settings");

    // Copy puts the socket path on the clipboard (the button says so).
    driver.click_css("#copy-socket", Duration::from_secs(10));
    wait_shown(&driver, "#copy-socket", "Copied");

    // Export diagnostics: where the report went, and Copy.
    driver.click_css("#export-diagnostics", Duration::from_secs(10));
    let saved = wait_shown(&driver, "#diagnostics-result", "Saved to");
    assert!(saved.contains("Copy the report"), "{saved}");
    driver
        .execute("document.getElementById('diagnostics-result').scrollIntoView({block: 'center'});")
        .expect("scroll");
    shots.save(&env, "settings-diagnostics");

    // Readable at 200% zoom: no screen scrolls sideways.
    driver.execute("document.documentElement.style.zoom = '2';").expect("zoom");
    for screen in ["accounts", "add", "apps", "activity", "settings"] {
        // (WebKitWebDriver misplaces clicks under CSS zoom: the tab is clicked from the page.)
        driver.execute(&format!("document.getElementById('nav-{screen}').click();")).expect("tab");
        driver.wait(&format!("#panel-{screen}:not([hidden])"), Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(300));
        let overflow = driver
            .execute(
                "const d = document.documentElement; \
                 return [d.scrollWidth, d.clientWidth, \
                   [...document.querySelectorAll('#app *')].filter(e => e.offsetParent !== null \
                     && e.getBoundingClientRect().right > d.clientWidth + 1 \
                     && !e.closest('.table-scroll')).map(e => e.tagName + '.' + e.className).slice(0, 5)];",
            )
            .expect("measure");
        assert!(
            overflow[0].as_u64() <= overflow[1].as_u64() && overflow[2].as_array().is_some_and(Vec::is_empty),
            "{screen} overflows at 200% zoom: {overflow}"
        );
        if screen == "accounts" {
            driver.execute("window.scrollTo(0, 0);").expect("scroll");
            shots.save(&env, "accounts-zoom-200");
        }
    }
    driver.execute("document.documentElement.style.zoom = '';").expect("zoom back");

    assert!(shots.saved.len() >= 12, "{:?}", shots.saved);
}

/// "Not ready to go live": the provider's refresh tokens end in an hour (the
/// fault gate's `refresh_ends`), within the 4 h horizon.
fn go_live_warning(theme: Theme) {
    let mut env = TestEnv::start(EnvOptions { display: true, gate: true, ..Default::default() });
    env.gate_fail("/token", "refresh_ends");
    env.vars.insert("GTK_THEME".into(), gtk_theme(theme).into());
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    let _ = driver.set_window_size(1000, 760);
    let mut shots = Shots { theme, dir: castkey_scenarios::screenshot_dir("screens"), saved: Vec::new() };

    driver.show_screen("add");
    driver.click_css("#providers button[data-provider=\"sandbox\"]", Duration::from_secs(60));
    driver.wait("#accounts [data-account-id=\"sandbox:streamer\"]", Duration::from_secs(60));
    driver.show_screen("accounts");
    let banner = wait_shown(&driver, "#readiness[data-ready=\"false\"]", "Not ready to go live");
    assert!(banner.contains("streamer (Local sandbox)") && banner.contains("Sign in again now"), "{banner}");
    let card = wait_shown(&driver, "#accounts [data-account-id=\"sandbox:streamer\"]", "sign in again by");
    assert!(card.contains("Access token expires in"), "{card}");
    dismiss_notice(&driver);
    shots.save(&env, "not-ready");
}

fn gtk_theme(theme: Theme) -> &'static str {
    match theme {
        Theme::Light => "Adwaita",
        Theme::Dark => "Adwaita:dark",
    }
}

#[test]
fn every_screen_in_the_light_theme() {
    every_screen(Theme::Light);
}

#[test]
fn every_screen_in_the_dark_theme() {
    every_screen(Theme::Dark);
}

#[test]
fn not_ready_to_go_live_in_the_light_theme() {
    go_live_warning(Theme::Light);
}

#[test]
fn not_ready_to_go_live_in_the_dark_theme() {
    go_live_warning(Theme::Dark);
}
