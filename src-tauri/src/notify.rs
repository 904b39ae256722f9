//! Desktop notifications (`tauri-plugin-notification`; on Linux the
//! freedesktop Notifications service on the session bus), when the user's
//! part matters:
//!
//! * an account needs the user: its refresh was refused, or "ready to go
//!   live" finds its sign-in ends within the horizon — said once per
//!   account and end, and held back while a connected app is being served
//!   tokens for it (a stream is on), so it comes before a stream, not in
//!   the middle of one;
//! * a local program asks for tokens while the window is closed;
//! * a sign-in finished in the browser.
//!
//! A missing notification service is logged, never an error for the user.

use crate::Shell;
use castkey_core::{CoreEvent, GoLiveWarnings};
use std::time::Duration;
use tauri::{AppHandle, Manager};
use tauri_plugin_notification::NotificationExt;

/// How often "ready to go live" is checked in the background.
const CHECK_EVERY: Duration = Duration::from_secs(300);
/// Shows a notification if the user wants them.
pub fn show(app: &AppHandle, title: &str, body: &str) {
    let wanted = app.try_state::<Shell>().is_some_and(|s| s.settings.get().notifications);
    if !wanted {
        return;
    }
    tracing::info!(title, "notification");
    // Bodies name accounts and programs (provider- and program-given):
    // escaped, since notification servers read them as markup.
    let body = castkey_core::notification_body(body);
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!("could not show a notification ({title}): {e}");
    }
}

/// Notifications that follow core events.
pub fn on_event(app: &AppHandle, event: &CoreEvent) {
    match event {
        CoreEvent::ReauthRequired { account } => show(
            app,
            "Sign in again",
            &format!(
                "{} needs you to sign in again before apps can get tokens for it.",
                account.display_name
            ),
        ),
        CoreEvent::AccessRevoked { account } => show(
            app,
            "Disconnected at the provider",
            &format!(
                "{}'s access was ended at the provider; apps were told to stop. Sign in again to use it.",
                account.display_name
            ),
        ),
        CoreEvent::SignedIn { account } => show(
            app,
            "Signed in",
            &format!("{} is signed in; apps can get tokens for it.", account.display_name),
        ),
        CoreEvent::ConsentRequested(request) if !crate::window::main_window_visible(app) => {
            let name = request.client_name.clone().unwrap_or_else(|| request.identity.executable.clone());
            show(
                app,
                "A program asks for tokens",
                &format!("{name} asks to use your accounts. Open Castkey to answer."),
            )
        }
        _ => {}
    }
}

/// Checks "ready to go live" now and every few minutes.
pub fn watch_readiness(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        loop {
            check_readiness(&app);
            tokio::time::sleep(CHECK_EVERY).await;
        }
    });
}

/// Warns once about each account whose sign-in ends within the horizon,
/// unless a stream seems to be on for it (then at a later check); see
/// [`castkey_core::GoLiveWarnings`].
pub fn check_readiness(app: &AppHandle) {
    let Some(shell) = app.try_state::<Shell>() else { return };
    let readiness = shell.core.go_live_readiness(shell.settings.get().go_live_hours);
    for a in app.state::<GoLiveWarnings>().due(&shell.core, &readiness) {
        let why = a.problem.clone().unwrap_or_else(|| "it needs you".into());
        show(
            app,
            "Not ready to go live",
            &format!("{}: {why}. Open Castkey to sign in again now.", a.account.display_name),
        );
    }
}
