//! The core's error type; every variant maps to a stable IPC [`Reason`].

use crate::redirect::RedirectError;
use crate::secret::SecretStoreError;
use castkey_ipc::{Reason, RpcError};
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum CoreError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("no account is signed in{}", for_provider(.0))]
    NotSignedIn(Option<String>),
    /// Accounts are signed in but none is active (the ones programs added
    /// for themselves are nobody's default until the user says so).
    #[error(
        "no account is active{}: {} signed in; make one active in Castkey's window or with `castkey switch` typed at a terminal, or ask for one by name (`--account`)",
        for_provider(.provider), .signed_in.join(", ")
    )]
    NoActiveAccount { provider: Option<String>, signed_in: Vec<String> },
    #[error("unknown account `{0}`")]
    UnknownAccount(String),
    #[error("unknown provider `{id}`; {}", known_providers(.known))]
    UnknownProvider { id: String, known: Vec<String> },
    #[error("account `{account}` was not granted the scope {missing:?}")]
    ScopeNotGranted { account: String, missing: Vec<String> },
    #[error("account `{0}` must sign in again: the provider refused its grant")]
    ReauthRequired(String),
    /// "Try later": 5xx, 408, 429, timeouts, connection errors.
    /// `retry_after` is how long the provider asked to be left alone
    /// (`Retry-After`, seconds or an HTTP date), when it said.
    #[error("provider `{provider}` is unavailable: {message}{}", retry_hint(.retry_after))]
    ProviderUnavailable { provider: String, message: String, retry_after: Option<Duration> },
    #[error("the provider's answer was rejected: {0}")]
    ProviderRejected(String),
    #[error(transparent)]
    Keychain(#[from] SecretStoreError),
    #[error("sign-in failed: {0}")]
    Redirect(#[from] RedirectError),
    #[error("sign-in failed: {0}")]
    LoginFailed(String),
    #[error("could not save Castkey's settings: {0}")]
    Storage(String),
    /// Another process (the app, `castkey serve`) owns the config
    /// directory: two owners would overwrite each other's accounts.
    #[error("{0}")]
    AlreadyRunning(String),
    /// The client may not do this (not listed by a headless broker, bound
    /// to another account, or a method for Castkey's own tools).
    #[error("{0}")]
    ClientNotAllowed(String),
    #[error("{0}")]
    ConsentDenied(String),
    #[error("{0}")]
    ConsentTimeout(String),
    #[error("{0}")]
    ScopeNotAllowed(String),
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Internal(String),
}

fn known_providers(known: &[String]) -> String {
    if known.is_empty() {
        "no providers are configured".into()
    } else {
        format!("known providers: {}", known.join(", "))
    }
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    retry_after.map(|d| format!(" (it asks to wait {} s)", d.as_secs())).unwrap_or_default()
}

fn for_provider(p: &Option<String>) -> String {
    p.as_ref().map(|p| format!(" for provider `{p}`")).unwrap_or_default()
}

impl CoreError {
    /// "Try later", with no `Retry-After`.
    pub fn unavailable(provider: &str, message: impl Into<String>) -> Self {
        CoreError::ProviderUnavailable {
            provider: provider.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// How long the provider asked to be left alone, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CoreError::ProviderUnavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn reason(&self) -> Reason {
        match self {
            CoreError::InvalidRequest(_) => Reason::InvalidRequest,
            CoreError::NotSignedIn(_) | CoreError::NoActiveAccount { .. } => Reason::NotSignedIn,
            CoreError::UnknownAccount(_) | CoreError::UnknownProvider { .. } => Reason::UnknownAccount,
            CoreError::ScopeNotGranted { .. } => Reason::ScopeNotGranted,
            CoreError::ReauthRequired(_) => Reason::ReauthRequired,
            CoreError::ProviderUnavailable { .. } | CoreError::ProviderRejected(_) => {
                Reason::ProviderUnavailable
            }
            CoreError::Keychain(_) => Reason::KeychainUnavailable,
            CoreError::Redirect(_) | CoreError::LoginFailed(_) => Reason::LoginFailed,
            CoreError::Storage(_) | CoreError::AlreadyRunning(_) | CoreError::Internal(_) => Reason::Internal,
            CoreError::ClientNotAllowed(_) => Reason::ClientNotAllowed,
            CoreError::ConsentDenied(_) => Reason::ConsentDenied,
            CoreError::ConsentTimeout(_) => Reason::ConsentTimeout,
            CoreError::ScopeNotAllowed(_) => Reason::ScopeNotAllowed,
            CoreError::Busy(_) => Reason::Busy,
        }
    }

    pub fn to_rpc(&self) -> RpcError {
        let mut e = RpcError::new(self.reason(), self.to_string());
        if let CoreError::Keychain(k) = self {
            e = e.with_detail(k.code());
        }
        match self.retry_after() {
            // Rounded up: never ask a caller to come back too early.
            Some(d) => e.with_retry_after(Some(d.as_secs() + u64::from(d.subsec_nanos() > 0))),
            None => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_asking_to_wait_says_how_long_over_ipc() {
        let e = CoreError::ProviderUnavailable {
            provider: "p".into(),
            message: "the token endpoint answered HTTP 429".into(),
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
        assert!(e.to_string().contains("30 s"), "{e}");
        let rpc = serde_json::to_value(e.to_rpc()).unwrap();
        assert_eq!(rpc["data"]["retry_after_secs"], 30);
        assert_eq!(CoreError::unavailable("p", "down").retry_after(), None);
    }

    #[test]
    fn keychain_errors_carry_their_detail_code() {
        let e = CoreError::Keychain(SecretStoreError::Locked("dismissed".into()));
        assert_eq!(e.to_rpc().detail(), Some("keychain_locked"));
    }
}
