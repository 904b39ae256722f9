//! The tray icon: what a streamer sees all day. Its menu is rebuilt from
//! the core whenever accounts, health or settings change:
//!
//! ```text
//! Ready to go live (next 4 h)        | Not ready: Bot needs you
//! IBM Video Streaming: Bot  ▸ (● Bot, ○ Other)   one submenu per service
//! Sign in again: Other…              (accounts that need the user)
//! ─────
//! Open Castkey
//! Quit
//! ```
//!
//! On Linux the icon goes through libayatana-appindicator (StatusNotifierItem):
//! a desktop without a tray host shows nothing, and Castkey keeps serving
//! tokens all the same; "Open Castkey" is then the app's launcher entry.

use crate::Shell;
use castkey_ipc::{AccountInfo, HealthState};
use std::collections::BTreeMap;
use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};

const TRAY: &str = "castkey";
const OPEN: &str = "open";
const QUIT: &str = "quit";
const READINESS: &str = "readiness";
/// `switch:<account id>`: make that account active.
const SWITCH: &str = "switch:";
/// `again:<provider id>`: sign in again.
const AGAIN: &str = "again:";

/// Puts the icon in the tray with its menu.
pub fn install(app: &AppHandle) -> tauri::Result<()> {
    let menu = build_menu(app)?;
    let mut tray = TrayIconBuilder::with_id(TRAY)
        .tooltip("Castkey")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, e| on_menu(app, e.id.as_ref()));
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(())
}

/// Rebuilds the menu from the core's current state.
pub fn refresh(app: &AppHandle) {
    let Some(tray) = app.tray_by_id(TRAY) else { return };
    match build_menu(app) {
        Ok(menu) => {
            let _ = tray.set_menu(Some(menu));
        }
        Err(e) => tracing::warn!("could not rebuild the tray menu: {e}"),
    }
    if let Some(shell) = app.try_state::<Shell>() {
        let r = shell.core.go_live_readiness(shell.settings.get().go_live_hours);
        let tip = if r.ready {
            "Castkey: ready to go live".to_string()
        } else {
            "Castkey: an account needs you".into()
        };
        let _ = tray.set_tooltip(Some(tip));
    }
}

fn build_menu(app: &AppHandle) -> tauri::Result<Menu<Wry>> {
    let shell = app.state::<Shell>();
    let core = &shell.core;
    let hours = shell.settings.get().go_live_hours;
    let readiness = core.go_live_readiness(hours);
    let readiness_text = if readiness.ready {
        format!("Ready to go live (next {hours} h)")
    } else {
        let names: Vec<String> =
            readiness.accounts.iter().filter(|a| !a.ready).map(|a| a.account.display_name.clone()).collect();
        format!("Not ready to go live: {} needs you", names.join(", "))
    };
    let mut items: Vec<Box<dyn IsMenuItem<Wry>>> = Vec::new();
    items.push(Box::new(MenuItem::with_id(app, READINESS, readiness_text, true, None::<&str>)?));
    items.push(Box::new(PredefinedMenuItem::separator(app)?));

    let providers: BTreeMap<String, String> =
        core.providers().into_iter().map(|p| (p.id, p.display_name)).collect();
    let mut by_provider: BTreeMap<String, Vec<AccountInfo>> = BTreeMap::new();
    for a in core.accounts() {
        by_provider.entry(a.provider.clone()).or_default().push(a);
    }
    let health = core.status();
    let needs_user: Vec<&AccountInfo> =
        health.iter().filter(|h| h.state == HealthState::SignInAgain).map(|h| &h.account).collect();
    for (provider, accounts) in &by_provider {
        let service = providers.get(provider).cloned().unwrap_or_else(|| provider.clone());
        let active =
            accounts.iter().find(|a| a.active).map(|a| a.display_name.clone()).unwrap_or("none".into());
        let mut entries: Vec<CheckMenuItem<Wry>> = Vec::new();
        for a in accounts {
            let label = match &a.email {
                Some(email) if email != &a.display_name => format!("{} ({email})", a.display_name),
                _ => a.display_name.clone(),
            };
            entries.push(CheckMenuItem::with_id(
                app,
                format!("{SWITCH}{}", a.id),
                label,
                true,
                a.active,
                None::<&str>,
            )?);
        }
        let refs: Vec<&dyn IsMenuItem<Wry>> = entries.iter().map(|e| e as &dyn IsMenuItem<Wry>).collect();
        items.push(Box::new(Submenu::with_items(app, format!("{service}: {active}"), true, &refs)?));
    }
    for a in needs_user {
        let service = providers.get(&a.provider).cloned().unwrap_or_else(|| a.provider.clone());
        items.push(Box::new(MenuItem::with_id(
            app,
            format!("{AGAIN}{}", a.provider),
            format!("Sign in again: {} ({service})…", a.display_name),
            true,
            None::<&str>,
        )?));
    }
    if !by_provider.is_empty() {
        items.push(Box::new(PredefinedMenuItem::separator(app)?));
    }
    items.push(Box::new(MenuItem::with_id(app, OPEN, "Open Castkey", true, None::<&str>)?));
    items.push(Box::new(MenuItem::with_id(app, QUIT, "Quit Castkey", true, None::<&str>)?));
    let refs: Vec<&dyn IsMenuItem<Wry>> = items.iter().map(|i| i.as_ref()).collect();
    Menu::with_items(app, &refs)
}

fn on_menu(app: &AppHandle, id: &str) {
    match id {
        OPEN => crate::window::show_screen(app, "accounts"),
        READINESS => crate::window::show_screen(app, "accounts"),
        // Refreshes in flight finish first (RunEvent::Exit in main.rs).
        QUIT => app.exit(0),
        _ => {
            if let Some(account) = id.strip_prefix(SWITCH) {
                let shell = app.state::<Shell>();
                if let Err(e) = shell.core.switch(account) {
                    tracing::warn!("could not switch to {account}: {e}");
                }
                refresh(app);
            } else if let Some(provider) = id.strip_prefix(AGAIN) {
                let (app, provider) = (app.clone(), provider.to_string());
                crate::window::show_screen(&app, "accounts");
                tauri::async_runtime::spawn(async move {
                    let core = app.state::<Shell>().core.clone();
                    if let Err(e) = core.begin_app_sign_in(&provider).await {
                        tracing::warn!("could not start the sign-in from the tray: {e}");
                    }
                });
            }
        }
    }
}
