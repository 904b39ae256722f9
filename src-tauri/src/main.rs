//! Castkey's desktop shell. Thin on purpose: it starts the core, the IPC
//! broker and the window, turns deep links into core calls and core events
//! into window events. Everything that decides anything is in castkey-core.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod deep_link;

use castkey_core::IpcServer;
use castkey_core::{Core, CoreEvent, CoreOptions, RedirectMode};
use castkey_ipc::ui::{event, SignInFailed};
use std::sync::{Arc, Mutex};
use tauri::{Emitter, Manager};

/// What the commands and handlers share.
#[derive(Debug)]
pub struct Shell {
    pub core: Arc<Core>,
    pub socket_path: std::path::PathBuf,
    pub broker_error: Mutex<Option<String>>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
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
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| deep_link::show_main_window(app)))
        .plugin(tauri_plugin_deep_link::init())
        .invoke_handler(commands::invoke_handler())
        .setup(|app| {
            let core = tauri::async_runtime::block_on(async {
                Core::start(CoreOptions::system(RedirectMode::AppScheme)?).await
            })
            .map_err(|e| format!("Castkey could not start: {e}"))?;
            let socket_path = castkey_ipc::socket::default_socket_path();
            let shell = Shell {
                core: core.clone(),
                socket_path: socket_path.clone(),
                broker_error: Mutex::new(None),
            };
            match IpcServer::bind(&socket_path) {
                Ok(server) => {
                    tracing::info!("broker listening on {}", socket_path.display());
                    tauri::async_runtime::spawn(server.serve(core.clone()));
                }
                Err(e) => {
                    tracing::error!("broker not started: {e}");
                    *shell.broker_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                }
            }
            app.manage(shell);
            forward_core_events(app.handle().clone(), &core);
            let discovering = core.clone();
            tauri::async_runtime::spawn(async move { discovering.discover_all().await });
            stop_on_sigterm(app.handle().clone());
            deep_link::install(app)?;
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

/// Core events become window events (no secrets in any of them).
fn forward_core_events(app: tauri::AppHandle, core: &Core) {
    let mut events = core.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(CoreEvent::AccountsChanged) => {
                    let _ = app.emit(event::ACCOUNTS_CHANGED, ());
                }
                Ok(CoreEvent::ProvidersChanged) => {
                    let _ = app.emit(event::PROVIDERS_CHANGED, ());
                }
                Ok(CoreEvent::SignedIn { account }) => {
                    let _ = app.emit(event::SIGNED_IN, account);
                }
                Ok(CoreEvent::SignInFailed { message }) => {
                    let _ = app.emit(event::SIGN_IN_FAILED, SignInFailed { message });
                }
                Ok(CoreEvent::ConsentRequested(request)) => {
                    // A local program waits: the window comes forward with the prompt.
                    deep_link::show_main_window(&app);
                    let _ = app.emit(event::CONSENT_REQUESTED, request);
                }
                Ok(CoreEvent::ConsentSettled { id }) => {
                    let _ = app.emit(event::CONSENT_SETTLED, id);
                }
                Ok(CoreEvent::ClientsChanged) => {
                    let _ = app.emit(event::CLIENTS_CHANGED, ());
                }
                Ok(CoreEvent::ActiveChanged { .. } | CoreEvent::SignedOut { .. }) => {
                    let _ = app.emit(event::ACCOUNTS_CHANGED, ());
                }
                Ok(CoreEvent::ReauthRequired { .. } | CoreEvent::TokenRefreshed { .. }) => {
                    let _ = app.emit(event::HEALTH_CHANGED, ());
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
