//! The core's error type; every variant maps to a stable IPC [`Reason`].

use crate::redirect::RedirectError;
use crate::secret::SecretStoreError;
use castkey_ipc::{Reason, RpcError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum CoreError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("no account is signed in{}", for_provider(.0))]
    NotSignedIn(Option<String>),
    #[error("unknown account `{0}`")]
    UnknownAccount(String),
    #[error("unknown provider `{id}`; {}", known_providers(.known))]
    UnknownProvider { id: String, known: Vec<String> },
    #[error("account `{account}` was not granted the scope {missing:?}")]
    ScopeNotGranted { account: String, missing: Vec<String> },
    #[error("account `{0}` must sign in again: the provider refused its grant")]
    ReauthRequired(String),
    #[error("provider `{provider}` is unavailable: {message}")]
    ProviderUnavailable { provider: String, message: String },
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

fn for_provider(p: &Option<String>) -> String {
    p.as_ref().map(|p| format!(" for provider `{p}`")).unwrap_or_default()
}

impl CoreError {
    pub fn reason(&self) -> Reason {
        match self {
            CoreError::InvalidRequest(_) => Reason::InvalidRequest,
            CoreError::NotSignedIn(_) => Reason::NotSignedIn,
            CoreError::UnknownAccount(_) | CoreError::UnknownProvider { .. } => Reason::UnknownAccount,
            CoreError::ScopeNotGranted { .. } => Reason::ScopeNotGranted,
            CoreError::ReauthRequired(_) => Reason::ReauthRequired,
            CoreError::ProviderUnavailable { .. } | CoreError::ProviderRejected(_) => {
                Reason::ProviderUnavailable
            }
            CoreError::Keychain(_) => Reason::KeychainUnavailable,
            CoreError::Redirect(_) | CoreError::LoginFailed(_) => Reason::LoginFailed,
            CoreError::Storage(_) | CoreError::Internal(_) => Reason::Internal,
        }
    }

    pub fn to_rpc(&self) -> RpcError {
        RpcError::new(self.reason(), self.to_string())
    }
}
