//! Settings that reach outside the window: start at login, and where the
//! `castkey` command is.

use crate::Shell;
use castkey_ipc::ui::{event, CliInstalled, CommandError, DesktopSettings};
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

/// Puts the `castkey` beside the app into `~/.local/bin/castkey`: a copy
/// when the app runs from an AppImage (`$APPIMAGE`; its mount goes away when
/// it exits, and a copy there is replaced on the next install), else a
/// symbolic link (a package or a checkout: it follows updates). Refuses to
/// replace anything else of that name.
pub fn install_cli() -> Result<CliInstalled, String> {
    let source = cli_beside_app().ok_or("this installation has no castkey command beside the app")?;
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).ok_or("HOME is not set")?;
    let bin = PathBuf::from(home).join(".local/bin");
    let target = bin.join("castkey");
    std::fs::create_dir_all(&bin).map_err(|e| format!("could not create {}: {e}", bin.display()))?;
    let appimage = std::env::var_os("APPIMAGE").is_some();
    match std::fs::symlink_metadata(&target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("could not look at {}: {e}", target.display())),
        Ok(meta) => {
            let ours_linked =
                meta.file_type().is_symlink() && std::fs::read_link(&target).ok().as_ref() == Some(&source);
            let ours_copied = appimage && meta.is_file() && is_castkey(&target);
            if ours_linked && !appimage {
                return Ok(CliInstalled { path: target.display().to_string(), on_path: on_path(&bin) });
            }
            if !ours_linked && !ours_copied {
                return Err(format!(
                    "{} already exists and is not Castkey's: remove it first",
                    target.display()
                ));
            }
        }
    }
    let staged = bin.join(".castkey.installing");
    let _ = std::fs::remove_file(&staged);
    if appimage {
        std::fs::copy(&source, &staged).map_err(|e| format!("could not copy {}: {e}", source.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("could not make {} executable: {e}", staged.display()))?;
    } else {
        std::os::unix::fs::symlink(&source, &staged)
            .map_err(|e| format!("could not link {}: {e}", staged.display()))?;
    }
    std::fs::rename(&staged, &target).map_err(|e| format!("could not place {}: {e}", target.display()))?;
    Ok(CliInstalled { path: target.display().to_string(), on_path: on_path(&bin) })
}

/// Whether the file at `path` is a `castkey` command (it says so for
/// `--version`).
fn is_castkey(path: &std::path::Path) -> bool {
    std::process::Command::new(path)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with("castkey "))
}

fn on_path(dir: &std::path::Path) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|d| d == dir))
}
