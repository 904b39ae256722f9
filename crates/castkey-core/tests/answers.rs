//! Answers real providers send, through the real core: an OpenID Connect
//! stand-in on loopback (discovery, JWKS, token endpoint; ID tokens signed
//! with `testdata/provider-key.pem`) whose token answers each test scripts.
//!
//! - an app reporting the token its API refused (`rejected`): one refresh
//!   for any number of apps, a spent refresh token never sent twice;
//! - a token that neither expires nor comes with a refresh token (GitHub
//!   OAuth apps): kept and served after a restart;
//! - a refreshed ID token naming another user: sign in again, nothing of
//!   that user kept;
//! - a redirect at another provider's redirect URI (mix-up, RFC 9700
//!   §4.4.2): refused, nothing exchanged.
#![allow(clippy::unwrap_used)]

use castkey_core::test_support::World;
use castkey_core::CoreError;
use castkey_ipc::{AccountStatus, Reason, RejectedToken, TokenParams};
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn key() -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(
        include_str!("../testdata/provider-key.pem"),
        Some(JsonWebKeyId::new("k1".into())),
    )
    .expect("test key")
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An RS256 ID token of `issuer` for `sub`, audience `castkey`.
fn id_token(issuer: &str, sub: &str, nonce: Option<&str>) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut claims = json!({"iss": issuer, "sub": sub, "aud": "castkey", "iat": now, "exp": now + 300});
    if let Some(n) = nonce {
        claims["nonce"] = n.into();
    }
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "RS256", "kid": "k1"}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = key().sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, input.as_bytes()).expect("signs");
    format!("{input}.{}", b64(&sig))
}

/// What the stand-in's token endpoint does.
#[derive(Default)]
struct Provider {
    /// The answer to the code exchange (`{nonce}` and `{id_token}` filled).
    on_code: Value,
    /// Refresh tokens the provider still honours, with what each is
    /// answered (Twitch-like: a spent one is refused and kills the grant).
    live: Vec<(String, Value)>,
    /// Every refresh token sent, in order.
    refreshed_with: Vec<String>,
    /// Every form posted to the token endpoint.
    posts: usize,
}

type Shared = Arc<Mutex<Provider>>;

fn form(body: &str) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}

/// Starts the stand-in; answers its issuer URL.
async fn provider(p: Shared) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
    let issuer = base.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (p, issuer) = (p.clone(), issuer.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head, body) = loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().to_string())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            break (head.to_string(), body.to_string());
                        }
                    }
                };
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                let (status, answer) = answer(&p, &issuer, &path, &body);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    base
}

fn answer(p: &Shared, issuer: &str, path: &str, body: &str) -> (u16, String) {
    match path {
        "/.well-known/openid-configuration" => (
            200,
            json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/auth"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks"),
                "authorization_response_iss_parameter_supported": true,
                "response_types_supported": ["code"],
            })
            .to_string(),
        ),
        "/jwks" => {
            let jwk = serde_json::to_value(key().as_verification_key()).expect("jwk");
            (200, json!({ "keys": [jwk] }).to_string())
        }
        "/token" => {
            let f = form(body);
            let mut p = p.lock().unwrap();
            p.posts += 1;
            match f.get("grant_type").map(String::as_str) {
                Some("authorization_code") => (200, p.on_code.to_string()),
                Some("refresh_token") => {
                    let sent = f.get("refresh_token").cloned().unwrap_or_default();
                    p.refreshed_with.push(sent.clone());
                    match p.live.iter().position(|(t, _)| *t == sent) {
                        // One-time use: the answer spends it.
                        Some(i) => (200, p.live.remove(i).1.to_string()),
                        None => {
                            // A replayed (spent) token kills the whole grant.
                            p.live.clear();
                            (
                                400,
                                r#"{"error":"invalid_grant","error_description":"Invalid refresh token"}"#
                                    .into(),
                            )
                        }
                    }
                }
                _ => (400, r#"{"error":"unsupported_grant_type"}"#.into()),
            }
        }
        _ => (404, "{}".into()),
    }
}

/// Signs in to the sandbox through the real core, as the deep link would
/// bring the browser back; the code exchange answers `on_code` (with the
/// sign-in's nonce in its ID token). Answers the account id.
async fn sign_in(w: &World, p: &Shared, issuer: &str, mut on_code: Value) -> String {
    let started = w.core.begin_app_sign_in("sandbox").await.expect("sign-in starts");
    let q: std::collections::HashMap<_, _> = started.authorization_url.query_pairs().into_owned().collect();
    on_code["id_token"] = id_token(issuer, "streamer", Some(&q["nonce"])).into();
    p.lock().unwrap().on_code = on_code;
    let back = format!(
        "{}?code=c-1&state={}&iss={}",
        castkey_core::APP_REDIRECT_URI,
        started.state,
        url::form_urlencoded::byte_serialize(issuer.as_bytes()).collect::<String>()
    );
    w.core.handle_deep_link(&back).await.expect("signed in").id
}

fn params(account: &str) -> TokenParams {
    TokenParams { account: Some(account.into()), ..Default::default() }
}

fn rejected(account: &str, token: &str) -> TokenParams {
    TokenParams { rejected: Some(RejectedToken::new(token)), ..params(account) }
}

/// Tokens answered by a refresh: access `a`, rotated refresh `r`.
fn rotated(a: &str, r: &str) -> Value {
    json!({"access_token": a, "token_type": "Bearer", "expires_in": 14_400, "refresh_token": r})
}

async fn world() -> (World, Shared, String) {
    let p: Shared = Arc::default();
    let issuer = provider(p.clone()).await;
    (World::with_sandbox(&issuer).await, p, issuer)
}

fn stored(w: &World, name: &str) -> Option<String> {
    w.secrets.value(name)
}

#[tokio::test]
async fn ten_apps_reporting_the_same_refused_token_cause_one_refresh() {
    let (w, p, issuer) = world().await;
    let id = sign_in(&w, &p, &issuer, rotated("access-1", "refresh-1")).await;
    p.lock().unwrap().live = vec![
        ("refresh-1".into(), rotated("access-2", "refresh-2")),
        ("refresh-2".into(), rotated("access-3", "refresh-3")),
    ];
    let mut me = w.user_session();
    assert_eq!(w.core.token(&mut me, &params(&id)).await.expect("cached").access_token, "access-1");
    assert_eq!(p.lock().unwrap().posts, 1, "only the code exchange so far");

    // The API answered 401 to ten apps at once, all holding access-1.
    let core = w.core.clone();
    let asks: Vec<_> = (0..10)
        .map(|_| {
            let (core, mut session, params) = (core.clone(), w.user_session(), rejected(&id, "access-1"));
            tokio::spawn(async move { core.token(&mut session, &params).await })
        })
        .collect();
    for ask in asks {
        assert_eq!(ask.await.unwrap().expect("served").access_token, "access-2");
    }
    assert_eq!(p.lock().unwrap().refreshed_with, vec!["refresh-1"], "exactly one refresh");
    // The rotation was stored before anything was handed out.
    assert_eq!(stored(&w, &format!("account/{id}/refresh_token")).as_deref(), Some("refresh-2"));

    // A late app still reporting access-1 gets the newer token, no refresh.
    assert_eq!(w.core.token(&mut me, &rejected(&id, "access-1")).await.unwrap().access_token, "access-2");
    // An app reporting a token Castkey never issued changes nothing either.
    assert_eq!(w.core.token(&mut me, &rejected(&id, "forged")).await.unwrap().access_token, "access-2");
    assert_eq!(p.lock().unwrap().refreshed_with.len(), 1);

    // Then access-2 is refused: one refresh with the rotated token, never
    // the spent refresh-1 again (which would kill the grant).
    assert_eq!(w.core.token(&mut me, &rejected(&id, "access-2")).await.unwrap().access_token, "access-3");
    assert_eq!(p.lock().unwrap().refreshed_with, vec!["refresh-1", "refresh-2"]);
    let after = w.core.accounts().into_iter().find(|a| a.id == id).unwrap();
    assert_eq!(after.status, AccountStatus::SignedIn);
}

#[tokio::test]
async fn a_token_without_expiry_or_refresh_token_is_kept_across_a_restart() {
    let (w, p, issuer) = world().await;
    // GitHub OAuth apps: no `expires_in`, no `refresh_token`.
    let id = sign_in(&w, &p, &issuer, json!({"access_token": "gho_forever", "token_type": "bearer"})).await;
    let mut me = w.user_session();
    assert_eq!(w.core.token(&mut me, &params(&id)).await.unwrap().access_token, "gho_forever");
    // Kept in the secret store, not on disk.
    assert_eq!(stored(&w, &format!("account/{id}/access_token")).as_deref(), Some("gho_forever"));
    let files = std::fs::read_dir(w.dir.path()).unwrap();
    for f in files.flatten() {
        if f.path().is_file() {
            let text = std::fs::read(f.path()).unwrap();
            assert!(
                !String::from_utf8_lossy(&text).contains("gho_forever"),
                "{:?} holds the token",
                f.path()
            );
        }
    }

    // Days later, after a restart of Castkey: still served, the provider not asked.
    w.clock.advance(3 * 86_400);
    let w = w.restart().await;
    let mut me = w.user_session();
    let g = w.core.token(&mut me, &params(&id)).await.expect("served after a restart");
    assert_eq!(g.access_token, "gho_forever");
    // (The world starts at 1_700_000_000.)
    assert!(g.expires_at > 1_700_000_000 + 3 * 86_400 + 3600, "said to last: {}", g.expires_at);
    assert_eq!(p.lock().unwrap().posts, 1, "only the sign-in's code exchange");
    let account = w.core.accounts().into_iter().find(|a| a.id == id).unwrap();
    assert_eq!(account.status, AccountStatus::SignedIn);

    // The API refuses it (the user revoked it at the provider): it cannot
    // be refreshed, so the user must sign in again, and nothing is served.
    let err = w.core.token(&mut me, &rejected(&id, "gho_forever")).await.unwrap_err();
    assert_eq!(err.reason(), Reason::ReauthRequired, "{err}");
    let err = w.core.token(&mut me, &params(&id)).await.unwrap_err();
    assert!(matches!(err, CoreError::ReauthRequired(_)), "{err}");

    // Sign-out deletes it with the account's other secrets.
    w.core.sign_out(&id).await.unwrap();
    assert!(stored(&w, &format!("account/{id}/access_token")).is_none());
}

#[tokio::test]
async fn a_token_with_a_lifetime_but_no_refresh_token_is_not_kept() {
    let (w, p, issuer) = world().await;
    let id =
        sign_in(&w, &p, &issuer, json!({"access_token": "short", "token_type": "Bearer", "expires_in": 600}))
            .await;
    assert!(stored(&w, &format!("account/{id}/access_token")).is_none());
    let w = w.restart().await;
    let err = w.core.token(&mut w.user_session(), &params(&id)).await.unwrap_err();
    assert_eq!(err.reason(), Reason::ReauthRequired, "{err}");
}

#[tokio::test]
async fn a_refreshed_id_token_naming_another_user_keeps_nothing_of_that_user() {
    let (w, p, issuer) = world().await;
    let id = sign_in(&w, &p, &issuer, rotated("access-1", "refresh-1")).await;
    // The provider answers the refresh with another user's tokens.
    let mut other = rotated("access-other", "refresh-other");
    other["id_token"] = id_token(&issuer, "someone-else", None).into();
    p.lock().unwrap().live = vec![("refresh-1".into(), other)];
    w.clock.advance(14_400);
    let mut me = w.user_session();
    let err = w.core.token(&mut me, &params(&id)).await.unwrap_err();
    assert_eq!(err.reason(), Reason::ReauthRequired, "{err}");
    assert!(w
        .events
        .wait_for(|e| matches!(e, castkey_core::CoreEvent::ReauthRequired { .. }))
        .await
        .is_some());
    let account = w.core.accounts().into_iter().find(|a| a.id == id).unwrap();
    assert_eq!(account.status, AccountStatus::ReauthRequired);
    // Nothing of the other user anywhere in the store, nor served.
    for name in w.secrets.names() {
        let value = stored(&w, &name).unwrap_or_default();
        assert!(!value.contains("other"), "{name} holds the other user's token");
    }
    assert_eq!(stored(&w, &format!("account/{id}/refresh_token")).as_deref(), Some("refresh-1"));
    let err = w.core.token(&mut me, &params(&id)).await.unwrap_err();
    assert_eq!(err.reason(), Reason::ReauthRequired);
    assert_eq!(p.lock().unwrap().refreshed_with, vec!["refresh-1"], "not asked again");
}

#[tokio::test]
async fn a_refreshed_id_token_of_the_same_user_is_accepted_without_a_nonce() {
    let (w, p, issuer) = world().await;
    let id = sign_in(&w, &p, &issuer, rotated("access-1", "refresh-1")).await;
    let mut same = rotated("access-2", "refresh-2");
    same["id_token"] = id_token(&issuer, "streamer", None).into();
    p.lock().unwrap().live = vec![("refresh-1".into(), same)];
    w.clock.advance(14_400);
    let g = w.core.token(&mut w.user_session(), &params(&id)).await.expect("refreshed");
    assert_eq!(g.access_token, "access-2");
    assert_eq!(stored(&w, &format!("account/{id}/refresh_token")).as_deref(), Some("refresh-2"));
}

#[tokio::test]
async fn an_app_reports_the_refused_token_over_the_wire() {
    let (w, p, issuer) = world().await;
    let id = sign_in(&w, &p, &issuer, rotated("access-1", "refresh-1")).await;
    p.lock().unwrap().live = vec![("refresh-1".into(), rotated("access-2", "refresh-2"))];
    let line = json!({"jsonrpc": "2.0", "id": 1, "method": "token",
        "params": {"account": id, "rejected": "access-1"}})
    .to_string();
    let mut me = w.user_session();
    let answer = castkey_core::dispatch(&w.core, &mut me, line.as_bytes()).await.expect("answered");
    let answer = serde_json::to_value(answer).unwrap();
    assert_eq!(answer["result"]["access_token"], "access-2", "{answer}");
    assert_eq!(p.lock().unwrap().refreshed_with, vec!["refresh-1"]);
    // The broker says it takes `rejected`; the value never shows in a Debug print.
    let hello = json!({"jsonrpc": "2.0", "id": 2, "method": "hello", "params": {}}).to_string();
    let hello = castkey_core::dispatch(&w.core, &mut me, hello.as_bytes()).await.expect("answered");
    let hello = serde_json::to_value(hello).unwrap();
    assert!(
        hello["result"]["capabilities"].as_array().unwrap().iter().any(|c| c == "token.rejected"),
        "{hello}"
    );
    let shown = format!("{:?}", rejected(&id, "access-1"));
    assert!(!shown.contains("access-1"), "{shown}");
}

/// RFC 9700 §4.4.2 (mix-up): each provider the user adds has its own
/// redirect URI, and a redirect that arrives at another provider's URI
/// completes nothing, even where `iss` cannot tell the two apart (here
/// both use the same issuer). The built-in provider keeps the shared URI.
#[tokio::test]
async fn a_redirect_at_another_provider_s_uri_completes_nothing() {
    let (w, p, issuer) = world().await;
    let add = |name: &str| castkey_ipc::ui::AddProvider {
        template: "oidc".into(),
        values: [("name", name), ("issuer", issuer.as_str()), ("client_id", "castkey")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let a = w.core.add_provider(&add("Studio A")).await.expect("added");
    let b = w.core.add_provider(&add("Studio B")).await.expect("added");
    assert_eq!(a.redirect_uri.as_deref(), Some("dev.castkey.app:/callback/studio-a"));
    assert_eq!(b.redirect_uri.as_deref(), Some("dev.castkey.app:/callback/studio-b"));
    let back = |at: &str, started: &castkey_core::Started| {
        let iss = url::form_urlencoded::byte_serialize(issuer.as_bytes()).collect::<String>();
        format!("{at}?code=c-1&state={}&iss={iss}", started.state)
    };

    let started = w.core.begin_app_sign_in("studio-a").await.expect("sign-in starts");
    let q: std::collections::HashMap<_, _> = started.authorization_url.query_pairs().into_owned().collect();
    assert_eq!(q["redirect_uri"], "dev.castkey.app:/callback/studio-a");
    p.lock().unwrap().on_code = json!({
        "access_token": "a-1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "r-1",
        "id_token": id_token(&issuer, "streamer", Some(&q["nonce"])),
    });
    // At B's URI, and at the shared one: refused, and the code is never sent.
    for wrong in ["dev.castkey.app:/callback/studio-b", castkey_core::APP_REDIRECT_URI] {
        let started = w.core.begin_app_sign_in("studio-a").await.expect("sign-in starts");
        let err = w.core.handle_deep_link(&back(wrong, &started)).await.unwrap_err();
        assert!(err.to_string().contains("another route"), "{err}");
        // The flow is spent: the same redirect at the right URI is unknown now.
        let again = w.core.handle_deep_link(&back("dev.castkey.app:/callback/studio-a", &started)).await;
        assert!(matches!(again, Err(CoreError::Redirect(_))), "{again:?}");
    }
    assert_eq!(p.lock().unwrap().posts, 0, "no code was exchanged");
    assert!(w.core.accounts().is_empty());
    // Not Castkey's redirect URI at all: refused before any flow is looked up.
    for forged in [
        "dev.castkey.app:/callback/studio-a/x?code=c&state=s",
        "dev.castkey.app:/callback/?code=c&state=s",
        "dev.castkey.app://callback/studio-a?code=c&state=s",
        "other.app:/callback/studio-a?code=c&state=s",
    ] {
        let err = w.core.handle_deep_link(forged).await.unwrap_err();
        assert!(
            matches!(err, CoreError::Redirect(castkey_core::RedirectError::Malformed(_))),
            "{forged}: {err}"
        );
    }
    // At A's own URI the first sign-in completes.
    let account = w.core.handle_deep_link(&back("dev.castkey.app:/callback/studio-a", &started)).await;
    assert_eq!(account.expect("signed in").id, "studio-a:streamer");
    // The built-in sandbox still signs in at the shared URI it registered.
    let (w, p, issuer) = world().await;
    assert_eq!(sign_in(&w, &p, &issuer, rotated("a-1", "r-1")).await, "sandbox:streamer");
}
