//! The harness every scenario uses. See `tests/README.md`.
//!
//! Each scenario gets its own [`TestEnv`]: a temporary HOME with its own XDG
//! directories, its own D-Bus session (no service activation, so nothing
//! starts behind the test's back), an unlocked `gnome-keyring-daemon` as the
//! real Secret Service, its own Xvfb display when it needs a window, and the
//! sandbox OpenID provider (`oidc-provider`) on a free port. Every process is
//! started in its own process group and killed when the scenario ends,
//! passing or failing.

pub mod bench;
pub mod killloop;
pub mod process;
pub mod webdriver;
pub mod x11;

use process::Guard;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const KEYRING_PASSWORD: &str = "castkey-test";

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

/// A binary built by the test command (`scripts/test`).
pub fn binary(name: &str) -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (scripts/test does: cargo build -p castkey-cli -p castkey-app --features castkey-app/custom-protocol)",
        path.display()
    );
    path
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[derive(Debug, Default, Clone)]
pub struct EnvOptions {
    /// Start gnome-keyring on the session bus (default yes; `false` tests a
    /// machine without a Secret Service).
    pub no_keyring: bool,
    /// Start gnome-keyring without unlocking it (no login keyring, no prompter).
    pub locked_keyring: bool,
    /// Start Xvfb (scenarios that run the window).
    pub display: bool,
    /// Access-token lifetime of the sandbox provider, seconds.
    pub access_ttl: Option<u64>,
    /// Put the fault gate (`standins/faultgate.mjs`) in front of the whole
    /// sandbox provider: the provider names the gate as its issuer, so
    /// `CASTKEY_SANDBOX_ISSUER` and every endpoint lead through it, and
    /// [`TestEnv::gate_fail`] can make one path fail.
    pub gate: bool,
}

/// One scenario's world. Dropping it stops everything it started.
#[derive(Debug)]
pub struct TestEnv {
    pub home: tempfile::TempDir,
    pub vars: BTreeMap<String, String>,
    pub issuer: String,
    /// The fault gate's base URL (the issuer) with `EnvOptions { gate: true }`.
    pub gate: Option<String>,
    // Stopped in reverse order of start by Drop of the Vec.
    guards: Vec<Guard>,
}

impl TestEnv {
    pub fn start(opts: EnvOptions) -> TestEnv {
        let home = tempfile::Builder::new().prefix("castkey-test-").tempdir().expect("temp home");
        let h = home.path();
        let mut vars = BTreeMap::new();
        for (k, v) in [
            ("HOME", h.to_path_buf()),
            ("XDG_CONFIG_HOME", h.join("config")),
            ("XDG_DATA_HOME", h.join("data")),
            ("XDG_CACHE_HOME", h.join("cache")),
            ("XDG_STATE_HOME", h.join("state")),
            ("XDG_RUNTIME_DIR", h.join("run")),
        ] {
            std::fs::create_dir_all(&v).expect("mkdir");
            vars.insert(k.to_string(), v.display().to_string());
        }
        set_mode(&h.join("run"), 0o700);
        for k in ["PATH", "LANG", "USER", "LOGNAME"] {
            if let Ok(v) = std::env::var(k) {
                vars.insert(k.into(), v);
            }
        }
        vars.insert("BROWSER".into(), repo().join("tests/idp/browser").display().to_string());
        vars.insert("CASTKEY_TEST_BROWSER_LOG".into(), h.join("browser.log").display().to_string());
        vars.insert("CASTKEY_LOG".into(), "info,castkey_core=debug".into());
        vars.insert("NO_AT_BRIDGE".into(), "1".into());
        vars.insert("WEBKIT_DISABLE_COMPOSITING_MODE".into(), "1".into());
        let mut env = TestEnv { home, vars, issuer: String::new(), gate: None, guards: Vec::new() };
        env.start_bus();
        if !opts.no_keyring {
            env.start_keyring(!opts.locked_keyring);
        }
        if opts.display {
            env.start_display();
        }
        env.start_idp(opts.access_ttl, opts.gate);
        // This test binary asks for tokens like a broadcasting app would; the
        // user approved it beforehand (the consent scenarios use other
        // programs, which are not listed).
        let me = std::env::current_exe().expect("test binary path");
        env.approve_client(&me.display().to_string(), None, "castkey scenarios");
        env
    }

    /// Adds a client to `clients.json` (what "Always allow" and `castkey
    /// apps allow` write), before a broker starts: `executable` and, for a
    /// script, the interpreter's script path.
    pub fn approve_client(&self, executable: &str, script: Option<&str>, name: &str) {
        let dir = Path::new(&self.vars["XDG_CONFIG_HOME"]).join("castkey");
        std::fs::create_dir_all(&dir).expect("mkdir config");
        let path = dir.join("clients.json");
        let mut file: Value = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| serde_json::json!({"version": 1, "clients": []}));
        let mut identity = serde_json::json!({ "executable": executable });
        if let Some(s) = script {
            identity["script"] = Value::from(s);
        }
        file["clients"].as_array_mut().expect("clients list").push(serde_json::json!({
            "identity": identity, "name": name, "approved_at": 0
        }));
        std::fs::write(&path, serde_json::to_vec_pretty(&file).expect("json")).expect("write clients.json");
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.home.path().join(rel)
    }

    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear().envs(&self.vars).current_dir(self.home.path());
        c
    }

    /// Starts a long-running process with logs in `<home>/<name>.log`.
    pub fn spawn(&mut self, name: &str, mut cmd: Command) -> &mut Guard {
        let log = std::fs::File::create(self.path(&format!("{name}.log"))).expect("log file");
        cmd.stdin(Stdio::null()).stdout(log.try_clone().expect("log")).stderr(log);
        let g = Guard::spawn(name, cmd);
        self.guards.push(g);
        self.guards.last_mut().expect("just pushed")
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{name}.log"))).unwrap_or_default()
    }

    fn start_bus(&mut self) {
        let dir = self.path("bus");
        std::fs::create_dir_all(&dir).expect("bus dir");
        let conf = dir.join("session.conf");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.display()
            ),
        )
        .expect("bus config");
        let mut cmd = self.command("dbus-daemon");
        cmd.arg(format!("--config-file={}", conf.display())).arg("--print-address=1").arg("--nofork");
        let (guard, line) = Guard::spawn_reading_line("dbus-daemon", cmd, self.path("dbus.log"), |l| {
            l.starts_with("unix:").then(|| l.trim().to_string())
        });
        self.guards.push(guard);
        self.vars.insert("DBUS_SESSION_BUS_ADDRESS".into(), line);
    }

    /// `true` when `name` has an owner on this scenario's bus.
    pub fn bus_has(&self, name: &str) -> bool {
        let out = self
            .command("dbus-send")
            .args([
                "--session",
                "--dest=org.freedesktop.DBus",
                "--type=method_call",
                "--print-reply",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                &format!("string:{name}"),
            ])
            .output()
            .expect("dbus-send");
        String::from_utf8_lossy(&out.stdout).contains("boolean true")
    }

    fn start_keyring(&mut self, unlock: bool) {
        let mut cmd = self.command("gnome-keyring-daemon");
        cmd.args(["--foreground", "--components=secrets"]);
        if unlock {
            cmd.arg("--unlock");
        }
        let log = std::fs::File::create(self.path("keyring.log")).expect("log");
        cmd.stdin(Stdio::piped()).stdout(log.try_clone().expect("log")).stderr(log);
        let mut guard = Guard::spawn("gnome-keyring-daemon", cmd);
        {
            use std::io::Write;
            let mut stdin = guard.child.stdin.take().expect("stdin");
            if unlock {
                stdin.write_all(KEYRING_PASSWORD.as_bytes()).expect("password");
            }
        }
        self.guards.push(guard);
        wait_for("the Secret Service on the test bus", Duration::from_secs(20), || {
            self.bus_has("org.freedesktop.secrets").then_some(())
        });
    }

    fn start_display(&mut self) {
        let mut cmd = self.command("Xvfb");
        cmd.args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"]);
        let (guard, display) = Guard::spawn_reading_line("Xvfb", cmd, self.path("xvfb.log"), |l| {
            let n = l.trim();
            (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit())).then(|| format!(":{n}"))
        });
        self.guards.push(guard);
        self.vars.insert("DISPLAY".into(), display);
    }

    fn start_idp(&mut self, access_ttl: Option<u64>, gate: bool) {
        // The gate must exist first: the provider names it as its issuer.
        let gate = gate.then(|| self.start_standin("faultgate", "faultgate.mjs", &[("AS_ISSUER", "1")]));
        let mut cmd = self.command("node");
        cmd.arg(repo().join("tests/idp/server.mjs")).env("IDP_PORT", "0");
        if let Some(ttl) = access_ttl {
            cmd.env("IDP_ACCESS_TTL", ttl.to_string());
        }
        if let Some(g) = &gate {
            cmd.env("IDP_ISSUER", g);
        }
        let mut listening = None;
        let (guard, issuer) = Guard::spawn_reading_line("idp", cmd, self.path("idp.log"), |l| {
            if let Some(at) = l.strip_prefix("LISTEN=") {
                listening = Some(at.trim().to_string());
            }
            l.strip_prefix("ISSUER=").map(|s| s.trim().to_string())
        });
        self.guards.push(guard);
        if let Some(g) = &gate {
            let upstream = listening.expect("the sandbox provider printed LISTEN= before ISSUER=");
            ureq::post(format!("{g}/_test/upstream?url={upstream}"))
                .send_empty()
                .expect("set the gate's upstream");
            assert_eq!(&issuer, g, "the sandbox provider does not name the gate as its issuer");
        }
        self.gate = gate;
        self.issuer = issuer.clone();
        self.vars.insert("CASTKEY_SANDBOX_ISSUER".into(), issuer);
    }

    fn gate_base(&self) -> &str {
        self.gate
            .as_deref()
            .expect("this scenario has no fault gate: start it with EnvOptions { gate: true }")
    }

    /// From now on the gate answers requests to `path` (e.g. `/token`) the
    /// way `mode` says (`standins/faultgate.mjs`; `none` passes through).
    pub fn gate_fail(&self, path: &str, mode: &str) {
        ureq::post(format!("{}/_test/fail?path={path}&mode={mode}", self.gate_base()))
            .send_empty()
            .expect("set the gate's fault mode");
    }

    /// How many requests to `path` reached the gate (and so the provider).
    pub fn gate_count(&self, path: &str) -> u64 {
        let mut resp =
            ureq::get(format!("{}/_test/count?path={path}", self.gate_base())).call().expect("gate count");
        let v: Value = resp.body_mut().read_json().expect("gate count JSON");
        v["count"].as_u64().expect("count")
    }

    /// `castkey login <provider>` with no broker running (loopback redirect,
    /// the scripted browser): asserts it worked within 90 s (a sign-in that
    /// goes wrong would otherwise wait 10 minutes for its redirect) and
    /// answers the account id.
    pub fn login_headless(&mut self, provider: &str) -> String {
        let login = self.spawn_castkey("login", &["login", provider]);
        let code = self.wait_exit(login, Duration::from_secs(90));
        self.stop(login);
        let log = self.log("login");
        assert_eq!(code, Some(0), "castkey login {provider} failed:\n{log}");
        log.lines()
            .find_map(|l| {
                l.strip_prefix("Signed in as ")?.rsplit_once(" (")?.1.strip_suffix(')').map(String::from)
            })
            .unwrap_or_else(|| panic!("no `Signed in as` line:\n{log}"))
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

    /// The refresh token the keychain holds for `account`.
    pub fn refresh_token(&self, account: &str) -> Option<String> {
        self.keychain_lookup(&format!("account/{account}/refresh_token"))
    }

    /// Starts a vendor stand-in from `tests/standins/` (for endpoints no
    /// package implements); answers its base URL.
    pub fn start_standin(&mut self, name: &str, script: &str, vars: &[(&str, &str)]) -> String {
        let mut cmd = self.command("node");
        cmd.arg(repo().join("tests/standins").join(script)).env("PORT", "0");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let (guard, base) = Guard::spawn_reading_line(name, cmd, self.path(&format!("{name}.log")), |l| {
            l.strip_prefix("BASE=").map(|s| s.trim().to_string())
        });
        self.guards.push(guard);
        base
    }

    /// Runs the `castkey` command and waits for it.
    pub fn castkey(&self, args: &[&str]) -> Output {
        let out =
            self.command(binary("castkey")).args(args).stdin(Stdio::null()).output().expect("run castkey");
        println!(
            "$ castkey {} -> {}\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The socket path brokers in this environment use.
    pub fn socket(&self) -> PathBuf {
        Path::new(&self.vars["XDG_RUNTIME_DIR"]).join("castkey/castkey.sock")
    }

    pub fn client(&self) -> castkey_ipc::Client {
        castkey_ipc::Client::connect(&self.socket()).expect("connect to the broker")
    }

    /// Waits until a broker answers on the socket.
    pub fn wait_for_broker(&mut self) {
        self.wait_for_broker_of(None)
    }

    /// Same, failing at once if the process at `index` dies meanwhile.
    fn wait_for_broker_of(&mut self, index: Option<usize>) {
        let socket = self.socket();
        let start = Instant::now();
        loop {
            if let Ok(mut c) = castkey_ipc::Client::connect(&socket) {
                if c.call::<castkey_ipc::Accounts>(&Default::default()).is_ok() {
                    return;
                }
            }
            if let Some(i) = index {
                let g = &mut self.guards[i];
                if !g.is_running() {
                    let name = g.name.clone();
                    panic!("{name} exited before its broker answered; its log:\n{}", self.log(&name));
                }
            }
            assert!(start.elapsed() < Duration::from_secs(90), "timed out waiting for the broker's socket");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts the desktop app under this environment's display.
    pub fn start_app(&mut self, name: &str, extra_env: &[(&str, &str)]) -> usize {
        let mut cmd = self.command(binary("castkey-app"));
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        self.spawn(name, cmd);
        let index = self.guards.len() - 1;
        self.wait_for_broker_of(Some(index));
        index
    }

    /// Starts `castkey serve`.
    pub fn start_serve(&mut self) -> usize {
        let mut cmd = self.command(binary("castkey"));
        cmd.arg("serve");
        self.spawn("serve", cmd);
        let index = self.guards.len() - 1;
        self.wait_for_broker_of(Some(index));
        index
    }

    pub fn guard(&mut self, index: usize) -> &mut Guard {
        &mut self.guards[index]
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the process at `index` only
    /// (not its group).
    pub fn signal(&mut self, index: usize, signal: i32) {
        self.guards[index].signal(signal);
    }

    /// Starts `castkey <args>` in the background (e.g. a `login` that waits).
    pub fn spawn_castkey(&mut self, name: &str, args: &[&str]) -> usize {
        let mut cmd = self.command(binary("castkey"));
        cmd.args(args);
        self.spawn(name, cmd);
        self.guards.len() - 1
    }

    /// Waits for a background process to exit and returns its exit code.
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
        self.spawn(name, cmd);
        self.guards.len() - 1
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

    /// RFC 7662 introspection at the sandbox provider.
    pub fn introspect(&self, token: &str) -> Value {
        let mut resp = ureq::post(format!("{}/token/introspection", self.issuer))
            .header("Authorization", "Basic aW50cm9zcGVjdG9yOmludHJvc3BlY3Rvci1zZWNyZXQ=")
            .send_form([("token", token)])
            .expect("introspection request");
        resp.body_mut().read_json::<Value>().expect("introspection JSON")
    }

    /// The secret the keychain holds under Castkey's `name`, via `secret-tool`.
    pub fn keychain_lookup(&self, name: &str) -> Option<String> {
        let out = self
            .command("secret-tool")
            .args(["lookup", "service", "castkey", "username", name])
            .output()
            .expect("secret-tool");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// Everything Castkey wrote to its config directory, concatenated.
    /// The settings files' text (the activity log aside: it is the history
    /// of what was served, and keeps naming accounts that are gone).
    pub fn config_files_text(&self) -> String {
        let dir = Path::new(&self.vars["XDG_CONFIG_HOME"]).join("castkey");
        let mut text = String::new();
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_name() == "activity.jsonl" {
                continue;
            }
            text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
        text
    }

    pub fn accounts_file(&self) -> Option<Value> {
        let p = Path::new(&self.vars["XDG_CONFIG_HOME"]).join("castkey/accounts.json");
        std::fs::read(p).ok().map(|b| serde_json::from_slice(&b).expect("accounts.json is JSON"))
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        while let Some(mut g) = self.guards.pop() {
            g.stop();
        }
        if std::thread::panicking() {
            for name in
                ["idp", "faultgate", "login", "app", "app2", "serve", "keyring", "browser-open", "cold-app"]
            {
                let log = self.log(name);
                if !log.is_empty() {
                    let tail: Vec<&str> = log.lines().rev().take(40).collect();
                    println!("---- {name}.log (last lines) ----");
                    for l in tail.into_iter().rev() {
                        println!("{l}");
                    }
                }
            }
            let b = std::fs::read_to_string(self.path("browser.log")).unwrap_or_default();
            println!("---- browser.log ----\n{b}");
        }
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Reads lines of a file as they are written (for a process' log).
pub fn first_matching_line<T>(path: &Path, f: &mut impl FnMut(&str) -> Option<T>) -> Option<T> {
    let file = std::fs::File::open(path).ok()?;
    std::io::BufReader::new(file).lines().map_while(Result::ok).find_map(|l| f(&l))
}

/// Sleeps past Castkey's back-off after the `failures`-th time in a row a
/// provider failed to answer (5 s, doubling; see docs/ipc.md), so that the
/// next request reaches the provider again.
pub fn wait_out_backoff(failures: u32) {
    let secs = 5u64 << failures.saturating_sub(1).min(6);
    std::thread::sleep(std::time::Duration::from_secs(secs.min(300) + 1));
}

// Helpers for scenarios that run other builds of Castkey than the test
// command's debug one (tests/tests/package.rs: the installed .deb).
impl TestEnv {
    /// Starts `cmd` (made with [`TestEnv::command`]) like [`TestEnv::spawn`]
    /// and answers its index for [`TestEnv::stop`] and [`TestEnv::wait_exit`].
    pub fn spawn_indexed(&mut self, name: &str, cmd: Command) -> usize {
        self.spawn(name, cmd);
        self.guards.len() - 1
    }

    /// [`TestEnv::start_app`] with the app at `exe` (e.g. the installed
    /// `/usr/bin/castkey-app`): waits for its broker, failing at once if it
    /// exits first.
    pub fn start_app_from(&mut self, name: &str, exe: &Path, extra_env: &[(&str, &str)]) -> usize {
        let mut cmd = self.command(exe);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let index = self.spawn_indexed(name, cmd);
        self.wait_for_broker_of(Some(index));
        index
    }
}

// Secret stores without a keyring (`tests/no_keyring.rs`).

impl TestEnv {
    /// Where `castkey serve --secret-store file` keeps its secrets here.
    pub fn secrets_file(&self) -> PathBuf {
        Path::new(&self.vars["XDG_CONFIG_HOME"]).join("castkey/secrets.enc")
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
        self.guards.push(guard);
        let index = self.guards.len() - 1;
        self.wait_for_broker_of(Some(index));
        index
    }

    /// A `castkey <args>` command in this environment, for
    /// [`TestEnv::start_serve_with`] or [`TestEnv::run_with_stdin`].
    pub fn castkey_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(binary("castkey"));
        cmd.args(args);
        cmd
    }

    /// Runs `cmd` with `stdin` on its standard input and waits (at most
    /// 60 s) for it to exit.
    pub fn run_with_stdin(&self, mut cmd: Command, stdin: &[u8]) -> Output {
        use std::io::Write;
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start the command");
        child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
        let start = Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if start.elapsed() > Duration::from_secs(60) {
                child.kill().ok();
                panic!("the command did not exit within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().expect("output")
    }
}

/// Makes `cmd` run in the kernel session keyring named `name`, created if
/// needed, as a login session's processes do (pam_keyinit). Processes of
/// one name share it, like the processes of one login. Containers often
/// start processes with no session keyring of their own.
pub fn in_session_keyring(cmd: &mut Command, name: &str) {
    use std::os::unix::process::CommandExt;
    let name = std::ffi::CString::new(name).expect("keyring name");
    #[allow(unsafe_code)]
    // SAFETY: between fork and exec only keyctl(2) runs, which is
    // async-signal-safe; `name` outlives the call (moved into the closure).
    unsafe {
        cmd.pre_exec(move || {
            const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
            if libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

// The scripted browser signing in as a user the scenario chooses later,
// also when the browser is started by a process that was started before
// (the app): the name is read from a file at each start.
impl TestEnv {
    /// Makes `BROWSER` a wrapper of `idp/browser` that signs in as the
    /// name last given to [`TestEnv::login_as`] (default: `streamer`). Call
    /// before starting the app.
    pub fn browser_with_chosen_login(&mut self) {
        let wrapper = self.path("browser-as");
        let inner = repo().join("tests/idp/browser");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nif [ -s \"$HOME/login-as\" ]; then CASTKEY_TEST_LOGIN=$(cat \"$HOME/login-as\"); \
                 export CASTKEY_TEST_LOGIN; fi\nexec '{}' \"$@\"\n",
                inner.display()
            ),
        )
        .expect("write the browser wrapper");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the wrapper");
        self.vars.insert("BROWSER".into(), wrapper.display().to_string());
    }

    /// Waits for the browser to hand back the redirect it was told to hold
    /// (`CASTKEY_TEST_BROWSER_HOLD=<home>/redirect.url`), and takes it.
    pub fn held_redirect(&self) -> String {
        let path = self.path("redirect.url");
        let url = wait_for("the browser to reach the redirect", Duration::from_secs(60), || {
            std::fs::read_to_string(&path).ok().filter(|s| !s.is_empty())
        });
        std::fs::remove_file(&path).expect("remove the held redirect");
        url.trim().to_string()
    }

    /// The next browser sign-in logs in as `name`.
    pub fn login_as(&self, name: &str) {
        std::fs::write(self.path("login-as"), name).expect("write login-as");
    }
}

/// Where scenarios save screenshots: `<target>/scenario-screenshots/<sub>`
/// (`sub` may be empty), created if needed.
pub fn screenshot_dir(sub: &str) -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target"));
    let dir = target.join("scenario-screenshots").join(sub);
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}
