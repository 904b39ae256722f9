//! Twitch as a streamer meets it, against the Twitch stand-in
//! (`standins/twitch.mjs`, written from dev.twitch.tv's authentication docs)
//! and the real `castkey serve`: Twitch added once with a public app's
//! client id (no secret), the streamer and a bot account signed in with a
//! code, each app getting the account it asks for with Twitch's `Client-Id`
//! header, and a disconnect on twitch.tv found at Castkey's next start and
//! told to every subscribed app (`reauth_required`: the grant is dead).
//! The hourly validation that finds a disconnect while Castkey runs, and
//! its `revoked` notification, need a clock a scenario cannot move: they are
//! tested in-process (crates/castkey-core/tests/platforms.rs).

use castkey_ipc::{Token, TokenParams};
use castkey_scenarios::{
    answered_token, standin_get, standin_post, text, wait_for, EnvOptions, LocalProgram, TestEnv,
};
use std::time::Duration;

/// Runs `castkey login --code twitch` and plays the user who enters the
/// code on twitch.tv as `login`; answers the account id Castkey printed.
fn sign_in_with_a_code(env: &mut TestEnv, twitch: &str, login: &str) -> String {
    let name = format!("login-{login}");
    let running = env.spawn_castkey(&name, &["login", "--code", "twitch"]);
    let code = wait_for("the code on the terminal", Duration::from_secs(30), || {
        let log = env.log(&name);
        let at = log.find("and enter the code")?;
        log[at..].lines().nth(1).map(|l| l.trim().to_string()).filter(|c| !c.is_empty())
    });
    standin_post(twitch, &format!("/_test/approve?user_code={code}&login={login}"));
    assert_eq!(env.wait_exit(running, Duration::from_secs(60)), Some(0), "{}", env.log(&name));
    let log = env.log(&name);
    let line = log.lines().find_map(|l| l.strip_prefix("Signed in as ")).unwrap_or_else(|| panic!("{log}"));
    line.rsplit_once(" (").and_then(|(_, id)| id.strip_suffix(')')).expect("an account id").to_string()
}

fn token_for(env: &TestEnv, account: &str) -> castkey_ipc::TokenGrant {
    env.client()
        .call::<Token>(&TokenParams { account: Some(account.into()), ..Default::default() })
        .unwrap_or_else(|e| panic!("a token for {account}: {e}"))
}

/// Who Twitch says a token belongs to (`GET /oauth2/validate`).
fn validate(twitch: &str, token: &str) -> Option<serde_json::Value> {
    let mut r = ureq::get(format!("{twitch}/oauth2/validate"))
        .header("Authorization", format!("OAuth {token}"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .expect("the stand-in answers");
    (r.status() == 200).then(|| r.body_mut().read_json().expect("JSON"))
}

#[test]
fn a_streamer_adds_twitch_with_a_code_then_a_bot_and_a_disconnect_reaches_every_app() {
    let mut env = TestEnv::start(EnvOptions::default());
    let twitch = env.start_standin("twitch", "twitch.mjs", &[]);
    env.vars.insert("CASTKEY_TWITCH_URL".into(), twitch.clone());
    env.vars.insert("BROWSER".into(), "false".into());
    let serve = env.start_serve();

    // Twitch added once with the public app's client id: no secret asked for
    // is kept (Enter at the secret's prompt).
    // Adding a provider is the person's own action: typed at a terminal.
    let added = env.castkey_at_terminal_answering(
        &["provider", "add", "twitch", "--field", "client_id=castkey-twitch"],
        b"\n",
    );
    assert!(added.status.success(), "{}{}", text(&added.stdout), text(&added.stderr));

    // The streamer, then the bot beside it, each with a code.
    let streamer = sign_in_with_a_code(&mut env, &twitch, "streamer");
    assert_eq!(streamer, "twitch:1001");
    let device = &standin_get(&twitch, "/_test/last")["device"];
    assert!(
        device["scopes"].is_string() && device.get("scope").is_none(),
        "Twitch's name is `scopes`: {device}"
    );
    let bot = sign_in_with_a_code(&mut env, &twitch, "bot");
    assert_eq!(bot, "twitch:1002");
    let mut ids = env.account_ids();
    ids.sort();
    assert_eq!(ids, vec![streamer.clone(), bot.clone()]);

    // OBS asks for the streamer's token, the chat bot for the bot's: each
    // is that account's at Twitch, with the Client-Id header Twitch wants.
    let obs = token_for(&env, &streamer);
    let chat = token_for(&env, &bot);
    assert_eq!(validate(&twitch, &obs.access_token).expect("valid")["login"], "streamer");
    assert_eq!(validate(&twitch, &chat.access_token).expect("valid")["login"], "bot");
    assert_eq!(obs.headers.get("Client-Id").map(String::as_str), Some("castkey-twitch"));

    // Twitch stops accepting the streamer's token early: ten apps get 401
    // at once and say so (`rejected`). The running broker refreshes once,
    // and all ten get that one new token (Twitch's refresh tokens are
    // one-time use: a second refresh with the same one would end the grant).
    standin_post(&twitch, "/_test/expire_access?login=streamer");
    assert!(validate(&twitch, &obs.access_token).is_none(), "the stand-in still accepts it");
    let token_calls =
        |twitch: &str| standin_get(twitch, "/_test/count")["/oauth2/token"].as_u64().unwrap_or(0);
    let before = token_calls(&twitch);
    let refused = castkey_ipc::RejectedToken::new(&obs.access_token);
    let renewed: Vec<String> = std::thread::scope(|s| {
        let apps: Vec<_> = (0..10)
            .map(|_| {
                let (env, streamer, refused) = (&env, &streamer, refused.clone());
                s.spawn(move || {
                    let asked = TokenParams {
                        account: Some(streamer.clone()),
                        rejected: Some(refused),
                        ..Default::default()
                    };
                    env.client().call::<Token>(&asked).expect("a new token").access_token
                })
            })
            .collect();
        apps.into_iter().map(|a| a.join().unwrap()).collect()
    });
    assert_eq!(token_calls(&twitch) - before, 1, "one refresh for ten apps");
    assert!(renewed.iter().all(|t| *t == renewed[0] && *t != obs.access_token), "{renewed:?}");
    assert_eq!(validate(&twitch, &renewed[0]).expect("valid")["login"], "streamer");

    // The accounts this program (the test) signed in with are its own, not
    // the streamer's default: the person makes the streamer's account the
    // active one and binds a chat bot (a Python script) to the bot's, typed
    // at a terminal.
    let chat_bot = std::fs::canonicalize(LocalProgram::install(&env, "chat-bot.py")).unwrap();
    let python = std::fs::canonicalize("/usr/bin/python3").unwrap().display().to_string();
    let chat_bot_path = chat_bot.display().to_string();
    let allow = env.castkey_at_terminal(&[
        "apps",
        "allow",
        &python,
        "--script",
        &chat_bot_path,
        "--account",
        &bot,
        "--name",
        "Chat bot",
    ]);
    assert!(allow.status.success(), "{}", text(&allow.stderr));
    let switched = env.castkey_at_terminal(&["switch", &streamer]);
    assert!(switched.status.success(), "{}", text(&switched.stderr));
    // The bot asks without naming an account: the bot's token. The person's
    // own `castkey token` (as every app that follows the active account):
    // the streamer's.
    let said = LocalProgram::start(&env, &chat_bot, "Chat bot").answer(Duration::from_secs(30));
    assert_eq!(validate(&twitch, &answered_token(&said)).expect("valid")["login"], "bot", "{said}");
    let person = env.castkey_at_terminal(&["token"]);
    assert!(person.status.success(), "{}", text(&person.stderr));
    assert_eq!(validate(&twitch, text(&person.stdout).trim()).expect("valid")["login"], "streamer");

    // The streamer disconnects the bot's app on twitch.tv, which ends the
    // grant: the next start of Castkey finds it, and every subscribed app
    // is told that the account must sign in again.
    standin_post(&twitch, "/_test/disconnect?login=bot");
    env.stop(serve);
    env.start_serve();
    let mut subscribers: Vec<castkey_ipc::Client> = (0..3).map(|_| env.client()).collect();
    for s in &mut subscribers {
        s.subscribe().expect("subscribe");
    }
    let refused = env
        .client()
        .call::<Token>(&TokenParams { account: Some(bot.clone()), ..Default::default() })
        .map(|g| g.access_token);
    for s in &mut subscribers {
        let told = loop {
            let n = s
                .next_notification(Some(castkey_scenarios::patient(Duration::from_secs(20))))
                .expect("a notification")
                .expect("told before the deadline");
            if n.method == "reauth_required" || n.method == "revoked" {
                break n;
            }
        };
        assert_eq!(told.params["account"]["id"], serde_json::json!(bot), "{told:?}");
    }
    assert!(
        refused.as_ref().is_err() || validate(&twitch, refused.as_ref().unwrap()).is_none(),
        "a token Twitch no longer accepts was served"
    );
    assert_eq!(env.account_status(&bot), castkey_ipc::AccountStatus::ReauthRequired);

    // The streamer's account is untouched.
    let again = token_for(&env, &streamer);
    assert_eq!(validate(&twitch, &again.access_token).expect("valid")["login"], "streamer");
    assert_eq!(env.account_status(&streamer), castkey_ipc::AccountStatus::SignedIn);
}

/// The streamer's way in the window: Twitch added from "Add a service" (the
/// form names the redirect URI to register), then "Sign in with a code":
/// the code and twitch.tv/activate shown in the window, entered on another
/// device; then the bot's account the same way, beside it.
#[test]
fn twitch_is_added_and_signed_in_with_a_code_from_the_window() {
    use castkey_scenarios::{binary, webdriver::WebDriver};
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    let twitch = env.start_standin("twitch", "twitch.mjs", &[]);
    env.vars.insert("CASTKEY_TWITCH_URL".into(), twitch.clone());
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    driver.show_screen("add");
    driver.wait("#templates [data-setup-template=\"twitch\"]", Duration::from_secs(60));
    let page = driver.source();
    assert!(page.contains("17563/callback"), "the form does not name the redirect URI to register");
    driver.set_up_service("twitch", &[("client_id", "castkey-twitch")]);

    let mut signed_in = Vec::new();
    for login in ["streamer", "bot"] {
        driver.show_screen("add");
        driver.click_css("#providers button[data-device-provider=\"twitch\"]", Duration::from_secs(60));
        let code = driver.wait("#device-sign-in:not([hidden]) #device-user-code", Duration::from_secs(30));
        let user_code = driver.text(&code);
        let uri = driver.find("#device-verification-uri").expect("the verification URI");
        assert!(driver.text(&uri).contains("/activate"), "{}", driver.text(&uri));
        // Entered on twitch.tv/activate on a phone, as `login`.
        standin_post(&twitch, &format!("/_test/approve?user_code={user_code}&login={login}"));
        let id = if login == "streamer" { "twitch:1001" } else { "twitch:1002" };
        driver.wait(&format!("#accounts [data-account-id=\"{id}\"]"), Duration::from_secs(60));
        signed_in.push(id);
    }
    // Each account's token at Twitch, and the public client kept no secret.
    for (id, login) in signed_in.iter().zip(["streamer", "bot"]) {
        let grant = token_for(&env, id);
        assert_eq!(validate(&twitch, &grant.access_token).expect("valid")["login"], login);
        assert!(!driver.source().contains(&grant.access_token), "a token reached the window");
    }
}
