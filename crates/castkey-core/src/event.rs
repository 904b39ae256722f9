//! [`CoreEvent`]: what happened in the core that a window or subscribed IPC
//! clients should hear about. At the bottom of the module graph: every part
//! of the core may announce, none needs another to do so. No event carries a
//! secret or a token value.
//!
//! [`CoreEvent::outward`] is the one way an event leaves the core: the IPC
//! server writes its notification line to subscribed connections and the
//! desktop shell emits its window event. It is one exhaustive `match` (no
//! catch-all arm), so a new event cannot be added without saying what apps
//! and the window hear of it.

use castkey_ipc::notification::{self as note, Notification};
use castkey_ipc::ui::{self, ConsentRequest};
use castkey_ipc::{AccountInfo, AccountRef};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreEvent {
    AccountsChanged,
    /// A provider was added or removed, or discovery told more about one.
    ProvidersChanged,
    /// A sign-in finished (browser or code); `AccountsChanged` follows.
    SignedIn {
        account: AccountInfo,
    },
    /// A sign-in the core ran (browser, loopback or code) failed.
    SignInFailed {
        /// The provider the sign-in was for.
        provider: String,
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
        /// Unix seconds.
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

/// What one [`CoreEvent`] becomes outside the core.
#[derive(Debug, Clone, PartialEq)]
pub struct Outward {
    /// The JSON-RPC 2.0 notification line (no newline) that subscribed IPC
    /// connections receive (see `castkey_ipc::notification`); `None` for
    /// events only the window hears.
    pub notification: Option<Vec<u8>>,
    /// The event the desktop window receives.
    pub window: WindowEvent,
}

/// A window event: its name (one of `castkey_ipc::ui::event`) and its JSON
/// payload (`null` for the events documented as carrying none).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowEvent {
    pub name: &'static str,
    pub payload: serde_json::Value,
}

impl WindowEvent {
    fn new(name: &'static str, payload: impl Serialize) -> Self {
        WindowEvent { name, payload: serde_json::to_value(payload).unwrap_or_default() }
    }

    fn bare(name: &'static str) -> Self {
        WindowEvent { name, payload: serde_json::Value::Null }
    }
}

/// The notification line of `N` with `params`.
fn line<N: Notification>(params: &N::Params) -> Option<Vec<u8>> {
    #[derive(Serialize)]
    struct Line<'a, P> {
        jsonrpc: &'static str,
        method: &'static str,
        params: &'a P,
    }
    serde_json::to_vec(&Line { jsonrpc: "2.0", method: N::METHOD, params }).ok()
}

fn account_event(account: &AccountRef) -> note::AccountEvent {
    note::AccountEvent { account: account.clone() }
}

impl CoreEvent {
    /// The IPC notification and the window event of this event. Exhaustive
    /// on purpose: every variant says what apps and the window hear.
    pub fn outward(&self) -> Outward {
        use ui::event as w;
        let (notification, window) = match self {
            CoreEvent::AccountsChanged => (None, WindowEvent::bare(w::ACCOUNTS_CHANGED)),
            CoreEvent::ProvidersChanged => (None, WindowEvent::bare(w::PROVIDERS_CHANGED)),
            CoreEvent::SignedIn { account } => (
                line::<note::SignedIn>(&note::AccountEvent { account: account.as_ref() }),
                WindowEvent::new(w::SIGNED_IN, account),
            ),
            CoreEvent::SignInFailed { provider, reason, message } => (
                line::<note::SignInFailed>(&note::SignInFailedParams {
                    provider: provider.clone(),
                    reason: *reason,
                    message: message.clone(),
                }),
                WindowEvent::new(
                    w::SIGN_IN_FAILED,
                    ui::SignInFailed {
                        provider: provider.clone(),
                        reason: *reason,
                        message: message.clone(),
                    },
                ),
            ),
            CoreEvent::ActiveChanged { provider, account } => (
                line::<note::ActiveChanged>(&note::ActiveChangedParams {
                    provider: provider.clone(),
                    account: account.clone(),
                }),
                WindowEvent::bare(w::ACCOUNTS_CHANGED),
            ),
            CoreEvent::SignedOut { account } => {
                (line::<note::SignedOut>(&account_event(account)), WindowEvent::bare(w::ACCOUNTS_CHANGED))
            }
            CoreEvent::ReauthRequired { account } => {
                (line::<note::ReauthRequired>(&account_event(account)), WindowEvent::bare(w::HEALTH_CHANGED))
            }
            CoreEvent::AccessRevoked { account } => {
                (line::<note::Revoked>(&account_event(account)), WindowEvent::bare(w::HEALTH_CHANGED))
            }
            CoreEvent::TokenRefreshed { account, expires_at } => (
                line::<note::TokenRefreshed>(&note::TokenRefreshedParams {
                    account: account.clone(),
                    expires_at: *expires_at,
                }),
                WindowEvent::bare(w::HEALTH_CHANGED),
            ),
            CoreEvent::ConsentRequested(request) => (None, WindowEvent::new(w::CONSENT_REQUESTED, request)),
            CoreEvent::ConsentSettled { id } => (None, WindowEvent::new(w::CONSENT_SETTLED, id)),
            CoreEvent::ClientsChanged => (None, WindowEvent::bare(w::CLIENTS_CHANGED)),
        };
        Outward { notification, window }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use castkey_ipc::Reason;
    use serde_json::{json, Value};

    fn account() -> AccountRef {
        AccountRef { id: "sandbox:bot".into(), provider: "sandbox".into(), display_name: "Bot".into() }
    }

    fn info() -> AccountInfo {
        serde_json::from_value(json!({
            "id": "sandbox:bot", "provider": "sandbox", "display_name": "Bot",
            "scopes": ["broadcaster"], "active": true, "status": "signed_in"
        }))
        .unwrap()
    }

    /// The notification as JSON: (method, params), checked to be a
    /// JSON-RPC 2.0 notification (no `id`).
    fn note(e: &CoreEvent) -> Option<(String, Value)> {
        let bytes = e.outward().notification?;
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["jsonrpc"], "2.0");
        assert!(v.get("id").is_none(), "a notification has no id: {v}");
        assert!(!bytes.contains(&b'\n'), "one line");
        Some((v["method"].as_str().unwrap().to_string(), v["params"].clone()))
    }

    fn window(e: &CoreEvent) -> (&'static str, Value) {
        let w = e.outward().window;
        (w.name, w.payload)
    }

    #[test]
    fn every_event_reaches_apps_and_the_window_as_documented() {
        use castkey_ipc::ui::event as w;
        let a = json!({"id": "sandbox:bot", "provider": "sandbox", "display_name": "Bot"});
        let failed = CoreEvent::SignInFailed {
            provider: "sandbox".into(),
            reason: Reason::LoginFailed,
            message: "the sign-in was refused".into(),
        };
        let consent: ConsentRequest = serde_json::from_value(json!({
            "id": 7, "identity": {"executable": "/usr/bin/obs"}, "interpreted": false, "pid": 4242,
            "scopes": ["broadcaster"], "method": "token", "expires_at": 2
        }))
        .unwrap_or_else(|e| panic!("consent request shape changed: {e}"));
        // (event, notification method and params, window event and payload)
        type Case = (CoreEvent, Option<(&'static str, Value)>, (&'static str, Value));
        let cases: Vec<Case> = vec![
            (CoreEvent::AccountsChanged, None, (w::ACCOUNTS_CHANGED, Value::Null)),
            (CoreEvent::ProvidersChanged, None, (w::PROVIDERS_CHANGED, Value::Null)),
            (
                CoreEvent::SignedIn { account: info() },
                Some(("signed_in", json!({ "account": a }))),
                (w::SIGNED_IN, serde_json::to_value(info()).unwrap()),
            ),
            (
                failed,
                Some((
                    "sign_in_failed",
                    json!({"provider": "sandbox", "reason": "login_failed", "message": "the sign-in was refused"}),
                )),
                (
                    w::SIGN_IN_FAILED,
                    json!({"provider": "sandbox", "reason": "login_failed", "message": "the sign-in was refused"}),
                ),
            ),
            (
                CoreEvent::ActiveChanged { provider: "sandbox".into(), account: Some(account()) },
                Some(("active_changed", json!({"provider": "sandbox", "account": a}))),
                (w::ACCOUNTS_CHANGED, Value::Null),
            ),
            (
                CoreEvent::ActiveChanged { provider: "sandbox".into(), account: None },
                Some(("active_changed", json!({"provider": "sandbox", "account": null}))),
                (w::ACCOUNTS_CHANGED, Value::Null),
            ),
            (
                CoreEvent::SignedOut { account: account() },
                Some(("signed_out", json!({ "account": a }))),
                (w::ACCOUNTS_CHANGED, Value::Null),
            ),
            (
                CoreEvent::ReauthRequired { account: account() },
                Some(("reauth_required", json!({ "account": a }))),
                (w::HEALTH_CHANGED, Value::Null),
            ),
            (
                CoreEvent::AccessRevoked { account: account() },
                Some(("revoked", json!({ "account": a }))),
                (w::HEALTH_CHANGED, Value::Null),
            ),
            (
                CoreEvent::TokenRefreshed { account: account(), expires_at: 1_700_003_600 },
                Some(("token_refreshed", json!({"account": a, "expires_at": 1_700_003_600u64}))),
                (w::HEALTH_CHANGED, Value::Null),
            ),
            (
                CoreEvent::ConsentRequested(consent.clone()),
                None,
                (w::CONSENT_REQUESTED, serde_json::to_value(&consent).unwrap()),
            ),
            (CoreEvent::ConsentSettled { id: 7 }, None, (w::CONSENT_SETTLED, json!(7))),
            (CoreEvent::ClientsChanged, None, (w::CLIENTS_CHANGED, Value::Null)),
        ];
        for (event, want_note, want_window) in cases {
            let got = note(&event);
            assert_eq!(got.as_ref().map(|(m, p)| (m.as_str(), p.clone())), want_note, "{event:?}");
            assert_eq!(window(&event), want_window, "{event:?}");
            if let Some((method, _)) = got {
                assert!(
                    note::NOTIFICATIONS.contains(&method.as_str()),
                    "{method} is not announced by subscribe"
                );
            }
        }
    }

    #[test]
    fn every_announced_notification_has_an_event() {
        // `subscribe` answers NOTIFICATIONS: each must come from some event.
        let events = [
            CoreEvent::SignedIn { account: info() },
            CoreEvent::SignInFailed {
                provider: "p".into(),
                reason: Reason::LoginFailed,
                message: "m".into(),
            },
            CoreEvent::ActiveChanged { provider: "p".into(), account: None },
            CoreEvent::SignedOut { account: account() },
            CoreEvent::ReauthRequired { account: account() },
            CoreEvent::AccessRevoked { account: account() },
            CoreEvent::TokenRefreshed { account: account(), expires_at: 1 },
        ];
        let sent: Vec<String> = events.iter().filter_map(note).map(|(m, _)| m).collect();
        for name in note::NOTIFICATIONS {
            assert!(sent.iter().any(|m| m == name), "no event sends `{name}`");
        }
    }

    #[test]
    fn the_typed_params_read_back() {
        let e = CoreEvent::AccessRevoked { account: account() };
        let bytes = e.outward().notification.unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let p: note::AccountEvent = serde_json::from_value(v["params"].clone()).unwrap();
        assert_eq!(p.account, account());
        // A sign-in failure from an older broker (no provider) still reads.
        let old: note::SignInFailedParams =
            serde_json::from_value(json!({"reason": "login_failed", "message": "m"})).unwrap();
        assert_eq!(old.provider, "");
    }
}
