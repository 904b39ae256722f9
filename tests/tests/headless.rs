//! Scenarios without a window: `castkey login` with no app running (loopback
//! redirect), the headless broker (`castkey serve`), and what the socket
//! does with bad input. Real provider, real Secret Service.

use castkey_ipc::{Client, ClientError, Reason, Token, TokenParams};
use castkey_scenarios::{patient, text, EnvOptions, TestEnv};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

#[test]
fn streamer_signs_in_headless_and_a_broadcast_app_gets_a_token_across_restarts() {
    let mut env = TestEnv::start(EnvOptions::default());
    let login = env.castkey(&["login", "sandbox"]);
    assert!(login.status.success(), "login failed: {}", text(&login.stderr));
    assert!(text(&login.stdout).contains("Signed in as streamer (sandbox:streamer)"));
    assert!(text(&login.stderr).contains("waiting for the redirect to http://127.0.0.1:"));

    // The refresh token is in the keychain, and no secret is in any file.
    let refresh_before =
        env.keychain_lookup("account/sandbox:streamer/refresh_token").expect("refresh token in keychain");
    let files = env.config_files_text();
    assert!(!files.contains(&refresh_before), "a config file holds the refresh token");
    let accounts = env.accounts_file().expect("accounts.json");
    assert_eq!(accounts["accounts"][0]["email"], "streamer@example.test");

    let serve = env.start_serve();
    let providers = env.castkey(&["providers"]);
    assert!(providers.status.success());
    let listed = text(&providers.stdout);
    assert!(listed.lines().any(|l| l.starts_with("sandbox") && l.contains("browser")), "{listed}");
    assert!(listed.lines().any(|l| l.starts_with("apivideo") && l.contains("API key")), "{listed}");
    // The broker learns from discovery that the sandbox offers sign-in with a code.
    castkey_scenarios::wait_for("discovery", std::time::Duration::from_secs(20), || {
        let json = env.castkey(&["providers", "--json"]);
        let list: serde_json::Value = serde_json::from_slice(&json.stdout).ok()?;
        list.as_array()?.iter().any(|p| p["id"] == "sandbox" && p["device_flow"] == true).then_some(())
    });
    let token = env.castkey(&["token"]);
    assert!(token.status.success());
    let access = text(&token.stdout).trim().to_string();
    let info = env.introspect(&access);
    assert_eq!(info["active"], true, "{info}");
    assert!(info["scope"].as_str().unwrap().split(' ').any(|s| s == "broadcaster"), "{info}");
    assert!(!files.contains(&access), "a config file holds the access token");

    // Restart the broker: still signed in; a refresh through the keychain's
    // refresh token gives a new, active token, and the rotated refresh
    // token replaces the old one in the keychain.
    env.stop(serve);
    env.start_serve();
    let grant =
        env.client().call::<Token>(&TokenParams { force_refresh: Some(true), ..Default::default() }).unwrap();
    assert_ne!(grant.access_token, access);
    assert_eq!(grant.headers["Authorization"], format!("Bearer {}", grant.access_token));
    assert_eq!(grant.account.id, "sandbox:streamer");
    assert_eq!(env.introspect(&grant.access_token)["active"], true);
    let refresh_after = env.keychain_lookup("account/sandbox:streamer/refresh_token").unwrap();
    assert_ne!(refresh_after, refresh_before, "rotated refresh token was not stored");
    assert_eq!(env.introspect(&refresh_before)["active"], false);

    // A cached token is served again (same token while valid long enough).
    let again = env.client().call::<Token>(&TokenParams::default()).unwrap();
    assert_eq!(again.access_token, grant.access_token);
    // The refresh token never crosses the socket.
    let raw = env.client().call_raw("token", serde_json::json!({})).unwrap().to_string();
    assert!(!raw.contains(&refresh_after));
}

#[test]
fn a_machine_without_a_browser_signs_in_with_a_code() {
    let mut env = TestEnv::start(EnvOptions::default());
    // No browser here: the code and URL go to the terminal, the user finishes
    // on another device (the scripted browser plays that device).
    env.vars.insert("BROWSER".into(), "false".into());
    let login = env.spawn_castkey("login-code", &["login", "--code", "sandbox"]);
    let url = castkey_scenarios::wait_for("the code on the terminal", Duration::from_secs(30), || {
        let log = env.log("login-code");
        log.lines().find_map(|l| l.strip_prefix("castkey: complete URL: ").map(|u| u.trim().to_string()))
    });
    let log = env.log("login-code");
    assert!(log.contains("enter the code") && log.contains('█'), "no code or QR code printed:\n{log}");
    let status = env.command(castkey_scenarios::repo().join("tests/idp/browser")).arg(&url).status().unwrap();
    assert!(status.success());
    assert_eq!(env.wait_exit(login, Duration::from_secs(60)), Some(0), "{}", env.log("login-code"));
    assert!(env.log("login-code").contains("Signed in as streamer (sandbox:streamer)"));

    env.start_serve();
    let grant = env.client().call::<Token>(&TokenParams::default()).unwrap();
    assert_eq!(grant.account.id, "sandbox:streamer");
    assert_eq!(env.introspect(&grant.access_token)["active"], true);
    // With a broker running (a headless encoder's `castkey serve`), the
    // sign-in with a code runs in the broker, which keeps the account: the
    // CLI shows the code and waits for the broker's `signed_in`.
    env.vars.insert("CASTKEY_TEST_LOGIN".into(), "bot".into());
    let again = env.spawn_castkey("login-code-broker", &["login", "--code", "sandbox"]);
    let url =
        castkey_scenarios::wait_for("the broker's code on the terminal", Duration::from_secs(30), || {
            let log = env.log("login-code-broker");
            log.lines().find_map(|l| l.strip_prefix("castkey: complete URL: ").map(|u| u.trim().to_string()))
        });
    let status = env.command(castkey_scenarios::repo().join("tests/idp/browser")).arg(&url).status().unwrap();
    assert!(status.success());
    assert_eq!(env.wait_exit(again, Duration::from_secs(60)), Some(0), "{}", env.log("login-code-broker"));
    assert!(
        env.log("login-code-broker").contains("Signed in as bot (sandbox:bot)"),
        "{}",
        env.log("login-code-broker")
    );
    let accounts: Vec<String> = env
        .client()
        .call::<castkey_ipc::Accounts>(&Default::default())
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert!(accounts.contains(&"sandbox:bot".to_string()), "{accounts:?}");
    let grant = env.client().call::<Token>(&TokenParams::default()).unwrap();
    assert_eq!(grant.account.id, "sandbox:bot", "the new sign-in is the provider's active account");
}

#[test]
fn keychain_unavailable_at_sign_in_is_a_clear_error_and_changes_nothing() {
    let env = TestEnv::start(EnvOptions { no_keyring: true, ..Default::default() });
    assert!(!env.bus_has("org.freedesktop.secrets"));
    let login = env.castkey(&["login", "sandbox"]);
    assert!(!login.status.success());
    let err = text(&login.stderr);
    assert!(err.contains("keychain is unavailable"), "{err}");
    // Nothing changed: no account, and the browser was never opened.
    assert!(env.accounts_file().is_none(), "accounts.json written: {:?}", env.accounts_file());
    assert!(!env.path("browser.log").exists(), "the browser was opened");
}

#[test]
fn a_locked_keychain_at_sign_in_is_a_clear_error_and_changes_nothing() {
    let env = TestEnv::start(EnvOptions { locked_keyring: true, ..Default::default() });
    let login = env.castkey(&["login", "sandbox"]);
    assert!(!login.status.success());
    let err = text(&login.stderr);
    assert!(err.contains("keychain is locked"), "{err}");
    assert!(env.accounts_file().is_none());
    assert!(!env.path("browser.log").exists(), "the browser was opened before the keychain was checked");
}

#[test]
fn token_before_any_sign_in_says_so() {
    let mut env = TestEnv::start(EnvOptions::default());
    let out = env.castkey(&["token"]);
    assert_eq!(out.status.code(), Some(3), "no broker running yet");
    assert!(text(&out.stderr).contains("Castkey is not running"));
    env.start_serve();
    let err = env.client().call::<Token>(&TokenParams::default()).unwrap_err();
    match err {
        ClientError::Rpc(e) => assert_eq!(e.reason(), Some(Reason::NotSignedIn), "{e}"),
        other => panic!("unexpected {other}"),
    }
    let out = env.castkey(&["token", "--provider", "sandbox"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out.stderr).contains("no account is signed in for provider `sandbox`"));
}

fn roundtrip(stream: &mut UnixStream, line: &[u8]) -> serde_json::Value {
    stream.write_all(line).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut answer = String::new();
    reader.read_line(&mut answer).unwrap();
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("answer {answer:?} is not JSON: {e}"))
}

#[test]
fn the_socket_is_private_and_refuses_malformed_requests_clearly() {
    let mut env = TestEnv::start(EnvOptions::default());
    env.start_serve();
    let sock = env.socket();
    assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(sock.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);

    let mut s = UnixStream::connect(&sock).unwrap();
    let r = roundtrip(&mut s, b"this is not json\n");
    assert_eq!(r["error"]["code"], -32700, "{r}");
    assert_eq!(r["error"]["data"]["reason"], "invalid_request");
    assert_eq!(r["id"], serde_json::Value::Null);

    // The same connection keeps working after a bad line.
    let r = roundtrip(&mut s, b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"launch_rockets\"}\n");
    assert_eq!(r["error"]["code"], -32601, "{r}");
    assert_eq!(r["id"], 7);
    assert!(r["error"]["message"].as_str().unwrap().contains("launch_rockets"));
    let r = roundtrip(
        &mut s,
        b"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"token\",\"params\":{\"min_valid_secs\":\"soon\"}}\n",
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = roundtrip(&mut s, b"{\"jsonrpc\":\"1.0\",\"id\":9,\"method\":\"accounts\"}\n");
    assert_eq!(r["error"]["data"]["reason"], "invalid_request", "{r}");
    let r = roundtrip(&mut s, b"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"accounts\"}\n");
    assert_eq!(r["result"], serde_json::json!([]), "{r}");

    // A line over 64 KiB gets an answer, then the connection closes.
    let mut big = br#"{"jsonrpc":"2.0","id":1,"method":"token","params":{"scope":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 70 * 1024));
    big.extend_from_slice(b"\"}}\n");
    let mut s2 = UnixStream::connect(&sock).unwrap();
    let _ = s2.write_all(&big);
    let mut answer = String::new();
    let mut reader = BufReader::new(s2.try_clone().unwrap());
    reader.read_line(&mut answer).unwrap();
    let r: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert!(r["error"]["message"].as_str().unwrap().contains("64 KiB"), "{r}");
    let mut rest = String::new();
    assert_eq!(reader.read_line(&mut rest).unwrap_or(0), 0, "connection stayed open");

    // And the broker still serves others.
    let accounts =
        Client::connect(&sock).unwrap().call::<castkey_ipc::Accounts>(&Default::default()).unwrap();
    assert!(accounts.is_empty());
}

#[test]
fn a_second_broker_does_not_steal_the_socket_but_a_stale_one_is_replaced() {
    let mut env = TestEnv::start(EnvOptions::default());
    let first = env.start_serve();
    let second = env.command(castkey_scenarios::binary("castkey")).arg("serve").output().unwrap();
    assert!(!second.status.success());
    // Refused before it touches anything: the first owns the state (and
    // the socket), and the message says which process that is.
    let err = text(&second.stderr);
    assert!(err.contains("Castkey already runs (process "), "{err}");
    assert!(err.contains("stop it first"), "{err}");
    env.wait_for_broker();

    // A crash leaves the socket file behind; the next broker replaces it.
    env.stop(first); // SIGTERM: removes the file; simulate a crash's leftover:
    let listener = std::os::unix::net::UnixListener::bind(env.socket()).unwrap();
    drop(listener);
    assert!(env.socket().exists());
    env.start_serve();
}

#[test]
fn two_accounts_of_one_provider_switched_from_the_cli_with_a_subscriber_told_then_one_signed_out() {
    let mut env = TestEnv::start(EnvOptions::default());
    // Two users of the sandbox provider, each through the browser.
    let first = env.login_headless("sandbox");
    env.vars.insert("CASTKEY_TEST_LOGIN".into(), "viewer".into());
    let second = env.login_headless("sandbox");
    assert_ne!(first, second);
    env.start_serve();
    let who = |env: &TestEnv| {
        let out = env.castkey(&["token", "--json"]);
        assert!(out.status.success());
        let grant: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        grant["account"]["id"].as_str().unwrap().to_string()
    };
    assert_eq!(who(&env), second, "the newest sign-in is active");
    let mut subscriber = env.client();
    subscriber.subscribe().unwrap();

    // The person types `castkey switch` (by the part after the colon): the
    // active account changes for every program, and subscribers hear it.
    let name = first.split_once(':').unwrap().1;
    let out = env.castkey_at_terminal(&["switch", name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(who(&env), first, "the next request sees the switch");
    let heard = subscriber.next_notification(Some(patient(Duration::from_secs(10)))).unwrap().expect("told");
    assert_eq!(heard.method, "active_changed");
    assert_eq!(heard.params["account"]["id"], serde_json::json!(first));

    // A program that runs `castkey switch` changes only what it gets itself.
    let out = env.castkey(&["switch", &second]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(who(&env), second, "the program's own choice");
    let person = env.castkey_at_terminal(&["token", "--json"]);
    assert!(person.status.success(), "{}", text(&person.stderr));
    let grant: serde_json::Value = serde_json::from_slice(&person.stdout).unwrap();
    assert_eq!(
        grant["account"]["id"],
        serde_json::json!(first),
        "everyone else still gets the active account"
    );

    // Status shows both, the active one marked; signing out is the person's,
    // and reports the revocation.
    let status = env.castkey_at_terminal(&["status", "--json"]);
    let health: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(health.as_array().unwrap().len(), 2, "{health}");
    assert!(health.as_array().unwrap().iter().all(|h| h["state"] == "signed_in"), "{health}");
    let refused = env.castkey(&["logout", &second]);
    assert_eq!(refused.status.code(), Some(6), "a program may not sign anyone out");
    assert!(
        text(&refused.stderr).contains("type the `castkey` command at a terminal"),
        "{}",
        text(&refused.stderr)
    );
    let out = env.castkey_at_terminal(&["logout", &second]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Signed out of"), "{}", text(&out.stdout));
    let heard = loop {
        let n = subscriber.next_notification(Some(patient(Duration::from_secs(10)))).unwrap().expect("told");
        assert_ne!(n.method, "active_changed", "a program's switch changed the active account: {n:?}");
        if n.method == "signed_out" {
            break n;
        }
    };
    assert_eq!(heard.params["account"]["id"], serde_json::json!(second));
    // The program that chose the signed-out account is told so; it does not
    // silently get the streamer's account instead.
    let out = env.castkey(&["token"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains(&second), "{}", text(&out.stderr));
    let person = env.castkey_at_terminal(&["token", "--json"]);
    let grant: serde_json::Value = serde_json::from_slice(&person.stdout).unwrap();
    assert_eq!(grant["account"]["id"], serde_json::json!(first));
}
