//! [`CoreEvent`]: what happened in the core that a window or subscribed IPC
//! clients should hear about. At the bottom of the module graph: every part
//! of the core may announce, none needs another to do so. No event carries a
//! secret or a token value.

use castkey_ipc::ui::ConsentRequest;
use castkey_ipc::{AccountInfo, AccountRef};

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
        reason: castkey_ipc::Reason,
        message: String,
    },
    /// A provider's active account changed (`account: None`: none left).
    ActiveChanged {
        provider: String,
        account: Option<AccountRef>,
    },
    SignedOut {
        account: AccountRef,
    },
    /// The provider refused the account's grant.
    ReauthRequired {
        account: AccountRef,
    },
    /// The platform says the account's token is no longer valid although
    /// it has not expired (the user disconnected the app, the grant was
    /// revoked): every app using it must end its sessions. The account is
    /// marked "sign in again" (`ReauthRequired` comes too).
    AccessRevoked {
        account: AccountRef,
    },
    /// A new access token came from the provider.
    TokenRefreshed {
        account: AccountRef,
        expires_at: u64,
    },
    /// A local program waits for the user's consent.
    ConsentRequested(ConsentRequest),
    /// The prompt was answered or timed out.
    ConsentSettled {
        id: u64,
    },
    /// An approval was added, changed or revoked.
    ClientsChanged,
}
