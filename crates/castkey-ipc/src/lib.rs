//! Castkey's local IPC protocol, version 1, and a small blocking client.
//!
//! This crate is the one source of truth for what crosses the socket: the
//! JSON-RPC 2.0 envelope ([`protocol`]), one type per method with its `METHOD`
//! name ([`methods`]), where the socket lives ([`socket`]) and a client
//! ([`client`]) that broadcasting apps can embed. It has no async runtime and no
//! dependency on the rest of Castkey; with the `tokio` feature it also has
//! an async client (`async_client::AsyncClient`), and with `schema` the wire
//! types derive `schemars::JsonSchema` (docs/schema/ is generated from them).
//! The human-readable contract is `docs/ipc.md`; the two must agree.
//!
//! Framing: one UTF-8 JSON object per line (`\n`), at most [`MAX_LINE_BYTES`]
//! bytes a line, many requests per connection. Access tokens only: no refresh
//! token, client secret or API key ever crosses the socket.

#[cfg(all(any(unix, windows), feature = "tokio"))]
pub mod async_client;
pub mod client;
pub mod methods;
pub mod notification;
#[cfg(windows)]
pub mod pipe;
pub mod protocol;
pub mod socket;
pub mod ui;

#[cfg(all(any(unix, windows), feature = "tokio"))]
pub use async_client::AsyncClient;
pub use client::{Client, ClientError, RawNotification};
pub use methods::*;
pub use protocol::{ErrorData, Reason, Request, Response, RpcError};

/// Version of the protocol this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest line (request or response) either side accepts, newline excluded.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
