//! Windows only: the broker's named-pipe server (ipc_server/windows.rs)
//! driven by castkey-ipc's clients. Run it alone, as the crate's other test
//! targets are Unix-only: `cargo test --target x86_64-pc-windows-gnu -p
//! castkey-core --test pipe_server` (docs/platforms.md says where it ran).
#![cfg(windows)]
#![allow(clippy::unwrap_used)]

use castkey_core::test_support::World;
use castkey_core::{IpcLimits, IpcServer};
use castkey_ipc::Client;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient};

fn pipe_path(test: &str) -> PathBuf {
    castkey_ipc::socket::pipe_path(&format!("core-{test}-{}", std::process::id()))
}

/// A raw connection, as a program without the client library makes one.
async fn raw(path: &Path) -> BufReader<NamedPipeClient> {
    for _ in 0..100 {
        match ClientOptions::new().open(path) {
            Ok(pipe) => return BufReader::new(pipe),
            // ERROR_PIPE_BUSY: the next instance is on its way.
            Err(e) if e.raw_os_error() == Some(231) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("open {}: {e}", path.display()),
        }
    }
    panic!("{} stayed busy", path.display())
}

async fn next_line(c: &mut BufReader<NamedPipeClient>) -> Option<String> {
    let mut line = String::new();
    match tokio::time::timeout(Duration::from_secs(5), c.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => Some(line),
        _ => None,
    }
}

async fn send(c: &mut BufReader<NamedPipeClient>, line: &str) {
    c.get_mut().write_all(format!("{line}\n").as_bytes()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_is_served_and_this_process_is_an_own_tool() {
    let w = World::with_sandbox("http://127.0.0.1:9/").await;
    let path = pipe_path("clients");
    tokio::spawn(IpcServer::bind(&path).unwrap().serve(w.core.clone()));
    let p = path.clone();
    let (hello, status) = tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(&p).unwrap();
        let hello = c.hello("pipe test", "0").unwrap();
        // Own tools only: refused unless this executable is recognised.
        (hello, c.call_raw("status", serde_json::json!({})).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(hello.protocol, castkey_ipc::PROTOCOL_VERSION);
    assert!(status.is_array(), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pipe_holds_up_against_floods_idlers_and_oversized_lines() {
    let w = World::with_sandbox("http://127.0.0.1:9/").await;
    let path = pipe_path("limits");
    let limits = IpcLimits { max_connections: 2, idle: Duration::from_millis(700), ..Default::default() };
    tokio::spawn(IpcServer::bind(&path).unwrap().with_limits(limits).serve(w.core.clone()));
    let mut subscribed = raw(&path).await;
    send(&mut subscribed, r#"{"jsonrpc":"2.0","id":1,"method":"subscribe"}"#).await;
    let answer = next_line(&mut subscribed).await.expect("an answer");
    assert!(answer.contains("active_changed"), "{answer}");
    let mut silent = raw(&path).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Both slots taken: the third gets one `busy` line.
    let mut third = raw(&path).await;
    let busy = next_line(&mut third).await.expect("a busy line");
    assert!(busy.contains(r#""reason":"busy""#), "{busy}");
    // The silent connection is closed once idle; the subscribed one is not.
    assert_eq!(next_line(&mut silent).await, None);
    tokio::time::sleep(Duration::from_millis(800)).await;
    send(&mut subscribed, r#"{"jsonrpc":"2.0","id":2,"method":"hello"}"#).await;
    let answer = next_line(&mut subscribed).await.expect("still served");
    assert!(answer.contains(r#""id":2"#), "{answer}");
    // An oversized line: -32700, then closed.
    let mut c = raw(&path).await;
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"token\",\"params\":{{\"scope\":\"{}\"}}}}\n",
        "x".repeat(70_000)
    );
    let _ = c.get_mut().write_all(big.as_bytes()).await;
    let answer = next_line(&mut c).await.expect("an answer");
    assert!(answer.contains("-32700"), "{answer}");
}

/// Fails under Wine 8, which ignores FILE_FLAG_FIRST_PIPE_INSTANCE.
#[tokio::test(flavor = "multi_thread")]
async fn a_name_already_taken_is_refused() {
    let path = pipe_path("taken");
    let _first = IpcServer::bind(&path).unwrap();
    let e = IpcServer::bind(&path).unwrap_err().to_string();
    assert!(e.contains("another process already owns"), "{e}");
}
