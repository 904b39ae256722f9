//! Where secrets live in a scenario: the real Secret Service
//! (`gnome-keyring-daemon` on the scenario's bus), the encrypted file of
//! `castkey serve --secret-store file`, and the kernel's session keyrings.

use crate::env::TestEnv;
use crate::process::Guard;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The password of the scenarios' login keyring.
pub const KEYRING_PASSWORD: &str = "castkey-test";

impl TestEnv {
    pub(crate) fn start_keyring(&mut self, unlock: bool) {
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
        self.adopt(guard);
        self.wait_for_bus_name("org.freedesktop.secrets", Duration::from_secs(20));
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

    /// The refresh token the keychain holds for `account`.
    pub fn refresh_token(&self, account: &str) -> Option<String> {
        self.keychain_lookup(&format!("account/{account}/refresh_token"))
    }

    /// Where `castkey serve --secret-store file` keeps its secrets here.
    pub fn secrets_file(&self) -> PathBuf {
        self.config_dir().join("secrets.enc")
    }

    /// The secret named `name` in the encrypted file at `file`, decrypted
    /// with `passphrase` by Castkey's own code (the core's example
    /// `reveal_secret`, built by the test command), so this crate needs no
    /// dependency on the core.
    pub fn reveal_from_file(&self, file: &Path, passphrase: &str, name: &str) -> Option<String> {
        let tool = crate::binary("examples/reveal_secret");
        let out = self.run_with_stdin(
            {
                let mut c = self.command(tool);
                c.arg(file).arg(name);
                c
            },
            passphrase.as_bytes(),
        );
        assert!(
            out.status.success() || out.status.code() == Some(1),
            "reveal_secret failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
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
