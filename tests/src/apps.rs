//! The programs a scenario runs: the `castkey` command, brokers (`castkey
//! serve`, the app), local programs asking for tokens, and anything else in
//! the background; signals and exits.

use crate::env::TestEnv;
use crate::process::Guard;
use crate::wait::{patient, wait_for};
use crate::{binary, text};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

impl TestEnv {
    /// Runs the `castkey` command and waits for it; prints what it said.
    pub fn castkey(&self, args: &[&str]) -> Output {
        let out =
            self.command(binary("castkey")).args(args).stdin(Stdio::null()).output().expect("run castkey");
        println!(
            "$ castkey {} -> {}\n{}{}",
            args.join(" "),
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    /// `castkey <args>` typed by the user at an interactive shell on a
    /// terminal of its own (`tests/clients/at_terminal.py`): what Castkey
    /// takes as the user's own action (approving or revoking a program,
    /// signing out, switching the active account, `status`), unlike
    /// [`TestEnv::castkey`], which runs it from this test binary, a program.
    pub fn castkey_at_terminal(&self, args: &[&str]) -> Output {
        self.castkey_at_terminal_answering(args, b"")
    }

    /// [`TestEnv::castkey_at_terminal`], the person then typing `answers`
    /// (e.g. `b"\n"`: Enter at a prompt the command shows).
    pub fn castkey_at_terminal_answering(&self, args: &[&str], answers: &[u8]) -> Output {
        use std::os::unix::process::ExitStatusExt;
        let dir =
            tempfile::Builder::new().prefix("terminal-").tempdir_in(self.home.path()).expect("temp dir");
        let mut cmd = self.command("python3");
        cmd.arg(crate::repo().join("tests/clients/at_terminal.py"))
            .arg(dir.path())
            .arg(binary("castkey"))
            .args(args);
        let run = self.run_with_stdin(cmd, answers);
        assert!(run.status.success(), "at_terminal.py failed: {}{}", text(&run.stdout), text(&run.stderr));
        let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap_or_default();
        let code: i32 = text(&read("status")).trim().parse().expect("the command's exit code");
        let out = Output {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: read("stdout"),
            stderr: read("stderr"),
        };
        println!(
            "$ castkey {}   (at a terminal) -> {}\n{}{}",
            args.join(" "),
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    /// A `castkey <args>` command in this environment, for
    /// [`TestEnv::start_serve_with`] or [`TestEnv::run_with_stdin`].
    pub fn castkey_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(binary("castkey"));
        cmd.args(args);
        cmd
    }

    /// Starts `castkey <args>` in the background (e.g. a `login` that waits).
    pub fn spawn_castkey(&mut self, name: &str, args: &[&str]) -> usize {
        let cmd = self.castkey_command(args);
        self.spawn(name, cmd)
    }

    /// Runs `cmd` with `stdin` on its standard input and waits (at most
    /// 60 s on an idle machine) for it to exit.
    pub fn run_with_stdin(&self, mut cmd: Command, stdin: &[u8]) -> Output {
        use std::io::Write;
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start the command");
        child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
        let deadline = patient(Duration::from_secs(60));
        let start = Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if start.elapsed() > deadline {
                child.kill().ok();
                panic!("{cmd:?} did not exit within {deadline:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().expect("output")
    }

    /// The socket path brokers in this environment use.
    pub fn socket(&self) -> PathBuf {
        Path::new(&self.vars["XDG_RUNTIME_DIR"]).join("castkey/castkey.sock")
    }

    /// A connection to the broker, as this (approved) test binary.
    pub fn client(&self) -> castkey_ipc::Client {
        castkey_ipc::Client::connect(&self.socket()).expect("connect to the broker")
    }

    /// The ids of the accounts the broker holds (none when no broker answers).
    pub fn account_ids(&self) -> Vec<String> {
        castkey_ipc::Client::connect(&self.socket())
            .ok()
            .and_then(|mut c| c.call::<castkey_ipc::Accounts>(&Default::default()).ok())
            .map(|a| a.into_iter().map(|a| a.id).collect())
            .unwrap_or_default()
    }

    /// The account's status as the broker reports it over IPC.
    pub fn account_status(&self, id: &str) -> castkey_ipc::AccountStatus {
        let accounts = self.client().call::<castkey_ipc::Accounts>(&Default::default()).expect("accounts");
        let listed = format!("{accounts:?}");
        accounts
            .into_iter()
            .find(|a| a.id == id)
            .unwrap_or_else(|| panic!("no account {id} in {listed}"))
            .status
    }

    /// Waits until a broker answers on the socket.
    pub fn wait_for_broker(&mut self) {
        self.wait_for_broker_of(None)
    }

    /// Same, failing at once if the process at `index` dies meanwhile.
    pub(crate) fn wait_for_broker_of(&mut self, index: Option<usize>) {
        let socket = self.socket();
        let what = match index {
            Some(i) => format!("{}'s broker to answer on {}", self.guards[i].name, socket.display()),
            None => format!("a broker to answer on {}", socket.display()),
        };
        let mut died = None;
        wait_for(&what, Duration::from_secs(90), || {
            if let Ok(mut c) = castkey_ipc::Client::connect(&socket) {
                if c.call::<castkey_ipc::Accounts>(&Default::default()).is_ok() {
                    return Some(());
                }
            }
            if let Some(i) = index {
                let g = &mut self.guards[i];
                if !g.is_running() {
                    died = Some(g.name.clone());
                    return Some(());
                }
            }
            None
        });
        if let Some(name) = died {
            panic!("{name} exited before its broker answered; its log:\n{}", self.log(&name));
        }
    }

    /// Starts the desktop app under this environment's display and waits for
    /// its broker.
    pub fn start_app(&mut self, name: &str, extra_env: &[(&str, &str)]) -> usize {
        self.start_app_from(name, &binary("castkey-app"), extra_env)
    }

    /// [`TestEnv::start_app`] with the app at `exe` (e.g. the installed
    /// `/usr/bin/castkey-app`): waits for its broker, failing at once if it
    /// exits first.
    pub fn start_app_from(&mut self, name: &str, exe: &Path, extra_env: &[(&str, &str)]) -> usize {
        let mut cmd = self.command(exe);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let index = self.spawn(name, cmd);
        self.wait_for_broker_of(Some(index));
        index
    }

    /// Starts `castkey serve` and waits for its broker.
    pub fn start_serve(&mut self) -> usize {
        let cmd = self.castkey_command(&["serve"]);
        let index = self.spawn("serve", cmd);
        self.wait_for_broker_of(Some(index));
        index
    }

    /// Starts `castkey <args>` (a `serve`) with `stdin` written to its
    /// standard input, then closed (a passphrase for `--passphrase-fd 0`),
    /// and waits for its broker; logs in `<home>/<name>.log`.
    pub fn start_serve_with(&mut self, name: &str, mut cmd: Command, stdin: &[u8]) -> usize {
        use std::io::Write;
        let log = std::fs::File::create(self.path(&format!("{name}.log"))).expect("log file");
        cmd.stdin(Stdio::piped()).stdout(log.try_clone().expect("log")).stderr(log);
        let mut guard = Guard::spawn(name, cmd);
        let mut input = guard.child.stdin.take().expect("stdin");
        input.write_all(stdin).expect("write the passphrase");
        drop(input);
        let index = self.adopt(guard);
        self.wait_for_broker_of(Some(index));
        index
    }

    /// The process at `index` (from [`TestEnv::spawn`] and the `start_*`
    /// functions).
    pub fn guard(&mut self, index: usize) -> &mut Guard {
        &mut self.guards[index]
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the process at `index` only
    /// (not its group).
    pub fn signal(&mut self, index: usize, signal: i32) {
        self.guards[index].signal(signal);
    }

    /// Waits for a background process to exit and answers its exit code.
    pub fn wait_exit(&mut self, index: usize, timeout: Duration) -> Option<i32> {
        let g = &mut self.guards[index];
        let name = g.name.clone();
        wait_for(&format!("{name} to exit"), timeout, || g.child.try_wait().ok().flatten()).code()
    }

    /// Stops a process started with [`TestEnv::spawn`] (SIGTERM, then SIGKILL).
    pub fn stop(&mut self, index: usize) {
        self.guards[index].stop();
    }

    /// Opens a URL the way the desktop does, through `xdg-open`, and leaves
    /// whatever it launched running under this scenario's control.
    pub fn xdg_open(&mut self, name: &str, url: &str) -> usize {
        let mut cmd = self.command("xdg-open");
        cmd.arg(url);
        self.spawn(name, cmd)
    }

    /// A PNG of the top-level window titled `title` on this environment's
    /// display, as X draws it (ImageMagick's `import`).
    pub fn window_screenshot(&self, title: &str) -> Vec<u8> {
        let out = self.path("window.png");
        let status = self
            .command("import")
            .args(["-window", title, &out.display().to_string()])
            .status()
            .expect("run import (imagemagick)");
        assert!(status.success(), "import could not capture the window `{title}`");
        std::fs::read(out).expect("screenshot file")
    }
}

/// A local program that asks Castkey for a token, as a chat bot or an
/// overlay would: `tests/clients/ask_token.py` copied to a path of the
/// scenario's own (Castkey knows a script by its path), run with
/// `/usr/bin/python3`, saying hello with a name it chooses. It waits in the
/// background (a consent prompt may hold it) and prints both answers as one
/// JSON line (`{"hello": …, "token": …}`). Killed when dropped.
#[derive(Debug)]
pub struct LocalProgram {
    child: Option<Child>,
}

impl LocalProgram {
    /// Writes the script as `<home>/<file>` (if not there yet) and answers
    /// its path.
    pub fn install(env: &TestEnv, file: &str) -> PathBuf {
        let script = env.path(file);
        if !script.exists() {
            std::fs::copy(crate::repo().join("tests/clients/ask_token.py"), &script)
                .expect("copy tests/clients/ask_token.py");
        }
        script
    }

    /// Runs the script at `script` (from [`LocalProgram::install`]), saying
    /// hello as `name`.
    pub fn start(env: &TestEnv, script: &Path, name: &str) -> LocalProgram {
        let child = env
            .command("/usr/bin/python3")
            .arg(script)
            .arg(name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run /usr/bin/python3");
        LocalProgram { child: Some(child) }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Its printed answer, once it exits (within `timeout` on an idle machine).
    pub fn answer(mut self, timeout: Duration) -> Value {
        let mut child = self.child.take().expect("not yet waited for");
        let status = wait_for("the local program to answer", timeout, || child.try_wait().ok().flatten());
        let out = child.wait_with_output().expect("the program's output");
        let stdout = text(&out.stdout);
        assert!(status.success(), "the program failed: {}{}", stdout, text(&out.stderr));
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
    }

    /// `true` while it has not exited (it waits for an answer).
    pub fn still_waiting(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
}

impl Drop for LocalProgram {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The access token in a [`LocalProgram::answer`].
pub fn answered_token(answer: &Value) -> String {
    answer["token"]["result"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {answer}"))
        .to_string()
}

/// The refusal's `reason` in a [`LocalProgram::answer`].
pub fn answered_refusal(answer: &Value) -> &str {
    answer["token"]["error"]["data"]["reason"].as_str().unwrap_or_else(|| panic!("no refusal: {answer}"))
}
