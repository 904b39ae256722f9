//! Who may ask, through the real core and its real socket: consent for a
//! new program, "always" with a scope policy and an account binding,
//! revocation, denial, switching the active account, notifications, the
//! headless broker's list, Castkey's own tools and the activity log.
//! api.video (API key → tokens) is the provider: a stand-in on loopback,
//! written from api.video's docs, that numbers the tokens it issues.

use castkey_core::test_support::World;
use castkey_core::{dispatch, ClientSession, CoreEvent, IpcServer};
use castkey_ipc::ui::{AnswerConsentArgs, ConsentDecision};
use castkey_ipc::{ActivityParams, AllowAppParams, ClientIdentity, Reason, ScopeParam, TokenParams};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// api.video's `/auth/api-key` and `/auth/refresh`: every answer carries a
/// new access token, `access-<n>`.
async fn api_video() -> String {
    api_video_failing_when(Arc::new(AtomicBool::new(false))).await
}

/// [`api_video`], answering HTTP 500 while `failing` is set.
async fn api_video_failing_when(failing: Arc<AtomicBool>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://127.0.0.1:{}/", listener.local_addr().expect("addr").port());
    let issued = Arc::new(AtomicU32::new(0));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16 * 1024];
            let _ = s.read(&mut buf).await;
            if failing.load(Ordering::SeqCst) {
                let _ = s.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                continue;
            }
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            let body = format!(
                r#"{{"token_type":"Bearer","expires_in":3600,"access_token":"access-{n}","refresh_token":"refresh-{n}"}}"#
            );
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    base
}

/// A world with two accounts of one provider: `main` (signed in first)
/// and `bot` (signed in last: active).
async fn two_accounts() -> (World, String, String) {
    let w = World::with_api_video(&api_video().await).await;
    let main = w
        .core
        .add_api_key_account("apivideo", "sandbox", &SecretString::from("main-key"))
        .await
        .expect("main");
    let bot =
        w.core.add_api_key_account("apivideo", "sandbox", &SecretString::from("bot-key")).await.expect("bot");
    assert_ne!(main.id, bot.id, "two keys are two accounts");
    (w, main.id, bot.id)
}

const OBS: &str = "/usr/bin/obs";

/// Answers the next consent prompt with `decision` (and policy).
async fn answer_next(
    w: &World,
    decision: ConsentDecision,
    scopes: Option<Vec<String>>,
    bind: Option<&str>,
) -> u64 {
    let Some(CoreEvent::ConsentRequested(req)) =
        w.events.wait_for(|e| matches!(e, CoreEvent::ConsentRequested(_))).await
    else {
        panic!("no consent prompt")
    };
    let args = AnswerConsentArgs { id: req.id, decision, scopes, bind_account: bind.map(str::to_string) };
    w.core.answer_consent(&args).expect("answered");
    req.id
}

#[tokio::test]
async fn a_new_program_is_asked_about_allowed_always_with_a_policy_then_revoked_and_denied() {
    let (w, _main, bot) = two_accounts().await;
    let core = w.core.clone();
    let mut obs = w.session_for(OBS, None);
    obs.name = Some("OBS Studio".into());
    let asking = tokio::spawn(async move {
        let r = core.token(&mut obs, &TokenParams::default()).await;
        (r, obs)
    });
    // The prompt says who asks and for what, as the OS and the request tell it.
    let Some(CoreEvent::ConsentRequested(req)) =
        w.events.wait_for(|e| matches!(e, CoreEvent::ConsentRequested(_))).await
    else {
        panic!("no consent prompt")
    };
    assert_eq!(req.identity, ClientIdentity { executable: OBS.into(), script: None });
    assert_eq!(req.client_name.as_deref(), Some("OBS Studio"));
    assert_eq!(req.pid, Some(4242));
    assert!(!req.interpreted);
    assert_eq!(req.account.as_ref().map(|a| a.id.as_str()), Some(bot.as_str()));
    assert_eq!(w.core.pending_consents().len(), 1);
    assert!(!asking.is_finished(), "the request waits for the user");
    w.core
        .answer_consent(&AnswerConsentArgs {
            id: req.id,
            decision: ConsentDecision::Always,
            scopes: Some(vec![]),
            bind_account: None,
        })
        .unwrap();
    let (served, mut obs) = asking.await.unwrap();
    assert_eq!(served.expect("served once allowed").account.id, bot);
    // Remembered: listed, and the next request asks nobody.
    let apps = w.core.apps();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].name, "OBS Studio");
    assert_eq!(apps[0].scopes, Some(vec![]));
    w.core.token(&mut obs, &TokenParams::default()).await.expect("no prompt the second time");
    assert!(w.core.pending_consents().is_empty());
    // The policy holds whatever the program asks.
    let wider = TokenParams { scope: Some(ScopeParam::Spaced("broadcaster".into())), ..Default::default() };
    let err = w.core.token(&mut obs, &wider).await.unwrap_err();
    assert_eq!(err.reason(), Reason::ScopeNotAllowed, "{err}");
    // Revoked: the open connection loses it at once and is asked again…
    assert!(w.core.revoke_app(&ClientIdentity { executable: OBS.into(), script: None }).unwrap());
    let core = w.core.clone();
    let asking = tokio::spawn(async move { core.token(&mut obs, &TokenParams::default()).await });
    answer_next(&w, ConsentDecision::Deny, None, None).await;
    assert_eq!(asking.await.unwrap().unwrap_err().reason(), Reason::ConsentDenied);
    // …and once denied, refused without a new prompt for a while.
    let mut again = w.session_for(OBS, None);
    let err = w.core.token(&mut again, &TokenParams::default()).await.unwrap_err();
    assert_eq!(err.reason(), Reason::ConsentDenied);
    assert!(w.core.pending_consents().is_empty());
    // The log has it all, without a token value.
    w.core.flush_activity().await;
    let log = w.core.activity(&ActivityParams { limit: Some(50), ..Default::default() });
    let outcomes: Vec<&str> = log.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["served", "scope_not_allowed", "consent_denied"], "{log:?}");
    assert_eq!(log[0].count, 2, "two served requests, one entry");
    assert_eq!(log[0].client_name.as_deref(), Some("OBS Studio"));
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains("access-"), "{text}");
}

#[tokio::test]
async fn allow_once_lasts_for_the_connection_only() {
    let (w, _main, _bot) = two_accounts().await;
    let core = w.core.clone();
    let mut bot = w.session_for("/opt/chatbot/bot", None);
    let asking = tokio::spawn(async move {
        let r = core.token(&mut bot, &TokenParams::default()).await;
        (r, bot)
    });
    answer_next(&w, ConsentDecision::AllowOnce, None, None).await;
    let (r, mut bot) = asking.await.unwrap();
    r.expect("allowed once");
    w.core.token(&mut bot, &TokenParams::default()).await.expect("same connection");
    assert!(w.core.apps().is_empty(), "not remembered");
    // A new connection of the same program is asked again.
    let core = w.core.clone();
    let asking = tokio::spawn(async move {
        let mut next = ClientSession::new(bot.caller.clone(), None);
        core.token(&mut next, &TokenParams::default()).await
    });
    answer_next(&w, ConsentDecision::Deny, None, None).await;
    assert_eq!(asking.await.unwrap().unwrap_err().reason(), Reason::ConsentDenied);
}

#[tokio::test]
async fn a_bound_bot_keeps_its_account_across_a_switch_while_the_streaming_app_follows() {
    let (w, main, bot) = two_accounts().await;
    for (exe, account) in [("/opt/chatbot/bot", Some(bot.clone())), (OBS, None)] {
        let params = AllowAppParams { executable: exe.into(), account, ..Default::default() };
        w.core.allow_app(&params).unwrap();
    }
    let mut chatbot = w.session_for("/opt/chatbot/bot", None);
    let mut obs = w.session_for(OBS, None);
    assert_eq!(w.core.token(&mut chatbot, &TokenParams::default()).await.unwrap().account.id, bot);
    assert_eq!(w.core.token(&mut obs, &TokenParams::default()).await.unwrap().account.id, bot);
    // The streamer makes the main account active.
    assert!(w.core.switch(&main).unwrap().active);
    let Some(CoreEvent::ActiveChanged { account, .. }) = w
        .events
        .wait_for(|e| matches!(e, CoreEvent::ActiveChanged { account: Some(a), .. } if a.id == main))
        .await
    else {
        panic!("no active_changed")
    };
    assert_eq!(account.unwrap().id, main);
    assert_eq!(w.core.token(&mut obs, &TokenParams::default()).await.unwrap().account.id, main);
    assert_eq!(w.core.token(&mut chatbot, &TokenParams::default()).await.unwrap().account.id, bot);
    // The bot may not take the other account, by id or by provider default.
    let other = TokenParams { account: Some(main.clone()), ..Default::default() };
    let err = w.core.token(&mut chatbot, &other).await.unwrap_err();
    assert_eq!(err.reason(), Reason::ClientNotAllowed, "{err}");
    assert!(err.to_string().contains("bound"), "{err}");
    // Switching to an unknown account changes nothing.
    assert!(w.core.switch("apivideo:nobody").is_err());
    assert_eq!(w.core.token(&mut obs, &TokenParams::default()).await.unwrap().account.id, main);
}

#[tokio::test]
async fn castkey_s_own_methods_are_refused_to_other_programs() {
    let (w, main, _bot) = two_accounts().await;
    w.core.allow_app(&AllowAppParams { executable: OBS.into(), ..Default::default() }).unwrap();
    let mut obs = w.session_for(OBS, None);
    // Castkey's own command, run by an approved program: acts for it.
    let mut obs_cli = w.cli_run_by(OBS, None);
    let mut own = w.terminal_session();
    w.approve(&own);
    for (method, params) in [
        ("sign_out", json!({"account": main})),
        ("apps", json!({})),
        ("allow_app", json!({"executable": "/tmp/evil"})),
        ("revoke_app", json!({"executable": OBS})),
        ("activity", json!({})),
        ("status", json!({})),
        ("add_provider", json!({"template": "oidc", "values": {}})),
    ] {
        let line = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        for session in [&mut obs, &mut obs_cli] {
            let answer = dispatch(&w.core, session, line.as_bytes()).await.unwrap();
            let reason = answer.error.as_ref().and_then(|e| e.reason());
            assert_eq!(reason, Some(Reason::ClientNotAllowed), "{method}: {answer:?}");
        }
    }
    assert_eq!(w.core.apps().len(), 1, "nothing changed");
    assert!(w.core.accounts().iter().any(|a| a.id == main), "nothing signed out");
    // Castkey's own command typed at a terminal may.
    let line = br#"{"jsonrpc":"2.0","id":2,"method":"status"}"#;
    let answer = dispatch(&w.core, &mut own, line).await.unwrap();
    let health: Value = answer.result.expect("status");
    assert_eq!(health.as_array().unwrap().len(), 2);
    assert_eq!(health[0]["state"], "signed_in");
}

#[tokio::test]
async fn hello_says_the_protocol_and_where_the_program_stands() {
    let (w, _main, bot) = two_accounts().await;
    let mut obs = w.session_for(OBS, None);
    let line = br#"{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"OBS","version":"31","later_field":1}}"#;
    let hello = dispatch(&w.core, &mut obs, line).await.unwrap().result.unwrap();
    assert_eq!(hello["protocol"], 1);
    assert_eq!(hello["client"]["approval"], "unknown");
    assert!(hello["capabilities"].as_array().unwrap().contains(&json!("subscribe")));
    assert_eq!(obs.name.as_deref(), Some("OBS"));
    let params = AllowAppParams { executable: OBS.into(), account: Some(bot.clone()), ..Default::default() };
    w.core.allow_app(&params).unwrap();
    let hello = dispatch(&w.core, &mut obs, line).await.unwrap().result.unwrap();
    assert_eq!(hello["client"]["approval"], "approved");
    assert_eq!(hello["client"]["bound_account"], json!(bot));
}

#[tokio::test]
async fn a_second_core_on_the_same_directory_is_refused_and_says_who_owns_it() {
    let w = World::with_sandbox("http://127.0.0.1:9").await;
    let err = castkey_core::Core::start(castkey_core::CoreOptions {
        config_dir: w.dir.path().to_path_buf(),
        redirect_mode: castkey_core::RedirectMode::Loopback,
        consent: castkey_core::ConsentMode::ListedOnly,
        secrets: w.secrets.clone(),
        catalog: Default::default(),
        browser: w.browser.clone(),
        clock: w.clock.clone(),
    })
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("already runs") && text.contains(&std::process::id().to_string()), "{text}");
}

/// A client of the real socket: one line out, one line in.
struct Line {
    stream: tokio::io::BufReader<tokio::net::UnixStream>,
}

impl Line {
    async fn connect(path: &std::path::Path) -> Line {
        Line {
            stream: tokio::io::BufReader::new(tokio::net::UnixStream::connect(path).await.expect("connect")),
        }
    }

    async fn send(&mut self, line: &str) {
        self.stream.get_mut().write_all(format!("{line}\n").as_bytes()).await.expect("write");
    }

    /// The next line, or `None` at end of stream or after 5 s.
    async fn next(&mut self) -> Option<Value> {
        use tokio::io::AsyncBufReadExt;
        let mut buf = String::new();
        match tokio::time::timeout(Duration::from_secs(5), self.stream.read_line(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => Some(serde_json::from_str(&buf).expect("a JSON line")),
            _ => None,
        }
    }
}

#[tokio::test]
async fn a_subscribed_connection_hears_a_switch_and_sign_out_without_token_values() {
    let (w, main, bot) = two_accounts().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("castkey.sock");
    let server = IpcServer::bind(&path).unwrap();
    tokio::spawn(server.serve(w.core.clone()));
    // This test process is the broker's own executable: it acts for
    // whoever runs it, approved here.
    w.approve_this_process();
    let mut c = Line::connect(&path).await;
    c.send(r#"{"jsonrpc":"2.0","id":1,"method":"subscribe"}"#).await;
    let answer = c.next().await.unwrap();
    assert_eq!(answer["result"][0], "active_changed", "{answer}");
    w.core.switch(&main).unwrap();
    let n = c.next().await.unwrap();
    assert_eq!(n["method"], "active_changed");
    assert!(n.get("id").is_none(), "a notification has no id");
    assert_eq!(n["params"]["account"]["id"], json!(main));
    // Requests still work between notifications.
    c.send(r#"{"jsonrpc":"2.0","id":2,"method":"token"}"#).await;
    let t = c.next().await.unwrap();
    assert_eq!(t["id"], 2);
    assert_eq!(t["result"]["account"]["id"], json!(main));
    w.core.sign_out(&bot).await.unwrap();
    let n = c.next().await.unwrap();
    assert_eq!(n["method"], "signed_out", "{n}");
    assert_eq!(n["params"]["account"]["id"], json!(bot));
    let all = serde_json::to_string(&n).unwrap();
    assert!(!all.contains("access-"), "{all}");
}

#[tokio::test]
async fn the_socket_holds_up_against_floods_idlers_and_garbage() {
    let (w, _main, _bot) = two_accounts().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("castkey.sock");
    let limits = castkey_core::IpcLimits {
        max_connections: 8,
        reserved: 0,
        idle: Duration::from_millis(500),
        ..Default::default()
    };
    let server = IpcServer::bind(&path).unwrap().with_limits(limits);
    tokio::spawn(server.serve(w.core.clone()));
    w.approve_this_process();
    // Eight silent connections fill the broker…
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(Line::connect(&path).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // …the ninth gets `busy` and is closed.
    let mut ninth = Line::connect(&path).await;
    let busy = ninth.next().await.expect("a busy answer");
    assert_eq!(busy["error"]["data"]["reason"], "busy", "{busy}");
    assert!(ninth.next().await.is_none(), "closed");
    // Idle connections are closed after the idle time, freeing the slots.
    for s in &mut silent {
        assert!(s.next().await.is_none(), "an idle connection stays open");
    }
    // Garbage, a truncated line and an oversized line each get their answer;
    // a client that hangs up mid-request harms nobody.
    let mut c = Line::connect(&path).await;
    c.send("\u{0}\u{1}garbage").await;
    assert_eq!(c.next().await.unwrap()["error"]["code"], -32700);
    c.send(r#"{"jsonrpc":"2.0","id":3,"method":"tok"#).await;
    assert_eq!(c.next().await.unwrap()["error"]["code"], -32700);
    let mut gone = Line::connect(&path).await;
    gone.stream.get_mut().write_all(br#"{"jsonrpc":"2.0","id":1,"meth"#).await.unwrap();
    drop(gone);
    c.send(&format!(
        r#"{{"jsonrpc":"2.0","id":4,"method":"token","params":{{"scope":"{}"}}}}"#,
        "x".repeat(70_000)
    ))
    .await;
    assert_eq!(c.next().await.unwrap()["error"]["code"], -32700);
    assert!(c.next().await.is_none(), "closed after an oversized line");
    // Everyone else is still served.
    let mut fine = Line::connect(&path).await;
    fine.send(r#"{"jsonrpc":"2.0","id":5,"method":"token"}"#).await;
    assert!(fine.next().await.unwrap()["result"]["access_token"].is_string());
}

#[tokio::test]
async fn the_headless_broker_refuses_unlisted_programs_and_says_how_to_allow_them() {
    let w = World::with_sandbox_listed_only("http://127.0.0.1:9").await;
    let mut script = w.session_for("/usr/bin/python3.11", Some("/home/u/bot.py"));
    let err = w.core.token(&mut script, &TokenParams::default()).await.unwrap_err();
    assert_eq!(err.reason(), Reason::ClientNotAllowed);
    let text = err.to_string();
    assert!(text.contains("clients.json"), "{text}");
    assert!(text.contains("castkey apps allow /usr/bin/python3.11 --script /home/u/bot.py"), "{text}");
    assert!(w.core.pending_consents().is_empty(), "nobody is asked");
    let params = AllowAppParams {
        executable: "/usr/bin/python3.11".into(),
        script: Some("/home/u/bot.py".into()),
        ..Default::default()
    };
    w.core.allow_app(&params).unwrap();
    // Now it gets past consent (to "nobody is signed in").
    let err = w.core.token(&mut script, &TokenParams::default()).await.unwrap_err();
    assert_eq!(err.reason(), Reason::NotSignedIn, "{err}");
    // The same interpreter with another script is another program.
    let mut other = w.session_for("/usr/bin/python3.11", Some("/tmp/other.py"));
    assert_eq!(
        w.core.token(&mut other, &TokenParams::default()).await.unwrap_err().reason(),
        Reason::ClientNotAllowed
    );
}

fn call(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

/// The account ids `accounts` answers `session`.
async fn account_ids(w: &World, session: &mut castkey_core::ClientSession) -> Vec<String> {
    let line = call("accounts", json!({}));
    let r = dispatch(&w.core, session, line.as_bytes()).await.and_then(|a| a.result).expect("accounts");
    let ids = r.as_array().expect("a list").iter().map(|a| a["id"].as_str().map(str::to_string));
    ids.collect::<Option<_>>().expect("ids")
}

#[tokio::test]
async fn a_program_s_switch_changes_only_what_it_gets_and_a_bound_one_sees_only_its_account() {
    let (w, main, bot) = two_accounts().await;
    let chatbot_exe = "/opt/chatbot/bot";
    for (exe, account) in [(chatbot_exe, None), (OBS, None), ("/opt/overlay", Some(bot.clone()))] {
        w.core.allow_app(&AllowAppParams { executable: exe.into(), account, ..Default::default() }).unwrap();
    }
    let mut chatbot = w.session_for(chatbot_exe, None);
    let mut obs = w.session_for(OBS, None);
    let mut overlay = w.session_for("/opt/overlay", None);
    // The chat bot switches to `main`: it gets main from now on…
    let answer = dispatch(&w.core, &mut chatbot, call("switch", json!({"account": main})).as_bytes()).await;
    assert_eq!(answer.unwrap().result.unwrap()["id"], json!(main));
    assert_eq!(w.core.token(&mut chatbot, &TokenParams::default()).await.unwrap().account.id, main);
    // …and so does its next connection (Castkey's command run by it, say)…
    let mut chatbot_cli = w.cli_run_by(chatbot_exe, None);
    assert_eq!(w.core.token(&mut chatbot_cli, &TokenParams::default()).await.unwrap().account.id, main);
    // …but the active account, and what OBS gets, did not move.
    assert_eq!(w.core.token(&mut obs, &TokenParams::default()).await.unwrap().account.id, bot);
    assert!(w.core.accounts().iter().any(|a| a.id == bot && a.active));
    // A program the user bound to an account may not switch away from it.
    let answer = dispatch(&w.core, &mut overlay, call("switch", json!({"account": main})).as_bytes()).await;
    let error = answer.unwrap().error.expect("refused");
    assert_eq!(error.reason(), Some(Reason::ClientNotAllowed), "{error:?}");
    assert_eq!(w.core.token(&mut overlay, &TokenParams::default()).await.unwrap().account.id, bot);
    // It sees its account only; the others see every account.
    assert_eq!(account_ids(&w, &mut overlay).await, std::slice::from_ref(&bot));
    assert_eq!(account_ids(&w, &mut obs).await.len(), 2);
    // The person at a terminal switches for everyone that follows.
    let mut me = w.user_session();
    let answer = dispatch(&w.core, &mut me, call("switch", json!({"account": main})).as_bytes()).await;
    assert!(answer.unwrap().result.unwrap()["active"].as_bool().unwrap());
    assert_eq!(w.core.token(&mut obs, &TokenParams::default()).await.unwrap().account.id, main);
}

#[tokio::test]
async fn a_bound_program_hears_only_its_account_s_notifications() {
    let (w, main, bot) = two_accounts().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("castkey.sock");
    tokio::spawn(IpcServer::bind(&path).unwrap().serve(w.core.clone()));
    // This process, as the broker sees it on the socket, bound to `bot`.
    let me = castkey_core::Caller::this_process();
    let seen = castkey_core::Caller::from_peer(me.uid, me.pid);
    let session = castkey_core::ClientSession::new(seen, castkey_core::OwnTools::of_this_process().as_ref());
    if session.terminal().is_some() {
        return; // run straight from a terminal: the person, who hears everything
    }
    let params = AllowAppParams {
        executable: session.identity.executable.clone(),
        script: session.identity.script.clone(),
        account: Some(bot.clone()),
        ..Default::default()
    };
    w.core.allow_app(&params).unwrap();
    let mut c = Line::connect(&path).await;
    c.send(r#"{"jsonrpc":"2.0","id":1,"method":"subscribe"}"#).await;
    assert!(c.next().await.unwrap()["result"].is_array());
    // The user's switch and the other account's sign-out are not its business…
    w.core.switch(&main).unwrap();
    w.core.sign_out(&main).await.unwrap();
    // …its own account's sign-out is, and is the next line it hears.
    w.core.sign_out(&bot).await.unwrap();
    let n = c.next().await.unwrap();
    assert_eq!(n["method"], "signed_out", "{n}");
    assert_eq!(n["params"]["account"]["id"], json!(bot));
}

#[tokio::test]
async fn a_terminal_is_allowed_once_until_it_closes_never_always() {
    let (w, _main, bot) = two_accounts().await;
    let core = w.core.clone();
    let mut tty = w.terminal_session();
    let asking = tokio::spawn(async move {
        let r = core.token(&mut tty, &TokenParams::default()).await;
        (r, tty)
    });
    let Some(CoreEvent::ConsentRequested(req)) =
        w.events.wait_for(|e| matches!(e, CoreEvent::ConsentRequested(_))).await
    else {
        panic!("no prompt")
    };
    assert!(!req.always_offered);
    assert!(req.note.as_deref().is_some_and(|n| n.contains("until that terminal session ends")), "{req:?}");
    assert!(req.identity.script.as_deref().is_some_and(|s| s.starts_with("terminal /dev/pts/99")));
    // "Always" is taken as "until it closes": nothing lands in clients.json.
    let args =
        AnswerConsentArgs { id: req.id, decision: ConsentDecision::Always, scopes: None, bind_account: None };
    w.core.answer_consent(&args).unwrap();
    let (served, _) = asking.await.unwrap();
    assert_eq!(served.unwrap().account.id, bot);
    assert!(w.core.apps().is_empty(), "a terminal is never allowed always");
    // The next command typed there is served without a prompt.
    let mut again = w.terminal_session();
    w.core.token(&mut again, &TokenParams::default()).await.expect("same terminal session");
    assert!(w.core.pending_consents().is_empty());
    // A weak identity (code on a command line) is not allowed always either.
    let core = w.core.clone();
    let asking = tokio::spawn(async move {
        let mut code = World::weak_session("/usr/bin/python3.11", "-c");
        core.token(&mut code, &TokenParams::default()).await
    });
    let Some(CoreEvent::ConsentRequested(req)) = w
        .events
        .wait_for(
            |e| matches!(e, CoreEvent::ConsentRequested(r) if r.identity.script.as_deref() == Some("-c")),
        )
        .await
    else {
        panic!("no prompt")
    };
    assert!(!req.always_offered);
    let args =
        AnswerConsentArgs { id: req.id, decision: ConsentDecision::Always, scopes: None, bind_account: None };
    w.core.answer_consent(&args).unwrap();
    asking.await.unwrap().expect("allowed once");
    assert!(w.core.apps().is_empty(), "`-c` is never allowed always");
}

#[tokio::test]
async fn a_trickling_or_hoarding_program_shuts_out_no_approved_one() {
    let (w, _main, _bot) = two_accounts().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("castkey.sock");
    let limits = castkey_core::IpcLimits {
        max_connections: 8,
        reserved: 4,
        per_program: 4,
        idle: Duration::from_millis(1_000),
    };
    tokio::spawn(IpcServer::bind(&path).unwrap().with_limits(limits).serve(w.core.clone()));
    w.approve_this_process();
    // A connection that sends a byte every 200 ms never completes a line:
    // closed after the line's deadline, however busy it looks.
    let started = std::time::Instant::now();
    let mut trickle = Line::connect(&path).await;
    let closed = loop {
        if trickle.stream.get_mut().write_all(b" ").await.is_err() {
            break true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if started.elapsed() > Duration::from_secs(4) {
            break false;
        }
        let mut probe = [0u8; 1];
        let read =
            tokio::time::timeout(Duration::from_millis(1), trickle.stream.get_mut().read(&mut probe)).await;
        if matches!(read, Ok(Ok(0)) | Ok(Err(_))) {
            break true;
        }
    };
    assert!(closed, "a trickling connection stayed open");
    assert!(started.elapsed() < Duration::from_millis(2_500), "{:?}", started.elapsed());
    // Another program opens 20 connections and trickles on all of them.
    if !std::path::Path::new("/usr/bin/python3").exists() {
        return;
    }
    let hoarder = dir.path().join("hoard.py");
    std::fs::write(
        &hoarder,
        format!(
            "import socket, time\n\
             socks = []\n\
             for _ in range(20):\n\
             \x20   s = socket.socket(socket.AF_UNIX); s.connect({:?}); socks.append(s)\n\
             open_ = set(range(20))\n\
             for _ in range(15):\n\
             \x20   time.sleep(0.2)\n\
             \x20   for i in list(open_):\n\
             \x20       try: socks[i].send(b' ')\n\
             \x20       except OSError: open_.discard(i)\n\
             print('OPEN', len(open_))\n",
            path.display().to_string()
        ),
    )
    .unwrap();
    let child = tokio::task::spawn_blocking(move || {
        std::process::Command::new("/usr/bin/python3").arg(hoarder).output().expect("python runs")
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // While it holds what it may, the approved program is answered, on more
    // connections at once than a program not approved may hold (its
    // latency meanwhile is a benchmark's figure: scripts/bench).
    let mut held = Vec::new();
    for _ in 0..6 {
        let mut fine = Line::connect(&path).await;
        fine.send(r#"{"jsonrpc":"2.0","id":5,"method":"token"}"#).await;
        let answer = fine.next().await.unwrap();
        assert!(answer["result"]["access_token"].is_string(), "{answer}");
        held.push(fine);
    }
    drop(held);
    let out = child.await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim(), "OPEN 0", "the hoarder's connections outlived their lines: {text}");
}

#[test]
fn the_socket_path_takes_nothing_that_is_not_castkey_s() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A regular file at the path: an error naming it, the file untouched.
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, b"mine").unwrap();
    let err = IpcServer::bind(&file).unwrap_err().to_string();
    assert!(err.contains(&file.display().to_string()) && err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");
    // A directory at the path: the same.
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    assert!(IpcServer::bind(&folder).unwrap_err().to_string().contains("a directory"));
    assert!(folder.is_dir());
    // An existing folder of this user is not chmodded (it may be $HOME)…
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = IpcServer::bind(&home.join("castkey.sock")).unwrap();
    assert_eq!(std::fs::metadata(&home).unwrap().permissions().mode() & 0o777, 0o755);
    // …and dropping the server removes its socket only while it is its own.
    std::fs::remove_file(home.join("castkey.sock")).unwrap();
    std::fs::write(home.join("castkey.sock"), b"someone else's").unwrap();
    drop(server);
    assert_eq!(std::fs::read(home.join("castkey.sock")).unwrap(), b"someone else's");
    // A folder others may write to is refused, not chmodded.
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = IpcServer::bind(&shared.join("castkey.sock")).unwrap_err().to_string();
    assert!(err.contains("other users"), "{err}");
    assert_eq!(std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777, 0o777);
}

#[tokio::test]
async fn allow_once_covers_only_the_account_and_scopes_the_prompt_showed() {
    let (w, main, bot) = two_accounts().await;
    let core = w.core.clone();
    let mut program = w.session_for("/opt/overlay", None);
    let asking = tokio::spawn(async move {
        let r = core.token(&mut program, &TokenParams::default()).await;
        (r, program)
    });
    let Some(CoreEvent::ConsentRequested(req)) =
        w.events.wait_for(|e| matches!(e, CoreEvent::ConsentRequested(_))).await
    else {
        panic!("no prompt")
    };
    assert_eq!(req.account.as_ref().map(|a| a.id.as_str()), Some(bot.as_str()));
    let args = AnswerConsentArgs {
        id: req.id,
        decision: ConsentDecision::AllowOnce,
        scopes: None,
        bind_account: None,
    };
    w.core.answer_consent(&args).unwrap();
    let (r, mut program) = asking.await.unwrap();
    assert_eq!(r.unwrap().account.id, bot);
    // The same again: covered.
    assert_eq!(w.core.token(&mut program, &TokenParams::default()).await.unwrap().account.id, bot);
    // Another account on the same connection: asked again, not served.
    let core = w.core.clone();
    let other = TokenParams { account: Some(main.clone()), ..Default::default() };
    let asking = tokio::spawn(async move { core.token(&mut program, &other).await });
    let Some(CoreEvent::ConsentRequested(req)) = w
        .events
        .wait_for(|e| matches!(e, CoreEvent::ConsentRequested(r) if r.account.as_ref().is_some_and(|a| a.id == main)))
        .await
    else {
        panic!("not asked again for the other account")
    };
    let args =
        AnswerConsentArgs { id: req.id, decision: ConsentDecision::Deny, scopes: None, bind_account: None };
    w.core.answer_consent(&args).unwrap();
    assert_eq!(asking.await.unwrap().unwrap_err().reason(), Reason::ConsentDenied);
}

#[tokio::test]
async fn a_program_forces_a_refresh_at_most_once_per_account_per_interval() {
    let (w, _main, _bot) = two_accounts().await;
    w.core.allow_app(&AllowAppParams { executable: OBS.into(), ..Default::default() }).unwrap();
    let mut obs = w.session_for(OBS, None);
    let forced = TokenParams { force_refresh: Some(true), ..Default::default() };
    let first = w.core.token(&mut obs, &TokenParams::default()).await.unwrap().access_token;
    let refreshed = w.core.token(&mut obs, &forced).await.unwrap().access_token;
    assert_ne!(refreshed, first, "the first forced refresh goes to the provider");
    // Forced again at once, many times: the provider is not asked again.
    for _ in 0..5 {
        assert_eq!(w.core.token(&mut obs, &forced).await.unwrap().access_token, refreshed);
    }
    w.clock.advance(11);
    let later = w.core.token(&mut obs, &forced).await.unwrap().access_token;
    assert_ne!(later, refreshed, "after the interval, a forced refresh is one again");
}

#[tokio::test]
async fn a_forced_refresh_that_failed_does_not_hold_back_the_next() {
    let failing = Arc::new(AtomicBool::new(false));
    let w = World::with_api_video(&api_video_failing_when(failing.clone()).await).await;
    w.core.add_api_key_account("apivideo", "sandbox", &SecretString::from("main-key")).await.expect("main");
    w.core.allow_app(&AllowAppParams { executable: OBS.into(), ..Default::default() }).unwrap();
    let mut obs = w.session_for(OBS, None);
    let forced = TokenParams { force_refresh: Some(true), ..Default::default() };
    let first = w.core.token(&mut obs, &TokenParams::default()).await.unwrap().access_token;
    failing.store(true, Ordering::SeqCst);
    let err = w.core.token(&mut obs, &forced).await.unwrap_err();
    assert_eq!(err.reason(), Reason::ProviderUnavailable, "{err}");
    // The provider is back; once the broker's back-off is over (5 s, less
    // than the forced-refresh interval), the next forced refresh goes out:
    // the failed one brought no newer token to hand out instead.
    failing.store(false, Ordering::SeqCst);
    w.clock.advance(6);
    let refreshed = w.core.token(&mut obs, &forced).await.unwrap().access_token;
    assert_ne!(refreshed, first);
}

/// A Flatpak app (OBS's recommended Linux install) is known by its app id,
/// read from its sandbox's `/.flatpak-info`, over the real socket: here
/// `python3` in a bubblewrap sandbox made as Flatpak makes one (its own
/// root, the info file in it). The same program outside the sandbox is
/// just `python3 -c`, which nobody approved.
#[tokio::test]
async fn a_flatpak_app_is_known_by_its_sandbox_s_app_id_over_the_socket() {
    let bwrap = std::path::Path::new("/usr/bin/bwrap");
    assert!(bwrap.exists(), "bubblewrap (Flatpak's sandbox) is needed: `scripts/deps test` installs it");
    let (w, _main, bot) = two_accounts().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("castkey.sock");
    tokio::spawn(IpcServer::bind(&path).unwrap().serve(w.core.clone()));
    let info = dir.path().join("flatpak-info");
    std::fs::write(&info, "[Application]\nname=com.obsproject.Studio\n\n[Instance]\ninstance-id=1\n")
        .unwrap();
    let id = "flatpak:com.obsproject.Studio";
    w.core
        .allow_app(&AllowAppParams {
            executable: id.into(),
            account: Some(bot.clone()),
            ..Default::default()
        })
        .unwrap();
    // A script cannot be named for an app id.
    let with_script =
        AllowAppParams { executable: id.into(), script: Some("/x.py".into()), ..Default::default() };
    assert!(w.core.allow_app(&with_script).is_err());

    let code = format!(
        "import json, socket\n\
         s = socket.socket(socket.AF_UNIX); s.connect({:?}); f = s.makefile('rwb')\n\
         def call(i, m):\n\
         \x20   f.write(json.dumps({{'jsonrpc': '2.0', 'id': i, 'method': m}}).encode() + b'\\n'); f.flush()\n\
         \x20   return json.loads(f.readline())\n\
         print(json.dumps([call(1, 'hello'), call(2, 'token')]))\n",
        path.display().to_string()
    );
    // `python3 -c <code>`, in the sandbox or not; its answers.
    let run = |sandboxed: bool, code: String| {
        let (dir, info) = (dir.path().to_path_buf(), info.clone());
        tokio::task::spawn_blocking(move || {
            let mut cmd =
                std::process::Command::new(if sandboxed { "/usr/bin/bwrap" } else { "/usr/bin/python3" });
            if sandboxed {
                cmd.args(["--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib"])
                    .args(["--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin"])
                    .args(["--proc", "/proc", "--dev", "/dev"])
                    .arg("--ro-bind")
                    .arg(&info)
                    .arg("/.flatpak-info")
                    .arg("--bind")
                    .arg(&dir)
                    .arg(&dir)
                    .arg("/usr/bin/python3");
            }
            let out = cmd.args(["-c", &code]).output().expect("python3 runs");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice::<Value>(&out.stdout).expect("the answers")
        })
    };
    let inside = run(true, code.clone()).await.unwrap();
    assert_eq!(inside[0]["result"]["client"]["approval"], "approved", "{inside}");
    assert_eq!(inside[0]["result"]["client"]["bound_account"], Value::from(bot.clone()), "{inside}");
    assert_eq!(inside[1]["result"]["account"]["id"], Value::from(bot), "{inside}");
    // Outside the sandbox: only a `hello` (a token would wait for the prompt).
    let hello_only = code.replace("call(1, 'hello'), call(2, 'token')", "call(1, 'hello')");
    let outside = run(false, hello_only).await.unwrap();
    assert_eq!(outside[0]["result"]["client"]["approval"], "unknown", "{outside}");
}
