//! The main window comes and goes; Castkey stays. Closing the window
//! destroys it (its web process exits, so the app in the tray holds no
//! WebKit memory), and the tray, a deep link or a consent prompt builds it
//! again from `tauri.conf.json`'s `main` entry, which is not created at
//! start-up (`"create": false`) so that "start in tray" can leave it out.

use castkey_ipc::ui::event;
use tauri::{Emitter, Manager};

pub const MAIN: &str = "main";

/// Shows the main window, building it if it is closed, raised and focused.
pub fn show_main_window<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(w) = app.get_webview_window(MAIN) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
        return;
    }
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == MAIN).cloned() else {
        tracing::error!("tauri.conf.json has no `{MAIN}` window");
        return;
    };
    match tauri::WebviewWindowBuilder::from_config(app, &config).and_then(|b| b.build()) {
        Ok(w) => {
            let _ = w.set_focus();
        }
        Err(e) => tracing::error!("could not open the window: {e}"),
    }
}

/// Whether the main window exists and is visible.
pub fn main_window_visible<R: tauri::Runtime>(app: &tauri::AppHandle<R>) -> bool {
    app.get_webview_window(MAIN).and_then(|w| w.is_visible().ok()).unwrap_or(false)
}

/// Shows the window on one of its screens (`accounts`, `add`, `apps`,
/// `activity`, `settings`). A window being built asks for the screen
/// itself once loaded, so the event is sent again shortly after.
pub fn show_screen<R: tauri::Runtime>(app: &tauri::AppHandle<R>, screen: &'static str) {
    let existed = app.get_webview_window(MAIN).is_some();
    show_main_window(app);
    let _ = app.emit(event::SHOW_SCREEN, screen);
    if !existed {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(std::time::Duration::from_millis(400)).await;
                let _ = app.emit(event::SHOW_SCREEN, screen);
            }
        });
    }
}
