//! A machine without a Secret Service (a headless encoder, a server, CI):
//! `castkey serve` keeps secrets where the user chose — an encrypted file
//! (passphrase on a file descriptor) or the kernel keyring — and never
//! falls back to anything by itself. Real provider, real kernel keyring,
//! no keyring daemon.

use castkey_ipc::{Token, TokenParams};
use castkey_scenarios::{text, EnvOptions, TestEnv};
use std::time::Duration;

const PASSPHRASE: &[u8] = b"a long passphrase for the scenario\n";
const REFRESH: &str = "account/sandbox:streamer/refresh_token";

fn serve_file_store(env: &mut TestEnv, name: &str, passphrase: &[u8]) -> usize {
    let cmd = env.castkey_command(&["serve", "--secret-store", "file", "--passphrase-fd", "0"]);
    env.start_serve_with(name, cmd, passphrase)
}

/// The refresh token the encrypted file holds, decrypted with the same
/// passphrase by Castkey's own code (from a copy: the broker keeps the
/// original).
fn refresh_in_file(env: &TestEnv) -> String {
    let copy = env.path("secrets-copy.enc");
    std::fs::copy(env.secrets_file(), &copy).unwrap();
    let passphrase = std::str::from_utf8(PASSPHRASE).unwrap();
    env.reveal_from_file(&copy, passphrase, REFRESH).expect("a refresh token in the file")
}

#[test]
fn the_encrypted_file_store_signs_in_serves_tokens_across_restarts_and_refuses_a_wrong_passphrase() {
    let mut env = TestEnv::start(EnvOptions { no_keyring: true, ..Default::default() });
    assert!(!env.bus_has("org.freedesktop.secrets"));
    let serve = serve_file_store(&mut env, "serve", PASSPHRASE);
    let log = env.log("serve");
    assert!(log.contains("secrets: encrypted file") && log.contains("--secret-store file"), "{log}");

    let status = env.castkey_at_terminal(&["status"]);
    let shown = text(&status.stdout);
    let line =
        format!("Secrets: encrypted file {} (chosen with --secret-store file", env.secrets_file().display());
    assert!(shown.contains(&line), "{shown}");

    // Sign in through the running broker (loopback, the scripted browser).
    let login = env.castkey_at_terminal(&["login", "sandbox"]);
    assert!(login.status.success(), "login failed: {}", text(&login.stderr));
    assert!(text(&login.stdout).contains("Signed in as streamer (sandbox:streamer)"));
    let token = env.castkey(&["token"]);
    assert!(token.status.success(), "{}", text(&token.stderr));
    let access = text(&token.stdout).trim().to_string();
    assert_eq!(env.introspect(&access)["active"], true);

    // The file holds the real refresh token, encrypted: not its plaintext,
    // and neither does any other file.
    let refresh_before = refresh_in_file(&env);
    assert_eq!(env.introspect(&refresh_before)["active"], true, "the file's refresh token is not the grant");
    let bytes = std::fs::read(env.secrets_file()).unwrap();
    for needle in [refresh_before.as_bytes(), access.as_bytes(), b"sandbox:streamer"] {
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "secrets.enc holds a plaintext");
    }
    assert!(!env.config_files_text().contains(&refresh_before), "a config file holds the refresh token");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(env.secrets_file()).unwrap().permissions().mode() & 0o777, 0o600);

    // Restart with the same passphrase: a refresh works through the file's
    // refresh token, and the rotated one replaces it there.
    env.stop(serve);
    let serve = serve_file_store(&mut env, "serve2", PASSPHRASE);
    let grant =
        env.client().call::<Token>(&TokenParams { force_refresh: Some(true), ..Default::default() }).unwrap();
    assert_ne!(grant.access_token, access);
    assert_eq!(env.introspect(&grant.access_token)["active"], true);
    let refresh_after = refresh_in_file(&env);
    assert_ne!(refresh_after, refresh_before, "the rotated refresh token was not stored");
    assert_eq!(env.introspect(&refresh_before)["active"], false);

    // A wrong passphrase is refused by name, and the file is left alone.
    env.stop(serve);
    let before = std::fs::read(env.secrets_file()).unwrap();
    let wrong = env.run_with_stdin(
        env.castkey_command(&["serve", "--secret-store", "file", "--passphrase-fd", "0"]),
        b"not the passphrase\n",
    );
    assert!(!wrong.status.success());
    let err = text(&wrong.stderr);
    let expected = format!("the passphrase does not open {}", env.secrets_file().display());
    assert!(err.contains(&expected), "{err}");
    assert_eq!(std::fs::read(env.secrets_file()).unwrap(), before, "a failed open changed the file");
    assert!(castkey_ipc::Client::connect(&env.socket()).is_err(), "a broker started anyway");

    // The environment variable chooses the same store for scripts.
    let mut cmd = env.castkey_command(&["serve", "--passphrase-fd", "0"]);
    cmd.env("CASTKEY_SECRET_STORE", "file");
    env.start_serve_with("serve3", cmd, PASSPHRASE);
    let again = env.client().call::<Token>(&TokenParams::default()).unwrap();
    assert_eq!(again.account.id, "sandbox:streamer");
    let shown = text(&env.castkey_at_terminal(&["status"]).stdout);
    assert!(shown.contains("(chosen with CASTKEY_SECRET_STORE=file"), "{shown}");
}

#[test]
fn the_default_keychain_without_a_secret_service_names_the_other_stores_and_stores_nothing() {
    let mut env = TestEnv::start(EnvOptions { no_keyring: true, ..Default::default() });
    env.start_serve();
    let shown = text(&env.castkey_at_terminal(&["status"]).stdout);
    assert!(shown.contains("Secrets: OS keychain") && shown.contains("(chosen with the default)"), "{shown}");
    let login = env.castkey_at_terminal(&["login", "sandbox"]);
    assert!(!login.status.success());
    let err = text(&login.stderr);
    for alternative in ["keychain is unavailable", "--secret-store file", "--secret-store kernel"] {
        assert!(err.contains(alternative), "{alternative}: {err}");
    }
    assert!(!env.secrets_file().exists(), "an encrypted file appeared without being chosen");
    assert!(env.accounts_file().is_none_or(|a| a["accounts"].as_array().is_none_or(|l| l.is_empty())));
}

#[test]
fn the_kernel_keyring_store_keeps_secrets_off_disk_for_the_login_session() {
    let mut env = TestEnv::start(EnvOptions { no_keyring: true, ..Default::default() });
    // Keys of this run only, and one session keyring for both brokers (one login).
    let service = format!("castkey-scenario-{}", std::process::id());
    env.vars.insert("CASTKEY_KEYCHAIN_SERVICE".into(), service.clone());
    let session = format!("castkey-scenario-session-{}", std::process::id());
    let start = |env: &mut TestEnv, name: &str| {
        let mut cmd = env.castkey_command(&["serve", "--secret-store", "kernel"]);
        castkey_scenarios::in_session_keyring(&mut cmd, &session);
        env.start_serve_with(name, cmd, b"")
    };
    let serve = start(&mut env, "serve");
    let shown = text(&env.castkey_at_terminal(&["status"]).stdout);
    assert!(shown.contains("Secrets: kernel keyring") && shown.contains("lost at reboot"), "{shown}");
    assert!(shown.contains("chosen with --secret-store kernel"), "{shown}");

    let login = env.castkey_at_terminal(&["login", "sandbox"]);
    assert!(login.status.success(), "login failed: {}", text(&login.stderr));
    let first = env.client().call::<Token>(&TokenParams::default()).unwrap();
    assert_eq!(env.introspect(&first.access_token)["active"], true);
    assert!(!env.secrets_file().exists(), "the kernel store wrote a secrets file");
    assert!(!env.config_files_text().contains(&first.access_token));

    // The next broker of the same session finds the refresh token.
    env.stop(serve);
    start(&mut env, "serve2");
    let grant =
        env.client().call::<Token>(&TokenParams { force_refresh: Some(true), ..Default::default() }).unwrap();
    assert_ne!(grant.access_token, first.access_token);
    assert_eq!(env.introspect(&grant.access_token)["active"], true);

    // Signing out removes the key from the kernel keyring too.
    let out = env.castkey_at_terminal(&["logout", "sandbox:streamer"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    castkey_scenarios::wait_for("the account to go", Duration::from_secs(10), || {
        env.client().call::<castkey_ipc::Accounts>(&Default::default()).ok().filter(|a| a.is_empty())
    });
}

/// `scripts/run` on a machine with no display and no Secret Service: the
/// broker starts with the encrypted file store and a generated passphrase
/// it names, and `castkey login sandbox` then `castkey token` work from
/// another shell, as the README says.
#[test]
fn scripts_run_without_display_or_secret_service_hands_out_tokens() {
    let mut env = TestEnv::start(EnvOptions { no_keyring: true, ..Default::default() });
    env.vars.remove("DBUS_SESSION_BUS_ADDRESS");
    env.vars.insert("CASTKEY_RUN_NO_BUILD".into(), "1".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    env.vars.insert("CASTKEY_SANDBOX_PORT".into(), port.to_string());
    // The script runs the binaries the test command built, wherever they are.
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        env.vars.insert("CARGO_TARGET_DIR".into(), dir);
    }
    let mut cmd = env.command("bash");
    cmd.arg(castkey_scenarios::repo().join("scripts/run"));
    env.spawn("run", cmd);
    castkey_scenarios::wait_for("scripts/run's broker", Duration::from_secs(90), || {
        let mut c = castkey_ipc::Client::connect(&env.socket()).ok()?;
        c.call::<castkey_ipc::Accounts>(&Default::default()).ok()
    });
    let log = env.log("run");
    let passfile = env.path("state/castkey/passphrase");
    assert!(log.contains("no display found") && log.contains(&passfile.display().to_string()), "{log}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&passfile).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(env.secrets_file().exists(), "{log}");

    let login = env.castkey_at_terminal(&["login", "sandbox"]);
    assert!(login.status.success(), "login failed: {}\n{}", text(&login.stderr), env.log("run"));
    let token = env.castkey(&["token"]);
    assert!(token.status.success(), "{}", text(&token.stderr));
    // The token comes from scripts/run's own sandbox provider.
    env.issuer = format!("http://127.0.0.1:{port}");
    assert_eq!(env.introspect(text(&token.stdout).trim())["active"], true);
    let shown = text(&env.castkey_at_terminal(&["status"]).stdout);
    assert!(shown.contains("Secrets: encrypted file"), "{shown}");
}

/// `castkey login` with no broker running signs in by itself into the store
/// chosen for it; the broker started later with the same store serves the
/// account.
#[test]
fn login_by_itself_into_the_encrypted_file_then_serve_reads_it() {
    let mut env = TestEnv::start(EnvOptions { no_keyring: true, ..Default::default() });
    let login = env.run_with_stdin(
        env.castkey_command(&["login", "sandbox", "--secret-store", "file", "--passphrase-fd", "0"]),
        PASSPHRASE,
    );
    assert!(login.status.success(), "login failed: {}", text(&login.stderr));
    assert!(text(&login.stdout).contains("Signed in as streamer (sandbox:streamer)"));
    assert!(text(&login.stderr).contains("secrets: encrypted file"), "{}", text(&login.stderr));
    let refresh = refresh_in_file(&env);
    assert_eq!(env.introspect(&refresh)["active"], true);

    serve_file_store(&mut env, "serve", PASSPHRASE);
    let grant =
        env.client().call::<Token>(&TokenParams { force_refresh: Some(true), ..Default::default() }).unwrap();
    assert_eq!(grant.account.id, "sandbox:streamer");
    assert_eq!(env.introspect(&grant.access_token)["active"], true);
}
