//! A small blocking client, for broadcasting apps, scripts and the `castkey`
//! command. No async runtime needed.
//!
//! ```no_run
//! use castkey_ipc::{Client, Token, TokenParams};
//! let mut client = Client::connect_default()?;
//! let grant = client.call::<Token>(&TokenParams::default())?;
//! println!("Authorization: {}", grant.headers["Authorization"]);
//! # Ok::<(), castkey_ipc::ClientError>(())
//! ```

use crate::protocol::{Request, Response, RpcError};
use crate::{Method, MAX_LINE_BYTES};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(unix)]
type Stream = std::os::unix::net::UnixStream;
#[cfg(windows)]
type Stream = std::fs::File;

/// What can go wrong talking to Castkey.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Castkey is not running (nothing listens on {}): start the app or `castkey serve`", path.display())]
    NotRunning { path: PathBuf },
    #[error("talking to Castkey failed: {0}")]
    Io(#[from] io::Error),
    #[error("Castkey sent something this client does not understand: {0}")]
    Protocol(String),
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// One connection; requests are answered in order.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<Stream>,
    writer: Stream,
    next_id: u64,
    timeout: Option<Duration>,
}

impl Client {
    /// Connects to the default endpoint (see [`crate::socket`]).
    pub fn connect_default() -> Result<Self, ClientError> {
        Self::connect(&crate::socket::default_socket_path())
    }

    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream = open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning { path: path.to_path_buf() }
            }
            _ => ClientError::Io(e),
        })?;
        let writer = stream.try_clone()?;
        let mut client = Client { reader: BufReader::new(stream), writer, next_id: 1, timeout: None };
        client.set_timeout(Some(Duration::from_secs(30)))?;
        Ok(client)
    }

    /// How long to wait for an answer; `None` waits for ever. `login` waits
    /// for a person in a browser, so give it minutes.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.timeout = timeout;
        #[cfg(unix)]
        self.reader.get_ref().set_read_timeout(timeout)?;
        Ok(())
    }

    /// Sends one request and waits for its answer.
    pub fn call<M: Method>(&mut self, params: &M::Params) -> Result<M::Result, ClientError> {
        let value = self.call_raw(M::METHOD, serde_json::to_value(params).map_err(proto)?)?;
        serde_json::from_value(value).map_err(proto)
    }

    /// Sends a request by name with raw JSON parameters.
    pub fn call_raw(
        &mut self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = serde_json::to_vec(&Request::new(id, method, params)).map_err(proto)?;
        line.push(b'\n');
        self.writer.write_all(&line)?;
        self.writer.flush()?;
        let response = self.read_response()?;
        if response.id != id {
            return Err(ClientError::Protocol(format!(
                "answer to request {} arrived while waiting for {id}",
                response.id
            )));
        }
        match (response.result, response.error) {
            (_, Some(err)) => Err(ClientError::Rpc(err)),
            (Some(result), None) => Ok(result),
            (None, None) => Err(ClientError::Protocol("response with neither result nor error".into())),
        }
    }

    /// Reads one response line, refusing lines over the protocol's limit.
    pub fn read_response(&mut self) -> Result<Response, ClientError> {
        let mut buf = Vec::new();
        let n = (&mut self.reader).take(MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Err(ClientError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "Castkey closed the connection",
            )));
        }
        if buf.last() != Some(&b'\n') {
            return Err(ClientError::Protocol("response line over 64 KiB or cut short".into()));
        }
        serde_json::from_slice(&buf).map_err(proto)
    }
}

fn proto(e: serde_json::Error) -> ClientError {
    ClientError::Protocol(e.to_string())
}

#[cfg(unix)]
fn open(path: &Path) -> io::Result<Stream> {
    Stream::connect(path)
}

#[cfg(windows)]
fn open(path: &Path) -> io::Result<Stream> {
    std::fs::OpenOptions::new().read(true).write(true).open(path)
}

use std::io::Read as _;
