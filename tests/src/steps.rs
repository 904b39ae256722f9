//! Named steps of the window scenarios, as a user does them: sign in from
//! the Add account screen, answer a consent prompt. Each waits for the
//! window to show the outcome, so the next step starts from a known screen.

use crate::env::TestEnv;
use crate::wait::wait_for;
use crate::webdriver::WebDriver;
use std::time::Duration;

/// The consent prompt while it is open.
pub const CONSENT_DIALOG: &str = "#consent:not([hidden]) [role=\"dialog\"]";

/// Signs in to the sandbox provider as `login` from the Add account screen
/// (the scripted browser logs in; needs [`TestEnv::browser_with_chosen_login`]
/// before the app started) and waits for the account's card.
pub fn sign_in_from_window(env: &TestEnv, driver: &WebDriver, login: &str) {
    env.login_as(login);
    driver.show_screen("add");
    driver.click_css("#providers button[data-provider=\"sandbox\"]:not([disabled])", Duration::from_secs(60));
    driver.wait(&format!("#accounts [data-account-id=\"sandbox:{login}\"]"), Duration::from_secs(60));
}

/// Waits for the consent prompt and answers its element.
pub fn wait_for_consent_prompt(driver: &WebDriver) -> String {
    driver.wait(CONSENT_DIALOG, Duration::from_secs(30))
}

/// The user's answers to a consent prompt (its buttons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAnswer {
    AllowOnce,
    Always,
    Deny,
}

/// Answers the open consent prompt with `answer` and waits for it to close.
pub fn answer_consent_prompt(driver: &WebDriver, answer: ConsentAnswer) {
    let button = match answer {
        ConsentAnswer::AllowOnce => "#consent-once",
        ConsentAnswer::Always => "#consent-always",
        ConsentAnswer::Deny => "#consent-deny",
    };
    driver.click_css(button, Duration::from_secs(10));
    wait_for("the consent prompt to close", Duration::from_secs(10), || {
        driver.find(CONSENT_DIALOG).is_none().then_some(())
    });
}

/// The id of the element that has the keyboard focus in the window.
pub fn focused_id(driver: &WebDriver) -> String {
    driver
        .execute("return document.activeElement ? document.activeElement.id : '';")
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}
