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
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AccountRef {
    pub id: String,
    pub provider: String,
    pub display_name: String,
}

/// The result of `token`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum AccountStatus {
    /// Holds a usable grant.
    SignedIn,
    /// The provider refused the grant; the user must sign in again.
    ReauthRequired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[serde(deny_unknown_fields)]
pub struct LoginParams {
    pub provider: String,
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
}

/// Every method name, for dispatch tables and docs.
pub const METHODS: &[&str] = &[Token::METHOD, Accounts::METHOD, Login::METHOD, Providers::METHOD];

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
