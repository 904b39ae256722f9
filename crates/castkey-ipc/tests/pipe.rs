//! Windows only: the broker's owner-only named pipe, opened by this
//! process as a client. Nothing here runs on Linux or macOS; see
//! docs/platforms.md for where it was run.
#![cfg(windows)]
#![allow(clippy::unwrap_used)]
// tokio's NamedPipeServer::from_raw_handle, as castkey-core's server uses it.
#![allow(unsafe_code)]

use castkey_ipc::pipe::{self, OwnerOnlyPipe};
use castkey_ipc::{Client, ClientError};
use std::os::windows::io::IntoRawHandle as _;
use std::path::PathBuf;

fn pipe_path(test: &str) -> PathBuf {
    castkey_ipc::socket::pipe_path(&format!("test-{test}-{}", std::process::id()))
}

#[test]
fn the_first_instance_claims_the_name() {
    let path = pipe_path("first");
    let me = pipe::current_user_sid().unwrap();
    assert!(me.starts_with("S-1-"), "{me}");
    let owner = OwnerOnlyPipe::new(&path, &me).unwrap();
    let _first = owner.create_instance(true).unwrap();
    // Anyone else's first instance (a second broker, a squatter) fails...
    let again = OwnerOnlyPipe::new(&path, &me).unwrap().create_instance(true).unwrap_err();
    assert_eq!(again.kind(), std::io::ErrorKind::PermissionDenied, "{again}");
    // ...while the owner's further instances do not.
    let _second = owner.create_instance(false).unwrap();
    assert!(OwnerOnlyPipe::new(&path, "WD").is_err(), "only a SID goes into the DACL");
}

#[test]
fn both_ends_see_this_process_and_user() {
    let path = pipe_path("ends");
    let me = pipe::current_user_sid().unwrap();
    let owner = OwnerOnlyPipe::new(&path, &me).unwrap();
    let server = owner.create_instance(true).unwrap();
    let client = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    assert_eq!(pipe::client_pid(&server).unwrap(), std::process::id());
    assert_eq!(pipe::server_pid(&client).unwrap(), std::process::id());
    assert_eq!(pipe::process_user_sid(std::process::id()).unwrap(), me);
    pipe::check_server(&path, &client).unwrap();
    let exe = pipe::process_executable(std::process::id()).unwrap();
    assert_eq!(exe.file_name(), std::env::current_exe().unwrap().file_name());
}

#[test]
fn nothing_there_is_not_running() {
    let path = pipe_path("absent");
    assert!(matches!(Client::connect(&path), Err(ClientError::NotRunning { .. })));
}

#[test]
fn the_blocking_client_talks_over_the_pipe() {
    let path = pipe_path("blocking");
    let me = pipe::current_user_sid().unwrap();
    let owner = OwnerOnlyPipe::new(&path, &me).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let serving = rt.spawn(answer_one(owner.create_instance(true).unwrap()));
    let client = std::thread::spawn(move || {
        let mut client = Client::connect(&path).unwrap();
        client.call_raw("hello", serde_json::json!({})).unwrap()
    });
    rt.block_on(serving).unwrap();
    assert_eq!(client.join().unwrap(), serde_json::json!({"ok": true}));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn the_async_client_talks_over_the_pipe() {
    use castkey_ipc::AsyncClient;
    let path = pipe_path("async");
    let me = pipe::current_user_sid().unwrap();
    let owner = OwnerOnlyPipe::new(&path, &me).unwrap();
    let serving = tokio::spawn(answer_one(owner.create_instance(true).unwrap()));
    let mut client = AsyncClient::connect(&path).await.unwrap();
    let answer = client.call_raw("hello", serde_json::json!({})).await.unwrap();
    assert_eq!(answer, serde_json::json!({"ok": true}));
    serving.await.unwrap();
}

/// Serves one request on `instance`: `{"ok": true}` for its id.
async fn answer_one(instance: std::os::windows::io::OwnedHandle) {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    // SAFETY: an overlapped named pipe instance from create_instance, whose
    // ownership `into_raw_handle` gives up.
    let server = unsafe {
        tokio::net::windows::named_pipe::NamedPipeServer::from_raw_handle(instance.into_raw_handle())
    }
    .unwrap();
    server.connect().await.unwrap();
    let (reader, mut writer) = tokio::io::split(server);
    let mut line = String::new();
    tokio::io::BufReader::new(reader).read_line(&mut line).await.unwrap();
    let request: serde_json::Value = serde_json::from_str(&line).unwrap();
    let answer = serde_json::json!({"jsonrpc": "2.0", "id": request["id"], "result": {"ok": true}});
    let mut bytes = serde_json::to_vec(&answer).unwrap();
    bytes.push(b'\n');
    writer.write_all(&bytes).await.unwrap();
    writer.flush().await.unwrap();
}
