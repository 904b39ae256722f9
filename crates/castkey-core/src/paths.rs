//! Where Castkey keeps its (non-secret) files.

use std::path::PathBuf;

/// `$CASTKEY_CONFIG_DIR`, else `<XDG config dir>/castkey`.
pub fn config_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("CASTKEY_CONFIG_DIR").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    dirs::config_dir().unwrap_or_else(std::env::temp_dir).join("castkey")
}
