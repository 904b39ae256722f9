//! [`Caller`]: who is asking, as the OS tells it for a local connection
//! (SO_PEERCRED on Linux): user, process and executable. Every core call
//! that comes from the socket carries one, so consent, per-client binding
//! and the activity log can be decided in the core.

use std::path::PathBuf;

/// The process on the other end of an IPC connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The peer's user id; connections from other users are refused.
    pub uid: u32,
    /// The peer's process id, when the OS tells it.
    pub pid: Option<i32>,
    /// The peer's executable (`/proc/<pid>/exe`), when it can be read.
    pub executable: Option<PathBuf>,
}

impl Caller {
    /// A peer known by its credentials; the executable is looked up from
    /// the pid (Linux `/proc`; elsewhere unknown).
    pub fn from_peer(uid: u32, pid: Option<i32>) -> Self {
        let executable = pid.and_then(|p| std::fs::read_link(format!("/proc/{p}/exe")).ok());
        Caller { uid, pid, executable }
    }

    /// This process, for calls the CLI or the shell make in-process.
    pub fn this_process() -> Self {
        Caller {
            uid: castkey_ipc::socket::current_uid(),
            pid: i32::try_from(std::process::id()).ok(),
            executable: std::env::current_exe().ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_knows_its_own_executable() {
        let me = Caller::this_process();
        assert_eq!(me.pid, i32::try_from(std::process::id()).ok());
        let seen = Caller::from_peer(me.uid, me.pid);
        assert_eq!(seen.executable, me.executable);
        assert!(seen.executable.is_some());
    }
}
