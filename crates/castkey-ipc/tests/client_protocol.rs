//! Protocol tests of the clients (blocking, and async with feature `tokio`)
//! against a fake broker: a Unix socket in a private temp dir whose thread
//! answers canned lines. They test what the clients make of the wire, not
//! Castkey.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use castkey_ipc::notification::{ActiveChanged, SignedIn, TokenRefreshed};
use castkey_ipc::{Accounts, Client, ClientError, Reason, Token, TokenParams, MAX_LINE_BYTES};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

/// A fake broker serving one connection with `script`.
struct Fake {
    _dir: tempfile::TempDir,
    path: PathBuf,
    server: Option<JoinHandle<()>>,
}

impl Fake {
    fn new(script: impl FnOnce(Conn) + Send + 'static) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = dir.path().join("castkey.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let writer = stream.try_clone().unwrap();
            script(Conn { reader: BufReader::new(stream), writer });
        });
        Fake { _dir: dir, path, server: Some(server) }
    }

    /// Waits for the script to end; its failed assertions fail the test.
    fn finish(mut self) {
        if let Some(server) = self.server.take() {
            if let Err(panic) = server.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Conn {
    /// The next request; checks the envelope.
    fn request(&mut self, method: &str) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let request: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(request["jsonrpc"], "2.0");
        assert_eq!(request["method"], method, "{line}");
        assert!(request["params"].is_object(), "params are an object: {line}");
        assert!(request["id"].is_u64(), "{line}");
        request
    }

    fn send(&mut self, value: Value) {
        let mut line = serde_json::to_vec(&value).unwrap();
        line.push(b'\n');
        self.writer.write_all(&line).unwrap();
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    fn answer(&mut self, request: &Value, result: Value) {
        self.send(json!({"jsonrpc": "2.0", "id": request["id"], "result": result}));
    }

    /// Reads until the client closes.
    fn wait_for_close(&mut self) {
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut self.reader, &mut rest);
    }
}

fn account() -> Value {
    json!({"id": "sandbox:bot", "provider": "sandbox", "display_name": "Bot"})
}

fn active_changed() -> Value {
    json!({"jsonrpc": "2.0", "method": "active_changed", "params": {"provider": "sandbox", "account": account()}})
}

fn grant() -> Value {
    json!({
        "access_token": "at-1",
        "token_type": "Bearer",
        "expires_at": 1_900_000_000u64,
        "scope": ["broadcaster"],
        "account": account(),
        "headers": {"Authorization": "Bearer at-1"},
        "from_a_newer_broker": true
    })
}

fn hello_result() -> Value {
    json!({
        "protocol": 1,
        "server": "fake 0",
        "capabilities": ["hello", "token", "subscribe", "notifications"],
        "client": {"approval": "unknown"},
        "later_field": [1, 2]
    })
}

fn notification_line(method: &str, params: Value) -> Vec<u8> {
    let mut line =
        serde_json::to_vec(&json!({"jsonrpc": "2.0", "method": method, "params": params})).unwrap();
    line.push(b'\n');
    line
}

const SHORT: Duration = Duration::from_millis(50);

#[test]
fn a_notification_before_the_answer_is_kept_for_later() {
    let fake = Fake::new(|mut c| {
        let r = c.request("token");
        c.send(active_changed());
        c.answer(&r, grant());
        c.wait_for_close();
    });
    let mut client = Client::connect(&fake.path).unwrap();
    let grant = client.call::<Token>(&TokenParams::default()).unwrap();
    assert_eq!(grant.access_token, "at-1");
    let n = client.next_notification(Some(Duration::ZERO)).unwrap().expect("the kept notification");
    let change = n.parse::<ActiveChanged>().unwrap().expect("active_changed");
    assert_eq!(change.provider, "sandbox");
    assert_eq!(change.account.unwrap().id, "sandbox:bot");
    assert!(n.parse::<SignedIn>().unwrap().is_none());
    assert!(client.next_notification(Some(SHORT)).unwrap().is_none());
    drop(client);
    fake.finish();
}

#[test]
fn hello_and_subscribe_then_notifications_as_they_come() {
    let fake = Fake::new(|mut c| {
        let r = c.request("hello");
        assert_eq!(r["params"], json!({"name": "Overlay", "version": "1.2.0", "protocol": 1}));
        c.answer(&r, hello_result());
        let r = c.request("subscribe");
        c.answer(&r, json!(["active_changed", "token_refreshed"]));
        std::thread::sleep(Duration::from_millis(200));
        c.send_bytes(&notification_line(
            "token_refreshed",
            json!({"account": account(), "expires_at": 1_900_000_000u64}),
        ));
        // A notification cut in two, the halves further apart than the
        // client's wait: the first half is kept, not lost.
        let line = notification_line("signed_out", json!({"account": account()}));
        let (a, b) = line.split_at(20);
        c.send_bytes(a);
        std::thread::sleep(Duration::from_millis(300));
        c.send_bytes(b);
        c.wait_for_close();
    });
    let mut client = Client::connect(&fake.path).unwrap();
    let hello = client.hello("Overlay", "1.2.0").unwrap();
    assert_eq!(hello.protocol, 1);
    assert!(hello.capabilities.iter().any(|c| c == "notifications"));
    assert_eq!(hello.client.approval, "unknown");
    assert_eq!(client.subscribe().unwrap(), ["active_changed", "token_refreshed"]);
    assert!(client.next_notification(Some(SHORT)).unwrap().is_none(), "nothing yet");
    let n = client.next_notification(Some(Duration::from_secs(5))).unwrap().unwrap();
    assert_eq!(n.parse::<TokenRefreshed>().unwrap().unwrap().expires_at, 1_900_000_000);
    assert!(client.next_notification(Some(Duration::from_millis(100))).unwrap().is_none(), "half a line");
    let n = client.next_notification(Some(Duration::from_secs(5))).unwrap().unwrap();
    assert_eq!(n.method, "signed_out");
    assert_eq!(n.params["account"]["id"], "sandbox:bot");
    drop(client);
    fake.finish();
}

#[test]
fn a_late_answer_to_a_request_given_up_on_is_skipped() {
    let fake = Fake::new(|mut c| {
        let first = c.request("accounts");
        let second = c.request("accounts");
        c.answer(&first, json!([]));
        c.send(active_changed());
        c.answer(
            &second,
            json!([{"id": "sandbox:bot", "provider": "sandbox", "display_name": "Bot",
            "active": true, "scopes": [], "status": "signed_in"}]),
        );
        c.wait_for_close();
    });
    let mut client = Client::connect(&fake.path).unwrap();
    client.set_timeout(Some(Duration::from_millis(100))).unwrap();
    let err = client.call::<Accounts>(&Default::default()).unwrap_err();
    assert!(matches!(&err, ClientError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut), "{err}");
    client.set_timeout(Some(Duration::from_secs(5))).unwrap();
    let accounts = client.call::<Accounts>(&Default::default()).unwrap();
    assert_eq!(accounts.len(), 1);
    assert!(client.next_notification(Some(SHORT)).unwrap().unwrap().is::<ActiveChanged>());
    drop(client);
    fake.finish();
}

#[test]
fn a_refused_connection_answers_with_its_reason() {
    let fake = Fake::new(|mut c| {
        c.send(json!({"jsonrpc": "2.0", "id": null,
            "error": {"code": -32000, "message": "too many connections", "data": {"reason": "busy"}}}));
    });
    let mut client = Client::connect(&fake.path).unwrap();
    let err = client.call::<Accounts>(&Default::default()).unwrap_err();
    match err {
        ClientError::Rpc(e) => assert_eq!(e.reason(), Some(Reason::Busy)),
        other => panic!("expected busy, got {other}"),
    }
    fake.finish();
    // Then the broker closed the connection.
    let err = client.call::<Accounts>(&Default::default()).unwrap_err();
    assert!(matches!(err, ClientError::Io(_)), "{err}");
}

#[test]
fn an_error_answer_and_an_overlong_line() {
    let fake = Fake::new(|mut c| {
        let r = c.request("token");
        c.send(json!({"jsonrpc": "2.0", "id": r["id"], "error": {"code": -32000,
            "message": "not yet", "data": {"reason": "consent_timeout", "from_the_future": 1}}}));
        c.request("accounts");
        c.send_bytes(&vec![b' '; MAX_LINE_BYTES + 10]);
        c.wait_for_close();
    });
    let mut client = Client::connect(&fake.path).unwrap();
    let err = client.call::<Token>(&TokenParams::default()).unwrap_err();
    assert!(matches!(&err, ClientError::Rpc(e) if e.reason() == Some(Reason::ConsentTimeout)), "{err}");
    let err = client.call::<Accounts>(&Default::default()).unwrap_err();
    assert!(matches!(&err, ClientError::Protocol(m) if m.contains("over")), "{err}");
    drop(client);
    fake.finish();
}

#[test]
fn connect_checks_the_endpoint_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("castkey.sock");
    assert!(matches!(Client::connect(&path), Err(ClientError::NotRunning { .. })));
    let _listener = UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = Client::connect(&path).unwrap_err();
    assert!(matches!(err, ClientError::Unsafe { .. }), "{err}");
    assert!(err.to_string().contains("can be written by other users"), "{err}");
    let long = dir.path().join("x".repeat(200));
    assert!(matches!(Client::connect(&long), Err(ClientError::NotRunning { .. })));
}

#[cfg(feature = "tokio")]
mod on_tokio {
    use super::*;
    use castkey_ipc::AsyncClient;

    #[tokio::test]
    async fn a_notification_before_the_answer_is_kept_for_later() {
        let fake = Fake::new(|mut c| {
            let r = c.request("hello");
            assert_eq!(r["params"]["name"], "Async overlay");
            c.answer(&r, hello_result());
            let r = c.request("subscribe");
            c.answer(&r, json!(["active_changed"]));
            let r = c.request("token");
            c.send(active_changed());
            c.answer(&r, grant());
            c.wait_for_close();
        });
        let mut client = AsyncClient::connect(&fake.path).await.unwrap();
        assert_eq!(client.hello("Async overlay", "0.1").await.unwrap().protocol, 1);
        assert_eq!(client.subscribe().await.unwrap(), ["active_changed"]);
        let grant = client.call::<Token>(&TokenParams::default()).await.unwrap();
        assert_eq!(grant.headers["Authorization"], "Bearer at-1");
        let n = client.next_notification(Some(Duration::ZERO)).await.unwrap().unwrap();
        assert_eq!(n.parse::<ActiveChanged>().unwrap().unwrap().provider, "sandbox");
        assert!(client.next_notification(Some(SHORT)).await.unwrap().is_none());
        drop(client);
        fake.finish();
    }

    #[tokio::test]
    async fn a_line_cut_by_a_timeout_is_read_whole_later() {
        let fake = Fake::new(|mut c| {
            let r = c.request("subscribe");
            c.answer(&r, json!([]));
            let line = notification_line("signed_in", json!({"account": account()}));
            let (a, b) = line.split_at(25);
            c.send_bytes(a);
            std::thread::sleep(Duration::from_millis(300));
            c.send_bytes(b);
            c.wait_for_close();
        });
        let mut client = AsyncClient::connect(&fake.path).await.unwrap();
        client.subscribe().await.unwrap();
        assert!(client.next_notification(Some(Duration::from_millis(100))).await.unwrap().is_none());
        let n = client.next_notification(Some(Duration::from_secs(5))).await.unwrap().unwrap();
        assert_eq!(n.parse::<SignedIn>().unwrap().unwrap().account.id, "sandbox:bot");
        drop(client);
        fake.finish();
    }

    #[tokio::test]
    async fn a_late_answer_is_skipped_and_busy_is_an_error() {
        let fake = Fake::new(|mut c| {
            let first = c.request("accounts");
            let second = c.request("accounts");
            c.answer(&first, json!([]));
            c.answer(&second, json!([]));
            let _third = c.request("accounts");
            c.send(json!({"jsonrpc": "2.0", "id": null,
                "error": {"code": -32000, "message": "busy", "data": {"reason": "busy"}}}));
        });
        let mut client = AsyncClient::connect(&fake.path).await.unwrap();
        client.set_timeout(Some(Duration::from_millis(100)));
        assert!(client.call::<Accounts>(&Default::default()).await.is_err());
        client.set_timeout(Some(Duration::from_secs(5)));
        assert!(client.call::<Accounts>(&Default::default()).await.unwrap().is_empty());
        let err = client.call::<Accounts>(&Default::default()).await.unwrap_err();
        assert!(matches!(&err, ClientError::Rpc(e) if e.reason() == Some(Reason::Busy)), "{err}");
        fake.finish();
    }

    #[tokio::test]
    async fn connect_checks_the_endpoint_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("castkey.sock");
        assert!(matches!(AsyncClient::connect(&path).await, Err(ClientError::NotRunning { .. })));
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = AsyncClient::connect(&path).await.unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
        let long = dir.path().join("x".repeat(200));
        assert!(matches!(AsyncClient::connect(&long).await, Err(ClientError::NotRunning { .. })));
    }
}
