//! Castkey's desktop shell. Thin on purpose: it starts the core, the IPC
//! broker, the tray and the window, turns deep links into core calls and
//! core events into window events, tray menus and notifications.
//! Everything that decides anything is in castkey-core.
//!
//! Castkey lives in the tray: closing the window does not quit it (the
//! broadcasting apps keep their token endpoint); "Quit" in the tray, or
//! SIGTERM, does, after refreshes in flight have finished.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod deep_link;
mod desktop;
mod logbuf;
mod notify;
mod tray;
mod window;

use castkey_core::IpcServer;
use castkey_core::{Core, CoreEvent, CoreOptions, RedirectMode, SettingsFile};
use castkey_ipc::ui::event;
use std::sync::{Arc, Mutex};
use tauri::{Emitter, Manager};

/// What the commands and handlers share.
#[derive(Debug)]
pub struct Shell {
    pub core: Arc<Core>,
    pub socket_path: std::path::PathBuf,
    pub broker_error: Mutex<Option<String>>,
    pub config_dir: std::path::PathBuf,
    pub settings: SettingsFile,
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(logbuf::TeeWriter)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CASTKEY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    #[cfg(target_os = "linux")]
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!(
            "castkey-app: no display (neither DISPLAY nor WAYLAND_DISPLAY is set). \
             Run the headless broker instead: `castkey serve`."
        );
        std::process::exit(2);
    }

    let result = tauri::Builder::default()
        // First: a second launch (e.g. by xdg-open with a redirect URL) hands
        // its argv to this process and exits.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            // A deep link's URL goes to the deep-link plugin; a plain second
            // launch (the menu entry) brings the window back.
            if !argv.iter().any(|a| a.starts_with(castkey_core::APP_SCHEME)) {
                window::show_main_window(app);
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(
            tauri_plugin_autostart::Builder::new().args([desktop::AUTOSTARTED]).app_name("Castkey").build(),
        )
        .manage(castkey_core::GoLiveWarnings::default())
        .invoke_handler(commands::invoke_handler())
        .setup(|app| {
            let options = CoreOptions::system(RedirectMode::AppScheme)?;
            let config_dir = options.config_dir.clone();
            let core = match tauri::async_runtime::block_on(Core::start(options)) {
                Ok(core) => core,
                Err(e) => {
                    // No window will open: say it where a user who clicked
                    // the icon looks (e.g. `castkey serve` runs as a service).
                    use tauri_plugin_notification::NotificationExt;
                    let shown = app
                        .notification()
                        .builder()
                        .title("Castkey could not start")
                        .body(e.to_string())
                        .show();
                    if let Err(n) = shown {
                        tracing::warn!("could not show a notification: {n}");
                    }
                    eprintln!("castkey-app: Castkey could not start: {e}");
                    // The plugin sends it from a background task: give it a
                    // moment to reach the session bus before the process ends.
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    std::process::exit(1);
                }
            };
            let socket_path = castkey_ipc::socket::default_socket_path();
            let settings = SettingsFile::load(config_dir.join("settings.json"));
            let tray_only =
                settings.get().start_in_tray && std::env::args().any(|a| a == desktop::AUTOSTARTED);
            let shell = Shell {
                core: core.clone(),
                socket_path: socket_path.clone(),
                broker_error: Mutex::new(None),
                config_dir,
                settings,
            };
            let server = match IpcServer::bind(&socket_path) {
                Ok(server) => Some(server),
                Err(e) => {
                    tracing::error!("broker not started: {e}");
                    *shell.broker_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    None
                }
            };
            app.manage(shell);
            forward_core_events(app.handle().clone(), core.clone());
            // The scheme is registered (and a cold start's URL taken) before
            // the broker answers: once apps and scripts see Castkey up, a
            // sign-in's redirect finds its way back.
            deep_link::install(app)?;
            if let Some(server) = server {
                tracing::info!("broker listening on {}", socket_path.display());
                tauri::async_runtime::spawn(server.serve(core.clone()));
            }
            let discovering = core.clone();
            tauri::async_runtime::spawn(async move { discovering.discover_all().await });
            stop_on_sigterm(app.handle().clone());
            if let Err(e) = tray::install(app.handle()) {
                tracing::warn!("no tray icon: {e}");
            }
            notify::watch_readiness(app.handle().clone());
            if !tray_only {
                window::show_main_window(app.handle());
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match result {
        Ok(app) => app,
        Err(e) => {
            eprintln!("castkey-app: {e}");
            std::process::exit(1);
        }
    };
    app.run(|app, event| {
        // Closing the last window leaves Castkey in the tray; only Quit
        // (or SIGTERM), which exit with a code, end it.
        if let tauri::RunEvent::ExitRequested { code: None, api, .. } = &event {
            api.prevent_exit();
            return;
        }
        if let tauri::RunEvent::Exit = event {
            // Refreshes in flight finish and store their rotated refresh
            // tokens before the process ends (a few seconds at most).
            if let Some(shell) = app.try_state::<Shell>() {
                tauri::async_runtime::block_on(shell.core.shutdown(SHUTDOWN_LIMIT));
            }
        }
    });
}

/// How long quitting waits for refreshes in flight.
const SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// SIGTERM (a session logging out, `systemctl stop`, `kill`) quits like the
/// Quit menu does, so in-flight refreshes are finished, not dropped.
fn stop_on_sigterm(app: tauri::AppHandle) {
    #[cfg(unix)]
    tauri::async_runtime::spawn(async move {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            return;
        };
        if term.recv().await.is_some() {
            tracing::info!("SIGTERM: quitting");
            app.exit(0);
        }
    });
}

/// Core events become window events (no secrets in any of them), each by
/// [`CoreEvent::outward`], the one mapping the IPC server uses too.
fn forward_core_events(app: tauri::AppHandle, core: std::sync::Arc<Core>) {
    let mut events = core.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => {
                    notify::on_event(&app, &e);
                    if !matches!(e, CoreEvent::ConsentRequested(_) | CoreEvent::ConsentSettled { .. }) {
                        tray::refresh(&app);
                    }
                    if matches!(
                        e,
                        CoreEvent::ReauthRequired { .. }
                            | CoreEvent::AccessRevoked { .. }
                            | CoreEvent::TokenRefreshed { .. }
                            | CoreEvent::SignedIn { .. }
                    ) {
                        notify::check_readiness(&app);
                    }
                    if let CoreEvent::ConsentRequested(_) = e {
                        // A local program waits: the window comes forward with
                        // the prompt, at most once per few seconds (a program
                        // asking over and over cannot keep taking the focus).
                        if core.prompt_may_raise_window() {
                            window::show_main_window(&app);
                        }
                    }
                    let window = e.outward().window;
                    let _ = app.emit(window.name, window.payload);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let _ = app.emit(event::PROVIDERS_CHANGED, ());
                    let _ = app.emit(event::ACCOUNTS_CHANGED, ());
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}
