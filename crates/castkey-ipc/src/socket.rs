//! Where the broker listens.
//!
//! Unix: `$CASTKEY_SOCKET` if set, else `$XDG_RUNTIME_DIR/castkey/castkey.sock`,
//! else `<temp dir>/castkey-<uid>/castkey.sock`. The directory is the user's
//! only (0700), the socket 0600; the server enforces both.
//! Windows: `$CASTKEY_SOCKET` if set, else the named pipe
//! `\\.\pipe\castkey-<user name>`.
//!
//! Clients check the endpoint before they connect ([`check_socket`]): when
//! `XDG_RUNTIME_DIR` is unset the directory is in the shared temp dir, where
//! another user could have created it first and listen there.

use crate::ClientError;
use std::path::{Path, PathBuf};

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
    pipe_path(&std::env::var("USERNAME").unwrap_or_default())
}

/// The Windows named pipe for `user`: `\\.\pipe\castkey-<user>`, with every
/// character but ASCII letters and digits replaced by `_` (`user` when
/// empty). The name is only a meeting point: who may open the pipe is
/// decided by its security descriptor ([`owner_only_sddl`]), and who
/// serves it is checked by the client (`castkey_ipc::pipe`).
pub fn pipe_path(user: &str) -> PathBuf {
    let user = if user.is_empty() { "user" } else { user };
    let safe: String = user.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    PathBuf::from(format!(r"\\.\pipe\castkey-{safe}"))
}

/// The security descriptor (SDDL) of the broker's named pipe: a protected
/// DACL (`P`: nothing inherited) with one entry, full access for the user
/// `sid` (`S-1-5-21-…`). Without it the default DACL lets Everyone and
/// Anonymous read. `None` unless `sid` has the form of a SID (`S-`, then
/// numbers separated by `-`), so that nothing else can end up in the DACL.
pub fn owner_only_sddl(sid: &str) -> Option<String> {
    let mut parts = sid.split('-');
    let well_formed = parts.next() == Some("S")
        && sid.split('-').count() >= 3
        && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    well_formed.then(|| format!("D:P(A;;GA;;;{sid})"))
}

/// The real user id of this process.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Room for a socket path in `sockaddr_un.sun_path`, its NUL included: 108
/// bytes on Linux, 104 on macOS and the BSDs.
#[cfg(unix)]
pub const SUN_PATH_LEN: usize = if cfg!(any(target_os = "linux", target_os = "android")) { 108 } else { 104 };

/// Whether `path` fits in a Unix socket address (no broker can listen on
/// one that does not).
#[cfg(unix)]
pub fn fits_socket_address(path: &Path) -> bool {
    path.as_os_str().len() < SUN_PATH_LEN
}

/// What a client checks before it connects to `path`:
///
/// * [`ClientError::NotRunning`]: the path is too long for a socket
///   address, or it or its directory does not exist;
/// * [`ClientError::Unsafe`]: its directory is owned by another user
///   (root excepted) or writable by group or others, or the file there is
///   not a socket, or the socket is owned by another user.
///
/// Symbolic links are followed: what counts is where they lead.
#[cfg(unix)]
pub fn check_socket(path: &Path) -> Result<(), ClientError> {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};

    let not_running = || ClientError::NotRunning { path: path.to_path_buf() };
    let unsafe_because = |why: String| ClientError::Unsafe { path: path.to_path_buf(), why };
    let absent = |e: &std::io::Error| {
        matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory)
    };
    if !fits_socket_address(path) {
        return Err(not_running());
    }
    let me = current_uid();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir_meta = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => return Err(not_running()),
        Err(e) if absent(&e) => return Err(not_running()),
        Err(e) => return Err(ClientError::Io(e)),
    };
    if dir_meta.uid() != me && dir_meta.uid() != 0 {
        return Err(unsafe_because(format!(
            "its directory {} belongs to another user (uid {}, you are uid {me})",
            dir.display(),
            dir_meta.uid()
        )));
    }
    if dir_meta.mode() & 0o022 != 0 {
        return Err(unsafe_because(format!(
            "its directory {} can be written by other users (mode {:o})",
            dir.display(),
            dir_meta.mode() & 0o7777
        )));
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if absent(&e) => return Err(not_running()),
        Err(e) => return Err(ClientError::Io(e)),
    };
    let kind = meta.file_type();
    if !kind.is_socket() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_file() {
            "a regular file"
        } else if kind.is_fifo() {
            "a FIFO"
        } else {
            "a device or other special file"
        };
        return Err(unsafe_because(format!("it is not a socket but {what}")));
    }
    if meta.uid() != me {
        return Err(unsafe_because(format!(
            "the socket belongs to another user (uid {}, you are uid {me})",
            meta.uid()
        )));
    }
    Ok(())
}

/// What a client checks once connected: the program listening runs as this
/// user (`SO_PEERCRED` on Linux, `getpeereid` on macOS and the BSDs; where
/// the OS cannot say, nothing is checked). [`check_socket`] already makes
/// this all but certain; this catches what slipped through.
#[cfg(unix)]
pub fn check_peer(path: &Path, socket: &impl std::os::fd::AsFd) -> Result<(), ClientError> {
    let me = current_uid();
    match peer_uid(socket) {
        Some(uid) if uid != me => Err(ClientError::Unsafe {
            path: path.to_path_buf(),
            why: format!("the program listening there runs as another user (uid {uid}, you are uid {me})"),
        }),
        _ => Ok(()),
    }
}

/// The user id of the process at the other end of a Unix socket.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
pub fn peer_uid(socket: &impl std::os::fd::AsFd) -> Option<u32> {
    use std::os::fd::AsRawFd as _;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes passed, and
    // the descriptor is borrowed open for the call.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize == std::mem::size_of::<libc::ucred>()).then_some(cred.uid)
}

/// The user id of the process at the other end of a Unix socket.
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
#[allow(unsafe_code)]
pub fn peer_uid(socket: &impl std::os::fd::AsFd) -> Option<u32> {
    use std::os::fd::AsRawFd as _;
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: both out-pointers are valid for writes, and the descriptor is
    // borrowed open for the call.
    let rc = unsafe { libc::getpeereid(socket.as_fd().as_raw_fd(), &mut uid, &mut gid) };
    (rc == 0).then_some(uid)
}

/// Where the OS has no way to say.
#[cfg(all(
    unix,
    not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ))
))]
pub fn peer_uid(_socket: &impl std::os::fd::AsFd) -> Option<u32> {
    None
}

/// Windows: nothing to check before opening the named pipe.
#[cfg(windows)]
pub fn check_socket(_path: &Path) -> Result<(), ClientError> {
    Ok(())
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::net::UnixListener;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A private directory with a listening socket in it.
    fn listening() -> (tempfile::TempDir, PathBuf, UnixListener) {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o700);
        let path = dir.path().join("castkey.sock");
        let listener = UnixListener::bind(&path).unwrap();
        (dir, path, listener)
    }

    fn why(r: Result<(), ClientError>) -> String {
        match r {
            Err(ClientError::Unsafe { why, .. }) => why,
            other => panic!("expected Unsafe, got {other:?}"),
        }
    }

    #[test]
    fn a_private_socket_passes() {
        let (_dir, path, _l) = listening();
        check_socket(&path).unwrap();
    }

    #[test]
    fn nothing_there_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("castkey.sock");
        assert!(matches!(check_socket(&path), Err(ClientError::NotRunning { .. })));
        let gone = dir.path().join("no-such-dir/castkey.sock");
        assert!(matches!(check_socket(&gone), Err(ClientError::NotRunning { .. })));
        // A file where the directory should be.
        std::fs::write(dir.path().join("file"), b"").unwrap();
        let under_file = dir.path().join("file/castkey.sock");
        assert!(matches!(check_socket(&under_file), Err(ClientError::NotRunning { .. })));
    }

    #[test]
    fn an_overlong_path_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let long = dir.path().join("d".repeat(SUN_PATH_LEN)).join("castkey.sock");
        assert!(!fits_socket_address(&long));
        match check_socket(&long) {
            Err(ClientError::NotRunning { path }) => assert_eq!(path, long),
            other => panic!("expected NotRunning, got {other:?}"),
        }
        // Exactly one byte too long: the NUL needs room too.
        let base = dir.path().join("x");
        let pad = SUN_PATH_LEN - base.as_os_str().len();
        let edge = PathBuf::from(format!("{}{}", base.display(), "y".repeat(pad)));
        assert_eq!(edge.as_os_str().len(), SUN_PATH_LEN);
        assert!(!fits_socket_address(&edge));
        let fits = PathBuf::from(format!("{}{}", base.display(), "y".repeat(pad - 1)));
        assert!(fits_socket_address(&fits));
    }

    #[test]
    fn a_directory_others_may_write_is_unsafe() {
        let (dir, path, _l) = listening();
        chmod(dir.path(), 0o777);
        assert!(why(check_socket(&path)).contains("can be written by other users (mode 777)"));
        chmod(dir.path(), 0o770);
        assert!(why(check_socket(&path)).contains("mode 770"));
        // Sticky /tmp-like directories too: another user may have put the
        // socket there first.
        chmod(dir.path(), 0o1777);
        assert!(why(check_socket(&path)).contains("mode 1777"));
        chmod(dir.path(), 0o755);
        check_socket(&path).unwrap();
    }

    #[test]
    fn something_else_than_a_socket_is_unsafe() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("castkey.sock");
        std::fs::write(&path, b"not a socket").unwrap();
        assert!(why(check_socket(&path)).contains("not a socket but a regular file"));
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(why(check_socket(&path)).contains("a directory"));
    }

    #[test]
    fn a_symlink_counts_where_it_leads() {
        let (_dir, target, _l) = listening();
        let links = tempfile::tempdir().unwrap();
        let link = links.path().join("castkey.sock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        check_socket(&link).unwrap();
        let file = links.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let to_file = links.path().join("to-file.sock");
        std::os::unix::fs::symlink(&file, &to_file).unwrap();
        assert!(why(check_socket(&to_file)).contains("regular file"));
    }

    #[test]
    fn the_listener_is_this_user() {
        let (dir, path, listener) = listening();
        let client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let (server, _) = listener.accept().unwrap();
        if cfg!(any(target_os = "linux", target_os = "android", target_os = "macos")) {
            assert_eq!(peer_uid(&client), Some(current_uid()));
            assert_eq!(peer_uid(&server), Some(current_uid()));
        }
        check_peer(&path, &client).unwrap();
        // Not a socket: the OS cannot say, so nothing is refused.
        let file = std::fs::File::open(dir.path()).unwrap();
        assert_eq!(peer_uid(&file), None);
    }

    /// Ownership can only be given away by root (the tests' usual user
    /// here); as anyone else these cases are skipped.
    #[test]
    fn another_users_directory_or_socket_is_unsafe() {
        if current_uid() != 0 {
            eprintln!("skipped: only root can make files another user owns");
            return;
        }
        let other = 4242;
        let (dir, path, _l) = listening();
        std::os::unix::fs::chown(&path, Some(other), None).unwrap();
        assert!(why(check_socket(&path)).contains("the socket belongs to another user (uid 4242"));
        std::os::unix::fs::chown(dir.path(), Some(other), None).unwrap();
        assert!(why(check_socket(&path)).contains("its directory"));
        assert!(why(check_socket(&path)).contains("belongs to another user (uid 4242"));
    }
}

/// The Windows pipe name and descriptor, which are plain strings: tested
/// on every platform.
#[cfg(test)]
mod pipe_tests {
    use super::*;

    #[test]
    fn the_pipe_is_named_after_the_user_in_safe_characters() {
        assert_eq!(pipe_path("alice"), PathBuf::from(r"\\.\pipe\castkey-alice"));
        assert_eq!(pipe_path("Jo Doe.2"), PathBuf::from(r"\\.\pipe\castkey-Jo_Doe_2"));
        // No way out of the pipe namespace, nor into another name.
        assert_eq!(pipe_path(r"..\..\x"), PathBuf::from(r"\\.\pipe\castkey-______x"));
        assert_eq!(pipe_path("Zoë"), PathBuf::from(r"\\.\pipe\castkey-Zo_"));
        assert_eq!(pipe_path(""), PathBuf::from(r"\\.\pipe\castkey-user"));
    }

    #[test]
    fn only_the_users_sid_is_in_the_dacl() {
        assert_eq!(
            owner_only_sddl("S-1-5-21-1004336348-1177238915-682003330-1001").as_deref(),
            Some("D:P(A;;GA;;;S-1-5-21-1004336348-1177238915-682003330-1001)")
        );
        assert_eq!(owner_only_sddl("S-1-5-18").as_deref(), Some("D:P(A;;GA;;;S-1-5-18)"));
        for bad in
            ["", "S", "S-1", "S-1-", "S--5", "WD", "S-1-5)(A;;GA;;;WD", "s-1-5-18", "S-1-5-18 ", "S-1-x"]
        {
            assert_eq!(owner_only_sddl(bad), None, "{bad:?}");
        }
    }
}
