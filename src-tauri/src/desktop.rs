//! Settings that reach outside the window: start at login, and where the
//! `castkey` command is.

use crate::Shell;
use castkey_ipc::ui::{event, CommandError, DesktopSettings};
use std::path::PathBuf;
use tauri::{AppHandle, Emitter};
use tauri_plugin_autostart::ManagerExt;

/// The argument the autostart entry starts Castkey with: with "start in
/// tray" on, such a start opens no window.
pub const AUTOSTARTED: &str = "--autostarted";

/// Stores `new`, registers or removes the autostart entry to match, and
/// tells the window and the tray. If the autostart entry cannot be changed,
/// nothing is stored and the error says why.
pub fn apply_settings(
    app: &AppHandle,
    shell: &Shell,
    new: DesktopSettings,
) -> Result<DesktopSettings, CommandError> {
    let internal = |message: String| CommandError { reason: castkey_ipc::Reason::Internal, message };
    let autostart = app.autolaunch();
    let enabled = autostart.is_enabled().unwrap_or(false);
    if new.start_at_login != enabled {
        let changed = if new.start_at_login { autostart.enable() } else { autostart.disable() };
        changed.map_err(|e| internal(format!("could not change starting at login: {e}")))?;
    }
    let stored = shell.settings.set(new).map_err(|e| internal(e.to_string()))?;
    let _ = app.emit(event::SETTINGS_CHANGED, &stored);
    crate::tray::refresh(app);
    Ok(stored)
}

/// The `castkey` command installed beside this app, if there is one.
pub fn cli_beside_app() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let cli = exe.parent()?.join("castkey");
    cli.is_file().then_some(cli)
}

/// Whether `castkey` is found on `PATH`.
pub fn cli_on_path() -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join("castkey").is_file()))
        .unwrap_or(false)
}
