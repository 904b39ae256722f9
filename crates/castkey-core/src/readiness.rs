//! "Ready to go live": will every account that broadcasting apps use keep
//! serving tokens, without the user, for the next few hours?
//!
//! The accounts that count are the ones connected apps use: the account a
//! program is bound to (Connected apps), and the accounts tokens were served
//! to a program for lately (the activity log). With no such use yet, every
//! provider's active account counts, since that is what an app gets first.
//!
//! An account is good until its refresh token ends
//! ([`castkey_ipc::AccountHealth::grant_expires_at`]); with no known end, for
//! good. An account the provider refused is not good at all. An account
//! whose provider is unreachable is good while its cached token lasts, since
//! nothing says the provider will be back by then.

use crate::core::Core;
use castkey_ipc::ui::{AccountReadiness, Readiness};
use castkey_ipc::{AccountHealth, ActivityParams, HealthState};
use std::collections::{BTreeMap, BTreeSet};

/// Served tokens this recent make an account "used by" a program.
pub const RECENT_USE_SECS: u64 = 7 * 24 * 3600;

impl Core {
    /// Is every account in use good for the next `horizon_hours` hours?
    /// Reads memory only (accounts, health, Connected apps, the activity
    /// log): no keychain, no network.
    pub fn go_live_readiness(&self, horizon_hours: u32) -> Readiness {
        let now = self.clock.now();
        let health = self.status();
        let mut used_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for app in self.apps() {
            if let Some(account) = &app.account {
                used_by.entry(account.clone()).or_default().insert(app.name.clone());
            }
        }
        let served = self.activity(&ActivityParams { limit: Some(1000), account: None, client: None });
        for entry in served.iter().filter(|e| e.outcome == "served" && e.at + RECENT_USE_SECS >= now) {
            if let Some(account) = &entry.account {
                let name =
                    entry.client_name.clone().unwrap_or_else(|| crate::consent::file_name(&entry.client));
                used_by.entry(account.clone()).or_default().insert(name);
            }
        }
        judge(health, &used_by, horizon_hours, now)
    }
}

/// How long ahead the end of an account's sign-in (its refresh token's
/// end, [`castkey_ipc::AccountHealth::grant_expires_at`]) makes it "not
/// ready", whatever the horizon asked for: a day (seconds).
pub const GRANT_END_NOTICE_SECS: u64 = 86_400;

/// Tokens served for an account this recently mean a stream may be on
/// (seconds).
pub const STREAMING_WINDOW_SECS: u64 = 10 * 60;

/// Remembers which "not ready to go live" warnings were given, so each is
/// given once per account and end of its sign-in.
#[derive(Debug, Default)]
pub struct GoLiveWarnings {
    given: std::sync::Mutex<BTreeSet<(String, u64)>>,
}

impl GoLiveWarnings {
    /// The accounts to warn about now: not ready, not warned about for this
    /// end yet, and not in the middle of a stream (tokens served for them
    /// within [`STREAMING_WINDOW_SECS`]) unless they have already stopped
    /// working. Each one returned counts as warned.
    pub fn due(&self, core: &Core, readiness: &Readiness) -> Vec<AccountReadiness> {
        let now = readiness.checked_at;
        let streaming = |account: &str| {
            core.activity(&ActivityParams {
                limit: Some(50),
                account: Some(account.to_string()),
                client: None,
            })
            .iter()
            .any(|e| e.outcome == "served" && e.at + STREAMING_WINDOW_SECS >= now)
        };
        self.due_with(readiness, streaming)
    }

    fn due_with(&self, readiness: &Readiness, streaming: impl Fn(&str) -> bool) -> Vec<AccountReadiness> {
        let now = readiness.checked_at;
        let mut given = self.given.lock().unwrap_or_else(|e| e.into_inner());
        let mut due = Vec::new();
        for a in readiness.accounts.iter().filter(|a| !a.ready) {
            let key = (a.account.id.clone(), a.good_until.unwrap_or(0));
            if given.contains(&key) {
                continue;
            }
            let still_working = a.good_until.is_some_and(|t| t > now);
            if still_working && streaming(&a.account.id) {
                continue; // Not in the middle of a stream: a later check says it.
            }
            given.insert(key);
            due.push(a.clone());
        }
        due
    }
}

/// The verdict from the accounts' health and who uses them (by account id).
fn judge(
    health: Vec<AccountHealth>,
    used_by: &BTreeMap<String, BTreeSet<String>>,
    horizon_hours: u32,
    now: u64,
) -> Readiness {
    let in_use = health.iter().any(|h| used_by.contains_key(&h.account.id));
    let horizon_end = now.saturating_add(u64::from(horizon_hours) * 3600);
    let accounts: Vec<AccountReadiness> = health
        .into_iter()
        .filter(|h| if in_use { used_by.contains_key(&h.account.id) } else { h.account.active })
        .map(|h| {
            let users: Vec<String> =
                used_by.get(&h.account.id).map(|s| s.iter().cloned().collect()).unwrap_or_default();
            // A sign-in that ends (a refresh token's lifetime, or its idle
            // lifetime running out) is said at least a day ahead, whatever
            // the horizon: time to sign in again before a stream, not in it.
            let needed_until = match h.state {
                HealthState::SignedIn | HealthState::Refreshing => {
                    horizon_end.max(now.saturating_add(GRANT_END_NOTICE_SECS))
                }
                HealthState::SignInAgain | HealthState::Offline => horizon_end,
            };
            let (good_until, problem) = match h.state {
                HealthState::SignInAgain => {
                    (Some(now), Some("the provider refused its sign-in: sign in again".to_string()))
                }
                HealthState::Offline => {
                    let until = h.access_expires_at.map(|t| t.min(h.grant_expires_at.unwrap_or(u64::MAX)));
                    (
                        until.or(Some(now)),
                        h.problem.clone().map(|p| format!("the provider cannot be reached ({p})")),
                    )
                }
                HealthState::SignedIn | HealthState::Refreshing => (h.grant_expires_at, None),
            };
            let ready = good_until.is_none_or(|t| t >= needed_until);
            let problem = if ready {
                None
            } else {
                Some(problem.unwrap_or_else(|| match good_until {
                    Some(t) if t >= horizon_end => {
                        "its sign-in ends within a day: sign in again before you go live".to_string()
                    }
                    _ => "its sign-in ends before then: sign in again now".to_string(),
                }))
            };
            AccountReadiness {
                account: h.account,
                state: h.state,
                used_by: users,
                good_until,
                ready,
                problem,
            }
        })
        .collect();
    Readiness { horizon_hours, checked_at: now, ready: accounts.iter().all(|a| a.ready), accounts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use castkey_ipc::{AccountInfo, AccountStatus};

    const NOW: u64 = 1_000_000;

    fn health(id: &str, active: bool, state: HealthState) -> AccountHealth {
        AccountHealth {
            account: AccountInfo {
                id: id.into(),
                provider: id.split(':').next().unwrap_or(id).into(),
                display_name: id.into(),
                email: None,
                active,
                scopes: vec!["broadcaster".into()],
                status: AccountStatus::SignedIn,
            },
            state,
            access_expires_at: Some(NOW + 1800),
            last_refresh_at: Some(NOW - 60),
            grant_stored_at: Some(NOW - 3600),
            grant_expires_at: None,
            problem: None,
            retry_at: None,
        }
    }

    fn users(pairs: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (account, app) in pairs {
            m.entry((*account).into()).or_default().insert((*app).into());
        }
        m
    }

    #[test]
    fn with_no_app_the_active_accounts_count_and_no_known_end_is_ready() {
        let r = judge(
            vec![
                health("ibm:a", true, HealthState::SignedIn),
                health("ibm:b", false, HealthState::SignInAgain),
            ],
            &BTreeMap::new(),
            4,
            NOW,
        );
        assert!(r.ready);
        let ids: Vec<_> = r.accounts.iter().map(|a| a.account.id.as_str()).collect();
        assert_eq!(ids, ["ibm:a"], "the inactive account is not what an app gets");
        assert_eq!(r.accounts[0].good_until, None);
        assert_eq!(r.checked_at, NOW);
    }

    #[test]
    fn accounts_apps_use_count_even_when_not_active() {
        let r = judge(
            vec![
                health("ibm:a", true, HealthState::SignedIn),
                health("ibm:b", false, HealthState::SignInAgain),
            ],
            &users(&[("ibm:b", "obs"), ("ibm:b", "chatbot")]),
            4,
            NOW,
        );
        assert!(!r.ready);
        assert_eq!(r.accounts.len(), 1);
        let b = &r.accounts[0];
        assert_eq!(b.account.id, "ibm:b");
        assert_eq!(b.used_by, ["chatbot", "obs"]);
        assert!(!b.ready);
        assert!(b.problem.as_deref().unwrap().contains("sign in again"));
    }

    #[test]
    fn a_refresh_token_ending_inside_the_horizon_is_not_ready() {
        let mut soon = health("lifeomic-oauth:a", true, HealthState::SignedIn);
        soon.grant_expires_at = Some(NOW + 3 * 3600);
        let r = judge(vec![soon.clone()], &BTreeMap::new(), 4, NOW);
        assert!(!r.ready);
        assert_eq!(r.accounts[0].good_until, Some(NOW + 3 * 3600));
        assert!(r.accounts[0].problem.as_deref().unwrap().contains("ends before then"));
        // Even for a two-hour show it is said now: an end within a day is
        // said a day ahead, whatever the horizon.
        let r = judge(vec![soon], &BTreeMap::new(), 2, NOW);
        assert!(!r.ready);
        assert!(r.accounts[0].problem.as_deref().unwrap().contains("within a day"), "{r:?}");
    }

    #[test]
    fn a_refresh_token_end_is_said_a_day_ahead_and_not_before() {
        let at = |end: u64| {
            let mut h = health("twitch:bot", true, HealthState::SignedIn);
            h.grant_expires_at = Some(end);
            judge(vec![h], &BTreeMap::new(), 4, NOW)
        };
        // Twitch's 30 days unused, nearly run out: 20 hours left.
        let r = at(NOW + 20 * 3600);
        assert!(!r.ready);
        assert_eq!(r.accounts[0].good_until, Some(NOW + 20 * 3600));
        assert!(r.accounts[0].problem.as_deref().unwrap().contains("within a day"));
        assert!(at(NOW + GRANT_END_NOTICE_SECS).ready);
        assert!(at(NOW + 30 * 3600).ready);
        // A long horizon still asks for the whole horizon.
        let mut h = health("twitch:bot", true, HealthState::SignedIn);
        h.grant_expires_at = Some(NOW + 30 * 3600);
        assert!(!judge(vec![h], &BTreeMap::new(), 48, NOW).ready);
    }

    #[test]
    fn an_offline_provider_counts_only_while_the_cached_token_lasts() {
        let mut down = health("vidiflow:svc", true, HealthState::Offline);
        down.problem = Some("connection refused".into());
        let r = judge(vec![down.clone()], &BTreeMap::new(), 1, NOW);
        assert!(!r.ready, "a cached token for 30 minutes is not an hour");
        assert_eq!(r.accounts[0].good_until, Some(NOW + 1800));
        assert!(r.accounts[0].problem.as_deref().unwrap().contains("connection refused"));
        down.access_expires_at = None;
        assert_eq!(judge(vec![down], &BTreeMap::new(), 1, NOW).accounts[0].good_until, Some(NOW));
    }

    #[test]
    fn refreshing_is_as_good_as_signed_in() {
        let r = judge(vec![health("sandbox:a", true, HealthState::Refreshing)], &BTreeMap::new(), 48, NOW);
        assert!(r.ready);
        assert_eq!(r.accounts[0].state, HealthState::Refreshing);
    }

    #[test]
    fn a_warning_is_given_once_per_end_and_held_back_during_a_stream() {
        let mut soon = health("lifeomic-oauth:a", true, HealthState::SignedIn);
        soon.grant_expires_at = Some(NOW + 3600);
        let r = judge(vec![soon.clone()], &BTreeMap::new(), 4, NOW);
        let warnings = GoLiveWarnings::default();
        // Tokens are being served for it: not now.
        assert!(warnings.due_with(&r, |_| true).is_empty());
        // The stream is over: now, once.
        let due = warnings.due_with(&r, |_| false);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].account.id, "lifeomic-oauth:a");
        assert!(warnings.due_with(&r, |_| false).is_empty(), "said once");
        // Signed in again, ending later but still inside the horizon: a new warning.
        soon.grant_expires_at = Some(NOW + 7200);
        let r = judge(vec![soon], &BTreeMap::new(), 4, NOW);
        assert_eq!(warnings.due_with(&r, |_| false).len(), 1);
    }

    #[test]
    fn an_account_that_stopped_working_is_said_even_during_a_stream() {
        let r = judge(vec![health("ibm:a", true, HealthState::SignInAgain)], &BTreeMap::new(), 4, NOW);
        let due = GoLiveWarnings::default().due_with(&r, |_| true);
        assert_eq!(due.len(), 1, "the stream is failing anyway: the user must know");
    }

    #[test]
    fn nothing_signed_in_is_ready_with_nothing_to_check() {
        let r = judge(Vec::new(), &BTreeMap::new(), 4, NOW);
        assert!(r.ready);
        assert!(r.accounts.is_empty());
    }

    #[test]
    fn a_platform_s_documented_end_is_warned_about_a_day_ahead() {
        let mut google = health("youtube:1", true, HealthState::SignedIn);
        google.grant_expires_at = Some(NOW + 20 * 3600);
        let mut other = health("ibm:a", false, HealthState::SignedIn);
        other.grant_expires_at = Some(NOW + 20 * 3600);
        let used = users(&[("youtube:1", "obs"), ("ibm:a", "obs")]);
        let r = judge(vec![google.clone(), other.clone()], &used, 4, NOW);
        assert!(!r.ready);
        let by_id = |id: &str| r.accounts.iter().find(|a| a.account.id == id).unwrap().clone();
        assert!(!by_id("youtube:1").ready);
        assert!(by_id("youtube:1").problem.unwrap().contains("within a day"));
        assert!(!by_id("ibm:a").ready, "any sign-in that ends within a day is said a day ahead");
        // More than a day left: ready; a horizon longer than a day still rules.
        google.grant_expires_at = Some(NOW + 25 * 3600);
        assert!(judge(vec![google.clone()], &used, 4, NOW).ready);
        assert!(!judge(vec![google], &used, 48, NOW).ready);
    }
}
