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
use castkey_core::CoreEvent;
use castkey_ipc::ActivityParams;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;
use tauri::{AppHandle, Manager};
use tauri_plugin_notification::NotificationExt;

/// How often "ready to go live" is checked in the background.
const CHECK_EVERY: Duration = Duration::from_secs(300);
/// Tokens served for an account this recently mean a stream may be on.
const STREAMING_WINDOW_SECS: u64 = 10 * 60;

/// The warnings given already: `(account id, good until)`.
#[derive(Debug, Default)]
pub struct Warned(Mutex<BTreeSet<(String, u64)>>);

/// Shows a notification if the user wants them.
pub fn show(app: &AppHandle, title: &str, body: &str) {
    let wanted = app.try_state::<Shell>().is_some_and(|s| s.settings.get().notifications);
    if !wanted {
        return;
    }
    tracing::info!(title, "notification");
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
/// unless a stream seems to be on for it (then at a later check).
pub fn check_readiness(app: &AppHandle) {
    let Some(shell) = app.try_state::<Shell>() else { return };
    let hours = shell.settings.get().go_live_hours;
    let readiness = shell.core.go_live_readiness(hours);
    let now = readiness.checked_at;
    let warned = app.state::<Warned>();
    for a in readiness.accounts.iter().filter(|a| !a.ready) {
        let key = (a.account.id.clone(), a.good_until.unwrap_or(0));
        if warned.0.lock().unwrap_or_else(|e| e.into_inner()).contains(&key) {
            continue;
        }
        let recent = shell.core.activity(&ActivityParams {
            limit: Some(50),
            account: Some(a.account.id.clone()),
            client: None,
        });
        let streaming = recent.iter().any(|e| e.outcome == "served" && e.at + STREAMING_WINDOW_SECS >= now);
        if streaming && a.good_until.is_some_and(|t| t > now) {
            continue; // Not in the middle of a stream; the next check tries again.
        }
        let why = a.problem.clone().unwrap_or_else(|| "it needs you".into());
        show(
            app,
            "Not ready to go live",
            &format!("{}: {why}. Open Castkey to sign in again now.", a.account.display_name),
        );
        warned.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key);
    }
}
