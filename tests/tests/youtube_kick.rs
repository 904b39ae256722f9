//! YouTube (Google, installed app) and Kick through the real `castkey serve`,
//! as a streamer sets them up at a terminal: the service added once with
//! the app's client id and secret (typed at the secret's prompt, never on
//! the command line), then `castkey login` through the system browser and a
//! loopback redirect, a second account beside the first, and apps getting
//! each account's token. The stand-ins (`tests/standins/google.mjs`,
//! `kick.mjs`) are written from the platforms' public docs; the finer
//! rules (7 days in "Testing", rotation, introspection) are tested
//! in-process in crates/castkey-core/tests/platforms.rs.

use castkey_ipc::{Token, TokenParams};
use castkey_scenarios::{standin_get, standin_post, text, EnvOptions, TestEnv};

/// `castkey login <provider>` typed by the person; the account id it printed.
fn login(env: &TestEnv, provider: &str) -> String {
    let out = env.castkey_at_terminal(&["login", provider]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "castkey login {provider}: {said}{}", text(&out.stderr));
    said.lines()
        .find_map(|l| {
            l.strip_prefix("Signed in as ")?.rsplit_once(" (")?.1.strip_suffix(')').map(String::from)
        })
        .unwrap_or_else(|| panic!("no `Signed in as` line: {said}"))
}

fn token_for(env: &TestEnv, account: &str) -> castkey_ipc::TokenGrant {
    env.client()
        .call::<Token>(&TokenParams { account: Some(account.into()), ..Default::default() })
        .unwrap_or_else(|e| panic!("a token for {account}: {e}"))
}

/// Adds `provider` at a terminal with `fields`, typing `secret` at the
/// client secret's prompt. Answers what the command printed.
fn add(env: &TestEnv, provider: &str, fields: &[&str], secret: &str) -> String {
    let mut args = vec!["provider", "add", provider];
    for f in fields {
        args.extend(["--field", f]);
    }
    let added = env.castkey_at_terminal_answering(&args, format!("{secret}\n").as_bytes());
    assert!(added.status.success(), "{}{}", text(&added.stdout), text(&added.stderr));
    text(&added.stdout)
}

#[test]
fn youtube_signs_in_through_a_loopback_redirect_and_a_second_account_goes_through_the_chooser() {
    let mut env = TestEnv::start(EnvOptions::default());
    let google = env.start_standin("google", "google.mjs", &[]);
    env.vars.insert("CASTKEY_GOOGLE_URL".into(), google.clone());
    env.start_serve();
    add(&env, "youtube", &["client_id=castkey-desktop", "testing=yes"], "desktop-secret");

    // The streamer, in the browser Castkey opens (Google takes a loopback
    // redirect only, with PKCE; offline access and consent for a refresh token).
    standin_post(&google, "/_test/browser?login=streamer");
    let streamer = login(&env, "youtube");
    assert_eq!(streamer, "youtube:111");
    let asked = &standin_get(&google, "/_test/last")["authorize"];
    assert!(asked["redirect_uri"].as_str().unwrap_or("").starts_with("http://127.0.0.1:"), "{asked}");
    assert_eq!(asked["code_challenge_method"], "S256", "{asked}");
    assert_eq!(asked["access_type"], "offline", "{asked}");

    // The bot beside it: the browser is still signed in as the streamer,
    // so Castkey asks Google for its account chooser.
    standin_post(&google, "/_test/choose?login=bot");
    let bot = login(&env, "youtube");
    assert_eq!(bot, "youtube:222");
    let asked = &standin_get(&google, "/_test/last")["authorize"];
    assert!(asked["prompt"].as_str().unwrap_or("").contains("select_account"), "{asked}");

    // Each account's token, for apps that name it; the person's `castkey
    // token` gets the active account (the last the person signed in).
    let (s, b) = (token_for(&env, &streamer), token_for(&env, &bot));
    assert_ne!(s.access_token, b.access_token);
    assert_eq!((s.account.id.as_str(), b.account.id.as_str()), ("youtube:111", "youtube:222"));
    let person = env.castkey_at_terminal(&["token", "--json"]);
    let grant: serde_json::Value = serde_json::from_slice(&person.stdout).unwrap();
    assert_eq!(grant["account"]["id"], "youtube:222", "{grant}");

    // "Testing": the refresh token ends in 7 days, and `castkey status` says so.
    let status = text(&env.castkey_at_terminal(&["status"]).stdout);
    assert!(
        status.contains("sign-in ends in 6 days") || status.contains("sign-in ends in 7 days"),
        "{status}"
    );
}

#[test]
fn kick_signs_in_with_pkce_and_its_client_secret_and_serves_two_accounts() {
    let mut env = TestEnv::start(EnvOptions::default());
    let kick = env.start_standin("kick", "kick.mjs", &[]);
    env.vars.insert("CASTKEY_KICK_URL".into(), kick.clone());
    env.start_serve();
    let added = add(&env, "kick", &["client_id=kick-app"], "kick-secret");
    // It names the exact redirect URI to register on Kick's settings.
    assert!(added.contains("this redirect URI registered: http://127.0.0.1:17564/callback"), "{added}");

    standin_post(&kick, "/_test/browser?login=streamer");
    let streamer = login(&env, "kick");
    assert_eq!(streamer, "kick:501");
    // The code exchange carried PKCE's verifier and the client secret.
    let keys = standin_get(&kick, "/_test/last")["token"].clone();
    for k in ["client_id", "client_secret", "code", "code_verifier", "redirect_uri"] {
        assert!(keys.as_array().unwrap().iter().any(|v| v == k), "{k} not in {keys}");
    }
    standin_post(&kick, "/_test/browser?login=bot");
    let bot = login(&env, "kick");
    assert_eq!(bot, "kick:502");

    // Both served; a refresh that Kick rotates keeps the account signed in.
    let first = token_for(&env, &streamer);
    let forced =
        TokenParams { account: Some(streamer.clone()), force_refresh: Some(true), ..Default::default() };
    let again = env.client().call::<Token>(&forced).expect("refreshed");
    assert_ne!(again.access_token, first.access_token);
    assert_eq!(env.account_status(&streamer), castkey_ipc::AccountStatus::SignedIn);
    assert_eq!(token_for(&env, &bot).account.id, "kick:502");
}
