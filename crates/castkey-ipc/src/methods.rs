//! One type per method. Each carries its wire name as `METHOD`, so the name is
//! written once, here, and used by the server's dispatch, the client and the
//! docs' examples alike.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A request type: its wire name, parameters and result.
pub trait Method {
    const METHOD: &'static str;
    type Params: Serialize + DeserializeOwned + Default;
    type Result: Serialize + DeserializeOwned;
}

/// The scope a broadcaster needs; the default of [`TokenParams::scope`].
pub const BROADCASTER_SCOPE: &str = "broadcaster";

/// Default of [`TokenParams::min_valid_secs`].
pub const DEFAULT_MIN_VALID_SECS: u64 = 60;

/// `token`: a valid access token for an account.
#[derive(Debug)]
pub enum Token {}

impl Method for Token {
    const METHOD: &'static str = "token";
    type Params = TokenParams;
    type Result = TokenGrant;
}

/// `scope` may be sent as `"a b"` or `["a", "b"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum ScopeParam {
    Spaced(String),
    List(Vec<String>),
}

impl ScopeParam {
    /// The scope names, split, trimmed, without empties or duplicates.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |s: &str| {
            for part in s.split_whitespace() {
                if !out.iter().any(|o| o == part) {
                    out.push(part.to_string());
                }
            }
        };
        match self {
            ScopeParam::Spaced(s) => push(s),
            ScopeParam::List(v) => v.iter().for_each(|s| push(s)),
        }
        out
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenParams {
    /// Scopes the token must carry; default: the scope that means "can
    /// broadcast" for the account's provider (`"broadcaster"` for most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeParam>,
    /// Provider id; default: the provider of the active account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Account id; default: the provider's active account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Refresh first if the token would expire sooner than this; default 60.
    /// Longer than half a token's lifetime counts as half (a fresh token is
    /// not refreshed again at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_valid_secs: Option<u64>,
    /// Refresh first even if the cached token is still valid: for an app
    /// whose API just refused the token it holds (HTTP 401). Concurrent
    /// forced requests share one refresh; while the provider is down, the
    /// error comes back instead of the refused token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_refresh: Option<bool>,
    /// The access token an API just refused (HTTP 401, RFC 6750 §3.1
    /// `invalid_token`). Castkey refreshes only if this is still the token
    /// it holds for the account; if it already holds a newer one, that one
    /// is answered without asking the provider. So any number of apps that
    /// report the same refused token cause one refresh. A token that cannot
    /// be refreshed (no refresh token) and is refused means the user must
    /// sign in again (`reauth_required`). Compared by digest, never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<RejectedToken>,
}

/// An access token an app reports as refused by its API (`token`'s
/// `rejected`). Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct RejectedToken(pub String);

impl std::fmt::Debug for RejectedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RejectedToken(<redacted>)")
    }
}

impl RejectedToken {
    pub fn new(token: impl Into<String>) -> Self {
        RejectedToken(token.into())
    }

    /// The token itself, to compare with (by digest) or send back.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TokenParams {
    /// The scopes asked for, else `default` (the provider's broadcast scope;
    /// `None` for providers whose tokens carry no scopes, like api.video).
    pub fn scopes_or(&self, default: Option<&str>) -> Vec<String> {
        match (&self.scope, default) {
            (Some(s), _) => s.names(),
            (None, Some(d)) => vec![d.to_string()],
            (None, None) => Vec::new(),
        }
    }

    pub fn min_valid_secs(&self) -> u64 {
        self.min_valid_secs.unwrap_or(DEFAULT_MIN_VALID_SECS)
    }
}

/// Which account a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AccountRef {
    pub id: String,
    pub provider: String,
    pub display_name: String,
}

/// The result of `token`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TokenGrant {
    pub access_token: String,
    pub token_type: String,
    /// Unix seconds.
    pub expires_at: u64,
    pub scope: Vec<String>,
    pub account: AccountRef,
    /// Ready-to-use HTTP headers, at least `Authorization`.
    pub headers: BTreeMap<String, String>,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .field("account", &self.account)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `accounts`: every account Castkey holds, no secrets.
#[derive(Debug)]
pub enum Accounts {}

impl Method for Accounts {
    const METHOD: &'static str = "accounts";
    type Params = NoParams;
    type Result = Vec<AccountInfo>;
}

/// Parameters of a method that takes none (`{}` or omitted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum AccountStatus {
    /// Holds a usable grant.
    SignedIn,
    /// The provider refused the grant; the user must sign in again.
    ReauthRequired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AccountInfo {
    pub id: String,
    pub provider: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub email: Option<String>,
    /// The provider's active account: what `token` returns by default.
    pub active: bool,
    pub scopes: Vec<String>,
    pub status: AccountStatus,
}

impl AccountInfo {
    pub fn as_ref(&self) -> AccountRef {
        AccountRef {
            id: self.id.clone(),
            provider: self.provider.clone(),
            display_name: self.display_name.clone(),
        }
    }
}

/// `login`: start the browser sign-in in the running app; answers when the
/// sign-in completes or fails.
#[derive(Debug)]
pub enum Login {}

impl Method for Login {
    const METHOD: &'static str = "login";
    type Params = LoginParams;
    type Result = AccountInfo;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginParams {
    pub provider: String,
}

/// `login_with_code`: start a sign-in with a code (RFC 8628) in the
/// broker, for a machine whose user signs in on another device. Answers
/// at once with what to show; the outcome comes as a `signed_in` (or
/// `sign_in_failed`) notification, so subscribe first.
#[derive(Debug)]
pub enum LoginWithCode {}

impl Method for LoginWithCode {
    const METHOD: &'static str = "login_with_code";
    type Params = LoginParams;
    type Result = DeviceCode;
}

/// What the user needs to finish a sign-in with a code (RFC 8628 §3.2):
/// enter `user_code` at `verification_uri` on any device (or open
/// `verification_uri_complete`) before `expires_at` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceCode {
    pub provider: String,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    pub expires_at: u64,
}

/// `providers`: the providers an account can be added for.
#[derive(Debug)]
pub enum Providers {}

impl Method for Providers {
    const METHOD: &'static str = "providers";
    type Params = NoParams;
    type Result = Vec<ProviderInfo>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProviderInfo {
    pub id: String,
    pub display_name: String,
    /// How a user signs in: `"browser"`, `"service_account"` or `"api_key"`.
    pub sign_in: String,
    pub scopes: Vec<String>,
    /// Environments an account chooses between (api.video: `sandbox`,
    /// `production`); empty for most providers.
    #[serde(default)]
    pub environments: Vec<String>,
    /// The provider offers sign-in with a code (RFC 8628); known once its
    /// discovery document was read.
    #[serde(default)]
    pub device_flow: bool,
    /// The template the user added it from; `None` for built-in providers.
    /// Only added providers can be removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub template: Option<String>,
    /// The redirect URI to register for its OAuth client (browser sign-in
    /// only): `dev.castkey.app:/callback/<id>` for a provider the user
    /// added, `http://127.0.0.1:<port><path>` for a loopback redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub redirect_uri: Option<String>,
}

/// `hello`: who the client says it is, and what this broker speaks. The
/// only method a client may call before the user approved it. Optional:
/// a client that skips it is shown to the user by its executable alone.
#[derive(Debug)]
pub enum Hello {}

impl Method for Hello {
    const METHOD: &'static str = "hello";
    type Params = HelloParams;
    type Result = HelloResult;
}

/// The client's self-description. Shown in the consent prompt and the
/// activity log beside what the OS says about the process; never used to
/// decide who the client is (any program can claim any name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HelloParams {
    /// E.g. `"OBS Studio"`. At most 100 characters are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The newest protocol version the client speaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HelloResult {
    /// The protocol version the broker speaks ([`crate::PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// E.g. `"castkey 0.1.0"`.
    pub server: String,
    /// Method names and features this broker offers: every method name, plus
    /// `token.force_refresh`, `token.rejected`, `notifications`. A client checks here before
    /// using something newer than protocol 1.
    pub capabilities: Vec<String>,
    /// What the user decided about this client so far.
    pub client: ClientStanding,
    /// Where this broker keeps secrets. Only in the answer to Castkey's own
    /// tools (`castkey status` prints it); absent from older brokers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_store: Option<SecretStoreInfo>,
}

/// Where a broker keeps refresh tokens, API keys and client secrets. Never
/// holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SecretStoreInfo {
    /// `keychain` (the OS keychain, the default), `file` (an encrypted file)
    /// or `kernel` (the Linux kernel keyring); other values may come.
    pub kind: String,
    /// One line for people, e.g. `encrypted file /home/me/.config/castkey/secrets.enc`.
    pub description: String,
    /// The file, for `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub path: Option<String>,
    /// What the user must know about it, e.g. `memory only, lost at reboot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub limits: Option<String>,
    /// How it was chosen: `--secret-store file`, `CASTKEY_SECRET_STORE=file`
    /// or `the default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub chosen_by: Option<String>,
}

/// What the user decided about the calling client, as `hello` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClientStanding {
    /// `approved` (always), `approved_once` (this connection), `unknown`
    /// (the first request will ask the user, or be refused by a headless
    /// broker) or `denied` (refused for a while).
    pub approval: String,
    /// The account this client is bound to, if the user bound it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_account: Option<String>,
    /// The scopes the user allows it; `None`: any the account holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_scopes: Option<Vec<String>>,
}

/// `switch`: make an account its provider's active one. Clients that follow
/// the active account (not bound to one) get it from their next request;
/// subscribed connections hear `active_changed`.
#[derive(Debug)]
pub enum Switch {}

impl Method for Switch {
    const METHOD: &'static str = "switch";
    type Params = AccountParams;
    type Result = AccountInfo;
}

/// Parameters naming one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountParams {
    /// An account id from `accounts`.
    pub account: String,
}

/// `subscribe`: after its answer, this connection also receives the
/// notifications in [`crate::notification`] as they happen (lines without an
/// `id`). Answers the notification names it will send.
#[derive(Debug)]
pub enum Subscribe {}

impl Method for Subscribe {
    const METHOD: &'static str = "subscribe";
    type Params = NoParams;
    type Result = Vec<String>;
}

/// `sign_out` (the user's, [`Access::UserAction`]): revoke an account's grant at the
/// provider (RFC 7009) and forget it here.
#[derive(Debug)]
pub enum SignOut {}

impl Method for SignOut {
    const METHOD: &'static str = "sign_out";
    type Params = AccountParams;
    type Result = crate::ui::SignedOut;
}

/// `status` (the user's, [`Access::UserAction`]): every account's token health.
#[derive(Debug)]
pub enum Status {}

impl Method for Status {
    const METHOD: &'static str = "status";
    type Params = NoParams;
    type Result = Vec<AccountHealth>;
}

/// How an account's tokens stand. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AccountHealth {
    pub account: AccountInfo,
    pub state: HealthState,
    /// When the cached access token expires; `None` before the first request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub access_expires_at: Option<u64>,
    /// When a token was last obtained from the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub last_refresh_at: Option<u64>,
    /// When the current refresh token (or key, or credentials) was stored:
    /// its age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub grant_stored_at: Option<u64>,
    /// When the user will have to sign in again (Unix seconds): the refresh
    /// token's end, where the provider says it (`refresh_token_expires_in`,
    /// `refresh_expires_in`) or its lifetime is known for the service.
    /// `None`: no known end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub grant_expires_at: Option<u64>,
    /// For `offline`: why, and when the broker tries again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub problem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub retry_at: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum HealthState {
    SignedIn,
    /// A new token is being fetched from the provider right now.
    Refreshing,
    /// The provider could not be reached at the last try; a cached token
    /// may still be served until `access_expires_at`.
    Offline,
    /// The provider refused the grant: the user must sign in again.
    SignInAgain,
}

/// A local program as Castkey tells it apart: its executable and, for a
/// script run by an interpreter (python, node, bash…), the script. The OS
/// says both, so a client cannot pretend to be another; the interpreter
/// case is weaker (anything run by that interpreter with that script path
/// is the same client).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClientIdentity {
    /// The executable's absolute path (`/proc/<pid>/exe`).
    pub executable: String,
    /// The script's absolute path (or `-m <module>`), when the executable is
    /// an interpreter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub script: Option<String>,
}

impl std::fmt::Display for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.script {
            Some(s) => write!(f, "{} running {s}", self.executable),
            None => f.write_str(&self.executable),
        }
    }
}

/// A client the user allowed always, with what it may get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClientApproval {
    pub identity: ClientIdentity,
    /// The name it gave in `hello` when approved, else the file name.
    pub name: String,
    /// Scopes it may receive; `None`: any the account holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub scopes: Option<Vec<String>>,
    /// The only account it gets (whatever is active); `None`: it follows
    /// the active account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub account: Option<String>,
    /// Unix seconds.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub approved_at: u64,
}

/// `apps` (the user's, [`Access::UserAction`]): the clients allowed always.
#[derive(Debug)]
pub enum Apps {}

impl Method for Apps {
    const METHOD: &'static str = "apps";
    type Params = NoParams;
    type Result = Vec<ClientApproval>;
}

/// `allow_app` (the user's, [`Access::UserAction`]): allow a client always, or change
/// what it may get. This is how a headless broker learns its clients.
#[derive(Debug)]
pub enum AllowApp {}

impl Method for AllowApp {
    const METHOD: &'static str = "allow_app";
    type Params = AllowAppParams;
    type Result = ClientApproval;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AllowAppParams {
    /// Absolute path of the executable (an interpreter for a script).
    pub executable: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub script: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub account: Option<String>,
}

/// `revoke_app` (the user's, [`Access::UserAction`]): forget a client's approval; its
/// open connections lose it at once.
#[derive(Debug)]
pub enum RevokeApp {}

impl Method for RevokeApp {
    const METHOD: &'static str = "revoke_app";
    type Params = ClientIdentity;
    type Result = bool;
}

/// `activity` (the user's, [`Access::UserAction`]): the activity log, newest last.
#[derive(Debug)]
pub enum Activity {}

impl Method for Activity {
    const METHOD: &'static str = "activity";
    type Params = ActivityParams;
    type Result = Vec<ActivityEntry>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ActivityParams {
    /// At most this many entries (default 100, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub limit: Option<u32>,
    /// Only this account's entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub account: Option<String>,
    /// Only entries whose client name, executable or script contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub client: Option<String>,
}

/// One line of the activity log: who got what, or was refused. Never a
/// token value. Repeats of the same served request within a minute are
/// counted in one entry (`count`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ActivityEntry {
    /// Unix seconds of the first of the `count` requests.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub at: u64,
    pub client: ClientIdentity,
    /// The name from `hello`, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub pid: Option<i32>,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub account: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `served`, or the refusal's reason (`consent_denied`, …).
    pub outcome: String,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// `add_provider` (the user's, [`Access::UserAction`]): the window's "add a
/// service", for machines without one. Secrets in `values` go to the
/// keychain.
#[derive(Debug)]
pub enum AddProvider {}

impl Method for AddProvider {
    const METHOD: &'static str = "add_provider";
    type Params = crate::ui::AddProvider;
    type Result = ProviderInfo;
}

/// `remove_provider` (the user's, [`Access::UserAction`]).
#[derive(Debug)]
pub enum RemoveProvider {}

impl Method for RemoveProvider {
    const METHOD: &'static str = "remove_provider";
    type Params = crate::ui::RemoveProviderArgs;
    type Result = ();
}

/// `provider_templates` (the user's, [`Access::UserAction`]): what `add_provider` takes.
#[derive(Debug)]
pub enum ProviderTemplates {}

impl Method for ProviderTemplates {
    const METHOD: &'static str = "provider_templates";
    type Params = NoParams;
    type Result = Vec<crate::ui::ProviderTemplate>;
}

/// Who may call a method: the one access rule of the protocol. The broker
/// checks it before any handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Anyone on this user's socket (`hello`).
    Open,
    /// A program the user approved (always, or once in a prompt; a
    /// headless broker: listed in `clients.json`). Castkey's `castkey`
    /// command has no standing of its own: it acts for the program that runs
    /// it, or for the person at the terminal it was typed in.
    ApprovedProgram,
    /// The user's own action, or a read of what every program did: changing
    /// what other programs get (approving, revoking, adding or removing a
    /// provider, signing out), the token health of every account and the
    /// activity log. Only the window, or `castkey` typed at a terminal.
    UserAction,
}

/// One method and who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodAccess {
    pub method: &'static str,
    pub access: Access,
}

macro_rules! method_table {
    ($($method:ty => $access:ident),* $(,)?) => {
        /// Every method and its [`Access`]: the one list. A method type not
        /// listed here is not served (JSON-RPC "method not found").
        pub const METHOD_TABLE: &[MethodAccess] =
            &[$(MethodAccess { method: <$method as Method>::METHOD, access: Access::$access }),*];
        /// Every method name, for dispatch tables, `hello` and docs.
        pub const METHODS: &[&str] = &[$(<$method as Method>::METHOD),*];
    };
}

method_table! {
    Hello => Open,
    Token => ApprovedProgram,
    Accounts => ApprovedProgram,
    Providers => ApprovedProgram,
    Login => ApprovedProgram,
    LoginWithCode => ApprovedProgram,
    Switch => ApprovedProgram,
    Subscribe => ApprovedProgram,
    SignOut => UserAction,
    Status => UserAction,
    Apps => UserAction,
    AllowApp => UserAction,
    RevokeApp => UserAction,
    Activity => UserAction,
    AddProvider => UserAction,
    RemoveProvider => UserAction,
    ProviderTemplates => UserAction,
}

/// Who may call `method`; `None`: no such method.
pub fn access_of(method: &str) -> Option<Access> {
    METHOD_TABLE.iter().find(|m| m.method == method).map(|m| m.access)
}

/// The methods of one access class, in table order.
pub fn methods_with(access: Access) -> impl Iterator<Item = &'static str> {
    METHOD_TABLE.iter().filter(move |m| m.access == access).map(|m| m.method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_accepts_string_or_list_and_normalises() {
        let p: TokenParams = serde_json::from_str(r#"{"scope":"broadcaster  openid broadcaster"}"#).unwrap();
        assert_eq!(p.scopes_or(Some(BROADCASTER_SCOPE)), vec!["broadcaster", "openid"]);
        let p: TokenParams = serde_json::from_str(r#"{"scope":["openid","email openid"]}"#).unwrap();
        assert_eq!(p.scopes_or(Some(BROADCASTER_SCOPE)), vec!["openid", "email"]);
        let p: TokenParams = serde_json::from_str("{}").unwrap();
        assert_eq!(p.scopes_or(Some("api1")), vec!["api1"]);
        assert!(p.scopes_or(None).is_empty());
        assert_eq!(p.min_valid_secs(), DEFAULT_MIN_VALID_SECS);
    }

    #[test]
    fn unknown_parameter_is_refused() {
        let err = serde_json::from_str::<TokenParams>(r#"{"scopes":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn every_method_has_one_access_class() {
        assert_eq!(METHOD_TABLE.len(), METHODS.len());
        let mut names: Vec<&str> = METHODS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METHODS.len(), "a method listed twice");
        for name in METHODS {
            assert!(access_of(name).is_some(), "{name}");
        }
        assert_eq!(access_of(Hello::METHOD), Some(Access::Open));
        assert_eq!(methods_with(Access::Open).collect::<Vec<_>>(), [Hello::METHOD]);
        for m in [
            AllowApp::METHOD,
            RevokeApp::METHOD,
            SignOut::METHOD,
            AddProvider::METHOD,
            RemoveProvider::METHOD,
        ] {
            assert_eq!(access_of(m), Some(Access::UserAction), "{m} changes what others get");
        }
        assert_eq!(access_of(Token::METHOD), Some(Access::ApprovedProgram));
        assert_eq!(access_of("refresh_token"), None);
    }

    #[test]
    fn grant_debug_hides_the_token() {
        let g = TokenGrant {
            access_token: "secret-value".into(),
            token_type: "Bearer".into(),
            expires_at: 1,
            scope: vec![],
            account: AccountRef { id: "a".into(), provider: "p".into(), display_name: "d".into() },
            headers: BTreeMap::from([("Authorization".into(), "Bearer secret-value".into())]),
        };
        assert!(!format!("{g:?}").contains("secret-value"));
    }
}
