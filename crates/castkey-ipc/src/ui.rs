//! Types of the desktop window's commands and events (`src-tauri` ↔ `ui/`).
//!
//! They live here, beside the IPC types they reuse, so that the TypeScript in
//! `ui/src/bindings/` is generated from one place (feature `ts`, checked by
//! the `ts_bindings` test). Each command takes at most one args struct
//! (`XxxArgs`, or [`AddProvider`]) and its name is in [`command::COMMANDS`].
//! Only the args of `add_service_account`, `add_api_key_account` and
//! `add_provider` carry a secret, into the shell; nothing here carries one
//! back to the window.

use crate::Reason;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The window's commands: the one list of their names.
pub mod command {
    /// Every command the window may `invoke()`, by name. This list is the one
    /// source of the command names:
    ///
    /// * `src-tauri/build.rs` declares exactly these to Tauri's ACL (its app
    ///   manifest) and fails the build unless `src-tauri/capabilities/default.json`
    ///   allows each of them (`allow-<name>`) and nothing else of ours;
    /// * `src-tauri/src/commands.rs` lists its `#[tauri::command]`s once, for
    ///   `tauri::generate_handler!`, and a compile-time assertion there fails
    ///   the build unless that list is this one, in this order;
    /// * the `ts_bindings` test generates `ui/src/bindings/names.ts` from it
    ///   (`sign_in` → `commands.signIn`), which `ui/src/api.ts` uses.
    ///
    /// Why a plain `const` and not tauri-specta: it needs no new (release
    /// candidate) dependency, `build.rs` can read it as a build-dependency, and
    /// the one thing it cannot drive, the handler macro's list of function
    /// names, is checked against it at compile time.
    ///
    /// What each command takes is its args struct in [`super`] (`sign_in` takes
    /// [`super::SignInArgs`], `add_provider` takes [`super::AddProvider`],
    /// `redirect_uri_to_register` takes [`super::RedirectUriArgs`],
    /// `update_app` takes [`crate::AllowAppParams`] and `activity` takes
    /// [`crate::ActivityParams`], `cancel_sign_in` takes [`super::CancelSignInArgs`],
    /// `update_settings` takes [`super::DesktopSettings`]), sent as `invoke(name, { args })`; the
    /// commands not listed there take nothing.
    pub const COMMANDS: &[&str] = &[
        "list_providers",
        "list_accounts",
        "sign_in",
        "sign_in_with_code",
        "cancel_sign_in_with_code",
        "add_service_account",
        "add_api_key_account",
        "sign_out",
        "app_status",
        "list_provider_templates",
        "add_provider",
        "redirect_uri_to_register",
        "remove_provider",
        "switch_account",
        "account_health",
        "pending_consents",
        "answer_consent",
        "list_apps",
        "update_app",
        "revoke_app",
        "activity",
        "cancel_sign_in",
        "settings",
        "update_settings",
        "go_live_readiness",
        "export_diagnostics",
        "install_cli",
    ];

    #[cfg(test)]
    mod tests {
        use super::COMMANDS;

        #[test]
        fn command_names_are_unique_snake_case() {
            for (i, name) in COMMANDS.iter().enumerate() {
                assert!(
                    !name.is_empty()
                        && !name.starts_with('_')
                        && !name.ends_with('_')
                        && !name.contains("__")
                        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{name} is not a snake_case function name"
                );
                assert!(!COMMANDS[..i].contains(name), "{name} is listed twice");
            }
        }
    }
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
    /// Payload: [`super::ConsentRequest`]. A local program waits for the
    /// user's answer; the shell also raises and focuses the window.
    pub const CONSENT_REQUESTED: &str = "castkey://consent-requested";
    /// Payload: the prompt's id (a number). Answered or timed out: close it.
    pub const CONSENT_SETTLED: &str = "castkey://consent-settled";
    /// Payload: none. Reload Connected apps.
    pub const CLIENTS_CHANGED: &str = "castkey://clients-changed";
    /// Payload: none. A token was refreshed or a provider went offline or
    /// came back: reload the accounts' health.
    pub const HEALTH_CHANGED: &str = "castkey://health-changed";
    /// Payload: the new [`super::DesktopSettings`] (changed from the window
    /// or the tray).
    pub const SETTINGS_CHANGED: &str = "castkey://settings-changed";
    /// Payload: the tab to show (`accounts`, `add`, `apps`, `activity`,
    /// `settings`): the tray's menu opened the window on it.
    pub const SHOW_SCREEN: &str = "castkey://show-screen";
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
    /// The authorization request the browser was sent to (RFC 6749 §4.1.1;
    /// its PKCE challenge and `state` are not secrets): shown to copy when
    /// the browser did not open.
    pub url: String,
    /// Where the provider must send the browser back (RFC 8252 §7): what to
    /// register at the provider when it refuses the redirect.
    pub redirect_uri: String,
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
    /// The provider the failed sign-in was for.
    pub provider: String,
    /// `login_failed` (denied or refused at the provider, expired),
    /// `provider_unavailable` (network), `keychain_unavailable` (locked), …
    pub reason: Reason,
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
    /// The `castkey` command installed with the app (beside its
    /// executable), if there is one: what to put on `PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub cli_path: Option<String>,
    /// Whether a `castkey` command is already found on `PATH`.
    pub cli_on_path: bool,
    /// Where accounts, connected apps and the activity log are kept.
    pub config_dir: String,
    /// The custom URI scheme sign-ins come back through (the redirect URI
    /// to register is `<scheme>:/callback`).
    pub redirect_scheme: String,
}

/// A kind of service the user can add from the window: IBM Video Streaming,
/// VidiFlow, a LifeOmic-style SSO service, any OpenID Connect or OAuth 2
/// provider. The window renders a form from `fields`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProviderTemplate {
    pub id: String,
    pub display_name: String,
    /// One sentence: what the user needs from the service.
    pub description: String,
    pub fields: Vec<TemplateField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Url,
    /// Goes to the keychain; never sent back to the window.
    Secret,
    Choice,
}

/// `add_provider`'s args: a template id and the form's values by field name.
/// Empty values count as absent. Secret fields go in once and never come back
/// to the window.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
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

/// `redirect_uri_to_register`'s args: an add-service form as typed so far,
/// its secret fields left out. Answers the redirect URI the provider will
/// send (`string | null`): each provider the user adds has its own (RFC 9700
/// §4.4.2), so the form shows it before the provider exists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct RedirectUriArgs {
    pub template: String,
    pub values: BTreeMap<String, String>,
}

/// `sign_in`'s args: opens the system browser to sign in with `provider` (a
/// provider id). Answers a [`SignInStarted`]; the outcome arrives as an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignInArgs {
    pub provider: String,
}

/// `sign_in_with_code`'s args: sign-in with a code (RFC 8628) with `provider`.
/// Answers a [`DeviceSignIn`] to show; the outcome arrives as an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignInWithCodeArgs {
    pub provider: String,
}

/// `cancel_sign_in_with_code`'s args: stop waiting for `provider`'s sign-in
/// with a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CancelSignInWithCodeArgs {
    pub provider: String,
}

/// `add_service_account`'s args (client credentials). The secret goes in
/// once and never comes back to the window (the shell only reads these args;
/// they do not serialise, and their `Debug` leaves the secret out).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AddServiceAccountArgs {
    pub provider: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for AddServiceAccountArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddServiceAccountArgs")
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// `add_api_key_account`'s args (api.video) in `environment`. The key goes in
/// once and never comes back to the window (the shell only reads these args;
/// they do not serialise, and their `Debug` leaves the key out).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AddApiKeyAccountArgs {
    pub provider: String,
    pub environment: String,
    pub api_key: String,
}

impl std::fmt::Debug for AddApiKeyAccountArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddApiKeyAccountArgs")
            .field("provider", &self.provider)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

/// `sign_out`'s args: forget the account `account_id` and its grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignOutArgs {
    pub account_id: String,
}

/// What `sign_out` answers: the account is gone here either way;
/// `revocation` says what the provider did with the grant (RFC 7009), so
/// the window and the CLI can say when it did not confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignedOut {
    pub account_id: String,
    pub revocation: Revocation,
    /// Why the provider did not confirm (no secret in it), when it did not.
    pub message: Option<String>,
}

/// The provider's answer to a revocation request (RFC 7009 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// The provider answered 200: the grant is gone there too.
    Confirmed,
    /// Nothing to revoke at the provider (no revocation endpoint, no
    /// refresh token, a service account or API key).
    NotOffered,
    /// The provider refused or could not be reached: the grant may stay
    /// valid there until it expires.
    NotConfirmed,
}

/// A local program asks for tokens and the user has not decided about it
/// yet: what the consent prompt shows. The request waits (at most until
/// `expires_at`) for [`AnswerConsentArgs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConsentRequest {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub id: u64,
    /// What the program calls itself (`hello`): a claim, shown as such.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub client_name: Option<String>,
    /// What the OS says: executable and, for an interpreter, the script.
    pub identity: crate::ClientIdentity,
    /// The identity rests on an interpreter's command line (weaker: any
    /// program that interpreter runs with that script path matches).
    pub interpreted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub pid: Option<i32>,
    /// The account it asks a token for; `None` when its first request is
    /// not a token (listing accounts, subscribing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub account: Option<crate::AccountRef>,
    pub scopes: Vec<String>,
    /// The first request's method (`token`, `accounts`, …).
    pub method: String,
    /// Unix seconds; after it the request fails with `consent_timeout`.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub expires_at: u64,
    /// Whether "Always allow" may be offered: not for an identity any
    /// program can take (code on a command line, an interpreter with no
    /// script, a relative script path, a terminal session). The broker
    /// takes "Always" for such a prompt as "Allow once".
    #[serde(default)]
    pub always_offered: bool,
    /// What the prompt must say about the identity: why "Always" is not
    /// offered, that it is a sandboxed app (the strongest identity), or
    /// that a terminal is allowed until it closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub note: Option<String>,
    /// Who ran Castkey's `castkey` command on this program's behalf, when
    /// the request came through it (`castkey token` run by a script).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub via: Option<String>,
}

/// The user's answer to a consent prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ConsentDecision {
    /// This connection only.
    AllowOnce,
    /// Remembered for this program (Connected apps), with the scope policy
    /// and binding in [`AnswerConsentArgs`].
    Always,
    /// Refused; the program's requests are refused without asking for a
    /// few minutes.
    Deny,
}

/// `answer_consent`'s args.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AnswerConsentArgs {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub id: u64,
    pub decision: ConsentDecision,
    /// For `always`: only these scopes (`None`: any the account holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub scopes: Option<Vec<String>>,
    /// For `always`: bind the program to this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub bind_account: Option<String>,
}

/// `switch_account`'s args: make `account_id` its provider's active account
/// (programs that follow the active account get it from their next request).
/// Answers the account's [`crate::AccountInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SwitchAccountArgs {
    pub account_id: String,
}

/// `revoke_app`'s args: forget the approval of the program `identity` (its
/// open connections lose it at once). Answers whether there was one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RevokeAppArgs {
    pub identity: crate::ClientIdentity,
}

/// `cancel_sign_in`'s args: stop waiting for the browser sign-in with
/// `provider` (a later redirect for it is refused). Answers whether one was
/// waiting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CancelSignInArgs {
    pub provider: String,
}

/// The desktop app's settings (`settings.json` in the config directory),
/// answered by `settings` and taken and answered by `update_settings`.
/// Nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct DesktopSettings {
    /// Start Castkey when the user logs in (an XDG autostart entry on
    /// Linux). Off until the user turns it on.
    pub start_at_login: bool,
    /// Start with no window, in the tray only (also when started at login).
    pub start_in_tray: bool,
    /// "Ready to go live" looks this many hours ahead: every account a
    /// connected app uses must be good for at least that long. 1 to 48;
    /// default 4.
    pub go_live_hours: u32,
    /// Desktop notifications (an account needs the user, a program asks
    /// while the window is closed, a sign-in finished).
    pub notifications: bool,
}

impl DesktopSettings {
    /// The range [`Self::go_live_hours`] is clamped to.
    pub const GO_LIVE_HOURS: std::ops::RangeInclusive<u32> = 1..=48;
}

impl Default for DesktopSettings {
    fn default() -> Self {
        DesktopSettings { start_at_login: false, start_in_tray: false, go_live_hours: 4, notifications: true }
    }
}

/// `go_live_readiness`: is every account that broadcasting apps use good
/// for the next [`DesktopSettings::go_live_hours`]? What the top of the
/// window and the tray show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Readiness {
    pub horizon_hours: u32,
    /// Unix seconds of the check.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub checked_at: u64,
    /// Every account in `accounts` is ready (true when there are none).
    pub ready: bool,
    /// The accounts that connected apps use (bound to them, or served to
    /// them lately), else every provider's active account.
    pub accounts: Vec<AccountReadiness>,
}

/// One account's part in [`Readiness`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AccountReadiness {
    pub account: crate::AccountInfo,
    pub state: crate::HealthState,
    /// The connected apps that use it (their names); empty when it counts
    /// only as its provider's active account.
    pub used_by: Vec<String>,
    /// Unix seconds until which it serves tokens without the user (its
    /// refresh token's end, or for an offline provider the cached token's
    /// expiry); `None`: no known end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub good_until: Option<u64>,
    pub ready: bool,
    /// Why it is not ready, as a sentence for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub problem: Option<String>,
}

/// `export_diagnostics`: a report to attach to a bug (versions, platform,
/// providers without secrets, accounts without tokens, recent log lines
/// with anything secret-looking redacted), saved to `path` and returned as
/// `text` for copying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Diagnostics {
    pub path: String,
    pub text: String,
}

/// `install_cli`: the `castkey` command installed with the app was put in
/// `~/.local/bin` (a copy when the app runs from an AppImage, whose files
/// go away when it exits; a symbolic link otherwise). `on_path` says
/// whether that folder is on `PATH` (if not, the user must add it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CliInstalled {
    pub path: String,
    pub on_path: bool,
}

/// `remove_provider`'s args: only a provider the user added, with no
/// accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct RemoveProviderArgs {
    pub provider: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_args_do_not_show_their_secrets() {
        let service: AddServiceAccountArgs =
            serde_json::from_str(r#"{"provider":"p","client_id":"id","client_secret":"s3cr3t-value"}"#)
                .expect("args parse");
        assert_eq!(service.client_secret, "s3cr3t-value");
        assert!(!format!("{service:?}").contains("s3cr3t"));

        let key: AddApiKeyAccountArgs =
            serde_json::from_str(r#"{"provider":"p","environment":"sandbox","api_key":"k3y-value"}"#)
                .expect("args parse");
        assert_eq!(key.api_key, "k3y-value");
        assert!(!format!("{key:?}").contains("k3y"));
    }
}
