//! [`Caller`]: who is asking, as the OS tells it for a local connection
//! (SO_PEERCRED on Linux): user, process, executable and, for a script run
//! by an interpreter, the script. On Windows (a named pipe): process and
//! executable only; the script is read from `/proc`, which Windows lacks. Every core call that comes from the
//! socket carries one, so consent, per-client binding and the activity log
//! are decided in the core.

use castkey_ipc::ClientIdentity;
use std::path::{Path, PathBuf};

/// The process on the other end of an IPC connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The peer's user id; connections from other users are refused. On
    /// Windows always 0: users are SIDs there, and the pipe server compares
    /// them before a `Caller` exists (ipc_server/windows.rs).
    pub uid: u32,
    /// The peer's process id, when the OS tells it.
    pub pid: Option<i32>,
    /// The peer's executable (`/proc/<pid>/exe`), when it can be read.
    pub executable: Option<PathBuf>,
    /// For an interpreter (python, node, bash…): the script it runs, from
    /// its command line, made absolute with its working directory; or
    /// `-m <module>`, `-c`, `-e` when it runs no file.
    pub script: Option<String>,
}

/// Executables that run a script named on their command line. Matched on
/// the file name without version digits (`python3.11` → `python`).
const INTERPRETERS: &[&str] = &[
    "python",
    "pypy",
    "node",
    "nodejs",
    "deno",
    "bun",
    "bash",
    "sh",
    "dash",
    "zsh",
    "ksh",
    "fish",
    "perl",
    "ruby",
    "lua",
    "luajit",
    "php",
    "tclsh",
    "wish",
    "java",
    "osascript",
    "pwsh",
];

impl Caller {
    /// A peer known by its credentials; the executable, command line and
    /// working directory are read from `/proc` (elsewhere: unknown).
    pub fn from_peer(uid: u32, pid: Option<i32>) -> Self {
        let executable = pid.and_then(|p| std::fs::read_link(format!("/proc/{p}/exe")).ok());
        let script = match (pid, &executable) {
            (Some(p), Some(exe)) if is_interpreter(exe) => {
                let argv = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                let argv: Vec<String> = argv
                    .split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                let cwd = std::fs::read_link(format!("/proc/{p}/cwd")).ok();
                script_of(&argv, cwd.as_deref())
            }
            _ => None,
        };
        Caller { uid, pid, executable, script }
    }

    /// A named-pipe client on Windows: its process id and executable
    /// (`QueryFullProcessImageNameW`), as the pipe server read them. No
    /// script: an interpreter (`python.exe`) is known by its executable
    /// alone, so an approval of it covers every script it runs.
    #[cfg(windows)]
    pub fn from_pipe_client(pid: u32, executable: Option<PathBuf>) -> Self {
        Caller { uid: 0, pid: i32::try_from(pid).ok(), executable, script: None }
    }

    /// This process, for calls the CLI or the shell make in-process.
    pub fn this_process() -> Self {
        #[cfg(unix)]
        let uid = castkey_ipc::socket::current_uid();
        #[cfg(windows)]
        let uid = 0;
        Caller {
            uid,
            pid: i32::try_from(std::process::id()).ok(),
            executable: std::env::current_exe().ok(),
            script: None,
        }
    }

    /// The identity consent is given to: executable (+ script). A process
    /// whose executable cannot be read is `unknown`, which no approval
    /// names, so it is always asked about (and refused headless).
    pub fn identity(&self) -> ClientIdentity {
        ClientIdentity {
            executable: self
                .executable
                .as_deref()
                .map_or_else(|| "unknown".to_string(), |p| p.display().to_string()),
            script: self.script.clone(),
        }
    }

    /// Whether the identity rests on an interpreter's command line, which
    /// any program run by that interpreter could imitate (weaker).
    pub fn is_interpreted(&self) -> bool {
        self.executable.as_deref().is_some_and(is_interpreter)
    }

    /// Whether this is one of Castkey's own programs: a `castkey` or
    /// `castkey-app` executable in the same directory as `broker_exe` (they
    /// are installed side by side), or the broker's executable itself.
    pub fn is_own_tool(&self, broker_exe: Option<&Path>) -> bool {
        let (Some(exe), Some(broker)) = (self.executable.as_deref(), broker_exe) else {
            return false;
        };
        if self.script.is_some() {
            return false;
        }
        if exe == broker {
            return true;
        }
        let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        OWN_TOOLS.contains(&name) && exe.parent().is_some() && exe.parent() == broker.parent()
    }
}

/// Castkey's own executables.
const OWN_TOOLS: &[&str] = &["castkey", "castkey-app", "castkey.exe", "castkey-app.exe"];

fn is_interpreter(exe: &Path) -> bool {
    let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    // Windows: `Python311.exe`, `node.exe`: any case, without `.exe`.
    #[cfg(windows)]
    let lower = name.to_ascii_lowercase();
    #[cfg(windows)]
    let name = lower.strip_suffix(".exe").unwrap_or(&lower);
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
    INTERPRETERS.contains(&base)
}

/// The script an interpreter's `argv` runs: the first argument that is not
/// an option (skipping the values of options that take one), made absolute
/// with `cwd`. `-m mod` → `-m mod`; `-c`/`-e` code → `-c` (no file: the
/// weakest identity).
fn script_of(argv: &[String], cwd: Option<&Path>) -> Option<String> {
    // Options whose value is the next argument (python, node, perl, ruby…).
    const TAKES_VALUE: &[&str] = &["-W", "-X", "-r", "--require", "--import", "--loader", "-I", "-o", "-O"];
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-m" => return args.next().map(|m| format!("-m {m}")),
            "-c" | "-e" | "--eval" | "-p" | "--print" => return Some(a.clone()),
            "--" => return args.next().map(|s| absolute(s, cwd)),
            a if TAKES_VALUE.contains(&a) => {
                args.next();
            }
            a if a.starts_with('-') => {}
            script => return Some(absolute(script, cwd)),
        }
    }
    None
}

fn absolute(script: &str, cwd: Option<&Path>) -> String {
    let p = Path::new(script);
    let joined = match cwd {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    };
    // Resolve `..` and links when the file is there to resolve.
    std::fs::canonicalize(&joined).unwrap_or(joined).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
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
    }

    #[test]
    fn interpreters_are_known_by_name_without_version() {
        for exe in
            ["/usr/bin/python3.11", "/usr/bin/python3", "/usr/bin/node", "/bin/bash", "/usr/bin/perl5.36"]
        {
            assert!(is_interpreter(Path::new(exe)), "{exe}");
        }
        for exe in ["/usr/bin/obs", "/usr/bin/castkey", "/opt/bot/chatbot"] {
            assert!(!is_interpreter(Path::new(exe)), "{exe}");
        }
    }

    #[test]
    fn the_script_is_the_first_argument_that_is_not_an_option() {
        let cwd = Path::new("/nonexistent/home");
        assert_eq!(
            script_of(&argv(&["python3", "-u", "bot.py", "--x"]), Some(cwd)).unwrap(),
            "/nonexistent/home/bot.py"
        );
        assert_eq!(script_of(&argv(&["python3", "-W", "ignore", "/a/b.py"]), None).unwrap(), "/a/b.py");
        assert_eq!(script_of(&argv(&["python3", "-m", "castbot", "run"]), None).unwrap(), "-m castbot");
        assert_eq!(
            script_of(&argv(&["node", "--require", "x", "s.mjs"]), Some(cwd)).unwrap(),
            "/nonexistent/home/s.mjs"
        );
        assert_eq!(script_of(&argv(&["bash", "-c", "echo"]), None).unwrap(), "-c");
        assert_eq!(script_of(&argv(&["python3"]), None), None);
        assert_eq!(
            script_of(&argv(&["node", "--", "-odd.js"]), Some(cwd)).unwrap(),
            "/nonexistent/home/-odd.js"
        );
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
        let mut child =
            std::process::Command::new(python).arg("ask.py").current_dir(dir.path()).spawn().unwrap();
        let pid = i32::try_from(child.id()).ok();
        // The interpreter has started once its executable reads back.
        let mut seen = Caller::from_peer(0, pid);
        for _ in 0..50 {
            let python = seen.executable.as_deref().is_some_and(|e| e.to_string_lossy().contains("python"));
            if python && seen.script.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            seen = Caller::from_peer(0, pid);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(seen.is_interpreted());
        let expected = std::fs::canonicalize(&script).unwrap().display().to_string();
        assert_eq!(seen.identity().script.as_deref(), Some(expected.as_str()));
        assert!(seen.identity().executable.contains("python"), "{:?}", seen.identity());
    }

    #[test]
    fn own_tools_sit_beside_the_broker() {
        let broker = Path::new("/usr/bin/castkey-app");
        let caller = |exe: &str, script: Option<&str>| Caller {
            uid: 0,
            pid: Some(1),
            executable: Some(PathBuf::from(exe)),
            script: script.map(str::to_string),
        };
        assert!(caller("/usr/bin/castkey", None).is_own_tool(Some(broker)));
        assert!(caller("/usr/bin/castkey-app", None).is_own_tool(Some(broker)));
        assert!(!caller("/tmp/castkey", None).is_own_tool(Some(broker)));
        assert!(!caller("/usr/bin/castkeyx", None).is_own_tool(Some(broker)));
        assert!(!caller("/usr/bin/obs", None).is_own_tool(Some(broker)));
        assert!(!caller("/usr/bin/castkey", Some("x")).is_own_tool(Some(broker)));
        assert!(!caller("/usr/bin/castkey", None).is_own_tool(None));
    }
}
