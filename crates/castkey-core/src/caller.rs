//! [`Caller`]: who is asking, as the OS tells it for a local connection
//! (SO_PEERCRED on Linux): user, process, executable and, for a script run
//! by an interpreter, the script. On Windows (a named pipe): process and
//! executable only; the script is read from `/proc`, which Windows lacks. Every core call that comes from the
//! socket carries one, so consent, per-client binding and the activity log
//! are decided in the core.
//!
//! How strong each identity is, and what stays forgeable, is in
//! docs/security.md. In short:
//! - the process is read from `/proc` between two reads of its start time
//!   (`/proc/<pid>/stat` field 22), and checked against the pidfd of the
//!   process that connected where the kernel gives one (SO_PEERPIDFD,
//!   [`Caller::from_peer_socket`]): a pid reused meanwhile is refused;
//! - a Flatpak program is known by its app id, a snap by its AppArmor label
//!   ([`Strength::Sandboxed`], the strongest);
//! - a script only by an absolute path: a relative one (or `-m`, `-c`, no
//!   script at all) is [`Strength::Weak`] and never allowed always, because
//!   the working directory it resolves against is the program's to change;
//! - Castkey's own tools by the file they run ([`Caller::is_own_tool`]), not
//!   by name.

use castkey_ipc::ClientIdentity;
use std::path::{Path, PathBuf};

/// How much an identity can be trusted to name one program.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Strength {
    /// A sandboxed app (Flatpak app id, snap label): the sandbox says it,
    /// the program cannot choose it.
    Sandboxed,
    /// An executable (or an interpreter and a script named by an absolute
    /// path): any program that can write that file is that program.
    #[default]
    Executable,
    /// Any program can take this identity (a relative script path, `-m`,
    /// `-c`/`-e` code, an interpreter with no script, an unknown process):
    /// allowed once at most, never always. The text says why.
    Weak(String),
}

/// The process on the other end of an IPC connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The peer's user id; connections from other users are refused. On
    /// Windows always 0: users are SIDs there, and the pipe server compares
    /// them before a `Caller` exists (ipc_server/windows.rs).
    pub uid: u32,
    /// The peer's process id, when the OS tells it.
    pub pid: Option<i32>,
    /// The peer's executable (`/proc/<pid>/exe`, without a " (deleted)"
    /// suffix), when it can be read; for a Flatpak app `flatpak:<app id>`,
    /// for a snap `snap:<label>`.
    pub executable: Option<PathBuf>,
    /// For an interpreter (python, node, bash…): the script it runs, from
    /// its command line; or `-m <module>`, `-c`, `-e` when it runs no file.
    pub script: Option<String>,
    /// The process's start time (clock ticks since boot), to tell it from a
    /// later process with the same pid.
    pub start_time: Option<u64>,
    pub strength: Strength,
}

/// Executables that run a script named on their command line. Matched on
/// the file name without version digits (`python3.11` → `python`).
const INTERPRETERS: &[(&str, Interpreter)] = &[
    ("python", Interpreter::Python),
    ("pypy", Interpreter::Python),
    ("node", Interpreter::Node),
    ("nodejs", Interpreter::Node),
    ("deno", Interpreter::Deno),
    ("bun", Interpreter::Bun),
    ("bash", Interpreter::Shell),
    ("sh", Interpreter::Shell),
    ("dash", Interpreter::Shell),
    ("zsh", Interpreter::Shell),
    ("ksh", Interpreter::Shell),
    ("mksh", Interpreter::Shell),
    ("fish", Interpreter::Shell),
    ("perl", Interpreter::Perl),
    ("ruby", Interpreter::Ruby),
    ("lua", Interpreter::Other),
    ("luajit", Interpreter::Other),
    ("php", Interpreter::Other),
    ("tclsh", Interpreter::Other),
    ("wish", Interpreter::Other),
    ("java", Interpreter::Other),
    ("osascript", Interpreter::Other),
    ("pwsh", Interpreter::Other),
];

/// The command-line grammar an interpreter is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interpreter {
    Python,
    Node,
    Deno,
    Bun,
    Perl,
    Ruby,
    Shell,
    Other,
}

/// What an interpreter's command line says it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Runs {
    /// A script file, as written (absolute or not).
    File(String),
    /// A module or package name (`python -m`, `deno task`, `bun x`).
    Named(String),
    /// Code on the command line (`-c`, `-e`, `eval`): the flag.
    Code(String),
    /// Nothing named: a REPL, or a script read from standard input.
    Nothing,
}

/// What `/proc/<pid>/stat` says about a process (the fields Castkey reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub tty_nr: i32,
    pub tpgid: i32,
    pub start_time: u64,
}

pub(crate) fn proc_stat(pid: i32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_stat(text: &str) -> Option<ProcStat> {
    // `comm` may hold spaces and parentheses: the fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state); field n is f[n - 3].
    Some(ProcStat {
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        session: f.get(3)?.parse().ok()?,
        tty_nr: f.get(4)?.parse().ok()?,
        tpgid: f.get(5)?.parse().ok()?,
        start_time: f.get(19)?.parse().ok()?,
    })
}

/// The pidfd of a socket's peer (SO_PEERPIDFD, Linux ≥ 6.5, read with
/// `nix`): it names the very process that connected, for as long as it
/// lives, whatever later happens to its pid.
#[cfg(target_os = "linux")]
pub(crate) struct PeerPidfd(std::os::fd::OwnedFd);

#[cfg(target_os = "linux")]
impl PeerPidfd {
    /// `socket`'s peer's pidfd; `None` where the kernel has none to give.
    pub(crate) fn of(socket: &impl std::os::fd::AsFd) -> Option<Self> {
        nix::sys::socket::getsockopt(socket, nix::sys::socket::sockopt::PeerPidfd).ok().map(PeerPidfd)
    }

    /// The pid the process has now, in this pid namespace: `None` once it
    /// was reaped (its pid may be another process's since). From the
    /// pidfd's `/proc/self/fdinfo` entry (`Pid:`, -1 once reaped; a zombie
    /// keeps its pid, which is not reused until it is reaped).
    pub(crate) fn pid_now(&self) -> Option<i32> {
        use std::os::fd::AsRawFd;
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", self.0.as_raw_fd())).ok()?;
        let pid: i32 = info.lines().find_map(|l| l.strip_prefix("Pid:"))?.trim().parse().ok()?;
        (pid > 0).then_some(pid)
    }
}

impl Caller {
    /// A peer known by its credentials; the executable, command line and
    /// working directory are read from `/proc` (elsewhere: unknown). A
    /// process that ended, or whose pid now names another process (its
    /// start time changed while it was read), is unknown.
    pub fn from_peer(uid: u32, pid: Option<i32>) -> Self {
        match pid.and_then(|p| Self::read(uid, p)) {
            Some(c) => c,
            None => Caller::unknown(uid, pid),
        }
    }

    /// [`Caller::from_peer`] for the peer of `socket`, pinned by the pidfd
    /// the kernel gives for the process that connected (SO_PEERPIDFD, Linux
    /// ≥ 6.5): once `/proc` is read, that pidfd must still name `pid`. A peer
    /// that ended and was reaped, its pid free for another process, is
    /// refused (unknown), even when the newcomer started within the same
    /// clock tick, which the start-time check alone cannot tell apart.
    /// Without a pidfd (older kernels, other systems) the start-time check
    /// decides alone. Neither catches a peer that connects and then `exec`s
    /// another program: it is still the same process (docs/security.md).
    #[cfg(unix)]
    pub fn from_peer_socket(socket: &impl std::os::fd::AsFd, uid: u32, pid: Option<i32>) -> Self {
        #[cfg(not(target_os = "linux"))]
        {
            let _ = socket;
            Self::from_peer(uid, pid)
        }
        #[cfg(target_os = "linux")]
        {
            let pidfd = PeerPidfd::of(socket);
            let caller = Self::from_peer(uid, pid);
            match (&pidfd, pid) {
                (Some(fd), Some(pid)) if fd.pid_now() != Some(pid) => {
                    tracing::warn!(
                        pid,
                        "ipc: the peer ended while it was read (its pidfd names no live process); refused"
                    );
                    Caller::unknown(uid, Some(pid))
                }
                _ => caller,
            }
        }
    }

    /// A process that could not be read: no approval names it.
    pub(crate) fn unknown(uid: u32, pid: Option<i32>) -> Self {
        Caller {
            uid,
            pid,
            executable: None,
            script: None,
            start_time: None,
            strength: Strength::Weak(
                "the process could not be read (it ended, or is not this user's)".into(),
            ),
        }
    }

    /// Reads process `pid` and its `/proc/<pid>/stat` (taken before the
    /// rest and checked again after).
    pub(crate) fn read_with_stat(uid: u32, pid: i32) -> Option<(Caller, ProcStat)> {
        let before = proc_stat(pid)?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok().map(undeleted);
        let argv = cmdline(pid);
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
        let sandbox = sandbox_of(pid);
        let appimage = exe.as_deref().and_then(|e| appimage_of(pid, e));
        let after = proc_stat(pid)?;
        if after.start_time != before.start_time {
            tracing::warn!(pid, "ipc: the peer's pid changed hands while it was read; refused");
            return None;
        }
        let mut caller = Caller {
            uid,
            pid: Some(pid),
            executable: exe,
            script: None,
            start_time: Some(before.start_time),
            strength: Strength::Executable,
        };
        if let Some(app) = sandbox {
            caller.executable = Some(PathBuf::from(app));
            caller.strength = Strength::Sandboxed;
            return Some((caller, after));
        }
        if let Some(file) = appimage {
            caller.executable = Some(file);
            return Some((caller, after));
        }
        match caller.executable.as_deref().and_then(interpreter) {
            Some(kind) => {
                let (script, strength) = identify(kind, &argv, cwd.as_deref());
                caller.script = script;
                caller.strength = strength;
            }
            None if caller.executable.is_none() => {
                caller.strength = Strength::Weak("its executable could not be read".into());
            }
            None => {}
        }
        Some((caller, after))
    }

    fn read(uid: u32, pid: i32) -> Option<Caller> {
        Self::read_with_stat(uid, pid).map(|(c, _)| c)
    }

    /// A named-pipe client on Windows: its process id and executable
    /// (`QueryFullProcessImageNameW`), as the pipe server read them. No
    /// script: an interpreter (`python.exe`) is known by its executable
    /// alone, so an approval of it covers every script it runs.
    #[cfg(windows)]
    pub fn from_pipe_client(pid: u32, executable: Option<PathBuf>) -> Self {
        Caller {
            uid: 0,
            pid: i32::try_from(pid).ok(),
            executable,
            script: None,
            start_time: None,
            strength: Strength::Executable,
        }
    }

    /// This process, for calls the CLI or the shell make in-process.
    pub fn this_process() -> Self {
        #[cfg(unix)]
        let uid = castkey_ipc::socket::current_uid();
        #[cfg(windows)]
        let uid = 0;
        let pid = i32::try_from(std::process::id()).ok();
        Caller {
            uid,
            pid,
            executable: std::env::current_exe().ok(),
            script: None,
            start_time: pid.and_then(proc_stat).map(|s| s.start_time),
            strength: Strength::Executable,
        }
    }

    /// The identity consent is given to: executable (+ script). A process
    /// whose executable cannot be read is `unknown`, which no approval
    /// names, so it is always asked about (and refused headless).
    pub fn identity(&self) -> ClientIdentity {
        // Paths are the program's to choose: escape sequences and bidi
        // overrides are written out, not passed to a terminal or a window.
        ClientIdentity {
            executable: self.executable.as_deref().map_or_else(
                || "unknown".to_string(),
                |p| crate::escape_text(&p.display().to_string(), false),
            ),
            script: self.script.as_deref().map(|s| crate::escape_text(s, false)),
        }
    }

    /// Whether the identity rests on an interpreter's command line, which
    /// any program run by that interpreter could imitate (weaker).
    pub fn is_interpreted(&self) -> bool {
        self.strength != Strength::Sandboxed
            && self.executable.as_deref().is_some_and(|e| interpreter(e).is_some())
    }

    /// Whether "Always allow" may be offered for this identity: not for
    /// one any program can take ([`Strength::Weak`]).
    pub fn may_be_allowed_always(&self) -> bool {
        !matches!(self.strength, Strength::Weak(_))
    }

    /// Whether this is one of Castkey's own programs ([`OwnTools`]), by the
    /// file it runs, never by its name. An own tool acts for whoever runs
    /// it (see `consent::Principal`): it has no standing of its own.
    pub fn is_own_tool(&self, own: Option<&OwnTools>) -> bool {
        let (Some(exe), Some(own)) = (self.executable.as_deref(), own) else {
            return false;
        };
        if self.script.is_some() || self.strength != Strength::Executable {
            return false;
        }
        own.runs(self.pid, exe)
    }
}

/// Castkey's own executables as the running broker knows them, by file
/// (device, inode), never by name:
/// - the very file the broker runs (`/proc/self/exe`; a copy is another
///   file);
/// - an installed `castkey`/`castkey-app` beside it that the broker's user
///   cannot write: owned by root, writable by root only, in a directory
///   likewise (the `.deb`'s `/usr/bin`);
/// - in an installation that is the user's own (a development build, `cargo
///   install`: the broker's file is the user's, as writable by the user as
///   its neighbour), the neighbour **as it was when the broker started**:
///   same file, unchanged since (its ctime, which no unprivileged program
///   can set back; root's own files count as the user's for a broker
///   running as root). A program that replaces or rewrites it while the
///   broker runs is not Castkey's; one that did so before the broker started could
///   as well have replaced the broker itself (docs/security.md). Rebuild
///   the command, restart the broker.
///
/// Taken once, when the broker starts ([`OwnTools::of_this_process`]).
#[derive(Debug, Clone)]
pub struct OwnTools {
    broker: PathBuf,
    /// The file the broker runs (device, inode), read once: on Linux
    /// `/proc/self/exe` (the file it was started from), elsewhere `broker`.
    #[cfg(unix)]
    own: Option<(u64, u64)>,
    /// The user-owned neighbours as they were at the start.
    #[cfg(unix)]
    pinned: Vec<PinnedFile>,
}

#[cfg(unix)]
#[derive(Debug, Clone, PartialEq, Eq)]
struct PinnedFile {
    dev: u64,
    ino: u64,
    ctime: (i64, i64),
}

#[cfg(unix)]
impl PinnedFile {
    fn of(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        PinnedFile { dev: m.dev(), ino: m.ino(), ctime: (m.ctime(), m.ctime_nsec()) }
    }
}

/// Castkey's own executables.
const OWN_TOOLS: &[&str] = &["castkey", "castkey-app", "castkey.exe", "castkey-app.exe"];

impl OwnTools {
    /// This process's executable and its neighbours, as they are now: call
    /// when the broker starts.
    pub fn of_this_process() -> Option<Self> {
        std::env::current_exe().ok().map(|e| Self::at(&e))
    }

    /// `broker` (the broker's executable) and its neighbours as they are now.
    pub fn at(broker: &Path) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let own = match cfg!(target_os = "linux") {
                true => std::fs::metadata("/proc/self/exe"),
                false => std::fs::metadata(broker),
            };
            OwnTools {
                broker: broker.to_path_buf(),
                own: own.ok().map(|m| (m.dev(), m.ino())),
                pinned: pin_neighbours(broker),
            }
        }
        #[cfg(not(unix))]
        {
            OwnTools { broker: broker.to_path_buf() }
        }
    }

    /// Whether process `pid`, running `exe`, runs one of these files.
    #[cfg(unix)]
    fn runs(&self, pid: Option<i32>, exe: &Path) -> bool {
        // The file the process runs: on Linux the one it was started from
        // (through /proc, even if replaced on disk since); elsewhere its path.
        let running = match pid {
            Some(p) if cfg!(target_os = "linux") => std::fs::metadata(format!("/proc/{p}/exe")),
            _ => std::fs::metadata(exe),
        };
        let Ok(running) = running else { return false };
        let file_id = |m: &std::fs::Metadata| {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        };
        if self.own == Some(file_id(&running)) {
            return true;
        }
        let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !OWN_TOOLS.contains(&name) || exe.parent().is_none() || exe.parent() != self.broker.parent() {
            return false;
        }
        if self.pinned.contains(&PinnedFile::of(&running)) {
            return true;
        }
        let (Ok(file), Some(Ok(dir))) = (std::fs::metadata(exe), exe.parent().map(std::fs::metadata)) else {
            return false;
        };
        let uid = castkey_ipc::socket::current_uid();
        uid != 0
            && writable_by_root_only(&file)
            && writable_by_root_only(&dir)
            && file_id(&file) == file_id(&running)
    }

    /// Windows: the broker's own executable, or a `castkey` beside it (the
    /// installer's Program Files folder, which users cannot write by default).
    #[cfg(not(unix))]
    fn runs(&self, _pid: Option<i32>, exe: &Path) -> bool {
        if exe == self.broker {
            return true;
        }
        let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
        OWN_TOOLS.contains(&name.as_str()) && exe.parent().is_some() && exe.parent() == self.broker.parent()
    }
}

#[cfg(unix)]
fn writable_by_root_only(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.uid() == 0 && m.mode() & 0o022 == 0
}

/// The neighbours of `broker` named as Castkey's tools, when the
/// installation is the user's own: the broker's file, each neighbour and
/// their directory owned by this user (root, for a broker running as root)
/// and writable by no one else. Root-installed neighbours of a broker
/// running as another user are checked at each use instead.
#[cfg(unix)]
fn pin_neighbours(broker: &Path) -> Vec<PinnedFile> {
    use std::os::unix::fs::MetadataExt;
    let uid = castkey_ipc::socket::current_uid();
    let users = |m: &std::fs::Metadata| m.uid() == uid && m.mode() & 0o022 == 0;
    let Some(dir) = broker.parent() else { return Vec::new() };
    let ok = |p: &Path| std::fs::metadata(p).is_ok_and(|m| users(&m));
    if !ok(broker) || !ok(dir) {
        return Vec::new();
    }
    OWN_TOOLS
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.as_path() != broker)
        .filter_map(|p| std::fs::metadata(p).ok())
        .filter(|m| m.is_file() && users(m))
        .map(|m| PinnedFile::of(&m))
        .collect()
}

/// `/proc/<pid>/exe` of a file replaced on disk (a package update) reads
/// `<path> (deleted)`: the program is still the one at `<path>`.
fn undeleted(path: PathBuf) -> PathBuf {
    match path.to_str().and_then(|p| p.strip_suffix(" (deleted)")) {
        Some(p) => PathBuf::from(p),
        None => path,
    }
}

fn cmdline(pid: i32) -> Vec<String> {
    let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    argv.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// A sandboxed app's id, which the sandbox sets and the program cannot:
/// `flatpak:<app id>` from `/.flatpak-info` as the process sees its root
/// (`[Application] name=…`, what xdg-desktop-portal reads too), or
/// `snap:<label>` from its AppArmor label.
fn sandbox_of(pid: i32) -> Option<String> {
    if let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/root/.flatpak-info")) {
        if let Some(app) = flatpak_app(&info) {
            return Some(format!("flatpak:{app}"));
        }
    }
    let label = std::fs::read_to_string(format!("/proc/{pid}/attr/current")).ok()?;
    snap_label(&label).map(|l| format!("snap:{l}"))
}

/// Whether `identity` names a sandboxed app as [`Caller`] reads one:
/// `flatpak:<app id>` (e.g. `flatpak:com.obsproject.Studio`) or
/// `snap:<AppArmor label>` (`snap:snap.obs-studio.obs-studio`). What the
/// user approves for such an app instead of an executable path.
pub fn is_sandbox_identity(identity: &str) -> bool {
    let safe = |s: &str| {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    match identity.split_once(':') {
        Some(("flatpak", app)) => safe(app) && app.contains('.'),
        Some(("snap", label)) => safe(label) && label.starts_with("snap."),
        _ => false,
    }
}

fn flatpak_app(info: &str) -> Option<String> {
    let mut in_application = false;
    for line in info.lines().map(str::trim) {
        if line.starts_with('[') {
            in_application = line == "[Application]";
        } else if in_application {
            if let Some(name) = line.strip_prefix("name=") {
                let name = name.trim();
                let ok = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
                return ok.then(|| name.to_string());
            }
        }
    }
    None
}

/// `snap.obs-studio.obs-studio (enforce)` → `snap.obs-studio.obs-studio`.
fn snap_label(label: &str) -> Option<String> {
    let name = label.trim().trim_end_matches(" (enforce)").trim_end_matches(" (complain)");
    (name.starts_with("snap.") && !name.contains(char::is_whitespace)).then(|| name.to_string())
}

/// An AppImage runs from a new mount (`/tmp/.mount_XXXX/…`) at each start;
/// its runtime names the file in `$APPIMAGE`. That variable is the
/// program's own environment, so this identity is as forgeable as a name
/// (docs/security.md); a program not mounted like an AppImage is not read.
fn appimage_of(pid: i32, exe: &Path) -> Option<PathBuf> {
    let mounted = exe.to_str().is_some_and(|e| e.starts_with("/tmp/.mount_"));
    if !mounted {
        return None;
    }
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|b| *b == 0).find_map(|v| {
        let v = std::str::from_utf8(v).ok()?.strip_prefix("APPIMAGE=")?;
        let p = PathBuf::from(v);
        (p.is_absolute() && p.is_file()).then_some(p)
    })
}

pub(crate) fn interpreter(exe: &Path) -> Option<Interpreter> {
    let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    // Windows: `Python311.exe`, `node.exe`: any case, without `.exe`.
    #[cfg(windows)]
    let lower = name.to_ascii_lowercase();
    #[cfg(windows)]
    let name = lower.strip_suffix(".exe").unwrap_or(&lower);
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
    INTERPRETERS.iter().find(|(n, _)| *n == base).map(|(_, k)| *k)
}

/// The identity an interpreter's command line gives, and how strong it is.
fn identify(kind: Interpreter, argv: &[String], cwd: Option<&Path>) -> (Option<String>, Strength) {
    match runs(kind, argv) {
        Runs::File(path) if Path::new(&path).is_absolute() => {
            let resolved = std::fs::canonicalize(&path).map_or(path, |p| p.display().to_string());
            (Some(resolved), Strength::Executable)
        }
        Runs::File(path) => {
            let dir = cwd.map_or_else(|| "an unknown directory".into(), |d| d.display().to_string());
            (
                Some(format!("{path} (relative to {dir})")),
                Strength::Weak(
                    "its script is named by a relative path, which resolves against a working directory \
                     the program can change: start it with the script's absolute path to allow it always"
                        .into(),
                ),
            )
        }
        Runs::Named(name) => (
            Some(name),
            Strength::Weak("it runs a module or package by name, which any program can give".into()),
        ),
        Runs::Code(flag) => {
            (Some(flag), Strength::Weak("it runs code from its command line, as any program can".into()))
        }
        Runs::Nothing => {
            (None, Strength::Weak("an interpreter with no script: any program can run it".into()))
        }
    }
}

/// Reads `argv` (`argv[0]` the interpreter) with `kind`'s option grammar.
pub(crate) fn runs(kind: Interpreter, argv: &[String]) -> Runs {
    let args = argv.get(1..).unwrap_or_default();
    match kind {
        Interpreter::Python => short_options(args, &Grammar::PYTHON),
        Interpreter::Perl => short_options(args, &Grammar::PERL),
        Interpreter::Ruby => short_options(args, &Grammar::RUBY),
        Interpreter::Shell => short_options(args, &Grammar::SHELL),
        Interpreter::Other => short_options(args, &Grammar::OTHER),
        Interpreter::Node => node(args),
        Interpreter::Deno => deno(args),
        Interpreter::Bun => bun(args),
    }
}

/// A Unix-style grammar: single-letter options that may be clustered
/// (`-Iu`, `-wle code`), some of which take a value (attached or the next
/// word), some of which take code or a module; long options (`--x`,
/// `--x=v`, some taking the next word).
struct Grammar {
    /// Letters that take a value: the rest of the cluster, else the next word.
    value: &'static str,
    /// Letters whose value is optional and only attached (`perl -x dir`,
    /// `-MFoo`): the rest of the cluster.
    attached: &'static str,
    /// Letters followed by optional digits (`perl -0777`, `-l`, `ruby -W0`):
    /// the cluster goes on after them (`-wle code`).
    digits: &'static str,
    /// Letters that run code from the command line.
    code: &'static str,
    /// Letters that run a module named by their value.
    module: &'static str,
    /// Letters that read the script from standard input.
    stdin: &'static str,
    /// Long options that take the next word as their value.
    long_value: &'static [&'static str],
    /// `+o name` (shells) takes a value too.
    plus: bool,
}

impl Grammar {
    /// Python: -I -O -OO -B -E -s -S -u -v -q -b -bb -d -x -i -P -R take no
    /// value; -W -X take one; -c code; -m module.
    const PYTHON: Grammar = Grammar {
        value: "WX",
        attached: "",
        digits: "",
        code: "c",
        module: "m",
        stdin: "",
        long_value: &["--check-hash-based-pycs"],
        plus: false,
    };
    /// Perl: -e/-E code; -I takes a value; -M/-m a module (attached);
    /// -x -i -C -d -D take an optional attached value, -0 -l optional digits.
    const PERL: Grammar = Grammar {
        value: "I",
        attached: "MmxiCdD",
        digits: "0l",
        code: "eE",
        module: "",
        stdin: "",
        long_value: &[],
        plus: false,
    };
    /// Ruby: -e code; -I -r -C -E -F take a value; -x -0 -K -T -W an
    /// optional attached one.
    const RUBY: Grammar = Grammar {
        value: "IrCEF",
        attached: "xKTW",
        digits: "0",
        code: "e",
        module: "",
        stdin: "",
        long_value: &["--encoding", "--external-encoding", "--internal-encoding"],
        plus: false,
    };
    /// bash, sh, dash, zsh, ksh: -c code; -o/-O (and +o/+O) take an
    /// option name; -s reads standard input.
    const SHELL: Grammar = Grammar {
        value: "oO",
        attached: "",
        digits: "",
        code: "c",
        module: "",
        stdin: "s",
        long_value: &["--rcfile", "--init-file", "--init-command"],
        plus: true,
    };
    const OTHER: Grammar = Grammar {
        value: "",
        attached: "",
        digits: "",
        code: "ce",
        module: "",
        stdin: "",
        long_value: &[],
        plus: false,
    };
}

fn short_options(args: &[String], g: &Grammar) -> Runs {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let w = word.as_str();
        if w == "--" {
            return words.next().map_or(Runs::Nothing, |s| Runs::File(s.clone()));
        }
        if w == "-" {
            return Runs::Nothing;
        }
        if let Some(long) = w.strip_prefix("--") {
            if !long.contains('=') && g.long_value.contains(&w) {
                words.next();
            }
            continue;
        }
        let plus = g.plus && w.starts_with('+') && w.len() > 1;
        let Some(cluster) = w.strip_prefix('-').or(if plus { w.strip_prefix('+') } else { None }) else {
            return Runs::File(w.to_string());
        };
        let mut letters = cluster.char_indices();
        while let Some((i, c)) = letters.next() {
            let rest = &cluster[i + c.len_utf8()..];
            if g.code.contains(c) {
                return Runs::Code(format!("-{c}"));
            }
            if g.module.contains(c) {
                let name = if rest.is_empty() { words.next().cloned() } else { Some(rest.to_string()) };
                return name.map_or(Runs::Nothing, |n| Runs::Named(format!("-{c} {n}")));
            }
            if g.stdin.contains(c) {
                return Runs::Nothing;
            }
            if g.value.contains(c) {
                if rest.is_empty() {
                    words.next();
                }
                break;
            }
            if g.attached.contains(c) {
                break;
            }
            if g.digits.contains(c) {
                while letters.clone().next().is_some_and(|(_, d)| d.is_ascii_digit()) {
                    letters.next();
                }
            }
        }
    }
    Runs::Nothing
}

/// node [options] [script | -e code | -p code] [args]: options are long
/// (`--x`, `--x=v`) or the few short ones below.
fn node(args: &[String]) -> Runs {
    const VALUE: &[&str] = &[
        "-r",
        "--require",
        "--import",
        "--loader",
        "--experimental-loader",
        "-C",
        "--conditions",
        "--title",
        "--input-type",
        "--inspect-port",
        "--env-file",
        "--disable-warning",
    ];
    let mut words = args.iter();
    while let Some(w) = words.next() {
        match w.as_str() {
            "-e" | "--eval" | "-p" | "--print" => return Runs::Code(w.clone()),
            "--" => return words.next().map_or(Runs::Nothing, |s| Runs::File(s.clone())),
            "-" => return Runs::Nothing,
            v if VALUE.contains(&v) => {
                words.next();
            }
            o if o.starts_with('-') => {}
            script => return Runs::File(script.to_string()),
        }
    }
    Runs::Nothing
}

/// deno run [options] <file> (also `deno serve`, and `deno <file>`);
/// `deno eval` code; `deno task <name>` a name; other subcommands nothing.
fn deno(args: &[String]) -> Runs {
    const VALUE: &[&str] = &[
        "-c",
        "--config",
        "--import-map",
        "--lock",
        "--cert",
        "--location",
        "--seed",
        "--ext",
        "-L",
        "--log-level",
        "--v8-flags",
        "--reload",
        "--env-file",
        "--inspect",
        "--inspect-brk",
        "--inspect-wait",
        "--port",
        "--host",
    ];
    // Options that may stand alone (their value, if any, attached with `=`).
    const ALONE: &[&str] = &["--reload", "--env-file", "--inspect", "--inspect-brk", "--inspect-wait"];
    let mut words = args.iter().peekable();
    let mut subcommand_seen = false;
    while let Some(w) = words.next() {
        let w = w.as_str();
        if w.starts_with('-') {
            if w.contains('=') {
                continue;
            }
            // `--reload` alone, or `--reload x`? Deno takes only `=` for those.
            if VALUE.contains(&w) && !ALONE.contains(&w) {
                words.next();
            }
            continue;
        }
        if !subcommand_seen {
            match w {
                "run" | "serve" => {
                    subcommand_seen = true;
                    continue;
                }
                "eval" => return Runs::Code("eval".into()),
                "task" => {
                    return words.next().map_or(Runs::Nothing, |t| Runs::Named(format!("task {t}")));
                }
                "repl" => return Runs::Nothing,
                _ if !looks_like_file(w) => return Runs::Nothing,
                _ => {}
            }
        }
        return Runs::File(w.to_string());
    }
    Runs::Nothing
}

/// bun [options] run <file | package.json script> (also `bun <file>`);
/// `bun -e` code; `bun x` a package.
fn bun(args: &[String]) -> Runs {
    const VALUE: &[&str] = &[
        "--cwd",
        "-r",
        "--preload",
        "-c",
        "--config",
        "--env-file",
        "--tsconfig-override",
        "--port",
        "-d",
        "--define",
    ];
    let mut words = args.iter();
    let mut subcommand_seen = false;
    while let Some(w) = words.next() {
        let w = w.as_str();
        match w {
            "-e" | "--eval" | "-p" | "--print" => return Runs::Code(w.to_string()),
            v if VALUE.contains(&v) => {
                words.next();
            }
            o if o.starts_with('-') => {}
            "run" if !subcommand_seen => subcommand_seen = true,
            "x" | "exec" if !subcommand_seen => {
                return words.next().map_or(Runs::Nothing, |p| Runs::Named(format!("{w} {p}")));
            }
            // `bun run dev`: a package.json script, not a file.
            name if !looks_like_file(name) => return Runs::Named(format!("run {name}")),
            file => return Runs::File(file.to_string()),
        }
    }
    Runs::Nothing
}

/// A word that names a file rather than a subcommand or package script:
/// a path, or a name with an extension.
fn looks_like_file(word: &str) -> bool {
    word.contains('/') || word.contains('.')
}

/// Whom a connection acts for. A program acts for itself; Castkey's own
/// `castkey` command acts for whoever runs it, found from the kernel (its
/// parent chain in `/proc`), never from what the command says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The connecting program itself.
    Itself,
    /// The program that ran Castkey's command (shells running `-c` code or
    /// reading a pipe skipped): its consent and policy apply, and the log
    /// names it. Unknown (`executable: None`) when the chain cannot be read.
    Program(Caller),
    /// A person at a terminal: the command runs in the foreground of an
    /// interactive shell on the command's own controlling terminal. Same-user
    /// code can fake this with a pseudo-terminal (docs/security.md).
    Terminal(Terminal),
}

/// A terminal session, as the kernel tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    /// `/dev/pts/3`, for people.
    pub tty: String,
    /// The device number (`/proc/<pid>/stat` field 7).
    pub tty_nr: i32,
    /// The session id: the pid of its leader (the shell, or the login).
    pub session: i32,
    /// The leader's start time: the session is the same while it matches.
    pub leader_start: Option<u64>,
    /// The interactive shell the command was typed in.
    pub shell: Caller,
}

impl Terminal {
    /// `<shell> running terminal /dev/pts/3 (session 1234)`.
    pub fn identity(&self) -> ClientIdentity {
        ClientIdentity {
            executable: self.shell.identity().executable,
            script: Some(format!("terminal {} (session {})", self.tty, self.session)),
        }
    }

    /// Whether the session still runs (its leader is the same process).
    pub fn is_open(&self) -> bool {
        proc_stat(self.session).is_some_and(|s| Some(s.start_time) == self.leader_start)
    }
}

/// The name of terminal device `tty_nr` (`/dev/pts/N` for pseudo-terminals).
fn tty_name(tty_nr: i32) -> String {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => format!("/dev/pts/{}", minor + (major - 136) * 256),
        4 => format!("/dev/tty{minor}"),
        _ => format!("tty {major}:{minor}"),
    }
}

/// Whom Castkey's command `cli` acts for: walks its parents (at most 32)
/// from the kernel's `ppid`, each read as [`Caller::from_peer`] reads a peer.
/// - A program that is not a shell: that program.
/// - A shell running a script file: that script.
/// - A shell running `-c` code, or reading standard input: skipped (the
///   program that started it is asked about) — unless it is the
///   interactive shell of the command's own controlling terminal with the
///   command in its foreground: a [`Principal::Terminal`].
/// - Process 1, another user's process, or one that cannot be read:
///   unknown, which no approval names.
///
/// Without `/proc` (Windows, macOS) there is no parent chain to read: the
/// command is a program like any other ([`Principal::Itself`]): asked about
/// as itself, and refused the user's actions (docs/platforms.md).
pub(crate) fn acting_for(cli: &Caller) -> Principal {
    if !cfg!(target_os = "linux") {
        return Principal::Itself;
    }
    let unknown = || Principal::Program(Caller::unknown(cli.uid, None));
    let Some(pid) = cli.pid else { return unknown() };
    let Some(me) = proc_stat(pid).filter(|s| cli.start_time.is_none_or(|t| t == s.start_time)) else {
        return unknown();
    };
    let mut next = me.ppid;
    for _ in 0..32 {
        if next <= 1 {
            return unknown();
        }
        let Some((parent, stat)) = Caller::read_with_stat(cli.uid, next) else { return unknown() };
        if parent.executable.is_none() {
            return unknown();
        }
        let shell = parent.strength != Strength::Sandboxed
            && parent.executable.as_deref().and_then(interpreter) == Some(Interpreter::Shell);
        if !shell {
            return Principal::Program(parent);
        }
        match runs(Interpreter::Shell, &cmdline(next)) {
            Runs::File(_) => return Principal::Program(parent),
            Runs::Nothing if me.tty_nr != 0 && stat.tty_nr == me.tty_nr && me.tpgid == me.pgrp => {
                return Principal::Terminal(Terminal {
                    tty: tty_name(me.tty_nr),
                    tty_nr: me.tty_nr,
                    session: stat.session,
                    leader_start: proc_stat(stat.session).map(|s| s.start_time),
                    shell: parent,
                });
            }
            _ => next = stat.ppid,
        }
    }
    unknown()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn file(p: &str) -> Runs {
        Runs::File(p.into())
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_knows_its_own_executable() {
        let me = Caller::this_process();
        assert_eq!(me.pid, i32::try_from(std::process::id()).ok());
        let seen = Caller::from_peer(me.uid, me.pid);
        assert_eq!(seen.executable, me.executable);
        assert!(seen.executable.is_some());
        assert_eq!(seen.script, None, "a test binary is no interpreter");
        assert_eq!(seen.start_time, me.start_time);
        assert!(seen.start_time.is_some());
        assert_eq!(seen.strength, Strength::Executable);
    }

    #[test]
    fn stat_is_read_after_the_command_name_whatever_it_holds() {
        let line = "4242 (evil) 1 2 3 (x) S 17 4242 4000 34817 4242 4194560 1 0 0 0 5 6 0 0 20 0 1 0 987654 \
                    1000 200";
        let s = parse_stat(line).unwrap();
        assert_eq!((s.ppid, s.pgrp, s.session, s.tty_nr, s.tpgid), (17, 4242, 4000, 34817, 4242));
        assert_eq!(s.start_time, 987654);
        assert!(parse_stat("12 (short) S 1").is_none());
        assert_eq!(tty_name(34817), "/dev/pts/1");
        assert_eq!(tty_name((137 << 8) | 2), "/dev/pts/258");
    }

    #[test]
    fn interpreters_are_known_by_name_without_version() {
        for (exe, kind) in [
            ("/usr/bin/python3.11", Interpreter::Python),
            ("/usr/bin/python3", Interpreter::Python),
            ("/usr/bin/node", Interpreter::Node),
            ("/bin/bash", Interpreter::Shell),
            ("/usr/bin/perl5.36", Interpreter::Perl),
            ("/home/u/.deno/bin/deno", Interpreter::Deno),
            ("/home/u/.bun/bin/bun", Interpreter::Bun),
            ("/usr/bin/ruby3.1", Interpreter::Ruby),
        ] {
            assert_eq!(interpreter(Path::new(exe)), Some(kind), "{exe}");
        }
        for exe in ["/usr/bin/obs", "/usr/bin/castkey", "/opt/bot/chatbot"] {
            assert_eq!(interpreter(Path::new(exe)), None, "{exe}");
        }
    }

    #[test]
    fn python_options_are_read_with_python_s_grammar() {
        let py = |w: &[&str]| runs(Interpreter::Python, &argv(w));
        assert_eq!(py(&["python3", "-u", "bot.py", "--x"]), file("bot.py"));
        // Options without a value are not taken for options with one.
        assert_eq!(py(&["python3", "-I", "bot.py"]), file("bot.py"));
        assert_eq!(py(&["python3", "-I", "other.py", "bot.py"]), file("other.py"));
        for flags in
            [["-O"], ["-OO"], ["-B"], ["-E"], ["-s"], ["-S"], ["-q"], ["-b"], ["-bb"], ["-d"], ["-x"], ["-v"]]
        {
            let mut w = vec!["python3"];
            w.extend(flags);
            w.push("/a/bot.py");
            assert_eq!(py(&w), file("/a/bot.py"), "{flags:?}");
        }
        assert_eq!(py(&["python3", "-IOu", "/a/bot.py"]), file("/a/bot.py"));
        assert_eq!(py(&["python3", "-W", "ignore", "/a/b.py"]), file("/a/b.py"));
        assert_eq!(py(&["python3", "-Wignore", "/a/b.py"]), file("/a/b.py"));
        assert_eq!(py(&["python3", "-X", "dev", "-X", "utf8", "/a/b.py"]), file("/a/b.py"));
        assert_eq!(py(&["python3", "-Iu", "-W", "x", "-c", "print(1)", "/a/b.py"]), Runs::Code("-c".into()));
        assert_eq!(py(&["python3", "-uc", "print(1)"]), Runs::Code("-c".into()));
        assert_eq!(py(&["python3", "-m", "castbot", "run"]), Runs::Named("-m castbot".into()));
        assert_eq!(py(&["python3", "-mcastbot"]), Runs::Named("-m castbot".into()));
        assert_eq!(py(&["python3", "--check-hash-based-pycs", "always", "/a/b.py"]), file("/a/b.py"));
        assert_eq!(py(&["python3"]), Runs::Nothing);
        assert_eq!(py(&["python3", "-"]), Runs::Nothing);
        assert_eq!(py(&["python3", "--", "-odd.py"]), file("-odd.py"));
    }

    #[test]
    fn node_deno_and_bun_are_read_with_their_own_grammars() {
        let node = |w: &[&str]| runs(Interpreter::Node, &argv(w));
        assert_eq!(node(&["node", "--require", "x", "s.mjs"]), file("s.mjs"));
        assert_eq!(node(&["node", "-r", "dotenv/config", "--inspect=9229", "/a/s.js"]), file("/a/s.js"));
        assert_eq!(node(&["node", "--import=tsx", "--enable-source-maps", "/a/s.ts"]), file("/a/s.ts"));
        assert_eq!(node(&["node", "-e", "x"]), Runs::Code("-e".into()));
        assert_eq!(node(&["node", "-p", "1"]), Runs::Code("-p".into()));
        assert_eq!(node(&["node"]), Runs::Nothing);
        assert_eq!(node(&["node", "--", "-odd.js"]), file("-odd.js"));

        let deno = |w: &[&str]| runs(Interpreter::Deno, &argv(w));
        assert_eq!(deno(&["deno", "run", "/a/bot.ts"]), file("/a/bot.ts"));
        assert_eq!(deno(&["deno", "run", "--allow-net", "-A", "/a/bot.ts", "--flag"]), file("/a/bot.ts"));
        assert_eq!(deno(&["deno", "run", "--allow-net=api.example", "/a/bot.ts"]), file("/a/bot.ts"));
        assert_eq!(deno(&["deno", "run", "--config", "deno.json", "/a/bot.ts"]), file("/a/bot.ts"));
        assert_eq!(deno(&["deno", "run", "-c", "deno.json", "--reload", "/a/bot.ts"]), file("/a/bot.ts"));
        assert_eq!(deno(&["deno", "serve", "--port", "8000", "/a/overlay.ts"]), file("/a/overlay.ts"));
        assert_eq!(deno(&["deno", "/a/bot.ts"]), file("/a/bot.ts"));
        assert_eq!(deno(&["deno", "eval", "console.log(1)"]), Runs::Code("eval".into()));
        assert_eq!(deno(&["deno", "task", "dev"]), Runs::Named("task dev".into()));
        assert_eq!(deno(&["deno"]), Runs::Nothing);
        assert_eq!(deno(&["deno", "repl"]), Runs::Nothing);

        let bun = |w: &[&str]| runs(Interpreter::Bun, &argv(w));
        assert_eq!(bun(&["bun", "run", "/a/bot.ts"]), file("/a/bot.ts"));
        assert_eq!(bun(&["bun", "/a/bot.ts"]), file("/a/bot.ts"));
        assert_eq!(bun(&["bun", "--smol", "run", "--preload", "./p.ts", "/a/bot.ts"]), file("/a/bot.ts"));
        assert_eq!(bun(&["bun", "run", "dev"]), Runs::Named("run dev".into()));
        assert_eq!(bun(&["bun", "x", "cowsay"]), Runs::Named("x cowsay".into()));
        assert_eq!(bun(&["bun", "-e", "1"]), Runs::Code("-e".into()));
    }

    #[test]
    fn perl_ruby_and_shells_are_read_with_their_own_grammars() {
        let perl = |w: &[&str]| runs(Interpreter::Perl, &argv(w));
        assert_eq!(perl(&["perl", "-w", "/a/bot.pl"]), file("/a/bot.pl"));
        assert_eq!(perl(&["perl", "-I", "lib", "/a/bot.pl"]), file("/a/bot.pl"));
        assert_eq!(perl(&["perl", "-Ilib", "-MJSON::PP", "-T", "/a/bot.pl"]), file("/a/bot.pl"));
        assert_eq!(perl(&["perl", "-0777", "-l", "/a/bot.pl"]), file("/a/bot.pl"));
        assert_eq!(perl(&["perl", "-wle", "print 1"]), Runs::Code("-e".into()));
        assert_eq!(perl(&["perl", "-E", "say 1"]), Runs::Code("-E".into()));

        let ruby = |w: &[&str]| runs(Interpreter::Ruby, &argv(w));
        assert_eq!(ruby(&["ruby", "-I", "lib", "-r", "json", "/a/bot.rb"]), file("/a/bot.rb"));
        assert_eq!(ruby(&["ruby", "-Ilib", "-rjson", "-w", "/a/bot.rb"]), file("/a/bot.rb"));
        assert_eq!(ruby(&["ruby", "-W0", "/a/bot.rb"]), file("/a/bot.rb"));
        assert_eq!(ruby(&["ruby", "-e", "p 1"]), Runs::Code("-e".into()));

        let sh = |w: &[&str]| runs(Interpreter::Shell, &argv(w));
        assert_eq!(sh(&["bash", "/a/run.sh", "x"]), file("/a/run.sh"));
        assert_eq!(sh(&["bash", "-e", "-o", "pipefail", "/a/run.sh"]), file("/a/run.sh"));
        assert_eq!(sh(&["bash", "-eu", "+o", "posix", "/a/run.sh"]), file("/a/run.sh"));
        assert_eq!(sh(&["bash", "--rcfile", "/a/rc", "-i"]), Runs::Nothing);
        assert_eq!(sh(&["sh", "-c", "castkey token"]), Runs::Code("-c".into()));
        assert_eq!(sh(&["bash", "-ec", "castkey token"]), Runs::Code("-c".into()));
        assert_eq!(sh(&["bash", "-s"]), Runs::Nothing);
        assert_eq!(sh(&["-bash"]), Runs::Nothing);
        assert_eq!(sh(&["bash", "--login"]), Runs::Nothing);
    }

    #[test]
    fn only_an_absolute_script_path_makes_a_strong_identity() {
        let cwd = Path::new("/nonexistent/home");
        let (script, strength) =
            identify(Interpreter::Python, &argv(&["python3", "/nonexistent/bot.py"]), Some(cwd));
        assert_eq!(script.as_deref(), Some("/nonexistent/bot.py"));
        assert_eq!(strength, Strength::Executable);
        // A relative path resolves against a directory the program can
        // change before it connects: never allowed always.
        let (script, strength) = identify(Interpreter::Python, &argv(&["python3", "bot.py"]), Some(cwd));
        assert_eq!(script.as_deref(), Some("bot.py (relative to /nonexistent/home)"));
        assert!(matches!(strength, Strength::Weak(why) if why.contains("absolute path")));
        for words in
            [&["python3", "-m", "bot"][..], &["python3", "-c", "x"], &["python3"], &["deno", "task", "x"]]
        {
            let kind = interpreter(Path::new(words[0])).unwrap();
            let (_, strength) = identify(kind, &argv(words), Some(cwd));
            assert!(matches!(strength, Strength::Weak(_)), "{words:?}");
        }
    }

    #[test]
    fn a_replaced_executable_is_still_the_program_at_its_path() {
        assert_eq!(undeleted("/usr/bin/obs (deleted)".into()), PathBuf::from("/usr/bin/obs"));
        assert_eq!(undeleted("/usr/bin/obs".into()), PathBuf::from("/usr/bin/obs"));
    }

    #[test]
    fn sandboxed_apps_are_known_by_their_app_id() {
        let info =
            "[Application]\nname=com.obsproject.Studio\nruntime=runtime/org.kde.Platform/x86_64/6.8\n\n\
                    [Instance]\ninstance-id=123\n";
        assert_eq!(flatpak_app(info).as_deref(), Some("com.obsproject.Studio"));
        assert_eq!(flatpak_app("[Instance]\nname=x\n"), None);
        assert_eq!(flatpak_app("[Application]\nname=../../etc\n"), None);
        assert_eq!(
            snap_label("snap.obs-studio.obs-studio (enforce)\n").as_deref(),
            Some("snap.obs-studio.obs-studio")
        );
        assert_eq!(snap_label("unconfined\n"), None);
        for ok in ["flatpak:com.obsproject.Studio", "snap:snap.obs-studio.obs-studio"] {
            assert!(is_sandbox_identity(ok), "{ok}");
        }
        for bad in
            ["flatpak:", "flatpak:../x", "flatpak:obs", "snap:obs", "flatpak:a.b c", "/usr/bin/obs", "obs"]
        {
            assert!(!is_sandbox_identity(bad), "{bad}");
        }
    }

    fn caller(exe: &Path) -> Caller {
        Caller {
            uid: 0,
            pid: None,
            executable: Some(exe.to_path_buf()),
            script: None,
            start_time: None,
            strength: Strength::Executable,
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn own_tools_are_the_broker_s_own_file_not_a_copy_or_a_name() {
        let me = std::env::current_exe().unwrap();
        let own = OwnTools::at(&me);
        assert!(Caller::this_process().is_own_tool(Some(&own)), "the broker's own file");
        assert!(caller(&me).is_own_tool(Some(&own)));
        // A copy of the very same bytes, beside the broker or anywhere, named
        // `castkey`, is another file: not an own tool.
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("castkey");
        let fake_broker = dir.path().join("castkey-app");
        std::fs::copy(&me, &fake_broker).unwrap();
        let fake_own = OwnTools::at(&fake_broker);
        std::fs::copy(&me, &copy).unwrap();
        assert!(!caller(&copy).is_own_tool(Some(&own)));
        assert!(!caller(&copy).is_own_tool(Some(&fake_own)), "a writable neighbour placed after the start");
        assert!(!caller(Path::new("/usr/bin/obs")).is_own_tool(Some(&own)));
        let mut scripted = caller(&me);
        scripted.script = Some("x".into());
        assert!(!scripted.is_own_tool(Some(&own)));
        assert!(!caller(&me).is_own_tool(None));
        // A running copy, seen through /proc, is not one either.
        std::fs::remove_file(&copy).unwrap();
        std::fs::copy("/bin/sleep", &copy).unwrap();
        let mut child = std::process::Command::new(&copy).arg("5").spawn().unwrap();
        let pid = i32::try_from(child.id()).ok();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let seen = Caller::from_peer(0, pid);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(seen.executable.as_deref(), Some(copy.as_path()));
        assert!(!seen.is_own_tool(Some(&fake_own)));
    }

    /// In an installation that is the user's own (a development build), the
    /// neighbour is Castkey's as it was when the broker started, and stops
    /// being so when it is rewritten in place or replaced while it runs.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_user_installed_neighbour_is_pinned_when_the_broker_starts() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let broker = dir.path().join("castkey-app");
        let cli = dir.path().join("castkey");
        std::fs::copy("/bin/sleep", &broker).unwrap();
        std::fs::copy("/bin/sleep", &cli).unwrap();
        for f in [&broker, &cli] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let own = OwnTools::at(&broker);
        assert!(caller(&cli).is_own_tool(Some(&own)), "the neighbour as it was at the start");
        // Writable by the group: not pinned.
        std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o775)).unwrap();
        assert!(OwnTools::at(&broker).pinned.is_empty());
        std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o755)).unwrap();
        let own = OwnTools::at(&broker);
        // Rewritten in place (same inode, new ctime): no longer Castkey's.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&cli, b"#!/bin/sh\necho stolen\n").unwrap();
        assert!(!caller(&cli).is_own_tool(Some(&own)), "rewritten after the start");
        // Replaced by another file: not either.
        let own = OwnTools::at(&broker);
        std::fs::remove_file(&cli).unwrap();
        std::fs::copy("/bin/sleep", &cli).unwrap();
        assert!(!caller(&cli).is_own_tool(Some(&own)), "replaced after the start");
        // A broker in a folder others may write pins nothing.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(OwnTools::at(&broker).pinned.is_empty());
    }

    /// Spawns `/usr/bin/python3 <script>` with `body`; the pid of the
    /// `sleep` it starts (by waiting for it among its descendants).
    #[cfg(target_os = "linux")]
    fn python_running_sleep(dir: &Path, body: &str) -> Option<(std::process::Child, i32)> {
        let python = Path::new("/usr/bin/python3");
        if !python.exists() {
            return None;
        }
        let script = dir.join("bot.py");
        std::fs::write(&script, body).unwrap();
        let mut child = std::process::Command::new(python).arg(&script).spawn().unwrap();
        let root = i32::try_from(child.id()).unwrap();
        for _ in 0..200 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let mut found = None;
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
                if !exe.to_string_lossy().contains("sleep") {
                    continue;
                }
                let mut p = pid;
                for _ in 0..4 {
                    match proc_stat(p) {
                        Some(s) if s.ppid == root => found = Some(pid),
                        Some(s) => p = s.ppid,
                        None => break,
                    }
                }
            }
            if let Some(pid) = found {
                return Some((child, pid));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("no sleep under the python script");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_command_acts_for_the_program_that_runs_it_through_any_shell_code() {
        let dir = tempfile::tempdir().unwrap();
        let script = std::fs::canonicalize(dir.path()).unwrap().join("bot.py");
        for body in [
            "import subprocess\nsubprocess.run(['sleep', '5'])\n",
            "import subprocess\nsubprocess.run('sleep 5; true', shell=True)\n",
        ] {
            let Some((mut child, cli)) = python_running_sleep(dir.path(), body) else { return };
            let seen = Caller::from_peer(0, Some(cli));
            let principal = acting_for(&seen);
            let _ = child.kill();
            let _ = child.wait();
            let Principal::Program(program) = principal else { panic!("{principal:?}") };
            assert_eq!(program.script.as_deref(), Some(script.display().to_string().as_str()), "{body}");
            assert!(program.executable.unwrap().to_string_lossy().contains("python"));
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_script_is_identified_by_its_interpreter_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("ask.py");
        std::fs::write(&script, "import time\ntime.sleep(30)\n").unwrap();
        // The real interpreter, not a version manager's shell shim.
        let python = Path::new("/usr/bin/python3");
        if !python.exists() {
            return; // no system python3 on this machine: nothing to look at
        }
        let expected = std::fs::canonicalize(&script).unwrap().display().to_string();
        for (arg, strong) in [(script.display().to_string(), true), ("ask.py".to_string(), false)] {
            let mut child =
                std::process::Command::new(python).arg(&arg).current_dir(dir.path()).spawn().unwrap();
            let pid = i32::try_from(child.id()).ok();
            // The interpreter has started once its executable reads back.
            let mut seen = Caller::from_peer(0, pid);
            for _ in 0..50 {
                let python =
                    seen.executable.as_deref().is_some_and(|e| e.to_string_lossy().contains("python"));
                if python && seen.script.is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
                seen = Caller::from_peer(0, pid);
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(seen.is_interpreted());
            assert!(seen.identity().executable.contains("python"), "{:?}", seen.identity());
            match strong {
                true => {
                    assert_eq!(seen.identity().script.as_deref(), Some(expected.as_str()));
                    assert!(seen.may_be_allowed_always());
                }
                false => {
                    assert!(seen.identity().script.unwrap().starts_with("ask.py (relative to "));
                    assert!(!seen.may_be_allowed_always());
                }
            }
        }
        // A process that is gone is unknown.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = i32::try_from(child.id()).ok();
        child.wait().unwrap();
        let gone = Caller::from_peer(0, pid);
        assert_eq!(gone.executable, None);
        assert!(!gone.may_be_allowed_always());
    }

    /// The peer's pidfd names the process that connected: while it runs,
    /// its pid; once it ended and was reaped, nothing, and the caller read
    /// from that pid is refused even if the pid names a process again.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_peer_that_ended_is_refused_by_its_pidfd() {
        use std::os::unix::net::{UnixListener, UnixStream};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let listener = UnixListener::bind(&path).unwrap();
        // This process as its own peer.
        let _client = UnixStream::connect(&path).unwrap();
        let (served, _) = listener.accept().unwrap();
        let me = i32::try_from(std::process::id()).unwrap();
        let Some(pidfd) = PeerPidfd::of(&served) else {
            eprintln!("this kernel has no SO_PEERPIDFD (Linux < 6.5): the start-time check stands alone");
            return;
        };
        assert_eq!(pidfd.pid_now(), Some(me));
        let seen = Caller::from_peer_socket(&served, 0, Some(me));
        assert!(seen.executable.is_some() && seen.strength == Strength::Executable, "{seen:?}");
        // Another process connects and ends; once reaped, its pidfd names
        // nobody, and reading its pid is refused whatever /proc says now.
        let python = Path::new("/usr/bin/python3");
        if !python.exists() {
            return; // no system python3 on this machine: nothing to connect with
        }
        let mut child = std::process::Command::new(python)
            .args(["-c", "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])"])
            .arg(&path)
            .spawn()
            .unwrap();
        let (served, _) = listener.accept().unwrap();
        let child_pid = i32::try_from(child.id()).unwrap();
        let pidfd = PeerPidfd::of(&served).expect("a pidfd, as for the first peer");
        child.wait().unwrap();
        assert_eq!(pidfd.pid_now(), None, "a reaped process has no pid");
        let gone = Caller::from_peer_socket(&served, 0, Some(child_pid));
        assert_eq!(gone.executable, None);
        assert!(matches!(gone.strength, Strength::Weak(_)), "{gone:?}");
    }
}
