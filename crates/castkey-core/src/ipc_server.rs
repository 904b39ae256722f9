//! The local IPC endpoint: JSON-RPC 2.0, one object per line, over a socket
//! only this user can reach (directory 0700, socket 0600, peer uid checked).
//!
//! [`dispatch`] maps one request line to one response and is what tests
//! drive directly; [`IpcServer`] owns the socket and the connections: at
//! most [`IpcLimits::max_connections`] at once, each closed after
//! [`IpcLimits::idle`] without reading anything (unless subscribed). Each
//! connection is served on a thread of its own with blocking reads and
//! writes (the runtime drives the core's futures): the per-request cost is
//! that of the simplest line server (see docs/performance.md).
//!
//! The request line is parsed once, borrowing from the line (no `Value`
//! tree), and the answer is written straight from the result type: the
//! hot path's cost is the broker's, not the envelope's.

use crate::caller::Caller;
use crate::consent::{ClientSession, Standing};
use crate::core::Core;
use crate::error::CoreError;
use crate::event::CoreEvent;
use crate::grant::SignInFor;
use castkey_ipc::notification as note;
use castkey_ipc::protocol::{Response, RpcError};
use castkey_ipc::{
    Accounts, Activity, AddProvider, AllowApp, Apps, DeviceCode, Hello, Login, LoginWithCode, Method,
    ProviderTemplates, Providers, Reason, RemoveProvider, RevokeApp, SignOut, Status, Subscribe, Switch,
    Token, MAX_LINE_BYTES,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[cfg(windows)]
mod windows;

/// The request envelope, borrowed from the line. Unknown members are
/// ignored (JSON-RPC 2.0 allows extensions).
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    /// `Some` whenever the member is present, `null` included: only a
    /// missing `id` makes a notification (JSON-RPC 2.0 §4.1).
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Answers one request line from `session`; `None` for a notification (a
/// request with no `id` member). What the server writes, parsed back.
pub async fn dispatch(core: &Arc<Core>, session: &mut ClientSession, line: &[u8]) -> Option<Response> {
    let bytes = answer(core, session, line).await?;
    Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        Response::failure(serde_json::Value::Null, RpcError::new(Reason::Internal, e.to_string()))
    }))
}

/// The answer line (without its newline) to one request line.
async fn answer(core: &Arc<Core>, session: &mut ClientSession, line: &[u8]) -> Option<Vec<u8>> {
    const NULL: &str = "null";
    let envelope: Envelope = match serde_json::from_slice(line) {
        Ok(e) => e,
        Err(e) => {
            let error = match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
                Err(_) => RpcError::parse_error(format!("the request is not JSON: {e}")),
                Ok(_) => invalid(format!("not a JSON-RPC 2.0 request object: {e}")),
            };
            return Some(failure(&id_of(line), &error));
        }
    };
    let id = match envelope.id {
        Some(raw) if !is_id(raw) => {
            return Some(failure(NULL, &invalid("`id` must be a string, a number or null")));
        }
        Some(raw) => raw.get(),
        None => NULL,
    };
    let notification = envelope.id.is_none();
    if envelope.jsonrpc.as_deref() != Some("2.0") {
        return Some(failure(id, &invalid("`jsonrpc` must be \"2.0\"")));
    }
    let method = envelope.method.as_ref();
    let result = run(core, session, method, envelope.params).await;
    if let Err(e) = &result {
        tracing::info!(method, pid = ?session.caller.pid, client = %session.identity, reason = ?e.reason(),
            "ipc request refused: {}", e.message);
    }
    if notification {
        return None;
    }
    Some(match result {
        Ok(bytes) => success(id, &bytes),
        Err(e) => failure(id, &e),
    })
}

fn invalid(message: impl Into<String>) -> RpcError {
    RpcError::new(Reason::InvalidRequest, message)
}

fn is_id(raw: &RawValue) -> bool {
    let s = raw.get().trim_start();
    s.starts_with('"') || s.starts_with('-') || s.starts_with(|c: char| c.is_ascii_digit()) || s == "null"
}

/// The `id` of a line that failed to parse as a request, if it is an
/// object with a usable one.
fn id_of(line: &[u8]) -> String {
    #[derive(Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow, default)]
        id: Option<&'a RawValue>,
    }
    match serde_json::from_slice::<IdOnly>(line) {
        Ok(IdOnly { id: Some(raw) }) if is_id(raw) => raw.get().to_string(),
        _ => "null".into(),
    }
}

fn success(id: &str, result: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(result.len() + id.len() + 32);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b",\"result\":");
    out.extend_from_slice(result);
    out.push(b'}');
    out
}

fn failure(id: &str, error: &RpcError) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b",\"error\":");
    if serde_json::to_writer(&mut out, error).is_err() {
        out.extend_from_slice(b"{\"code\":-32603,\"message\":\"internal error\"}");
    }
    out.push(b'}');
    out
}

/// Runs `method`; the serialised result. Who may call it comes from the
/// method table ([`castkey_ipc::access_of`]) and is checked here, before
/// any handler runs: a handler cannot forget it.
async fn run(
    core: &Arc<Core>,
    session: &mut ClientSession,
    method: &str,
    params: Option<&RawValue>,
) -> Result<Vec<u8>, RpcError> {
    let access = castkey_ipc::access_of(method).ok_or_else(|| RpcError::method_not_found(method))?;
    // `token`'s prompt shows the account and scopes it asks for.
    let token = match method {
        Token::METHOD => Some(params_of::<Token>(params)?),
        _ => None,
    };
    let standing = core.gate(session, method, access, token.as_ref()).await.map_err(|e| e.to_rpc())?;
    match method {
        Hello::METHOD => {
            let p = params_of::<Hello>(params)?;
            to_bytes(&core.hello(session, &p))
        }
        Token::METHOD => {
            let p = token.unwrap_or_default();
            let served = core.token_json(session, &p, standing).await.map_err(|e| e.to_rpc())?;
            Ok(served.json.to_vec())
        }
        Accounts::METHOD => {
            params_of::<Accounts>(params)?;
            to_bytes(&core.accounts_for(session, &standing))
        }
        Providers::METHOD => {
            params_of::<Providers>(params)?;
            to_bytes(&core.providers())
        }
        Login::METHOD => {
            let p = params_of::<Login>(params)?;
            if matches!(standing, Standing::User) {
                return respond(core.login(&session.caller, &p.provider, SignInFor::Person).await);
            }
            let outcome = core.login(&session.caller, &p.provider, SignInFor::Program).await;
            core.bind_program_sign_in(&session.identity, &outcome);
            respond(outcome)
        }
        LoginWithCode::METHOD => {
            let p = params_of::<LoginWithCode>(params)?;
            let started = match standing {
                Standing::User => core.begin_device_sign_in(&p.provider).await,
                _ => {
                    let identity = session.identity.clone();
                    core.begin_device_sign_in_then(&p.provider, SignInFor::Program, move |core, outcome| {
                        core.bind_program_sign_in(&identity, outcome)
                    })
                    .await
                }
            };
            respond(started.map(|d| DeviceCode {
                provider: d.provider,
                user_code: d.user_code,
                verification_uri: d.verification_uri,
                verification_uri_complete: d.verification_uri_complete,
                expires_at: d.expires_at,
            }))
        }
        Switch::METHOD => {
            let p = params_of::<Switch>(params)?;
            respond(core.switch_for(session, &standing, &p.account))
        }
        Subscribe::METHOD => {
            params_of::<Subscribe>(params)?;
            session.subscribed = true;
            to_bytes(&note::NOTIFICATIONS)
        }
        SignOut::METHOD => {
            let p = params_of::<SignOut>(params)?;
            respond(core.sign_out(&p.account).await)
        }
        Status::METHOD => {
            params_of::<Status>(params)?;
            to_bytes(&core.status())
        }
        Apps::METHOD => {
            params_of::<Apps>(params)?;
            to_bytes(&core.apps())
        }
        AllowApp::METHOD => {
            let p = params_of::<AllowApp>(params)?;
            respond(core.allow_app(&p))
        }
        RevokeApp::METHOD => {
            let p = params_of::<RevokeApp>(params)?;
            respond(core.revoke_app(&p))
        }
        Activity::METHOD => {
            let p = params_of::<Activity>(params)?;
            to_bytes(&core.activity(&p))
        }
        AddProvider::METHOD => {
            let p = params_of::<AddProvider>(params)?;
            respond(core.add_provider(&p).await)
        }
        RemoveProvider::METHOD => {
            let p = params_of::<RemoveProvider>(params)?;
            respond(core.remove_provider(&p.provider).await)
        }
        ProviderTemplates::METHOD => {
            params_of::<ProviderTemplates>(params)?;
            to_bytes(&core.provider_templates())
        }
        // In the table but not served here: a test catches it.
        other => Err(RpcError::method_not_found(other)),
    }
}

fn respond<T: Serialize>(result: Result<T, CoreError>) -> Result<Vec<u8>, RpcError> {
    to_bytes(&result.map_err(|e| e.to_rpc())?)
}

fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, RpcError> {
    serde_json::to_vec(value).map_err(|e| RpcError::new(Reason::Internal, e.to_string()))
}

/// The parameters of `M`: absent or `null` is the default; an object is
/// read by name; anything else is refused.
fn params_of<M: Method>(params: Option<&RawValue>) -> Result<M::Params, RpcError> {
    let Some(raw) = params else { return Ok(M::Params::default()) };
    let text = raw.get().trim_start();
    match text.as_bytes().first() {
        Some(b'n') if text.trim_end() == "null" => Ok(M::Params::default()),
        Some(b'{') => serde_json::from_str(text)
            .map_err(|e| RpcError::invalid_params(format!("bad parameters for `{}`: {e}", M::METHOD))),
        // JSON-RPC 2.0 §4.2 allows positional params, but Castkey's methods
        // take named ones; serde would map an array onto fields by
        // position, so refuse it rather than guess.
        Some(b'[') => Err(RpcError::invalid_params(format!(
            "`{}` takes its parameters by name (an object), not by position (an array)",
            M::METHOD
        ))),
        _ => Err(RpcError::invalid_params(format!("`{}` takes its parameters as an object", M::METHOD))),
    }
}

/// Sends a subscribed connection the notification line of each event it
/// hears (`hears`: a program bound to an account hears that account's
/// only, [`Core::hears`]), through `send` (false: the client is gone),
/// until the core stops.
async fn forward_notifications_if<F, Sent>(
    mut events: tokio::sync::broadcast::Receiver<CoreEvent>,
    hears: impl Fn(&CoreEvent) -> bool,
    mut send: F,
) where
    F: FnMut(Vec<u8>) -> Sent,
    Sent: std::future::Future<Output = bool>,
{
    loop {
        match events.recv().await {
            Ok(e) => {
                if !hears(&e) {
                    continue;
                }
                if let Some(bytes) = e.outward().notification {
                    if !send(bytes).await {
                        return;
                    }
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "ipc: a subscriber fell behind; notifications lost");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Limits that keep one misbehaving program from starving the others.
#[derive(Debug, Clone, Copy)]
pub struct IpcLimits {
    /// Connections served at once, for anyone; more get one `busy` error
    /// and are closed.
    pub max_connections: usize,
    /// Connections beyond `max_connections` kept for programs the user
    /// approved and Castkey's own command, so that one program holding
    /// every ordinary slot shuts out nobody who matters.
    pub reserved: usize,
    /// Connections one program the user has not approved (one user and
    /// executable, whatever script it names) may hold at once. Approved
    /// programs and Castkey's command are bounded by the slots alone (an
    /// OBS with many sources, a benchmark): the reserve keeps room for the
    /// others.
    pub per_program: usize,
    /// A connection that sends no complete line for this long is closed,
    /// however it trickles bytes: the deadline is for the whole line (not
    /// while a request of it runs, nor once it subscribed).
    pub idle: Duration,
}

impl Default for IpcLimits {
    fn default() -> Self {
        IpcLimits { max_connections: 128, reserved: 32, per_program: 32, idle: Duration::from_secs(30) }
    }
}

/// Connections held per program (executable), for [`IpcLimits::per_program`].
#[derive(Debug, Default)]
struct PerProgram(std::sync::Mutex<std::collections::HashMap<String, usize>>);

/// One of a program's connections; counted until dropped.
#[derive(Debug)]
struct Held {
    all: Arc<PerProgram>,
    key: String,
}

impl PerProgram {
    fn take(all: &Arc<PerProgram>, key: String, limit: usize) -> Option<Held> {
        let mut map = all.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key.clone()).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Held { all: all.clone(), key })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut map = self.all.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// The listening socket. Dropping it removes the socket file.
#[derive(Debug)]
pub struct IpcServer {
    /// A std listener, so that binding needs no async runtime (the desktop
    /// shell binds before its runtime serves); [`IpcServer::serve`] adopts it.
    #[cfg(unix)]
    listener: std::os::unix::net::UnixListener,
    #[cfg(windows)]
    pipe: windows::Pipe,
    path: PathBuf,
    limits: IpcLimits,
    /// The socket file's device and inode: dropping removes only that.
    #[cfg(unix)]
    inode: Option<(u64, u64)>,
}

#[cfg(unix)]
impl IpcServer {
    /// Binds `path`. Castkey creates and removes only what is its own:
    /// - the directory is created 0700 if missing; an existing one must be
    ///   this user's and writable by nobody else (it is not chmodded: it may
    ///   be the user's home);
    /// - something at `path` that is not a socket (a regular file, a
    ///   directory) is an error naming it, never removed;
    /// - a socket nobody answers on (left by a crash) is removed, one a live
    ///   broker answers on is an error;
    /// - the socket is made 0600, and dropping the server removes it only
    ///   while it is still this server's (same inode).
    pub fn bind(path: &Path) -> Result<Self, CoreError> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
        let storage = |e: std::io::Error| CoreError::Storage(format!("{}: {e}", path.display()));
        let dir = path.parent().ok_or_else(|| CoreError::Storage("socket path has no directory".into()))?;
        let created = !dir.exists();
        crate::atomic_file::create_private_dir(dir).map_err(storage)?;
        let meta = std::fs::symlink_metadata(dir).map_err(storage)?;
        let uid = castkey_ipc::socket::current_uid();
        if !meta.is_dir() || meta.uid() != uid {
            return Err(CoreError::Storage(format!(
                "{} is not a directory of this user; refusing to listen there",
                dir.display()
            )));
        }
        if created && meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(storage)?;
        } else if meta.mode() & 0o022 != 0 {
            return Err(CoreError::Storage(format!(
                "{} can be written by other users, who could replace the socket; refusing to listen \
                 there (choose another path, or `chmod go-w` it)",
                dir.display()
            )));
        }
        if let Ok(existing) = std::fs::symlink_metadata(path) {
            if !existing.file_type().is_socket() {
                return Err(CoreError::Storage(format!(
                    "{} exists and is not a socket (a {}); Castkey does not remove what is not its own: \
                     move it away or choose another socket path",
                    path.display(),
                    if existing.is_dir() { "directory" } else { "file" }
                )));
            }
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
        let inode = std::fs::symlink_metadata(path).map(|m| (m.dev(), m.ino())).ok();
        Ok(IpcServer { listener, path: path.to_path_buf(), limits: IpcLimits::default(), inode })
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
    pub async fn serve(self, core: Arc<Core>) {
        let uid = castkey_ipc::socket::current_uid();
        let listener = match self.listener.try_clone().and_then(tokio::net::UnixListener::from_std) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("ipc: cannot serve {}: {e}", self.path.display());
                return;
            }
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(self.limits.max_connections));
        let reserve = Arc::new(tokio::sync::Semaphore::new(self.limits.reserved));
        let per_program = Arc::new(PerProgram::default());
        let limits = self.limits;
        let idle = self.limits.idle;
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors, typically: let some close.
                    tracing::warn!("ipc accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // An ordinary slot, else one of the reserve (kept, once the
            // caller is known, only by an approved program or Castkey's command).
            let (slot, reserved) = match slots.clone().try_acquire_owned() {
                Ok(slot) => (slot, false),
                Err(_) => match reserve.clone().try_acquire_owned() {
                    Ok(slot) => (slot, true),
                    Err(_) => {
                        tokio::spawn(refuse_busy(stream));
                        continue;
                    }
                },
            };
            let per_program = per_program.clone();
            let core = core.clone();
            let runtime = tokio::runtime::Handle::current();
            // A thread per connection (at most `max_connections`): a request
            // costs a blocking read and a write, as in the simplest line
            // server, instead of a readiness round trip through the runtime.
            // The core's futures still run on the runtime (`block_on`).
            let spawned = std::thread::Builder::new().name("castkey-ipc".into()).spawn(move || {
                let caller = match stream.peer_cred() {
                    Ok(c) => Caller::from_peer_socket(&stream, c.uid(), c.pid()),
                    Err(e) => {
                        tracing::warn!("ipc: no peer credentials ({e}); closing");
                        return;
                    }
                };
                if caller.uid != uid {
                    tracing::warn!(peer_uid = caller.uid, "ipc: connection from another user refused");
                    return;
                }
                let key = format!("{}:{}", caller.uid, caller.identity().executable);
                let mut session = core.gate.session(caller);
                // The user's programs (approved, or Castkey's command acting
                // for one or for the person) are bounded by the slots alone;
                // any other is held to its quota.
                let known = core.may_use_reserve(&mut session);
                if reserved && !known {
                    busy_blocking(stream);
                    return;
                }
                let held = match known {
                    true => None,
                    false => match PerProgram::take(&per_program, key, limits.per_program) {
                        Some(held) => Some(held),
                        None => {
                            tracing::warn!(client = %session.identity, "ipc: a program holds too many connections; refused");
                            busy_blocking(stream);
                            return;
                        }
                    },
                };
                let served = stream
                    .into_std()
                    .and_then(|s| s.set_nonblocking(false).map(|()| s))
                    .and_then(|s| serve_connection(s, &core, &mut session, idle, &runtime));
                if let Err(e) = served {
                    tracing::debug!("ipc connection ended: {e}");
                }
                core.end_tally(&mut session);
                drop(held);
                drop(slot);
            });
            if let Err(e) = spawned {
                tracing::warn!("ipc: no thread for a connection ({e}); closed");
            }
        }
    }
}

/// Reads what one read brings, up to and including a newline and at most
/// `room` bytes, onto `line`; 0 at end of input. Unlike `read_until`, it
/// returns after each read, so the line's deadline is checked between them.
#[cfg(unix)]
fn read_some(
    reader: &mut std::io::BufReader<std::os::unix::net::UnixStream>,
    line: &mut Vec<u8>,
    room: usize,
) -> std::io::Result<usize> {
    use std::io::BufRead;
    let available = reader.fill_buf()?;
    let window = &available[..available.len().min(room)];
    let n = match window.iter().position(|b| *b == b'\n') {
        Some(i) => i + 1,
        None => window.len(),
    };
    line.extend_from_slice(&window[..n]);
    reader.consume(n);
    Ok(n)
}

/// [`refuse_busy`] from a connection's own thread.
#[cfg(unix)]
fn busy_blocking(stream: tokio::net::UnixStream) {
    use std::io::Write;
    let Ok(mut stream) = stream.into_std() else { return };
    let error =
        RpcError::new(Reason::Busy, "Castkey serves as many connections as it can; try again shortly");
    let mut line = failure("null", &error);
    line.push(b'\n');
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(&line);
}

/// One `busy` error line (best effort, a second at most), then close.
#[cfg(unix)]
async fn refuse_busy(mut stream: tokio::net::UnixStream) {
    let error =
        RpcError::new(Reason::Busy, "Castkey serves as many connections as it can; try again shortly");
    let mut line = failure("null", &error);
    line.push(b'\n');
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&line)).await;
}

/// Serves one connection on this (its own) thread until the client hangs
/// up, sends an oversized line, or is idle for `idle` (unless subscribed).
/// Notifications of a subscribed connection are written by a task on the
/// runtime, line by line under the same lock as the answers.
#[cfg(unix)]
fn serve_connection(
    stream: std::os::unix::net::UnixStream,
    core: &Arc<Core>,
    session: &mut ClientSession,
    idle: Duration,
    runtime: &tokio::runtime::Handle,
) -> std::io::Result<()> {
    use std::io::Write;
    let writer = Arc::new(std::sync::Mutex::new(stream.try_clone()?));
    stream.set_read_timeout(Some(idle))?;
    let control = stream.try_clone()?;
    let mut reader = std::io::BufReader::new(stream);
    let mut notifier: Option<tokio::task::JoinHandle<()>> = None;
    let write_line = |writer: &std::sync::Mutex<std::os::unix::net::UnixStream>, mut bytes: Vec<u8>| {
        bytes.push(b'\n');
        writer.lock().unwrap_or_else(|e| e.into_inner()).write_all(&bytes)
    };
    let mut line = Vec::new();
    // The whole line is due `idle` after the previous answer: a client that
    // trickles a byte now and then is closed all the same. The first read
    // of a line keeps the socket's timeout (`idle`, no extra system call on
    // the hot path); only a line that arrives in pieces shortens it.
    let mut deadline = std::time::Instant::now() + idle;
    let mut shortened = false;
    let outcome = loop {
        if !line.is_empty() && !session.subscribed {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                tracing::debug!(client = %session.identity, "ipc: a line took too long; connection closed");
                break Ok(());
            }
            control.set_read_timeout(Some(left))?;
            shortened = true;
        }
        let room = (MAX_LINE_BYTES + 1).saturating_sub(line.len());
        match read_some(&mut reader, &mut line, room) {
            Ok(0) => break Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                tracing::debug!(client = %session.identity, "ipc: idle connection closed");
                break Ok(());
            }
            Err(e) => break Err(e),
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if shortened && !session.subscribed {
                control.set_read_timeout(Some(idle))?;
                shortened = false;
            }
        } else if line.len() > MAX_LINE_BYTES {
            // The rest of the line is unknown: answer, then close.
            let r = failure("null", &RpcError::parse_error("the request line is longer than 64 KiB"));
            break write_line(&writer, r);
        } else {
            // End of input in the middle of a line: nothing to answer.
            continue;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            let was_subscribed = session.subscribed;
            if let Some(response) = runtime.block_on(answer(core, session, &line)) {
                if let Err(e) = write_line(&writer, response) {
                    break Err(e);
                }
            }
            if session.subscribed && !was_subscribed {
                // Subscribed: never idle; notifications from now on.
                control.set_read_timeout(None)?;
                let writer = writer.clone();
                let (listener, identity) = (core.clone(), session.identity.clone());
                let hears = move |e: &CoreEvent| listener.hears(&identity, e);
                notifier =
                    Some(runtime.spawn(forward_notifications_if(core.subscribe(), hears, move |bytes| {
                        let w = writer.clone();
                        async move {
                            let sent = tokio::task::spawn_blocking(move || write_line(&w, bytes)).await;
                            matches!(sent, Ok(Ok(())))
                        }
                    })));
            }
        }
        line.clear();
        deadline = std::time::Instant::now() + idle;
    };
    if let Some(n) = notifier {
        n.abort();
    }
    outcome
}

#[cfg(unix)]
impl Drop for IpcServer {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        let now = std::fs::symlink_metadata(&self.path).map(|m| (m.dev(), m.ino())).ok();
        if now.is_some() && now == self.inode {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod notification_tests {
    use super::*;

    #[test]
    fn a_revoked_access_reaches_subscribers_as_revoked() {
        let account = castkey_ipc::AccountRef {
            id: "twitch:1001".into(),
            provider: "twitch".into(),
            display_name: "streamer".into(),
        };
        let line = CoreEvent::AccessRevoked { account }.outward().notification.expect("a notification");
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["method"], "revoked");
        assert_eq!(v["params"]["account"]["id"], "twitch:1001");
        assert!(v.get("id").is_none(), "a notification has no id");
        assert!(castkey_ipc::notification::NOTIFICATIONS.contains(&"revoked"));
    }
}
