//! The sandbox OpenID provider (`idp/server.mjs`, npm `oidc-provider`), the
//! fault gate and the vendor stand-ins (`standins/*.mjs`), and signing in
//! through them with the scripted browser (`idp/browser`).
//!
//! **One sandbox provider per test binary.** Starting `oidc-provider` costs
//! an RSA key and a second of Node start-up on an idle machine, far more on
//! a busy one; the scenarios of one binary share one provider. Each test
//! still has its own accounts and grants: Castkey's state lives in the
//! scenario's HOME, and each scripted-browser run is a new browser session,
//! so the provider issues each test its own grant and tokens. A scenario
//! that changes the provider itself (a fault gate in front of it, a shorter
//! access-token lifetime) gets one of its own. The shared provider exits
//! when the test binary does: it reads its standard input and stops at end
//! of file (`IDP_EXIT_ON_EOF`), which comes when the binary's end closes the
//! pipe, however it ends.
//!
//! Stand-ins (api.video, the identity-token exchange, the fault gate) hold
//! per-test state (keys, revocations, fault modes), so each scenario starts
//! its own; they are small Node HTTP servers.

use crate::env::TestEnv;
use crate::process::Guard;
use crate::repo;
use crate::wait::{patient, wait_for};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Which sandbox provider a scenario uses.
#[derive(Debug)]
pub(crate) enum Idp {
    /// The test binary's shared provider.
    Shared,
    /// The scenario's own (its process is among the scenario's guards).
    Own,
}

impl Idp {
    /// The shared provider's log, for a failing scenario that used it.
    pub(crate) fn shared_log(&self) -> Option<String> {
        match self {
            Idp::Shared => SHARED.get().and_then(|s| std::fs::read_to_string(&s.log).ok()),
            Idp::Own => None,
        }
    }
}

#[derive(Debug)]
struct SharedIdp {
    issuer: String,
    log: PathBuf,
    // Held for the life of the binary: its end is the provider's signal to stop.
    _stdin: Mutex<ChildStdin>,
}

static SHARED: OnceLock<SharedIdp> = OnceLock::new();

fn shared_idp() -> &'static SharedIdp {
    SHARED.get_or_init(|| {
        let log = std::env::temp_dir().join(format!("castkey-shared-idp-{}.log", std::process::id()));
        let mut cmd = Command::new("node");
        cmd.arg(repo().join("tests/idp/server.mjs"))
            .env("IDP_PORT", "0")
            .env("IDP_EXIT_ON_EOF", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("shared provider log"));
        // Its own process group, so a scenario's signals never reach it.
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        let mut child = cmd.spawn().expect("start the shared sandbox provider (node)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let issuer = read_line_until(stdout, "ISSUER=", "the shared sandbox provider", &log);
        // The child is reaped by nobody: it outlives every scenario and ends
        // with the binary (see the module docs).
        std::mem::forget(child);
        SharedIdp { issuer, log, _stdin: Mutex::new(stdin) }
    })
}

/// Reads `stdout` until a line starting with `prefix`; answers the rest of
/// it. Gives up at the harness's start-up deadline, naming `what`.
fn read_line_until(stdout: std::process::ChildStdout, prefix: &str, what: &str, log: &PathBuf) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + patient(Duration::from_secs(60));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(v) = line.strip_prefix(prefix) {
                    let v = v.trim().to_string();
                    std::thread::spawn(move || while rx.recv().is_ok() {});
                    return v;
                }
            }
            Err(_) => panic!(
                "{what} printed no `{prefix}` line within {:?}; its log:\n{}",
                patient(Duration::from_secs(60)),
                std::fs::read_to_string(log).unwrap_or_default()
            ),
        }
    }
}

impl TestEnv {
    pub(crate) fn start_idp(&mut self, access_ttl: Option<u64>, gate: bool) {
        if access_ttl.is_none() && !gate {
            self.issuer = shared_idp().issuer.clone();
            self.idp = Idp::Shared;
            self.vars.insert("CASTKEY_SANDBOX_ISSUER".into(), self.issuer.clone());
            return;
        }
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
        self.adopt(guard);
        if let Some(g) = &gate {
            let upstream = listening.expect("the sandbox provider printed LISTEN= before ISSUER=");
            standin_post(g, &format!("/_test/upstream?url={upstream}"));
            assert_eq!(&issuer, g, "the sandbox provider does not name the gate as its issuer");
        }
        self.gate = gate;
        self.idp = Idp::Own;
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
        standin_post(self.gate_base(), &format!("/_test/fail?path={path}&mode={mode}"));
    }

    /// How many requests to `path` reached the gate (and so the provider).
    pub fn gate_count(&self, path: &str) -> u64 {
        let v = standin_get(self.gate_base(), &format!("/_test/count?path={path}"));
        v["count"].as_u64().unwrap_or_else(|| panic!("no count in the gate's answer: {v}"))
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
        self.adopt(guard);
        base
    }

    /// RFC 7662 introspection at the sandbox provider.
    pub fn introspect(&self, token: &str) -> Value {
        let mut resp = ureq::post(format!("{}/token/introspection", self.issuer))
            .header("Authorization", "Basic aW50cm9zcGVjdG9yOmludHJvc3BlY3Rvci1zZWNyZXQ=")
            .send_form([("token", token)])
            .expect("introspection request");
        resp.body_mut().read_json::<Value>().expect("introspection JSON")
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

    /// Makes `BROWSER` a wrapper of `idp/browser` that signs in as the
    /// name last given to [`TestEnv::login_as`] (default: `streamer`), also
    /// when the browser is started by a process that was started before (the
    /// app): the name is read from a file at each start. Call before
    /// starting the app.
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
        crate::env::set_mode(&wrapper, 0o755);
        self.vars.insert("BROWSER".into(), wrapper.display().to_string());
    }

    /// The next browser sign-in logs in as `name`.
    pub fn login_as(&self, name: &str) {
        std::fs::write(self.path("login-as"), name).expect("write login-as");
    }

    /// The variable that makes the scripted browser hold the final redirect
    /// in `<home>/redirect.url` instead of opening it (for
    /// [`TestEnv::held_redirect`]): pass it to a process that starts the browser.
    pub fn hold_redirect_var(&self) -> (String, String) {
        ("CASTKEY_TEST_BROWSER_HOLD".into(), self.path("redirect.url").display().to_string())
    }

    /// Waits for the browser to hand back the redirect it was told to hold
    /// ([`TestEnv::hold_redirect_var`]), and takes it.
    pub fn held_redirect(&self) -> String {
        let path = self.path("redirect.url");
        let url = wait_for("the browser to reach the redirect", Duration::from_secs(60), || {
            std::fs::read_to_string(&path).ok().filter(|s| !s.is_empty())
        });
        std::fs::remove_file(&path).expect("remove the held redirect");
        url.trim().to_string()
    }
}

/// `GET <base><path>` of a stand-in's test interface, as JSON.
pub fn standin_get(base: &str, path: &str) -> Value {
    ureq::get(format!("{base}{path}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {base}{path}: {e}"))
        .body_mut()
        .read_json()
        .unwrap_or_else(|e| panic!("GET {base}{path}: not JSON: {e}"))
}

/// `POST <base><path>` with no body to a stand-in's test interface.
pub fn standin_post(base: &str, path: &str) {
    ureq::post(format!("{base}{path}")).send_empty().unwrap_or_else(|e| panic!("POST {base}{path}: {e}"));
}

/// How many requests to `path` a stand-in saw (its `/_test/requests` list).
pub fn standin_calls(base: &str, path: &str) -> usize {
    let list = standin_get(base, "/_test/requests");
    list.as_array()
        .unwrap_or_else(|| panic!("no request list: {list}"))
        .iter()
        .filter(|r| r["path"] == path)
        .count()
}
