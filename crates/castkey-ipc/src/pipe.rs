//! Windows: who is at the other end of a named pipe, as the OS tells it.
//!
//! A named pipe has no owner a client could look at before it connects, and
//! the `\\.\pipe\` namespace is shared by every user of the machine: another
//! user may have created `castkey-<you>` first. So, once connected, the
//! client asks which process serves the pipe (`GetNamedPipeServerProcessId`)
//! and which user that process runs as (its token's user SID), and refuses a
//! pipe served by another user ([`check_server`]); the broker does the same
//! for each client (`GetNamedPipeClientProcessId`).
//!
//! Compiled for `x86_64-pc-windows-gnu` on Linux, never run there: see
//! docs/platforms.md.

#![allow(unsafe_code)]

use crate::ClientError;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::windows::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::windows::io::{AsHandle, AsRawHandle as _, FromRawHandle as _, OwnedHandle};
use std::path::{Path, PathBuf};
use std::time::Duration;
use windows_sys::Win32::Foundation::{
    LocalFree, ERROR_INSUFFICIENT_BUFFER, ERROR_PIPE_BUSY, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, TokenUser, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, PIPE_ACCESS_DUPLEX,
};
use windows_sys::Win32::System::Pipes::{
    CreateNamedPipeW, GetNamedPipeClientProcessId, GetNamedPipeServerProcessId, PIPE_READMODE_BYTE,
    PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE, PIPE_UNLIMITED_INSTANCES, PIPE_WAIT,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, QueryFullProcessImageNameW, PROCESS_NAME_WIN32,
    PROCESS_QUERY_LIMITED_INFORMATION,
};

/// How long a client keeps trying while every instance of the pipe is busy
/// (`ERROR_PIPE_BUSY`): the broker makes the next instance as soon as one
/// is connected, so this is a moment, not a queue.
pub(crate) const BUSY_WAIT: Duration = Duration::from_secs(1);

/// How long a client waits before it tries a busy pipe again.
pub(crate) const BUSY_RETRY: Duration = Duration::from_millis(20);

/// The impersonation level clients grant the server (std adds
/// `SECURITY_SQOS_PRESENT` to what `security_qos_flags` is given).
pub(crate) const SECURITY_IDENTIFICATION: u32 =
    windows_sys::Win32::Storage::FileSystem::SECURITY_IDENTIFICATION;

/// Whether opening the pipe failed because every instance was taken.
pub(crate) fn is_busy(e: &io::Error) -> bool {
    e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32)
}

/// The user this process runs as: its token's user SID (`S-1-5-21-…`).
pub fn current_user_sid() -> io::Result<String> {
    // SAFETY: GetCurrentProcess takes nothing and returns a pseudo-handle
    // that needs no closing (and must not be closed).
    let me = unsafe { GetCurrentProcess() };
    token_user_sid(me)
}

/// The user process `pid` runs as (its token's user SID). Fails when the
/// process cannot be opened for `PROCESS_QUERY_LIMITED_INFORMATION` or its
/// token for `TOKEN_QUERY`, which is usual for another user's process.
pub fn process_user_sid(pid: u32) -> io::Result<String> {
    let process = open_process(pid)?;
    token_user_sid(process.as_raw_handle())
}

/// The executable of process `pid`, as a Win32 path (`C:\…\obs64.exe`).
pub fn process_executable(pid: u32) -> io::Result<PathBuf> {
    let process = open_process(pid)?;
    // Paths can be longer than MAX_PATH; grow up to the 32 767 characters
    // a Win32 path can have.
    let mut capacity: u32 = 1024;
    loop {
        let mut buf = vec![0u16; capacity as usize];
        let mut len = capacity;
        // SAFETY: `buf` is valid for writes of `len` UTF-16 units, and the
        // process handle is open for the call.
        let ok = unsafe {
            QueryFullProcessImageNameW(
                process.as_raw_handle(),
                PROCESS_NAME_WIN32,
                buf.as_mut_ptr(),
                &mut len,
            )
        };
        if ok != 0 {
            // On success `len` is the number of characters written, without
            // the terminating NUL.
            buf.truncate(len as usize);
            return Ok(PathBuf::from(OsString::from_wide(&buf)));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(ERROR_INSUFFICIENT_BUFFER as i32) || capacity >= 32_768 {
            return Err(e);
        }
        capacity *= 4;
    }
}

/// The process id of the client connected to the server end `pipe`.
pub fn client_pid(pipe: &impl AsHandle) -> io::Result<u32> {
    let mut pid = 0u32;
    // SAFETY: the handle is borrowed open for the call and `pid` is valid
    // for a write.
    let ok = unsafe { GetNamedPipeClientProcessId(pipe.as_handle().as_raw_handle(), &mut pid) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// The process id of the server of the client end `pipe`.
pub fn server_pid(pipe: &impl AsHandle) -> io::Result<u32> {
    let mut pid = 0u32;
    // SAFETY: the handle is borrowed open for the call and `pid` is valid
    // for a write.
    let ok = unsafe { GetNamedPipeServerProcessId(pipe.as_handle().as_raw_handle(), &mut pid) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// What a client checks once connected to the pipe at `path`: the process
/// serving it runs as this user. Unlike a Unix socket's peer, a pipe server
/// whose user cannot be read is refused too: failing to open another
/// user's process is exactly what a squatter from another account looks
/// like to a standard user.
pub fn check_server(path: &Path, pipe: &impl AsHandle) -> Result<(), ClientError> {
    let unsafe_because = |why: String| ClientError::Unsafe { path: path.to_path_buf(), why };
    let me = current_user_sid()?;
    let server = server_pid(pipe)
        .and_then(|pid| process_user_sid(pid).map(|sid| (pid, sid)))
        .map_err(|e| unsafe_because(format!("cannot tell which user serves the pipe ({e})")))?;
    match server {
        (_, sid) if sid == me => Ok(()),
        (pid, sid) => Err(unsafe_because(format!(
            "the program serving it (process {pid}) runs as another user ({sid}, you are {me})"
        ))),
    }
}

/// For the broker: the named pipe at a path, only this user's. Each
/// instance gets a protected DACL granting one SID full access
/// ([`crate::socket::owner_only_sddl`]): without it the default DACL lets
/// Everyone and Anonymous read (shared PITFALLS #20).
#[derive(Debug)]
pub struct OwnerOnlyPipe {
    /// The pipe's name, NUL-terminated UTF-16.
    name: Vec<u16>,
    /// A self-relative security descriptor that
    /// ConvertStringSecurityDescriptorToSecurityDescriptorW allocated;
    /// freed with LocalFree on drop, as that function's documentation says.
    descriptor: PSECURITY_DESCRIPTOR,
}

// SAFETY: the descriptor is owned by this value alone, never written after
// it was made, and only read (by CreateNamedPipeW); any thread may use it,
// and the one that drops the value frees it.
unsafe impl Send for OwnerOnlyPipe {}
// SAFETY: as above: shared use only ever reads the descriptor.
unsafe impl Sync for OwnerOnlyPipe {}

impl OwnerOnlyPipe {
    /// The pipe at `path` (`\\.\pipe\…`), which only user `sid` may open.
    pub fn new(path: &Path, sid: &str) -> io::Result<Self> {
        let sddl = crate::socket::owner_only_sddl(sid)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("not a SID: {sid:?}")))?;
        let sddl = wide_nul(OsStr::new(&sddl));
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `sddl` is NUL-terminated UTF-16; `descriptor` is valid for
        // a write; the size out-pointer may be null (documented optional).
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnerOnlyPipe { name: wide_nul(path.as_os_str()), descriptor })
    }

    /// Creates one instance of the pipe: duplex, byte mode, remote clients
    /// rejected (`PIPE_REJECT_REMOTE_CLIENTS`), any number of instances, and
    /// overlapped, for tokio's `NamedPipeServer::from_raw_handle` (the
    /// flags tokio's `ServerOptions` sets for `reject_remote_clients(true)`
    /// and `first_pipe_instance(first)`). Made here rather than by
    /// `ServerOptions::create` because that needs a tokio runtime, and the
    /// desktop shell binds before its runtime serves. With `first`
    /// (`FILE_FLAG_FIRST_PIPE_INSTANCE`) it fails with `ERROR_ACCESS_DENIED`
    /// if any process, of any user, already has a pipe of that name.
    pub fn create_instance(&self, first: bool) -> io::Result<OwnedHandle> {
        let attributes = SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.descriptor,
            bInheritHandle: 0,
        };
        let mut open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
        if first {
            open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
        }
        let pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
        // SAFETY: `name` is NUL-terminated UTF-16; `attributes` is a valid
        // SECURITY_ATTRIBUTES for the call, and its descriptor lives as long
        // as `self`.
        let handle = unsafe {
            CreateNamedPipeW(
                self.name.as_ptr(),
                open_mode,
                pipe_mode,
                PIPE_UNLIMITED_INSTANCES,
                65536,
                65536,
                0,
                &attributes,
            )
        };
        if handle == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a valid handle from CreateNamedPipeW is open and ours to close.
        Ok(unsafe { OwnedHandle::from_raw_handle(handle) })
    }
}

impl Drop for OwnerOnlyPipe {
    fn drop(&mut self) {
        // SAFETY: the descriptor came from
        // ConvertStringSecurityDescriptorToSecurityDescriptorW, is freed once,
        // here, and every pipe made with it copied it when it was created.
        unsafe { LocalFree(self.descriptor) };
    }
}

fn wide_nul(s: &OsStr) -> Vec<u16> {
    s.encode_wide().chain(std::iter::once(0)).collect()
}

fn open_process(pid: u32) -> io::Result<OwnedHandle> {
    // SAFETY: OpenProcess has no memory arguments; it returns null on failure.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a non-null handle from OpenProcess is open and ours to close.
    Ok(unsafe { OwnedHandle::from_raw_handle(process) })
}

/// The user SID of `process`'s token, as a string.
fn token_user_sid(process: HANDLE) -> io::Result<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: `process` is open for the call (or the current-process
    // pseudo-handle) and `token` is valid for a write.
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: OpenProcessToken succeeded: `token` is open and ours to close.
    let token = unsafe { OwnedHandle::from_raw_handle(token) };
    let mut needed = 0u32;
    // SAFETY: with no buffer and a length of 0 the call only reports the
    // size it needs in `needed` (and fails with ERROR_INSUFFICIENT_BUFFER).
    unsafe { GetTokenInformation(token.as_raw_handle(), TokenUser, std::ptr::null_mut(), 0, &mut needed) };
    if needed == 0 {
        return Err(io::Error::last_os_error());
    }
    // `u64`s: TOKEN_USER holds a pointer, so the buffer must be aligned for one.
    let mut buf = vec![0u64; (needed as usize).div_ceil(8)];
    let len = u32::try_from(buf.len() * 8).map_err(|_| io::Error::other("token information too large"))?;
    // SAFETY: `buf` is valid for writes of `len` bytes and aligned for
    // TOKEN_USER; `needed` is valid for a write.
    let ok = unsafe {
        GetTokenInformation(token.as_raw_handle(), TokenUser, buf.as_mut_ptr().cast(), len, &mut needed)
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success `buf` starts with a TOKEN_USER whose `Sid` points
    // into `buf`, which outlives this borrow.
    let user = unsafe { &*buf.as_ptr().cast::<TOKEN_USER>() };
    let mut text: windows_sys::core::PWSTR = std::ptr::null_mut();
    // SAFETY: `user.User.Sid` is a valid SID (see above); `text` is valid
    // for a write and receives a LocalAlloc'd string on success.
    if unsafe { ConvertSidToStringSidW(user.User.Sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success `text` is a NUL-terminated UTF-16 string.
    let sid = unsafe { wide_nul_to_string(text) };
    // SAFETY: `text` came from ConvertSidToStringSidW, whose documentation
    // says to free it with LocalFree, and is not used afterwards.
    unsafe { LocalFree(text.cast()) };
    Ok(sid)
}

/// The text of a NUL-terminated UTF-16 string.
///
/// # Safety
/// `p` must point to a NUL-terminated sequence of `u16`, readable up to
/// and including the NUL.
unsafe fn wide_nul_to_string(p: *const u16) -> String {
    let mut len = 0;
    // SAFETY: the caller promises the units up to the NUL are readable.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` units before the NUL were just read.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
}
