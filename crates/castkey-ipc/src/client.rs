//! A small blocking client, for broadcasting apps, scripts and the `castkey`
//! command. No async runtime needed (with the `tokio` feature,
//! [`crate::async_client::AsyncClient`] is the same on tokio).
//!
//! ```no_run
//! use castkey_ipc::{Client, Token, TokenParams};
//! let mut client = Client::connect_default()?;
//! let grant = client.call::<Token>(&TokenParams::default())?;
//! println!("Authorization: {}", grant.headers["Authorization"]);
//! # Ok::<(), castkey_ipc::ClientError>(())
//! ```
//!
//! Before it connects, the client checks the endpoint
//! ([`crate::socket::check_socket`]): a path too long for a socket address
//! or with nothing there is [`ClientError::NotRunning`]; a socket in a
//! directory another user owns or may write to, a socket another user owns,
//! or a file that is not a socket is [`ClientError::Unsafe`], and the client
//! does not connect (another user could be listening there to collect what
//! apps ask for).
//!
//! After [`Client::subscribe`] the broker also sends notifications on the
//! connection. [`Client::call`] sets aside those that arrive while it waits
//! for its answer; [`Client::next_notification`] returns them first.
//!
//! ```no_run
//! use castkey_ipc::notification::ActiveChanged;
//! use castkey_ipc::Client;
//! use std::time::Duration;
//! let mut client = Client::connect_default()?;
//! client.hello("My overlay", "1.2.0")?;
//! client.subscribe()?;
//! while let Some(n) = client.next_notification(Some(Duration::from_secs(60)))? {
//!     if let Some(change) = n.parse::<ActiveChanged>()? {
//!         println!("{} now uses {:?}", change.provider, change.account);
//!     }
//! }
//! # Ok::<(), castkey_ipc::ClientError>(())
//! ```

use crate::notification::Notification;
use crate::protocol::{Request, Response, RpcError};
use crate::{Hello, HelloParams, HelloResult, Method, NoParams, Subscribe, MAX_LINE_BYTES, PROTOCOL_VERSION};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read as _, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[cfg(unix)]
type Stream = std::os::unix::net::UnixStream;
#[cfg(windows)]
type Stream = std::fs::File;

/// How long a client waits for an answer unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many notifications a client keeps while nobody reads them; past
/// that the oldest are dropped.
pub const MAX_QUEUED_NOTIFICATIONS: usize = 1024;

/// How long a client whose request could not be written looks for the
/// broker's reason (a `busy` line sent before it closed the connection).
pub(crate) const REFUSAL_WAIT: Duration = Duration::from_millis(200);

/// What can go wrong talking to Castkey.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the endpoint (no socket there, the socket's
    /// directory is missing, or the path is too long to be a socket).
    #[error("Castkey is not running (nothing listens on {}): start the app or `castkey serve`", path.display())]
    NotRunning { path: PathBuf },
    /// The endpoint is not safe to talk to; the client did not connect.
    #[error(
        "refusing to talk to Castkey on {}: {why}; another user could be listening there \
         (set XDG_RUNTIME_DIR, or CASTKEY_SOCKET to a socket in a directory only you can write)",
        path.display()
    )]
    Unsafe { path: PathBuf, why: String },
    #[error("talking to Castkey failed: {0}")]
    Io(#[from] io::Error),
    #[error("Castkey sent something this client does not understand: {0}")]
    Protocol(String),
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// A notification as it came off the wire: its name and raw parameters.
/// Read it with [`RawNotification::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct RawNotification {
    pub method: String,
    /// `{}` when the line had none.
    pub params: Value,
}

impl RawNotification {
    /// Whether this is notification `N`.
    pub fn is<N: Notification>(&self) -> bool {
        self.method == N::METHOD
    }

    /// The parameters as `N`'s, if this is notification `N`; `Ok(None)` if
    /// it is another one. Unknown fields (from a newer broker) are ignored.
    pub fn parse<N: Notification>(&self) -> Result<Option<N::Params>, ClientError> {
        if !self.is::<N>() {
            return Ok(None);
        }
        serde_json::from_value(self.params.clone()).map(Some).map_err(|e| {
            ClientError::Protocol(format!("notification `{}` with unexpected params: {e}", self.method))
        })
    }
}

/// One connection; requests are answered in order.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<Stream>,
    writer: Stream,
    next_id: u64,
    timeout: Option<Duration>,
    /// The line being read, kept across a timeout so that no byte is lost.
    partial: Vec<u8>,
    notifications: VecDeque<RawNotification>,
}

impl Client {
    /// Connects to the default endpoint (see [`crate::socket`]).
    pub fn connect_default() -> Result<Self, ClientError> {
        Self::connect(&crate::socket::default_socket_path())
    }

    /// Checks the endpoint ([`crate::socket::check_socket`]), then connects.
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        crate::socket::check_socket(path)?;
        let stream = open(path).map_err(|e| connect_error(path, e))?;
        #[cfg(unix)]
        crate::socket::check_peer(path, &stream)?;
        #[cfg(windows)]
        crate::pipe::check_server(path, &stream)?;
        let writer = stream.try_clone()?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
            timeout: Some(DEFAULT_TIMEOUT),
            partial: Vec::new(),
            notifications: VecDeque::new(),
        })
    }

    /// How long a call waits for its answer (30 s unless set); `None` waits
    /// for ever. `login` waits for a person in a browser, so give it minutes.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.timeout = timeout;
        Ok(())
    }

    /// Sends one request and waits for its answer.
    pub fn call<M: Method>(&mut self, params: &M::Params) -> Result<M::Result, ClientError> {
        let value = self.call_raw(M::METHOD, serde_json::to_value(params).map_err(proto)?)?;
        serde_json::from_value(value).map_err(proto)
    }

    /// Sends a request by name with raw JSON parameters (an object) and
    /// waits for its answer. Notifications that arrive meanwhile are kept
    /// for [`Client::next_notification`].
    pub fn call_raw(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = request_line(id, method, params)?;
        if let Err(e) = self.writer.write_all(&line).and_then(|()| self.writer.flush()) {
            return Err(self.refusal_or(e));
        }
        let deadline = self.timeout.map(|t| Instant::now() + t);
        loop {
            let incoming = match self.read_incoming(deadline) {
                Err(ClientError::Io(e)) if is_timeout(&e) => return Err(timed_out(self.timeout)),
                other => other?,
            };
            match incoming {
                Incoming::Notification(n) => self.queue(n),
                Incoming::Response(r) => {
                    if let Some(answer) = answer_for(id, r)? {
                        return answer;
                    }
                }
            }
        }
    }

    /// `hello`: says who this client is (shown to the user beside what the
    /// OS says, never trusted) and learns what the broker speaks. Check
    /// [`HelloResult::capabilities`] before using anything newer than
    /// protocol 1.
    pub fn hello(&mut self, name: &str, version: &str) -> Result<HelloResult, ClientError> {
        self.call::<Hello>(&hello_params(name, version))
    }

    /// `subscribe`: from now on this connection also receives
    /// notifications; read them with [`Client::next_notification`].
    /// Answers the notification names the broker will send.
    pub fn subscribe(&mut self) -> Result<Vec<String>, ClientError> {
        self.call::<Subscribe>(&NoParams {})
    }

    /// The next notification: a kept one first, else one read from the
    /// connection within `timeout` (`None` waits for ever). `Ok(None)` when
    /// none came in time.
    pub fn next_notification(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<RawNotification>, ClientError> {
        if let Some(n) = self.notifications.pop_front() {
            return Ok(Some(n));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            match self.read_incoming(deadline) {
                Err(ClientError::Io(e)) if is_timeout(&e) => return Ok(None),
                Err(e) => return Err(e),
                Ok(Incoming::Notification(n)) => return Ok(Some(n)),
                // An answer to a request given up on (timed out), or an
                // error the broker sends before closing (`busy`).
                Ok(Incoming::Response(r)) => unsolicited(r, self.next_id)?,
            }
        }
    }

    /// Reads the next response line, keeping notifications for
    /// [`Client::next_notification`]. [`Client::call`] does this for you.
    pub fn read_response(&mut self) -> Result<Response, ClientError> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        loop {
            match self.read_incoming(deadline)? {
                Incoming::Notification(n) => self.queue(n),
                Incoming::Response(r) => return Ok(r),
            }
        }
    }

    /// A write failed: if the broker said why before it closed (`busy`),
    /// that, else the write's error.
    fn refusal_or(&mut self, e: io::Error) -> ClientError {
        let deadline = Some(Instant::now() + REFUSAL_WAIT);
        match self.read_incoming(deadline) {
            Ok(Incoming::Response(Response { id: Value::Null, error: Some(err), .. })) => {
                ClientError::Rpc(err)
            }
            _ => ClientError::Io(e),
        }
    }

    fn queue(&mut self, n: RawNotification) {
        if self.notifications.len() >= MAX_QUEUED_NOTIFICATIONS {
            self.notifications.pop_front();
        }
        self.notifications.push_back(n);
    }

    /// Reads one line (by `deadline`) and sorts it.
    fn read_incoming(&mut self, deadline: Option<Instant>) -> Result<Incoming, ClientError> {
        // A socket timeout of zero means "none": wait at least 1 ms.
        let timeout =
            deadline.map(|d| d.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
        set_read_timeout(self.reader.get_ref(), timeout)?;
        let limit = (MAX_LINE_BYTES + 1).saturating_sub(self.partial.len()) as u64;
        // On a timeout, what was read so far stays in `partial`.
        (&mut self.reader).take(limit).read_until(b'\n', &mut self.partial)?;
        let line = std::mem::take(&mut self.partial);
        check_line(&line)?;
        parse_line(&line)
    }
}

/// A line from the broker, sorted.
#[derive(Debug)]
pub(crate) enum Incoming {
    Response(Response),
    Notification(RawNotification),
}

pub(crate) fn connect_error(path: &Path, e: io::Error) -> ClientError {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning { path: path.to_path_buf() }
        }
        _ => ClientError::Io(e),
    }
}

pub(crate) fn hello_params(name: &str, version: &str) -> HelloParams {
    HelloParams { name: Some(name.into()), version: Some(version.into()), protocol: Some(PROTOCOL_VERSION) }
}

/// A request, serialised, with its newline.
pub(crate) fn request_line(id: u64, method: &str, params: Value) -> Result<Vec<u8>, ClientError> {
    let mut line = serde_json::to_vec(&Request::new(id, method, params)).map_err(proto)?;
    if line.len() > MAX_LINE_BYTES {
        return Err(ClientError::Protocol(format!(
            "request of {} bytes is over the protocol's limit of {MAX_LINE_BYTES}",
            line.len()
        )));
    }
    line.push(b'\n');
    Ok(line)
}

/// Whether a line read is complete: it ends in a newline, else the limit
/// was hit or the connection closed.
pub(crate) fn check_line(line: &[u8]) -> Result<(), ClientError> {
    if line.last() == Some(&b'\n') {
        return Ok(());
    }
    if line.len() > MAX_LINE_BYTES {
        return Err(ClientError::Protocol(format!("a line from Castkey is over {MAX_LINE_BYTES} bytes")));
    }
    let what = if line.is_empty() {
        "Castkey closed the connection"
    } else {
        "Castkey closed the connection mid-line"
    };
    Err(ClientError::Io(io::Error::new(io::ErrorKind::UnexpectedEof, what)))
}

/// A response (it has an `id`, even `null`) or a notification (a `method`
/// and no `id`).
pub(crate) fn parse_line(line: &[u8]) -> Result<Incoming, ClientError> {
    let value: Value = serde_json::from_slice(line).map_err(proto)?;
    let Value::Object(mut object) = value else {
        return Err(ClientError::Protocol("a line that is not a JSON object".into()));
    };
    if object.contains_key("id") {
        let response: Response = serde_json::from_value(Value::Object(object)).map_err(proto)?;
        return Ok(Incoming::Response(response));
    }
    match object.remove("method") {
        Some(Value::String(method)) => {
            let params = match object.remove("params") {
                None | Some(Value::Null) => Value::Object(Default::default()),
                Some(p) => p,
            };
            Ok(Incoming::Notification(RawNotification { method, params }))
        }
        _ => Err(ClientError::Protocol("a line with neither `id` nor `method`".into())),
    }
}

/// What a response means to a client waiting for request `id`: its answer,
/// `None` for an answer to an earlier request it gave up on, or an error.
/// An error with `"id": null` is the broker refusing the request it could
/// not read (or the connection: `busy`), so it is the answer too.
pub(crate) fn answer_for(
    id: u64,
    response: Response,
) -> Result<Option<Result<Value, ClientError>>, ClientError> {
    match &response.id {
        Value::Number(n) if n.as_u64() == Some(id) => Ok(Some(outcome(response))),
        Value::Number(n) if n.as_u64().is_some_and(|earlier| earlier < id) => Ok(None),
        Value::Null if response.error.is_some() => Ok(Some(outcome(response))),
        other => {
            Err(ClientError::Protocol(format!("an answer to request {other} arrived while waiting for {id}")))
        }
    }
}

/// A response that arrived while no request was waiting (`next_id` is the
/// next id to send): dropped if it answers a request given up on, an
/// error if the broker refused the connection.
pub(crate) fn unsolicited(response: Response, next_id: u64) -> Result<(), ClientError> {
    match (&response.id, response.error) {
        (Value::Number(n), _) if n.as_u64().is_some_and(|earlier| earlier < next_id) => Ok(()),
        (Value::Null, Some(err)) => Err(ClientError::Rpc(err)),
        (other, _) => {
            Err(ClientError::Protocol(format!("an answer to request {other}, which was never sent")))
        }
    }
}

fn outcome(response: Response) -> Result<Value, ClientError> {
    match (response.result, response.error) {
        (_, Some(err)) => Err(ClientError::Rpc(err)),
        (Some(result), None) => Ok(result),
        (None, None) => Err(ClientError::Protocol("response with neither result nor error".into())),
    }
}

pub(crate) fn timed_out(timeout: Option<Duration>) -> ClientError {
    let secs = timeout.map_or(0, |t| t.as_secs());
    ClientError::Io(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("Castkey did not answer within {secs} s"),
    ))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

pub(crate) fn proto(e: serde_json::Error) -> ClientError {
    ClientError::Protocol(e.to_string())
}

#[cfg(unix)]
fn open(path: &Path) -> io::Result<Stream> {
    Stream::connect(path)
}

/// Opens the pipe as a file, at impersonation level
/// `SECURITY_IDENTIFICATION` (as tokio's `ClientOptions` does): the server
/// may learn who this is but cannot act as this user. Every instance busy:
/// tries again for a moment; no pipe of that name (`ERROR_FILE_NOT_FOUND`)
/// is "not running".
#[cfg(windows)]
fn open(path: &Path) -> io::Result<Stream> {
    use std::os::windows::fs::OpenOptionsExt as _;
    let deadline = Instant::now() + crate::pipe::BUSY_WAIT;
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).security_qos_flags(crate::pipe::SECURITY_IDENTIFICATION);
    loop {
        match options.open(path) {
            Err(e) if crate::pipe::is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(crate::pipe::BUSY_RETRY)
            }
            other => return other,
        }
    }
}

#[cfg(unix)]
fn set_read_timeout(stream: &Stream, timeout: Option<Duration>) -> io::Result<()> {
    stream.set_read_timeout(timeout)
}

/// A pipe opened for blocking reads has no read timeout: on Windows this
/// client waits until the broker writes (see docs/platforms.md).
#[cfg(windows)]
fn set_read_timeout(_stream: &Stream, _timeout: Option<Duration>) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::{ActiveChanged, SignedIn};
    use serde_json::json;

    fn response(id: Value, result: Option<Value>, error: Option<RpcError>) -> Response {
        Response { jsonrpc: "2.0".into(), id, result, error }
    }

    #[test]
    fn lines_sort_into_responses_and_notifications() {
        let n = r#"{"jsonrpc":"2.0","method":"signed_in","params":{"account":{"id":"a","provider":"p","display_name":"A"},"new_field":1}}"#;
        let Incoming::Notification(n) = parse_line(n.as_bytes()).unwrap() else { panic!("a notification") };
        assert!(n.is::<SignedIn>());
        assert_eq!(n.parse::<ActiveChanged>().unwrap(), None);
        assert_eq!(n.parse::<SignedIn>().unwrap().unwrap().account.id, "a");
        // `"id": null` is a response, not a notification.
        let r = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#;
        assert!(matches!(parse_line(r.as_bytes()).unwrap(), Incoming::Response(_)));
        let bare = r#"{"jsonrpc":"2.0","method":"signed_out"}"#;
        let Incoming::Notification(n) = parse_line(bare.as_bytes()).unwrap() else {
            panic!("a notification")
        };
        assert_eq!(n.params, json!({}));
        assert!(matches!(parse_line(b"[1]"), Err(ClientError::Protocol(_))));
        assert!(matches!(parse_line(br#"{"jsonrpc":"2.0"}"#), Err(ClientError::Protocol(_))));
    }

    #[test]
    fn answers_are_matched_to_their_request() {
        let ok = answer_for(3, response(json!(3), Some(json!(1)), None)).unwrap().unwrap();
        assert_eq!(ok.unwrap(), json!(1));
        // An answer to a request given up on is skipped.
        assert!(answer_for(3, response(json!(2), Some(json!(1)), None)).unwrap().is_none());
        // A refusal of an unreadable line answers the request that was sent.
        let busy = RpcError::new(crate::Reason::Busy, "busy");
        let err = answer_for(3, response(Value::Null, None, Some(busy))).unwrap().unwrap().unwrap_err();
        assert!(matches!(err, ClientError::Rpc(e) if e.reason() == Some(crate::Reason::Busy)));
        assert!(answer_for(3, response(json!(4), Some(json!(1)), None)).is_err());
        assert!(answer_for(3, response(json!("3"), Some(json!(1)), None)).is_err());
        assert!(matches!(
            answer_for(3, response(json!(3), None, None)).unwrap().unwrap(),
            Err(ClientError::Protocol(_))
        ));
    }

    #[test]
    fn an_incomplete_line_is_an_error() {
        assert!(check_line(b"{}\n").is_ok());
        assert!(
            matches!(check_line(b""), Err(ClientError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof)
        );
        assert!(matches!(check_line(b"{"), Err(ClientError::Io(_))));
        let long = vec![b'x'; MAX_LINE_BYTES + 1];
        assert!(matches!(check_line(&long), Err(ClientError::Protocol(_))));
    }

    #[test]
    fn an_oversized_request_is_not_sent() {
        let big = json!({ "scope": "x".repeat(MAX_LINE_BYTES) });
        assert!(matches!(request_line(1, "token", big), Err(ClientError::Protocol(_))));
        let line = request_line(7, "token", json!({})).unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(serde_json::from_slice::<Value>(&line).unwrap()["id"], 7);
    }
}
