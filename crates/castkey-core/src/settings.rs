//! The desktop app's settings file: `settings.json` in the config
//! directory, holding a [`DesktopSettings`] (no secrets). Read leniently
//! (unknown or missing members take their defaults, out-of-range values are
//! clamped) and written atomically, 0600.

use crate::error::CoreError;
use castkey_ipc::ui::DesktopSettings;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The settings, kept in memory and in their file.
#[derive(Debug)]
pub struct SettingsFile {
    path: PathBuf,
    current: Mutex<DesktopSettings>,
}

impl SettingsFile {
    /// Reads `path`; a missing file gives the defaults, an unreadable one
    /// too (logged, and left as it is until the next save).
    pub fn load(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let current = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<DesktopSettings>(&bytes) {
                Ok(s) => clamp(s),
                Err(e) => {
                    tracing::warn!("{} is unreadable ({e}); using the default settings", path.display());
                    DesktopSettings::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DesktopSettings::default(),
            Err(e) => {
                tracing::warn!("could not read {} ({e}); using the default settings", path.display());
                DesktopSettings::default()
            }
        };
        SettingsFile { path, current: Mutex::new(current) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self) -> DesktopSettings {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stores `new` (clamped) and answers what was stored. On a write error
    /// nothing changes, in memory or on disk.
    pub fn set(&self, new: DesktopSettings) -> Result<DesktopSettings, CoreError> {
        let new = clamp(new);
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = serde_json::to_vec_pretty(&new).map_err(|e| CoreError::Internal(e.to_string()))?;
        crate::atomic_file::write(&self.path, &bytes)
            .map_err(|e| CoreError::Internal(format!("could not save {}: {e}", self.path.display())))?;
        *current = new.clone();
        Ok(new)
    }
}

fn clamp(mut s: DesktopSettings) -> DesktopSettings {
    let range = DesktopSettings::GO_LIVE_HOURS;
    s.go_live_hours = s.go_live_hours.clamp(*range.start(), *range.end());
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn missing_file_gives_defaults_and_a_save_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let file = SettingsFile::load(&path);
        assert_eq!(file.get(), DesktopSettings::default());
        assert!(!file.get().start_at_login, "start at login is off until the user turns it on");
        assert_eq!(file.get().go_live_hours, 4);

        let saved = file
            .set(DesktopSettings {
                start_at_login: true,
                start_in_tray: true,
                go_live_hours: 6,
                notifications: false,
            })
            .unwrap();
        assert_eq!(saved.go_live_hours, 6);
        let again = SettingsFile::load(&path);
        assert_eq!(again.get(), saved);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn out_of_range_hours_are_clamped_and_unknown_members_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, br#"{"go_live_hours": 500, "start_in_tray": true, "theme": "neon"}"#).unwrap();
        let file = SettingsFile::load(&path);
        assert_eq!(file.get().go_live_hours, 48);
        assert!(file.get().start_in_tray);
        assert!(file.get().notifications, "a member left out takes its default");
        let zero = file.set(DesktopSettings { go_live_hours: 0, ..file.get() }).unwrap();
        assert_eq!(zero.go_live_hours, 1);
    }

    #[test]
    fn a_garbled_file_gives_defaults_and_stays_until_saved_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, b"{not json").unwrap();
        let file = SettingsFile::load(&path);
        assert_eq!(file.get(), DesktopSettings::default());
        assert_eq!(std::fs::read(&path).unwrap(), b"{not json", "nothing is lost by reading");
    }

    #[test]
    fn a_failed_save_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // The settings "file" is a directory: the write fails.
        let path = dir.path().join("settings.json");
        std::fs::create_dir(&path).unwrap();
        let file = SettingsFile::load(&path);
        let before = file.get();
        let err = file.set(DesktopSettings { go_live_hours: 9, ..before.clone() }).unwrap_err();
        assert!(err.to_string().contains("could not save"), "{err}");
        assert_eq!(file.get(), before);
    }
}
