//! Notifications a subscribed connection receives (after `subscribe`): JSON-RPC
//! 2.0 requests without `id`, one per line, interleaved with the answers to the
//! connection's own requests. One type per notification, each with its wire
//! name as `METHOD`. None carries a token value.
//!
//! ```json
//! {"jsonrpc":"2.0","method":"active_changed","params":{"provider":"sandbox","account":{"id":"sandbox:bot","provider":"sandbox","display_name":"Bot"}}}
//! ```

use crate::AccountRef;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A notification type: its wire name and parameters.
pub trait Notification {
    const METHOD: &'static str;
    type Params: Serialize + DeserializeOwned;
}

/// The active account of a provider changed (a switch, a sign-in, or the
/// active account signed out and another took its place).
#[derive(Debug)]
pub enum ActiveChanged {}

impl Notification for ActiveChanged {
    const METHOD: &'static str = "active_changed";
    type Params = ActiveChangedParams;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ActiveChangedParams {
    pub provider: String,
    /// The new active account; `None` when the provider has none left.
    #[serde(default)]
    pub account: Option<AccountRef>,
}

/// An account signed in (new, or again after `reauth_required`).
#[derive(Debug)]
pub enum SignedIn {}

impl Notification for SignedIn {
    const METHOD: &'static str = "signed_in";
    type Params = AccountEvent;
}

/// An account was signed out: its tokens are no longer served.
#[derive(Debug)]
pub enum SignedOut {}

impl Notification for SignedOut {
    const METHOD: &'static str = "signed_out";
    type Params = AccountEvent;
}

/// The provider refused an account's grant: the user must sign in again.
#[derive(Debug)]
pub enum ReauthRequired {}

impl Notification for ReauthRequired {
    const METHOD: &'static str = "reauth_required";
    type Params = AccountEvent;
}

/// A new access token was obtained for an account (ask `token` for it).
#[derive(Debug)]
pub enum TokenRefreshed {}

impl Notification for TokenRefreshed {
    const METHOD: &'static str = "token_refreshed";
    type Params = TokenRefreshedParams;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccountEvent {
    pub account: AccountRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TokenRefreshedParams {
    pub account: AccountRef,
    /// Unix seconds.
    pub expires_at: u64,
}

/// A sign-in the broker was running (`login`, `login_with_code`, the
/// window's) failed: denied, expired, refused.
#[derive(Debug)]
pub enum SignInFailed {}

impl Notification for SignInFailed {
    const METHOD: &'static str = "sign_in_failed";
    type Params = SignInFailedParams;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SignInFailedParams {
    /// The provider the sign-in was for (empty from a broker older than
    /// this field: then it is not known which sign-in failed).
    #[serde(default)]
    pub provider: String,
    /// Why, as an error `reason` (`login_failed`, `provider_unavailable`, …).
    pub reason: crate::Reason,
    pub message: String,
}

/// A token of an account is no longer valid at the provider (the user
/// disconnected the app there, or the provider revoked the grant), found by
/// Castkey's validation of the token: every app must end the sessions it
/// runs with that account's tokens now (Twitch's developer agreement asks
/// this of every app). The account needs the user to sign in again
/// (`reauth_required` comes right before it).
#[derive(Debug)]
pub enum Revoked {}

impl Notification for Revoked {
    const METHOD: &'static str = "revoked";
    type Params = AccountEvent;
}

/// Every notification name, in the order `subscribe` answers them.
pub const NOTIFICATIONS: &[&str] = &[
    ActiveChanged::METHOD,
    SignedIn::METHOD,
    SignedOut::METHOD,
    ReauthRequired::METHOD,
    TokenRefreshed::METHOD,
    SignInFailed::METHOD,
    Revoked::METHOD,
];
