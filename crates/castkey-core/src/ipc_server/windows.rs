//! The broker's endpoint on Windows: the named pipe `\\.\pipe\castkey-<user>`
//! (`castkey_ipc::socket::default_socket_path`), the same line protocol and
//! limits as the Unix socket.
//!
//! - Every instance of the pipe has a protected DACL that grants only this
//!   user's SID (read from this process's token), and rejects remote
//!   clients (`castkey_ipc::pipe::OwnerOnlyPipe`).
//! - The first instance is made with `FILE_FLAG_FIRST_PIPE_INSTANCE` by
//!   [`IpcServer::bind`]: if any process already has a pipe of that name
//!   (another broker, or a squatter waiting for apps), binding fails. There
//!   is no stale pipe to clean up: a pipe goes away with its last handle.
//! - Each client: its process id (`GetNamedPipeClientProcessId`), refused
//!   unless that process's token user is ours, then its executable
//!   (`QueryFullProcessImageNameW`) for consent ([`Caller::from_pipe_client`]).
//! - Connections are tokio tasks (the Unix thread per connection was a
//!   Linux measurement), with the accept loop tokio's named_pipe module
//!   documents: the next instance exists before the connected one is
//!   handed over, so a client never finds no pipe.
//!
//! Compiled for `x86_64-pc-windows-gnu` on Linux, never run: see
//! docs/platforms.md.

#![allow(unsafe_code)]

use super::{
    answer, failure, forward_notifications_if, AsyncWriteExt as _, Caller, ClientSession, Core, CoreError,
    CoreEvent, IpcLimits, IpcServer, Path, Reason, RpcError, MAX_LINE_BYTES,
};
use castkey_ipc::pipe::{self as os, OwnerOnlyPipe};
use std::io;
use std::os::windows::io::{IntoRawHandle as _, OwnedHandle};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader, WriteHalf};
use tokio::net::windows::named_pipe::NamedPipeServer;

/// The pipe an [`IpcServer`] serves on Windows.
#[derive(Debug)]
pub(super) struct Pipe {
    pipe: OwnerOnlyPipe,
    /// The instance [`IpcServer::bind`] made, until [`IpcServer::serve`]
    /// adopts it (binding needs no runtime; serving does).
    first: Option<OwnedHandle>,
    /// This process's user SID: the only user served.
    user: String,
}

impl IpcServer {
    /// Binds the named pipe `path`: makes its first instance, only this
    /// user's, and fails if any process already has a pipe of that name.
    pub fn bind(path: &Path) -> Result<Self, CoreError> {
        let failed = |e: io::Error| CoreError::Storage(format!("{}: {e}", path.display()));
        let user = os::current_user_sid().map_err(failed)?;
        let pipe = OwnerOnlyPipe::new(path, &user).map_err(failed)?;
        let first = pipe.create_instance(true).map_err(|e| match e.kind() {
            // FILE_FLAG_FIRST_PIPE_INSTANCE on a name that exists:
            // ERROR_ACCESS_DENIED.
            io::ErrorKind::PermissionDenied => CoreError::Storage(format!(
                "another process already owns {} (another Castkey broker, or a program squatting the \
                 name); refusing to listen there",
                path.display()
            )),
            _ => failed(e),
        })?;
        Ok(IpcServer {
            pipe: Pipe { pipe, first: Some(first), user },
            path: path.to_path_buf(),
            limits: IpcLimits::default(),
        })
    }

    /// The same server with other limits (tests of the limits).
    pub fn with_limits(mut self, limits: IpcLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts connections for ever; drop the future to stop.
    pub async fn serve(mut self, core: Arc<Core>) {
        let adopted = match self.pipe.first.take() {
            Some(first) => adopt(first),
            None => Err(io::Error::other("the pipe is already served")),
        };
        let mut server = match adopted {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("ipc: cannot serve {}: {e}", self.path.display());
                return;
            }
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(self.limits.max_connections));
        let idle = self.limits.idle;
        loop {
            let connected = server.connect().await;
            // The next instance first, then hand this one over: a client
            // never finds no instance (and gets "not running").
            let next = loop {
                match self.pipe.pipe.create_instance(false).and_then(adopt) {
                    Ok(next) => break next,
                    Err(e) => {
                        tracing::warn!("ipc: cannot make the next instance of the pipe: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            };
            let client = std::mem::replace(&mut server, next);
            if let Err(e) = connected {
                tracing::debug!("ipc: a client was gone before it was served: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tokio::spawn(refuse_busy(client));
                continue;
            };
            let core = core.clone();
            let user = self.pipe.user.clone();
            tokio::spawn(async move {
                let Some(caller) = identify(&client, &user) else { return };
                let mut session = core.gate.session(caller);
                if let Err(e) = serve_connection(client, &core, &mut session, idle).await {
                    tracing::debug!("ipc connection ended: {e}");
                }
                core.end_tally(&mut session);
                drop(slot);
            });
        }
    }
}

/// A pipe instance from `OwnerOnlyPipe::create_instance`, registered with
/// this runtime.
fn adopt(instance: OwnedHandle) -> io::Result<NamedPipeServer> {
    // SAFETY: the handle is a named pipe instance opened for overlapped I/O
    // (create_instance), and `into_raw_handle` gives up our ownership, so the
    // server is its sole owner, as from_raw_handle requires.
    unsafe { NamedPipeServer::from_raw_handle(instance.into_raw_handle()) }
}

/// Who is on the other end of `client`, if it runs as `user` (a SID).
fn identify(client: &NamedPipeServer, user: &str) -> Option<Caller> {
    let pid = match os::client_pid(client) {
        Ok(pid) => pid,
        Err(e) => {
            tracing::warn!("ipc: no client process id ({e}); closing");
            return None;
        }
    };
    match os::process_user_sid(pid) {
        Ok(sid) if sid == user => {}
        Ok(sid) => {
            tracing::warn!(pid, peer_sid = %sid, "ipc: connection from another user refused");
            return None;
        }
        Err(e) => {
            tracing::warn!(pid, "ipc: cannot tell which user the client runs as ({e}); closing");
            return None;
        }
    }
    let executable = os::process_executable(pid)
        .map_err(|e| tracing::debug!(pid, "ipc: the client's executable cannot be read: {e}"))
        .ok();
    Some(Caller::from_pipe_client(pid, executable))
}

/// One `busy` error line (best effort, a second at most), then close.
async fn refuse_busy(mut client: NamedPipeServer) {
    let error =
        RpcError::new(Reason::Busy, "Castkey serves as many connections as it can; try again shortly");
    let mut line = failure("null", &error);
    line.push(b'\n');
    let _ = tokio::time::timeout(Duration::from_secs(1), client.write_all(&line)).await;
}

type Writer = tokio::sync::Mutex<WriteHalf<NamedPipeServer>>;

async fn write_line(writer: &Writer, mut bytes: Vec<u8>) -> io::Result<()> {
    bytes.push(b'\n');
    writer.lock().await.write_all(&bytes).await
}

/// Serves one connection until the client hangs up, sends an oversized
/// line, or sends no complete line for `idle` (unless subscribed), as the
/// Unix server does. Notifications of a subscribed connection are written
/// by a task of their own, line by line under the same lock as the answers.
async fn serve_connection(
    client: NamedPipeServer,
    core: &Arc<Core>,
    session: &mut ClientSession,
    idle: Duration,
) -> io::Result<()> {
    let (reader, writer) = tokio::io::split(client);
    let writer = Arc::new(Writer::new(writer));
    let mut reader = BufReader::new(reader);
    let mut notifier: Option<tokio::task::JoinHandle<()>> = None;
    let mut line = Vec::new();
    let outcome = loop {
        let room = (MAX_LINE_BYTES + 1).saturating_sub(line.len()) as u64;
        let mut limited = (&mut reader).take(room);
        let read = limited.read_until(b'\n', &mut line);
        let read = if session.subscribed {
            read.await
        } else {
            match tokio::time::timeout(idle, read).await {
                Ok(read) => read,
                Err(_elapsed) => {
                    tracing::debug!(client = %session.identity, "ipc: idle connection closed");
                    break Ok(());
                }
            }
        };
        match read {
            Ok(0) => break Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if line.len() > MAX_LINE_BYTES {
            // The rest of the line is unknown: answer, then close.
            let r = failure("null", &RpcError::parse_error("the request line is longer than 64 KiB"));
            break write_line(&writer, r).await;
        } else {
            // End of input in the middle of a line: nothing to answer.
            continue;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            let was_subscribed = session.subscribed;
            if let Some(response) = answer(core, session, &line).await {
                if let Err(e) = write_line(&writer, response).await {
                    break Err(e);
                }
            }
            if session.subscribed && !was_subscribed {
                // Subscribed: never idle; notifications from now on.
                let writer = writer.clone();
                let (listener, identity) = (core.clone(), session.identity.clone());
                let hears = move |e: &CoreEvent| listener.hears(&identity, e);
                notifier =
                    Some(tokio::spawn(forward_notifications_if(core.subscribe(), hears, move |bytes| {
                        let w = writer.clone();
                        async move { write_line(&w, bytes).await.is_ok() }
                    })));
            }
        }
        line.clear();
    };
    if let Some(n) = notifier {
        n.abort();
    }
    outcome
}
