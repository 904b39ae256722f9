//! One scenario's world: a temporary HOME with its own XDG directories, its
//! own D-Bus session and, on request, its own X display; every process it
//! starts is stopped when it is dropped.

use crate::process::Guard;
use crate::provider::Idp;
use crate::repo;
use crate::slots::{Slots, WINDOW_WEIGHT};
use crate::wait::wait_for;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Debug, Default, Clone)]
pub struct EnvOptions {
    /// Leave the Secret Service out (a machine without one).
    pub no_keyring: bool,
    /// Start gnome-keyring without unlocking it (no login keyring, no prompter).
    pub locked_keyring: bool,
    /// Start Xvfb (scenarios that run the window). Such a scenario takes
    /// more of the machine ([`crate::slots`]).
    pub display: bool,
    /// Access-token lifetime of the sandbox provider, seconds. A scenario
    /// that sets it gets a provider of its own.
    pub access_ttl: Option<u64>,
    /// Put the fault gate (`standins/faultgate.mjs`) in front of a sandbox
    /// provider of the scenario's own: the provider names the gate as its
    /// issuer, so `CASTKEY_SANDBOX_ISSUER` and every endpoint lead through
    /// it, and [`TestEnv::gate_fail`] can make one path fail.
    pub gate: bool,
}

/// One scenario's world. Dropping it stops everything it started, then gives
/// its slots back.
#[derive(Debug)]
pub struct TestEnv {
    pub home: tempfile::TempDir,
    pub vars: BTreeMap<String, String>,
    pub issuer: String,
    /// The fault gate's base URL (the issuer) with `EnvOptions { gate: true }`.
    pub gate: Option<String>,
    pub(crate) idp: Idp,
    // Stopped in reverse order of start by `Drop`.
    pub(crate) guards: Vec<Guard>,
    // Dropped after the guards are stopped (field order).
    _slots: Slots,
}

impl TestEnv {
    pub fn start(opts: EnvOptions) -> TestEnv {
        let slots = Slots::take(if opts.display { WINDOW_WEIGHT } else { 1 });
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
        let mut env = TestEnv {
            home,
            vars,
            issuer: String::new(),
            gate: None,
            idp: Idp::Shared,
            guards: Vec::new(),
            _slots: slots,
        };
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

    /// A path inside the scenario's HOME.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.home.path().join(rel)
    }

    /// Castkey's configuration directory here (`$XDG_CONFIG_HOME/castkey`).
    pub fn config_dir(&self) -> PathBuf {
        Path::new(&self.vars["XDG_CONFIG_HOME"]).join("castkey")
    }

    /// A command with only this scenario's variables, run in its HOME.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear().envs(&self.vars).current_dir(self.home.path());
        c
    }

    /// Starts a long-running process with logs in `<home>/<name>.log`;
    /// answers its index for [`TestEnv::stop`], [`TestEnv::wait_exit`] and
    /// [`TestEnv::guard`].
    pub fn spawn(&mut self, name: &str, mut cmd: Command) -> usize {
        let log = std::fs::File::create(self.path(&format!("{name}.log"))).expect("log file");
        cmd.stdin(Stdio::null()).stdout(log.try_clone().expect("log")).stderr(log);
        self.adopt(Guard::spawn(name, cmd))
    }

    /// Keeps `guard` with the scenario's processes; answers its index.
    pub(crate) fn adopt(&mut self, guard: Guard) -> usize {
        self.guards.push(guard);
        self.guards.len() - 1
    }

    /// What the process started as `name` wrote so far.
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
        self.adopt(guard);
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

    /// Waits until `name` has an owner on this scenario's bus.
    pub fn wait_for_bus_name(&self, name: &str, timeout: Duration) {
        wait_for(&format!("{name} on the scenario's D-Bus session"), timeout, || {
            self.bus_has(name).then_some(())
        });
    }

    fn start_display(&mut self) {
        let mut cmd = self.command("Xvfb");
        cmd.args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"]);
        let (guard, display) = Guard::spawn_reading_line("Xvfb", cmd, self.path("xvfb.log"), |l| {
            let n = l.trim();
            (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit())).then(|| format!(":{n}"))
        });
        self.adopt(guard);
        self.vars.insert("DISPLAY".into(), display);
    }

    /// Everything Castkey wrote to its config directory, concatenated.
    /// The settings files' text (the activity log aside: it is the history
    /// of what was served, and keeps naming accounts that are gone).
    pub fn config_files_text(&self) -> String {
        let mut text = String::new();
        for e in std::fs::read_dir(self.config_dir()).into_iter().flatten().flatten() {
            if e.file_name() == "activity.jsonl" {
                continue;
            }
            text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
        text
    }

    /// `accounts.json`, if Castkey wrote it.
    pub fn accounts_file(&self) -> Option<Value> {
        let p = self.config_dir().join("accounts.json");
        std::fs::read(p).ok().map(|b| serde_json::from_slice(&b).expect("accounts.json is JSON"))
    }

    /// Adds a client to `clients.json` (what "Always allow" and `castkey
    /// apps allow` write), before a broker starts: `executable` and, for a
    /// script, the interpreter's script path.
    pub fn approve_client(&self, executable: &str, script: Option<&str>, name: &str) {
        let dir = self.config_dir();
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

    /// The approval `clients.json` holds for `executable`, if any.
    pub fn approval_of(&self, executable: &str) -> Option<Value> {
        let path = self.config_dir().join("clients.json");
        let file: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        file["clients"].as_array()?.iter().find(|c| c["identity"]["executable"] == executable).cloned()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        while let Some(mut g) = self.guards.pop() {
            g.stop();
        }
        if std::thread::panicking() {
            let mut names: Vec<String> = std::fs::read_dir(self.home.path())
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log").map(String::from))
                .collect();
            names.sort();
            for name in names {
                print_tail(&format!("{name}.log"), &self.log(&name), 40);
            }
            if let Some(shared) = self.idp.shared_log() {
                print_tail("the shared sandbox provider's log", &shared, 20);
            }
        }
    }
}

fn print_tail(title: &str, text: &str, lines: usize) {
    if text.is_empty() {
        return;
    }
    let tail: Vec<&str> = text.lines().rev().take(lines).collect();
    println!("---- {title} (last lines) ----");
    for l in tail.into_iter().rev() {
        println!("{l}");
    }
}

pub(crate) fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Where scenarios save screenshots: `<target>/scenario-screenshots/<sub>`
/// (`sub` may be empty), created if needed.
pub fn screenshot_dir(sub: &str) -> PathBuf {
    let dir = crate::target_dir().join("scenario-screenshots").join(sub);
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}
