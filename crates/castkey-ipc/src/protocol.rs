//! The JSON-RPC 2.0 envelope and the error vocabulary.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// A request line as sent by a client. `id` absent means a notification,
/// which by JSON-RPC 2.0 gets no response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Request {
    pub jsonrpc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Request {
    pub fn new(id: u64, method: &str, params: Value) -> Self {
        Request {
            jsonrpc: "2.0".into(),
            id: Some(Value::from(id)),
            method: method.into(),
            params: Some(params),
        }
    }
}

/// A response line. Exactly one of `result` and `error` is present.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Response {
    pub jsonrpc: String,
    pub id: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

impl Response {
    pub fn success(id: Value, result: Value) -> Self {
        Response { jsonrpc: "2.0".into(), id, result: Some(result), error: None }
    }

    pub fn failure(id: Value, error: RpcError) -> Self {
        Response { jsonrpc: "2.0".into(), id, result: None, error: Some(error) }
    }
}

/// Why a request failed, stable across versions: clients branch on this, not
/// on `message`, which is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Reason {
    /// The line was not JSON, too long, not JSON-RPC 2.0, named an unknown
    /// method or carried parameters of the wrong shape.
    InvalidRequest,
    /// No account is signed in for the provider (or at all).
    NotSignedIn,
    /// The named account or provider does not exist.
    UnknownAccount,
    /// The account was not granted the scope asked for.
    ScopeNotGranted,
    /// The provider refused the stored grant: the user must sign in again.
    ReauthRequired,
    /// The provider could not be reached or answered something unusable.
    ProviderUnavailable,
    /// The OS keychain could not be reached (locked, or no Secret Service).
    KeychainUnavailable,
    /// A browser sign-in did not complete (denied, expired, or rejected).
    LoginFailed,
    /// The local client may not do this: a headless broker that does not
    /// list it (the message names the file and the command to allow it), a
    /// client bound to another account, or one of Castkey's own methods.
    ClientNotAllowed,
    /// The user denied this client in the consent prompt (later requests
    /// are refused without asking again for a few minutes).
    ConsentDenied,
    /// Nobody answered the consent prompt in time.
    ConsentTimeout,
    /// The user's policy for this client does not allow a scope it asked for.
    ScopeNotAllowed,
    /// The broker has as many connections as it serves; try again shortly.
    Busy,
    /// A bug or an unexpected condition in Castkey; the message says more.
    Internal,
    /// A reason this version does not know (from a newer broker): read
    /// `code` and `message`.
    #[serde(other)]
    Unknown,
}

impl Reason {
    /// The JSON-RPC error code that goes with the reason.
    pub fn code(self) -> i64 {
        match self {
            Reason::InvalidRequest => -32600,
            Reason::Internal => -32603,
            _ => -32000,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidRequest => "invalid_request",
            Reason::NotSignedIn => "not_signed_in",
            Reason::UnknownAccount => "unknown_account",
            Reason::ScopeNotGranted => "scope_not_granted",
            Reason::ReauthRequired => "reauth_required",
            Reason::ProviderUnavailable => "provider_unavailable",
            Reason::KeychainUnavailable => "keychain_unavailable",
            Reason::LoginFailed => "login_failed",
            Reason::ClientNotAllowed => "client_not_allowed",
            Reason::ConsentDenied => "consent_denied",
            Reason::ConsentTimeout => "consent_timeout",
            Reason::ScopeNotAllowed => "scope_not_allowed",
            Reason::Busy => "busy",
            Reason::Internal => "internal",
            Reason::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorData {
    pub reason: Reason,
    /// A finer, stable code under `reason`, when there is one: for
    /// `keychain_unavailable` one of `keychain_missing`, `keychain_locked`,
    /// `keychain_timed_out`, `keychain_busy`, `keychain_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For `provider_unavailable`: seconds the provider asked to be left
    /// alone (`Retry-After`), when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// A JSON-RPC error object; `data.reason` is always set by Castkey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ErrorData>,
}

impl RpcError {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        RpcError {
            code: reason.code(),
            message: message.into(),
            data: Some(ErrorData { reason, detail: None, retry_after_secs: None }),
        }
    }

    /// The same error with a finer stable code ([`ErrorData::detail`]).
    pub fn with_detail(mut self, detail: &str) -> Self {
        if let Some(d) = self.data.as_mut() {
            d.detail = Some(detail.to_string());
        }
        self
    }

    /// The same error with the provider's `Retry-After`, in seconds.
    pub fn with_retry_after(mut self, secs: Option<u64>) -> Self {
        if let Some(d) = self.data.as_mut() {
            d.retry_after_secs = secs;
        }
        self
    }

    /// The finer stable code, if any ([`ErrorData::detail`]).
    pub fn detail(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.detail.as_deref())
    }

    /// JSON-RPC's own codes for the ways a line can be unusable.
    pub fn parse_error(message: impl Into<String>) -> Self {
        RpcError { code: -32700, ..RpcError::new(Reason::InvalidRequest, message) }
    }

    pub fn method_not_found(method: &str) -> Self {
        RpcError {
            code: -32601,
            ..RpcError::new(Reason::InvalidRequest, format!("unknown method `{method}`"))
        }
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        RpcError { code: -32602, ..RpcError::new(Reason::InvalidRequest, message) }
    }

    pub fn reason(&self) -> Option<Reason> {
        self.data.as_ref().map(|d| d.reason)
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(reason) => write!(f, "{} ({reason})", self.message),
            None => write!(f, "{} (code {})", self.message, self.code),
        }
    }
}

impl std::error::Error for RpcError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_data_details_are_optional_on_the_wire() {
        let e = RpcError::new(Reason::KeychainUnavailable, "locked").with_detail("keychain_locked");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json["data"],
            serde_json::json!({"reason": "keychain_unavailable", "detail": "keychain_locked"})
        );
        assert_eq!(e.detail(), Some("keychain_locked"));
        // An answer from an older broker, without them, still reads.
        let old: RpcError =
            serde_json::from_str(r#"{"code":-32000,"message":"x","data":{"reason":"provider_unavailable"}}"#)
                .unwrap();
        assert_eq!(old.reason(), Some(Reason::ProviderUnavailable));
        assert_eq!(old.detail(), None);
        // A reason from a newer broker still reads.
        let newer: RpcError = serde_json::from_str(
            r#"{"code":-32000,"message":"x","data":{"reason":"from_the_future","extra":1}}"#,
        )
        .unwrap();
        assert_eq!(newer.reason(), Some(Reason::Unknown));
        let later = RpcError::new(Reason::ProviderUnavailable, "busy").with_retry_after(Some(30));
        assert_eq!(serde_json::to_value(&later).unwrap()["data"]["retry_after_secs"], 30);
    }
}
