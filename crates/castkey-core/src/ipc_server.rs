//! The local IPC endpoint: JSON-RPC 2.0, one object per line, over a socket
//! only this user can reach (directory 0700, socket 0600, peer uid checked).
//!
//! [`dispatch`] maps one request line to one response and is what tests
//! drive directly; [`IpcServer`] owns the socket and the connections.

use crate::caller::Caller;
use crate::core::Core;
use crate::error::CoreError;
use castkey_ipc::protocol::{Request, Response, RpcError};
use castkey_ipc::{Accounts, Login, Method, Providers, Token, MAX_LINE_BYTES};
use serde_json::Value;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Answers one request line from `caller`; `None` for a notification (a
/// request with no `id` member).
pub async fn dispatch(core: &Arc<Core>, caller: &Caller, line: &[u8]) -> Option<Response> {
    let value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => {
            return Some(Response::failure(
                Value::Null,
                RpcError::parse_error(format!("the request is not JSON: {e}")),
            ))
        }
    };
    let id_of =
        |v: &Value| v.get("id").cloned().filter(|i| i.is_string() || i.is_number()).unwrap_or(Value::Null);
    let request: Request = match serde_json::from_value(value.clone()) {
        Ok(r) => r,
        Err(e) => {
            return Some(Response::failure(
                id_of(&value),
                RpcError::new(
                    castkey_ipc::Reason::InvalidRequest,
                    format!("not a JSON-RPC 2.0 request: {e}"),
                ),
            ))
        }
    };
    if request.jsonrpc != "2.0" {
        return Some(Response::failure(
            id_of(&value),
            RpcError::new(castkey_ipc::Reason::InvalidRequest, "`jsonrpc` must be \"2.0\""),
        ));
    }
    if let Some(id) = &request.id {
        if !(id.is_string() || id.is_number() || id.is_null()) {
            return Some(Response::failure(
                Value::Null,
                RpcError::new(castkey_ipc::Reason::InvalidRequest, "`id` must be a string or a number"),
            ));
        }
    }
    let method = request.method.as_str();
    let result = match method {
        Token::METHOD => {
            call::<Token, _, _>(request.params, |p| async move { core.token(caller, &p).await }).await
        }
        Accounts::METHOD => call::<Accounts, _, _>(request.params, |_| async { Ok(core.accounts()) }).await,
        Providers::METHOD => {
            call::<Providers, _, _>(request.params, |_| async { Ok(core.providers()) }).await
        }
        Login::METHOD => {
            call::<Login, _, _>(request.params, |p| async move { core.login(caller, &p.provider).await })
                .await
        }
        other => Err(RpcError::method_not_found(other)),
    };
    match &result {
        // Debug, not info: a served token is the hot path and must not wait
        // on a log write. Refusals are rarer and worth seeing.
        Ok(_) => tracing::debug!(method, pid = ?caller.pid, "ipc request served"),
        Err(e) => {
            tracing::info!(method, pid = ?caller.pid, reason = ?e.reason(), "ipc request refused: {}", e.message)
        }
    }
    // JSON-RPC 2.0 §4.1: only a request *without* an `id` member is a
    // notification; `"id": null` is answered, with null (serde reads both
    // as `None`, so look at the object itself).
    value.get("id")?;
    let id = request.id.unwrap_or(Value::Null);
    Some(match result {
        Ok(v) => Response::success(id, v),
        Err(e) => Response::failure(id, e),
    })
}

async fn call<M, F, Fut>(params: Option<Value>, f: F) -> Result<Value, RpcError>
where
    M: Method,
    F: FnOnce(M::Params) -> Fut,
    Fut: Future<Output = Result<M::Result, CoreError>>,
{
    let params: M::Params = match params {
        None | Some(Value::Null) => M::Params::default(),
        Some(v @ Value::Object(_)) => serde_json::from_value(v)
            .map_err(|e| RpcError::invalid_params(format!("bad parameters for `{}`: {e}", M::METHOD)))?,
        // JSON-RPC 2.0 §4.2 allows positional params, but Castkey's methods
        // take named ones; serde would map an array onto fields by
        // position, so refuse it rather than guess.
        Some(Value::Array(_)) => {
            return Err(RpcError::invalid_params(format!(
                "`{}` takes its parameters by name (an object), not by position (an array)",
                M::METHOD
            )))
        }
        Some(_) => {
            return Err(RpcError::invalid_params(format!(
                "`{}` takes its parameters as an object",
                M::METHOD
            )))
        }
    };
    let result = f(params).await.map_err(|e| e.to_rpc())?;
    serde_json::to_value(result).map_err(|e| RpcError::new(castkey_ipc::Reason::Internal, e.to_string()))
}

/// The listening socket. Dropping it removes the socket file.
#[derive(Debug)]
pub struct IpcServer {
    /// A std listener, so that binding needs no async runtime (the desktop
    /// shell binds before its runtime serves); [`IpcServer::serve`] adopts it.
    #[cfg(unix)]
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
}

#[cfg(unix)]
impl IpcServer {
    /// Binds `path`: creates its directory 0700 (refusing one that another
    /// user owns or others can enter), removes a stale socket left by a
    /// crash but never one a live broker answers on, and makes the socket 0600.
    pub fn bind(path: &Path) -> Result<Self, CoreError> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let storage = |e: std::io::Error| CoreError::Storage(format!("{}: {e}", path.display()));
        let dir = path.parent().ok_or_else(|| CoreError::Storage("socket path has no directory".into()))?;
        crate::atomic_file::create_private_dir(dir).map_err(storage)?;
        let meta = std::fs::symlink_metadata(dir).map_err(storage)?;
        let uid = castkey_ipc::socket::current_uid();
        if !meta.is_dir() || meta.uid() != uid {
            return Err(CoreError::Storage(format!(
                "{} is not a directory of this user; refusing to listen there",
                dir.display()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(storage)?;
        }
        if std::fs::symlink_metadata(path).is_ok() {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(CoreError::Storage(format!(
                        "another Castkey broker already listens on {}",
                        path.display()
                    )))
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tracing::info!("removing stale socket {}", path.display());
                    std::fs::remove_file(path).map_err(storage)?;
                }
                Err(e) => return Err(storage(e)),
            }
        }
        let listener = std::os::unix::net::UnixListener::bind(path).map_err(storage)?;
        listener.set_nonblocking(true).map_err(storage)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(storage)?;
        Ok(IpcServer { listener, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts connections for ever; drop the future to stop.
    pub async fn serve(self, core: Arc<Core>) {
        let uid = castkey_ipc::socket::current_uid();
        let listener = match self.listener.try_clone().and_then(tokio::net::UnixListener::from_std) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("ipc: cannot serve {}: {e}", self.path.display());
                return;
            }
        };
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("ipc accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let caller = match stream.peer_cred() {
                Ok(c) => Caller::from_peer(c.uid(), c.pid()),
                Err(e) => {
                    tracing::warn!("ipc: no peer credentials ({e}); closing");
                    continue;
                }
            };
            if caller.uid != uid {
                tracing::warn!(peer_uid = caller.uid, "ipc: connection from another user refused");
                continue;
            }
            let core = core.clone();
            tokio::spawn(async move {
                if let Err(e) = serve_connection(stream, &core, &caller).await {
                    tracing::debug!("ipc connection ended: {e}");
                }
            });
        }
    }
}

#[cfg(unix)]
async fn serve_connection(
    stream: tokio::net::UnixStream,
    core: &Arc<Core>,
    caller: &Caller,
) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut reader = BufReader::new(rd);
    loop {
        let mut line = Vec::new();
        let n = (&mut reader).take(MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if line.len() > MAX_LINE_BYTES {
            // The rest of the line is unknown: answer, then close.
            let r = Response::failure(
                Value::Null,
                RpcError::parse_error("the request line is longer than 64 KiB"),
            );
            write_response(&mut wr, &r).await?;
            return Ok(());
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some(response) = dispatch(core, caller, &line).await {
            write_response(&mut wr, &response).await?;
        }
    }
}

async fn write_response<W: AsyncWriteExt + Unpin>(w: &mut W, r: &Response) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await?;
    w.flush().await
}

impl Drop for IpcServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
