//! Where the broker listens.
//!
//! Unix: `$CASTKEY_SOCKET` if set, else `$XDG_RUNTIME_DIR/castkey/castkey.sock`,
//! else `<temp dir>/castkey-<uid>/castkey.sock`. The directory is the user's
//! only (0700), the socket 0600; the server enforces both.
//! Windows: `$CASTKEY_SOCKET` if set, else the named pipe
//! `\\.\pipe\castkey-<user name>`.

use std::path::PathBuf;

/// The environment variable that overrides the endpoint.
pub const SOCKET_ENV: &str = "CASTKEY_SOCKET";

#[cfg(unix)]
pub fn default_socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os(SOCKET_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        return PathBuf::from(dir).join("castkey").join("castkey.sock");
    }
    std::env::temp_dir().join(format!("castkey-{}", current_uid())).join("castkey.sock")
}

#[cfg(windows)]
pub fn default_socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os(SOCKET_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let user = std::env::var("USERNAME").unwrap_or_else(|_| "user".into());
    let safe: String = user.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    PathBuf::from(format!(r"\\.\pipe\castkey-{safe}"))
}

/// The real user id of this process.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}
