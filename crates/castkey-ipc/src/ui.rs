//! Types of the desktop window's commands and events (`src-tauri` ↔ `ui/`).
//!
//! They live here, beside the IPC types they reuse, so that the TypeScript in
//! `ui/src/bindings/` is generated from one place (feature `ts`, checked by
//! the `ts_bindings` test). None of them can carry a secret.

use crate::Reason;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Command names, as `invoke()` calls them.
pub mod command {
    pub const LIST_PROVIDERS: &str = "list_providers";
    pub const LIST_ACCOUNTS: &str = "list_accounts";
    pub const SIGN_IN: &str = "sign_in";
    /// Args `{provider}`: sign-in with a code (RFC 8628); answers a
    /// [`super::DeviceSignIn`] to show, the outcome arrives as an event.
    pub const SIGN_IN_WITH_CODE: &str = "sign_in_with_code";
    /// Args `{provider}`: stop waiting for that sign-in with a code.
    pub const CANCEL_SIGN_IN_WITH_CODE: &str = "cancel_sign_in_with_code";
    /// Args `{provider, clientId, clientSecret}`: the secret goes in once and
    /// never comes back to the window.
    pub const ADD_SERVICE_ACCOUNT: &str = "add_service_account";
    /// Args `{provider, environment, apiKey}`: the key goes in once and never
    /// comes back to the window.
    pub const ADD_API_KEY_ACCOUNT: &str = "add_api_key_account";
    pub const SIGN_OUT: &str = "sign_out";
    pub const APP_STATUS: &str = "app_status";
    /// The kinds of service a user can add ([`super::ProviderTemplate`]s).
    pub const LIST_PROVIDER_TEMPLATES: &str = "list_provider_templates";
    /// Args `{setup: AddProvider}`: secret fields go in once and never come
    /// back to the window.
    pub const ADD_PROVIDER: &str = "add_provider";
    /// Args `{provider}`: only a provider the user added, with no accounts.
    pub const REMOVE_PROVIDER: &str = "remove_provider";
}

/// Event names the shell emits to the window.
pub mod event {
    /// Payload: none. Reload the accounts.
    pub const ACCOUNTS_CHANGED: &str = "castkey://accounts-changed";
    /// Payload: none. Reload the providers.
    pub const PROVIDERS_CHANGED: &str = "castkey://providers-changed";
    /// Payload: the [`crate::AccountInfo`] that just signed in.
    pub const SIGNED_IN: &str = "castkey://signed-in";
    /// Payload: [`super::SignInFailed`].
    pub const SIGN_IN_FAILED: &str = "castkey://sign-in-failed";
}

/// Every command's error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CommandError {
    pub reason: Reason,
    pub message: String,
}

/// `sign_in` answers once the browser is open; the outcome arrives as an
/// event when the redirect comes back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignInStarted {
    pub provider: String,
    /// Unix seconds after which the sign-in is no longer accepted.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub expires_at: u64,
}

/// What the window shows for a sign-in with a code: enter `user_code` at
/// `verification_uri` on any device, or scan the QR code of
/// `verification_uri_complete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeviceSignIn {
    pub provider: String,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub verification_uri_complete: Option<String>,
    /// Unix seconds after which the code no longer works.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub expires_at: u64,
    /// An SVG drawing of the QR code of the (complete) verification URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub qr_svg: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignInFailed {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AppStatus {
    pub version: String,
    /// Where broadcasting apps connect.
    pub socket_path: String,
    /// `None` when the broker is up; otherwise why it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub broker_error: Option<String>,
}

/// A kind of service the user can add from the window: IBM Video Streaming,
/// VidiFlow, a LifeOmic-style SSO service, any OpenID Connect or OAuth 2
/// provider. The window renders a form from `fields`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProviderTemplate {
    pub id: String,
    pub display_name: String,
    /// One sentence: what the user needs from the service.
    pub description: String,
    pub fields: Vec<TemplateField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TemplateField {
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
    /// Pre-filled value (the service's documented endpoint, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub default: Option<String>,
    /// Choices for [`FieldKind::Choice`].
    #[serde(default)]
    pub choices: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Url,
    /// Goes to the keychain; never sent back to the window.
    Secret,
    Choice,
}

/// What `add_provider` takes: a template id and the form's values by field
/// name. Empty values count as absent.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AddProvider {
    pub template: String,
    pub values: BTreeMap<String, String>,
}

impl std::fmt::Debug for AddProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may hold a client secret.
        f.debug_struct("AddProvider").field("template", &self.template).finish_non_exhaustive()
    }
}
