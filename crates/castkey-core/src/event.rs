//! [`CoreEvent`]: what happened in the core that a window (or, later,
//! subscribed IPC clients) should hear about. At the bottom of the module
//! graph: every part of the core may announce, none needs another to do so.

use castkey_ipc::AccountInfo;

/// Something that happened that a UI (or, later, subscribed IPC clients)
/// should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreEvent {
    AccountsChanged,
    /// A provider was added or removed, or discovery told more about one.
    ProvidersChanged,
    /// A sign-in finished (browser or code); `AccountsChanged` follows.
    SignedIn {
        account: AccountInfo,
    },
    SignInFailed {
        message: String,
    },
}
