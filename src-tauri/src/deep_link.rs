//! Deep links → core. Every URL is untrusted: the core parses it and
//! completes a sign-in only if one is waiting for its `state`.

use crate::Shell;
use castkey_ipc::ui::{event, SignInFailed};
use tauri::{Emitter, Manager};
use tauri_plugin_deep_link::DeepLinkExt;

pub fn install(app: &mut tauri::App) -> Result<(), Box<dyn std::error::Error>> {
    register_scheme(app);
    let handle = app.handle().clone();
    app.deep_link().on_open_url(move |e| {
        for url in e.urls() {
            handle_url(handle.clone(), url.to_string());
        }
    });
    // Cold start: the plugin saw the URL before the handler above existed.
    if let Some(urls) = app.deep_link().get_current()? {
        for url in urls {
            handle_url(app.handle().clone(), url.to_string());
        }
    }
    Ok(())
}

/// On Linux a build run from source (or an AppImage without a launcher)
/// registers itself as the handler of the scheme; packaged installs
/// (/usr/...) are registered by their .desktop file instead.
fn register_scheme(app: &tauri::App) {
    #[cfg(target_os = "linux")]
    {
        let packaged = std::env::current_exe().map(|p| p.starts_with("/usr/")).unwrap_or(false);
        if packaged || std::env::var_os("CASTKEY_SKIP_SCHEME_REGISTRATION").is_some() {
            return;
        }
        if let Err(e) = app.deep_link().register_all() {
            tracing::warn!("could not register the {} scheme: {e}", castkey_core::APP_SCHEME);
            return;
        }
        if let Err(e) = unquote_handler_exec(app) {
            tracing::warn!("could not adjust the scheme handler: {e}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = app;
}

/// The plugin writes `Exec="<path>" %u`. xdg-open's generic mode (no
/// desktop environment: Debian 12's xdg-utils 1.1.3) takes the first word
/// quotes and all, finds no such program and fails with status 4. The
/// desktop-entry spec allows an unquoted path when it has no reserved
/// characters, so write that; paths with spaces keep the quotes.
#[cfg(target_os = "linux")]
fn unquote_handler_exec(app: &tauri::App) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    let name = exe.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let data = app.path().data_dir().map_err(std::io::Error::other)?;
    let file = data.join("applications").join(format!("{name}-handler.desktop"));
    let text = std::fs::read_to_string(&file)?;
    let mut changed = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.strip_prefix("Exec=\"").and_then(|r| r.strip_suffix("\" %u")) {
            Some(path) if path.chars().all(|c| c.is_ascii_alphanumeric() || "/._+-".contains(c)) => {
                changed = true;
                format!("Exec={path} %u")
            }
            _ => line.to_string(),
        })
        .collect();
    if changed {
        std::fs::write(&file, lines.join("\n") + "\n")?;
    }
    Ok(())
}

fn handle_url(app: tauri::AppHandle, url: String) {
    tauri::async_runtime::spawn(async move {
        let core = app.state::<Shell>().core.clone();
        match core.handle_deep_link(&url).await {
            Ok(account) => {
                tracing::info!(account = %account.id, "sign-in completed through deep link");
                crate::window::show_main_window(&app);
            }
            Err(e) => {
                // The core already told the window when a real sign-in failed;
                // a link no sign-in waited for is reported here.
                if matches!(e, castkey_core::CoreError::Redirect(_)) {
                    let _ = app.emit(
                        event::SIGN_IN_FAILED,
                        // No pending sign-in names a provider for a forged or stale link.
                        SignInFailed { provider: String::new(), reason: e.reason(), message: e.to_string() },
                    );
                }
                tracing::warn!("deep link refused: {e}");
            }
        }
    });
}
