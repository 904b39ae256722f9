//! The client for apps on tokio (feature `tokio`): the same surface and
//! the same checks as the blocking [`crate::Client`], with `async` methods.
//!
//! ```no_run
//! # async fn run() -> Result<(), castkey_ipc::ClientError> {
//! use castkey_ipc::notification::TokenRefreshed;
//! use castkey_ipc::{AsyncClient, Token, TokenParams};
//! use std::time::Duration;
//! let mut client = AsyncClient::connect_default().await?;
//! client.hello("My overlay", "1.2.0").await?;
//! let grant = client.call::<Token>(&TokenParams::default()).await?;
//! client.subscribe().await?;
//! while let Some(n) = client.next_notification(Some(Duration::from_secs(60))).await? {
//!     if let Some(refreshed) = n.parse::<TokenRefreshed>()? {
//!         println!("{} has a new token until {}", refreshed.account.id, refreshed.expires_at);
//!     }
//! }
//! # let _ = grant;
//! # Ok(()) }
//! ```
//!
//! A call that is dropped before its answer came (a `select!` that took
//! another branch) leaves the connection usable: the late answer is
//! recognised by its id and skipped.

use crate::client::{
    answer_for, check_line, connect_error, hello_params, parse_line, proto, request_line, timed_out,
    unsolicited, Incoming, DEFAULT_TIMEOUT, MAX_QUEUED_NOTIFICATIONS, REFUSAL_WAIT,
};
use crate::protocol::Response;
use crate::{ClientError, Hello, HelloResult, Method, NoParams, RawNotification, Subscribe, MAX_LINE_BYTES};
use serde_json::Value;
use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
#[cfg(unix)]
use tokio::net::unix::{OwnedReadHalf as ReadHalf, OwnedWriteHalf as WriteHalf};
use tokio::time::Instant;

/// The two halves of a connected named pipe.
#[cfg(windows)]
type ReadHalf = tokio::io::ReadHalf<tokio::net::windows::named_pipe::NamedPipeClient>;
#[cfg(windows)]
type WriteHalf = tokio::io::WriteHalf<tokio::net::windows::named_pipe::NamedPipeClient>;

/// One connection; requests are answered in order.
#[derive(Debug)]
pub struct AsyncClient {
    reader: BufReader<ReadHalf>,
    writer: WriteHalf,
    next_id: u64,
    timeout: Option<Duration>,
    /// The line being read, kept when a read is cut short (timeout, or a
    /// dropped future) so that no byte is lost.
    partial: Vec<u8>,
    notifications: VecDeque<RawNotification>,
}

impl AsyncClient {
    /// Connects to the default endpoint (see [`crate::socket`]).
    pub async fn connect_default() -> Result<Self, ClientError> {
        Self::connect(&crate::socket::default_socket_path()).await
    }

    /// Checks the endpoint ([`crate::socket::check_socket`]), then connects.
    pub async fn connect(path: &Path) -> Result<Self, ClientError> {
        crate::socket::check_socket(path)?;
        let (reader, writer) = open(path).await?;
        Ok(AsyncClient {
            reader: BufReader::new(reader),
            writer,
            next_id: 1,
            timeout: Some(DEFAULT_TIMEOUT),
            partial: Vec::new(),
            notifications: VecDeque::new(),
        })
    }

    /// How long a call waits for its answer (30 s unless set); `None` waits
    /// for ever. `login` waits for a person in a browser, so give it minutes.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// Sends one request and waits for its answer.
    pub async fn call<M: Method>(&mut self, params: &M::Params) -> Result<M::Result, ClientError> {
        let value = self.call_raw(M::METHOD, serde_json::to_value(params).map_err(proto)?).await?;
        serde_json::from_value(value).map_err(proto)
    }

    /// Sends a request by name with raw JSON parameters (an object) and
    /// waits for its answer. Notifications that arrive meanwhile are kept
    /// for [`AsyncClient::next_notification`].
    pub async fn call_raw(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = request_line(id, method, params)?;
        if let Err(e) = self.write(&line).await {
            // If the broker said why before it closed (`busy`), that.
            let deadline = Some(Instant::now() + REFUSAL_WAIT);
            return Err(match self.read_incoming(deadline).await {
                Ok(Some(Incoming::Response(Response { id: Value::Null, error: Some(err), .. }))) => {
                    ClientError::Rpc(err)
                }
                _ => ClientError::Io(e),
            });
        }
        let deadline = self.timeout.map(|t| Instant::now() + t);
        loop {
            match self.read_incoming(deadline).await? {
                None => return Err(timed_out(self.timeout)),
                Some(Incoming::Notification(n)) => self.queue(n),
                Some(Incoming::Response(r)) => {
                    if let Some(answer) = answer_for(id, r)? {
                        return answer;
                    }
                }
            }
        }
    }

    /// `hello`: says who this client is (shown to the user beside what the
    /// OS says, never trusted) and learns what the broker speaks.
    pub async fn hello(&mut self, name: &str, version: &str) -> Result<HelloResult, ClientError> {
        self.call::<Hello>(&hello_params(name, version)).await
    }

    /// `subscribe`: from now on this connection also receives notifications.
    pub async fn subscribe(&mut self) -> Result<Vec<String>, ClientError> {
        self.call::<Subscribe>(&NoParams {}).await
    }

    /// The next notification: a kept one first, else one read from the
    /// connection within `timeout` (`None` waits for ever). `Ok(None)` when
    /// none came in time.
    pub async fn next_notification(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<RawNotification>, ClientError> {
        if let Some(n) = self.notifications.pop_front() {
            return Ok(Some(n));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            match self.read_incoming(deadline).await? {
                None => return Ok(None),
                Some(Incoming::Notification(n)) => return Ok(Some(n)),
                Some(Incoming::Response(r)) => unsolicited(r, self.next_id)?,
            }
        }
    }

    /// Reads the next response line, keeping notifications for
    /// [`AsyncClient::next_notification`]. [`AsyncClient::call`] does this
    /// for you.
    pub async fn read_response(&mut self) -> Result<Response, ClientError> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        loop {
            match self.read_incoming(deadline).await? {
                None => return Err(timed_out(self.timeout)),
                Some(Incoming::Notification(n)) => self.queue(n),
                Some(Incoming::Response(r)) => return Ok(r),
            }
        }
    }

    async fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(line).await?;
        self.writer.flush().await
    }

    fn queue(&mut self, n: RawNotification) {
        if self.notifications.len() >= MAX_QUEUED_NOTIFICATIONS {
            self.notifications.pop_front();
        }
        self.notifications.push_back(n);
    }

    /// Reads one line by `deadline` and sorts it; `None` when the deadline
    /// passed first.
    async fn read_incoming(&mut self, deadline: Option<Instant>) -> Result<Option<Incoming>, ClientError> {
        let read = read_line(&mut self.reader, &mut self.partial);
        let line = match deadline {
            Some(d) => match tokio::time::timeout_at(d, read).await {
                Ok(line) => line?,
                Err(_elapsed) => return Ok(None),
            },
            None => read.await?,
        };
        parse_line(&line).map(Some)
    }
}

/// Reads up to a newline into `partial` (which keeps what was read if the
/// future is dropped), then hands the complete line over.
async fn read_line(reader: &mut BufReader<ReadHalf>, partial: &mut Vec<u8>) -> Result<Vec<u8>, ClientError> {
    let limit = (MAX_LINE_BYTES + 1).saturating_sub(partial.len()) as u64;
    reader.take(limit).read_until(b'\n', partial).await?;
    let line = std::mem::take(partial);
    check_line(&line)?;
    Ok(line)
}

/// Connects to the socket at `path` and checks who listens there.
#[cfg(unix)]
async fn open(path: &Path) -> Result<(ReadHalf, WriteHalf), ClientError> {
    let stream = tokio::net::UnixStream::connect(path).await.map_err(|e| connect_error(path, e))?;
    crate::socket::check_peer(path, &stream)?;
    Ok(stream.into_split())
}

/// Opens the named pipe at `path` (tokio asks for `SECURITY_IDENTIFICATION`:
/// the server may learn who this is but cannot act as this user) and checks
/// who serves it. Every instance busy: tries again for a moment, as tokio's
/// `ClientOptions::open` documents; no pipe of that name is "not running".
#[cfg(windows)]
async fn open(path: &Path) -> Result<(ReadHalf, WriteHalf), ClientError> {
    use tokio::net::windows::named_pipe::ClientOptions;
    let deadline = Instant::now() + crate::pipe::BUSY_WAIT;
    let pipe = loop {
        match ClientOptions::new().open(path) {
            Ok(pipe) => break pipe,
            Err(e) if crate::pipe::is_busy(&e) && Instant::now() < deadline => {
                tokio::time::sleep(crate::pipe::BUSY_RETRY).await
            }
            Err(e) => return Err(connect_error(path, e)),
        }
    };
    crate::pipe::check_server(path, &pipe)?;
    Ok(tokio::io::split(pipe))
}
