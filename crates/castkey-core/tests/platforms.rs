//! Twitch, YouTube (Google) and Kick through the real core, against the
//! Node stand-ins in `tests/standins/` (written from each platform's public
//! docs): sign-in with a code and a second account through the chooser, the
//! hourly validation duty with one and fifty asking apps, a disconnect told
//! to every subscriber, 429 honoured; Google's loopback + PKCE and its
//! "Testing" clock; Kick's PKCE + secret and rotation.
//!
//! Each stand-in is started with `PORT=0` and read for its `BASE=` line; the
//! preset's host field points at it (the scenario harness can do the same
//! with `CASTKEY_TWITCH_URL`, `CASTKEY_GOOGLE_URL`, `CASTKEY_KICK_URL`).

#![allow(clippy::unwrap_used)]

use castkey_core::test_support::World;
use castkey_core::CoreEvent;
use castkey_ipc::ui::AddProvider;
use castkey_ipc::{AccountStatus, TokenParams};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A running stand-in; killed when dropped.
struct Standin {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Standin {
    fn start(name: &str) -> Standin {
        let script = format!("{}/../../tests/standins/{name}.mjs", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("node")
            .arg(script)
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs the stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("BASE line");
        let base = line.trim().strip_prefix("BASE=").expect("BASE=").to_string();
        let http = reqwest::Client::builder().no_proxy().build().expect("client");
        Standin { child, base, http }
    }

    async fn post(&self, path: &str) {
        let r = self.http.post(format!("{}{path}", self.base)).send().await.expect("stand-in answers");
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    async fn json(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("answer")
            .json()
            .await
            .expect("json")
    }

    /// How many requests `path` received.
    async fn count(&self, path: &str) -> u64 {
        self.json("/_test/count").await.get(path).and_then(Value::as_u64).unwrap_or(0)
    }
}

async fn add(w: &World, template: &str, values: &[(&str, &str)]) {
    let values = values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    w.core.add_provider(&AddProvider { template: template.into(), values }).await.expect("provider added");
}

fn params(account: &str) -> TokenParams {
    TokenParams { account: Some(account.into()), ..Default::default() }
}

/// Signs in to Twitch with a code as `login`, the stand-in approving it
/// the way the user would on twitch.tv/activate.
async fn twitch_code_sign_in(w: &World, s: &Standin, login: &str) -> castkey_ipc::AccountInfo {
    code_sign_in(w, s, "twitch", login).await
}

/// Signs in to `provider` with a code as `login`.
async fn code_sign_in(
    w: &World,
    s: &Standin,
    provider: &'static str,
    login: &str,
) -> castkey_ipc::AccountInfo {
    let code: Arc<Mutex<Option<String>>> = Default::default();
    let core = w.core.clone();
    let seen = code.clone();
    let signing_in = tokio::spawn(async move {
        core.login_with_code(provider, |started| *seen.lock().unwrap() = Some(started.user_code.clone()))
            .await
    });
    let user_code = loop {
        if let Some(c) = code.lock().unwrap().clone() {
            break c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    s.post(&format!("/_test/approve?user_code={user_code}&login={login}")).await;
    signing_in.await.expect("task").expect("signed in with a code")
}

async fn twitch_world(s: &Standin) -> World {
    let w = World::with_sandbox("http://127.0.0.1:9").await;
    add(&w, "twitch", &[("client_id", "castkey-twitch"), ("url", &s.base)]).await;
    w
}

#[tokio::test]
async fn twitch_signs_in_with_a_code_and_a_public_client() {
    let s = Standin::start("twitch");
    let w = twitch_world(&s).await;
    let info = w.core.providers().into_iter().find(|p| p.id == "twitch").expect("twitch offered");
    assert!(info.device_flow, "the preset offers sign-in with a code");
    let account = twitch_code_sign_in(&w, &s, "streamer").await;
    // Named by /oauth2/validate's user_id and login.
    assert_eq!(account.id, "twitch:1001");
    assert_eq!(account.display_name, "streamer");
    // The device endpoint got `scopes` (Twitch's name), no secret anywhere.
    let last = s.json("/_test/last").await;
    assert!(last["device"]["scopes"].as_str().unwrap().contains("channel:manage:broadcast"), "{last}");
    assert!(last["device"].get("scope").is_none() && last["device"].get("client_secret").is_none(), "{last}");
    // `scope` came as a JSON array; the Client-Id header comes with the token.
    let mut me = w.user_session();
    let grant = w.core.token(&mut me, &params(&account.id)).await.expect("token");
    assert!(grant.scope.iter().any(|s| s == "user:read:chat"), "{:?}", grant.scope);
    assert_eq!(grant.headers.get("Client-Id").map(String::as_str), Some("castkey-twitch"));
    // A browser sign-in needs a confidential app at Twitch: said clearly.
    let err = w.core.begin_app_sign_in("twitch").await.unwrap_err();
    assert!(err.to_string().contains("castkey login --code twitch"), "{err}");
}

#[tokio::test]
async fn twitch_public_refresh_tokens_are_one_time_and_a_replay_ends_the_grant() {
    let s = Standin::start("twitch");
    let w = twitch_world(&s).await;
    let account = twitch_code_sign_in(&w, &s, "streamer").await;
    let mut me = w.user_session();
    let forced = TokenParams { force_refresh: Some(true), ..params(&account.id) };
    let first = w.core.token(&mut me, &params(&account.id)).await.unwrap().access_token;
    // A forced refresh is honoured at most once per account per interval.
    let second = w.core.token(&mut me, &forced).await.unwrap().access_token;
    w.clock.advance(castkey_core::FORCE_INTERVAL_SECS);
    let third = w.core.token(&mut me, &forced).await.unwrap().access_token;
    assert!(first != second && second != third);
    // Castkey used each rotated refresh token once: the grant is alive.
    assert_eq!(s.count("refresh").await, 2);
    assert!(w.core.accounts().iter().all(|a| a.status == AccountStatus::SignedIn));
    // The readiness clock: 30 days from the last refresh (public client).
    let health = w.core.status().into_iter().find(|h| h.account.id == account.id).unwrap();
    assert_eq!(health.grant_expires_at, Some(w.clock.now_secs() + 30 * 86_400));

    // The stand-in's documented quirk, straight: replaying a spent refresh
    // token is refused and kills the tokens issued after it.
    let token = |body: String| {
        let http = s.http.clone();
        let url = format!("{}/oauth2/token", s.base);
        async move {
            let r = http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let device = s
        .http
        .post(format!("{}/oauth2/device", s.base))
        .form(&[("client_id", "castkey-twitch"), ("scopes", "a")]);
    let d: Value = device.send().await.unwrap().json().await.unwrap();
    s.post(&format!("/_test/approve?user_code={}&login=bot", d["user_code"].as_str().unwrap())).await;
    let (_, t) = token(format!(
        "client_id=castkey-twitch&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code={}",
        d["device_code"].as_str().unwrap()
    ))
    .await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let refresh = |rt: &str| format!("client_id=castkey-twitch&grant_type=refresh_token&refresh_token={rt}");
    let (ok, t2) = token(refresh(&rt1)).await;
    assert_eq!(ok, 200);
    let (replayed, body) = token(refresh(&rt1)).await;
    assert_eq!((replayed, body["message"].as_str()), (400, Some("Invalid refresh token")));
    let (dead, _) = token(refresh(t2["refresh_token"].as_str().unwrap())).await;
    assert_eq!(dead, 400, "the whole grant ended");
}

#[tokio::test]
async fn a_second_twitch_account_goes_through_the_chooser_and_a_duplicate_is_refused() {
    let s = Standin::start("twitch");
    let w = World::with_sandbox("http://127.0.0.1:9").await;
    add(&w, "twitch", &[("client_id", "conf-id"), ("client_secret", "conf-secret"), ("url", &s.base)]).await;
    let browser = reqwest::Client::builder().no_proxy().build().unwrap();
    let sign_in = || async {
        let started = w.core.begin_app_sign_in("twitch").await.expect("started");
        assert_eq!(started.redirect_uri, "http://127.0.0.1:17563/callback", "the URI to register");
        let url = started.authorization_url.clone();
        // The browser follows Twitch's redirect to the loopback listener.
        let _ = browser.get(url.clone()).send().await;
        (url, started.done.await.expect("an outcome"))
    };
    let (url, first) = sign_in().await;
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256", "PKCE is sent even though Twitch ignores it");
    assert!(!q.contains_key("force_verify"), "the first account needs no chooser");
    assert_eq!(first.expect("first account").id, "twitch:1001");
    // The browser is still signed in as the streamer: the chooser is shown
    // (force_verify), but the user picked the same account again.
    let (url, again) = sign_in().await;
    assert!(url.query_pairs().any(|(k, v)| k == "force_verify" && v == "true"), "{url}");
    let err = again.unwrap_err();
    assert!(err.to_string().contains("already signed in"), "{err}");
    assert_eq!(w.core.accounts().len(), 1);
    // Now they pick the bot in the chooser.
    s.post("/_test/choose?login=bot").await;
    let (_, bot) = sign_in().await;
    assert_eq!(bot.expect("bot account").id, "twitch:1002");
    assert_eq!(w.core.accounts().len(), 2);
    // The code exchange carried the secret in the form body (Twitch's way).
    assert!(s.count("/oauth2/token").await >= 3);
}

#[tokio::test]
async fn the_validation_duty_is_one_call_per_account_per_hour_with_one_or_fifty_apps() {
    let s = Standin::start("twitch");
    let w = twitch_world(&s).await;
    let account = twitch_code_sign_in(&w, &s, "streamer").await;
    assert_eq!(s.count("/oauth2/validate").await, 1, "the sign-in asked who signed in: that validated");
    // One app at start: the sign-in's validation counts for this hour.
    let mut app = w.user_session();
    w.core.token(&mut app, &params(&account.id)).await.expect("token");
    assert_eq!(s.count("/oauth2/validate").await, 1);
    // Fifty apps at once, and again: no more calls within the hour.
    let ask_fifty = || async {
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (core, mut session, p) = (w.core.clone(), w.user_session(), params(&account.id));
            tasks.push(tokio::spawn(async move { core.token(&mut session, &p).await.map(|_| ()) }));
        }
        for t in tasks {
            t.await.unwrap().expect("served");
        }
    };
    ask_fifty().await;
    w.clock.advance(1800);
    ask_fifty().await;
    w.core.validate_due().await;
    assert_eq!(s.count("/oauth2/validate").await, 1);
    // An hour after the sign-in: one call, whether the timer or fifty apps come first.
    w.clock.advance(1800);
    ask_fifty().await;
    w.core.validate_due().await;
    ask_fifty().await;
    assert_eq!(s.count("/oauth2/validate").await, 2);
    // With nobody asking, the duty still runs hourly while the token lives
    // (Twitch's tokens last about 4 hours: the stand-in's TTL is 14400).
    for hour in 1..=2 {
        w.clock.advance(3600);
        w.core.validate_due().await;
        w.core.validate_due().await;
        assert_eq!(s.count("/oauth2/validate").await, 2 + hour);
    }
    // Once it has expired nobody holds it: nothing to validate until an
    // app asks, which refreshes and validates the new token.
    w.clock.advance(3600);
    w.core.validate_due().await;
    assert_eq!(s.count("/oauth2/validate").await, 4);
    assert_eq!(s.count("refresh").await, 0);
    w.core.token(&mut app, &params(&account.id)).await.expect("refreshed");
    assert_eq!((s.count("refresh").await, s.count("/oauth2/validate").await), (1, 5));
}

#[tokio::test]
async fn a_disconnected_twitch_app_is_told_to_every_subscriber_at_once() {
    let s = Standin::start("twitch");
    let w = twitch_world(&s).await;
    let account = twitch_code_sign_in(&w, &s, "streamer").await;
    let mut app = w.user_session();
    w.core.token(&mut app, &params(&account.id)).await.expect("token");
    let mut subscribers: Vec<_> = (0..5).map(|_| w.core.subscribe()).collect();
    // The user disconnects Castkey on twitch.tv (Settings > Connections).
    s.post("/_test/disconnect?login=streamer").await;
    w.clock.advance(3600);
    w.core.validate_due().await;
    for rx in &mut subscribers {
        let mut told = false;
        while let Ok(e) = rx.try_recv() {
            told |= matches!(&e, CoreEvent::AccessRevoked { account: a } if a.id == account.id);
        }
        assert!(told, "a subscriber was not told");
    }
    // Marked: no token is served, the user must sign in again.
    let a = w.core.accounts().into_iter().find(|a| a.id == account.id).unwrap();
    assert_eq!(a.status, AccountStatus::ReauthRequired);
    let err = w.core.token(&mut app, &params(&account.id)).await.unwrap_err();
    assert_eq!(err.reason(), castkey_ipc::Reason::ReauthRequired, "{err}");
}

#[tokio::test]
async fn a_token_refused_while_the_grant_lives_is_replaced_not_revoked() {
    let s = Standin::start("twitch");
    let w = twitch_world(&s).await;
    let account = twitch_code_sign_in(&w, &s, "streamer").await;
    let mut app = w.user_session();
    let old = w.core.token(&mut app, &params(&account.id)).await.unwrap().access_token;
    let mut events = w.core.subscribe();
    s.post("/_test/expire_access?login=streamer").await;
    w.clock.advance(3600);
    w.core.validate_due().await;
    // One refresh; the account keeps working; nobody is told to end sessions.
    assert_eq!(s.count("refresh").await, 1);
    let new = w.core.token(&mut app, &params(&account.id)).await.unwrap().access_token;
    assert_ne!(old, new);
    while let Ok(e) = events.try_recv() {
        assert!(!matches!(e, CoreEvent::AccessRevoked { .. } | CoreEvent::ReauthRequired { .. }), "{e:?}");
    }
    assert!(w.core.accounts().iter().all(|a| a.status == AccountStatus::SignedIn));
}

#[tokio::test]
async fn a_rate_limited_validation_waits_for_retry_after() {
    let s = Standin::start("twitch");
    let w = twitch_world(&s).await;
    let account = twitch_code_sign_in(&w, &s, "streamer").await;
    let mut app = w.user_session();
    w.core.token(&mut app, &params(&account.id)).await.expect("token");
    let base = s.count("/oauth2/validate").await;
    s.post("/_test/ratelimit?count=1&retry_after=120").await;
    w.clock.advance(3600);
    w.core.validate_due().await; // 429, Retry-After: 120
    assert_eq!(s.count("/oauth2/validate").await, base + 1);
    w.clock.advance(60);
    w.core.validate_due().await;
    w.core.token(&mut app, &params(&account.id)).await.expect("a 429 ends no session");
    assert_eq!(s.count("/oauth2/validate").await, base + 1, "asked again before Retry-After");
    w.clock.advance(60);
    w.core.validate_due().await;
    assert_eq!(s.count("/oauth2/validate").await, base + 2);
    // Then hourly again.
    w.clock.advance(1800);
    w.core.validate_due().await;
    assert_eq!(s.count("/oauth2/validate").await, base + 2);
}

/// Signs in at a loopback provider; the browser follows the redirects.
async fn browser_sign_in(
    w: &World,
    provider: &str,
) -> (url::Url, Result<castkey_ipc::AccountInfo, castkey_core::CoreError>) {
    let started = w.core.begin_app_sign_in(provider).await.expect("started");
    let url = started.authorization_url.clone();
    let browser = reqwest::Client::builder().no_proxy().build().unwrap();
    let _ = browser.get(url.clone()).send().await;
    (url, started.done.await.expect("an outcome"))
}

#[tokio::test]
async fn youtube_signs_in_through_loopback_with_pkce_and_adds_another_account() {
    let s = Standin::start("google");
    let w = World::with_sandbox("http://127.0.0.1:9").await;
    add(
        &w,
        "youtube",
        &[
            ("client_id", "castkey-desktop"),
            ("client_secret", "desktop-secret"),
            ("testing", "yes"),
            ("url", &s.base),
        ],
    )
    .await;
    let (url, first) = browser_sign_in(&w, "youtube").await;
    let first = first.expect("signed in");
    assert_eq!((first.id.as_str(), first.email.as_deref()), ("youtube:111", Some("streamer@example.com")));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!((q["access_type"].as_str(), q["prompt"].as_str()), ("offline", "consent"));
    assert!(q["redirect_uri"].starts_with("http://127.0.0.1:"), "loopback only: {}", q["redirect_uri"]);
    assert!(!q["scope"].contains("offline_access"), "Google takes access_type, not the scope");
    // "Testing": refresh tokens end after 7 days; readiness sees the end.
    let health = w.core.status().into_iter().find(|h| h.account.id == first.id).unwrap();
    assert_eq!(health.grant_expires_at, Some(w.clock.now_secs() + 7 * 86_400));
    assert!(w.core.go_live_readiness(4).ready, "7 days left");
    // A day ahead of Google's end, even with the usual 4-hour horizon.
    w.clock.advance(6 * 86_400 + 3600);
    let ready = w.core.go_live_readiness(4);
    assert!(!ready.ready, "less than a day left is warned about");
    assert!(ready.accounts[0].problem.as_deref().unwrap_or("").contains("within a day"), "{ready:?}");
    // Another account: the account chooser, then consent again.
    s.post("/_test/choose?login=bot").await;
    let (url, bot) = browser_sign_in(&w, "youtube").await;
    assert!(url.query_pairs().any(|(k, v)| k == "prompt" && v == "select_account consent"), "{url}");
    assert_eq!(bot.expect("bot").id, "youtube:222");
    // Google does not rotate: a refresh keeps the refresh token.
    let mut me = w.user_session();
    let forced = TokenParams { force_refresh: Some(true), ..params("youtube:222") };
    w.core.token(&mut me, &forced).await.expect("refreshed");
    w.core.token(&mut me, &forced).await.expect("refreshed with the same refresh token");
    // Sign-out revokes at /revoke.
    w.core.sign_out("youtube:222").await.expect("signed out");
    assert_eq!(s.count("/revoke").await, 1);
}

#[tokio::test]
async fn youtube_signs_in_with_a_code_for_youtube_scopes_only() {
    let s = Standin::start("google");
    let w = World::with_sandbox("http://127.0.0.1:9").await;
    add(
        &w,
        "youtube",
        &[("client_id", "castkey-desktop"), ("client_secret", "desktop-secret"), ("url", &s.base)],
    )
    .await;
    let account = code_sign_in(&w, &s, "youtube", "bot").await;
    assert_eq!((account.id.as_str(), account.display_name.as_str()), ("youtube:222", "Bot"));
    let last = s.json("/_test/last").await;
    assert!(last["device"]["scope"].as_str().unwrap().contains("auth/youtube"), "{last}");
    assert_eq!(last["device"]["client_secret"], "desktop-secret", "the desktop secret is sent in the body");
    // Scopes Google does not allow on limited-input devices are refused clearly.
    s.http.post(format!("{}/_test/browser?login=streamer", s.base)).send().await.unwrap();
    let w2 = World::with_sandbox("http://127.0.0.1:9").await;
    let scopes = "openid https://www.googleapis.com/auth/youtube.force-ssl";
    add(
        &w2,
        "youtube",
        &[
            ("client_id", "castkey-desktop"),
            ("client_secret", "desktop-secret"),
            ("scopes", scopes),
            ("url", &s.base),
        ],
    )
    .await;
    let err = w2.core.login_with_code("youtube", |_| {}).await.unwrap_err();
    assert!(err.to_string().contains("Invalid device flow scope"), "{err}");
}

#[tokio::test]
async fn kick_signs_in_with_pkce_and_its_secret_and_rotates_refresh_tokens() {
    let s = Standin::start("kick");
    let w = World::with_sandbox("http://127.0.0.1:9").await;
    add(&w, "kick", &[("client_id", "kick-app"), ("client_secret", "kick-secret"), ("url", &s.base)]).await;
    let (url, account) = browser_sign_in(&w, "kick").await;
    let account = account.expect("signed in");
    assert_eq!((account.id.as_str(), account.display_name.as_str()), ("kick:501", "streamer"));
    assert!(url.as_str().starts_with(&format!("{}/oauth/authorize?", s.base)), "{url}");
    let keys = s.json("/_test/last").await["token"].clone();
    for k in ["client_id", "client_secret", "code", "code_verifier", "redirect_uri"] {
        assert!(keys.as_array().unwrap().iter().any(|v| v == k), "{k} not in {keys}");
    }
    let mut me = w.user_session();
    let forced = TokenParams { force_refresh: Some(true), ..params(&account.id) };
    for _ in 0..3 {
        w.core.token(&mut me, &forced).await.expect("each rotated token used once");
        // A forced refresh is honoured at most once per account per interval.
        w.clock.advance(castkey_core::FORCE_INTERVAL_SECS);
    }
    assert_eq!(s.count("refresh").await, 3);
    // The access token Castkey serves is active by Kick's introspection.
    let token = w.core.token(&mut me, &params(&account.id)).await.unwrap().access_token;
    let r: Value = s
        .http
        .post(format!("{}/public/v1/token/introspect", s.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["data"]["active"], true, "{r}");
    w.core.sign_out(&account.id).await.expect("signed out");
    assert_eq!(s.count("/oauth/revoke").await, 1);
}

/// The next line a socket client reads, or `None` after 5 s.
#[cfg(unix)]
async fn next(c: &mut tokio::io::BufReader<tokio::net::UnixStream>) -> Option<Value> {
    use tokio::io::AsyncBufReadExt;
    let mut buf = String::new();
    match tokio::time::timeout(std::time::Duration::from_secs(5), c.read_line(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Some(serde_json::from_str(&buf).unwrap()),
        _ => None,
    }
}

/// Apps subscribed on the real socket each hear `revoked` when the user
/// disconnected Castkey on twitch.tv, and then `reauth_required`.
#[cfg(unix)]
#[tokio::test]
async fn every_app_subscribed_on_the_socket_hears_revoked() {
    use tokio::io::AsyncWriteExt;
    let s = Standin::start("twitch");
    let w = twitch_world(&s).await;
    let account = twitch_code_sign_in(&w, &s, "streamer").await;
    w.core.token(&mut w.user_session(), &params(&account.id)).await.expect("token");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("castkey.sock");
    tokio::spawn(castkey_core::IpcServer::bind(&path).unwrap().serve(w.core.clone()));
    w.approve_this_process();
    let mut apps = Vec::new();
    for _ in 0..3 {
        let mut c = tokio::io::BufReader::new(tokio::net::UnixStream::connect(&path).await.unwrap());
        c.get_mut().write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\"}\n").await.unwrap();
        let answer = next(&mut c).await.unwrap();
        assert!(answer["result"].as_array().unwrap().contains(&Value::from("revoked")), "{answer}");
        apps.push(c);
    }
    s.post("/_test/disconnect?login=streamer").await;
    w.clock.advance(3600);
    w.core.validate_due().await;
    for c in &mut apps {
        let mut heard = Vec::new();
        while let Some(n) = next(c).await {
            heard.push(n["method"].as_str().unwrap_or("").to_string());
            if n["method"] == "revoked" {
                assert_eq!(n["params"]["account"]["id"], Value::from(account.id.clone()), "{n}");
                break;
            }
        }
        assert!(heard.contains(&"reauth_required".to_string()), "{heard:?}");
        assert_eq!(heard.last().map(String::as_str), Some("revoked"), "{heard:?}");
    }
}
