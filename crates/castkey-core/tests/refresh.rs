//! Refreshing as the provider's answers mean it, through the real core:
//! api.video (API key → tokens) against an in-process stand-in written from
//! api.video's docs ("Authentication and refresh tokens").

use castkey_core::test_support::World;
use castkey_ipc::{Reason, TokenParams};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the stand-in answers, per path; every request is recorded.
#[derive(Default)]
struct Script {
    api_key: (u16, String),
    refresh: (u16, String),
    seen: Vec<String>,
}

async fn api_video(script: Arc<Mutex<Script>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://127.0.0.1:{}/", listener.local_addr().expect("addr").port());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16 * 1024];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let (status, body) = {
                let mut sc = script.lock().expect("script");
                sc.seen.push(path.clone());
                if path.ends_with("/auth/api-key") {
                    sc.api_key.clone()
                } else {
                    sc.refresh.clone()
                }
            };
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    base
}

fn tokens(access: &str, refresh: &str) -> (u16, String) {
    (
        200,
        format!(
            r#"{{"token_type":"Bearer","expires_in":3600,"access_token":"{access}","refresh_token":"{refresh}"}}"#
        ),
    )
}

async fn signed_in() -> (World, Arc<Mutex<Script>>, String) {
    let script = Arc::new(Mutex::new(Script {
        api_key: tokens("access-1", "refresh-1"),
        refresh: tokens("access-2", "refresh-2"),
        seen: Vec::new(),
    }));
    let base = api_video(script.clone()).await;
    let w = World::with_api_video(&base).await;
    let account = w
        .core
        .add_api_key_account("apivideo", "sandbox", &SecretString::from("key-1234"))
        .await
        .expect("key accepted");
    (w, script, account.id)
}

fn params(account: &str) -> TokenParams {
    TokenParams { account: Some(account.to_string()), ..Default::default() }
}

#[tokio::test]
async fn a_refused_refresh_token_falls_back_to_the_key_and_a_refused_key_asks_for_sign_in() {
    let (w, script, id) = signed_in().await;
    let mut me = w.user_session();
    assert_eq!(w.core.token(&mut me, &params(&id)).await.expect("cached").access_token, "access-1");

    // An hour later: the refresh token is refused (400, no `error` member),
    // then the key itself (401): the grant is dead.
    {
        let mut s = script.lock().unwrap();
        s.refresh = (400, r#"{"status":400,"title":"Invalid refresh token"}"#.into());
        s.api_key = (401, String::new());
    }
    w.clock.advance(3600);
    let err = w.core.token(&mut me, &params(&id)).await.unwrap_err();
    assert_eq!(err.reason(), Reason::ReauthRequired, "{err}");
    let seen = script.lock().unwrap().seen.len();
    // Until the user acts, no further calls.
    let again = w.core.token(&mut me, &params(&id)).await.unwrap_err();
    assert_eq!(again.reason(), Reason::ReauthRequired);
    assert_eq!(script.lock().unwrap().seen.len(), seen);
    // The secrets stay for the user to decide.
    assert!(w.secrets.names().iter().any(|n| n.ends_with("/api_key")), "{:?}", w.secrets.names());
}

#[tokio::test]
async fn a_provider_that_is_down_is_try_later_and_loses_nothing() {
    let (w, script, id) = signed_in().await;
    let mut me = w.user_session();
    script.lock().unwrap().refresh = (503, "<html>maintenance</html>".into());
    w.clock.advance(3600);
    let err = w.core.token(&mut me, &params(&id)).await.unwrap_err();
    assert_eq!(err.reason(), Reason::ProviderUnavailable, "{err}");
    assert!(!err.to_string().contains("maintenance"), "the body is not echoed: {err}");
    // Back up: the same grant works, and the rotated token is used.
    script.lock().unwrap().refresh = tokens("access-3", "refresh-3");
    w.clock.advance(600);
    assert_eq!(w.core.token(&mut me, &params(&id)).await.expect("refreshed").access_token, "access-3");
}

#[tokio::test]
async fn api_video_hosts_with_a_path_keep_it() {
    let script = Arc::new(Mutex::new(Script { api_key: tokens("a", "r"), ..Default::default() }));
    let base = api_video(script.clone()).await;
    for typed in [format!("{base}v1"), format!("{base}v1/")] {
        let w = World::with_api_video(&typed).await;
        w.core.add_api_key_account("apivideo", "production", &SecretString::from("k")).await.expect("added");
    }
    let seen = script.lock().unwrap().seen.clone();
    assert_eq!(seen, vec!["/v1/auth/api-key", "/v1/auth/api-key"]);
}
