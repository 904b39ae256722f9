//! Provider answers the sandbox cannot give (issue 8, sections 2 and 3),
//! through the fault gate in front of the whole sandbox provider: a headless
//! sign-in (`castkey login`), `castkey serve`, then a refresh that meets the
//! fault. Refusals that mean "this grant is dead" (400 with an empty body,
//! 400 with a vendor's JSON, 401) ask the user to sign in again and stop
//! calling the provider, keeping the secrets; a 429 means "try later";
//! a comma-separated `scope` in the answer still grants each scope.

use castkey_ipc::AccountStatus;
use castkey_scenarios::{text, EnvOptions, TestEnv};
use std::process::Output;
use std::time::Duration;

/// Access tokens of the sandbox provider live this long in these scenarios,
/// so that waiting a little longer forces the next request to refresh.
const ACCESS_TTL: u64 = 3;

/// Signed in through the gate, the broker running, one token served (so the
/// broker holds a cached token); answers the environment and the account id.
fn signed_in_through_the_gate() -> (TestEnv, String) {
    let mut env =
        TestEnv::start(EnvOptions { gate: true, access_ttl: Some(ACCESS_TTL), ..Default::default() });
    let account = env.login_headless("sandbox");
    assert_eq!(account, "sandbox:streamer");
    env.start_serve();
    let first = env.castkey(&["token"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    (env, account)
}

/// Waits until the access token the broker holds has expired.
fn let_the_token_expire() {
    std::thread::sleep(Duration::from_secs(ACCESS_TTL + 1));
}

fn exit_and_reason(out: &Output, code: i32, reason: &str, what: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: `castkey token` exit code; stderr: {err}");
    assert!(err.contains(reason), "{what}: expected {reason}: {err}");
}

/// `castkey accounts` shows the account with `status` ("signed in" / "sign in again").
fn accounts_line_says(env: &TestEnv, account: &str, status: &str) {
    let out = env.castkey(&["accounts"]);
    assert!(out.status.success());
    let listed = text(&out.stdout);
    let line = listed.lines().find(|l| l.contains(account)).unwrap_or_else(|| panic!("{account}: {listed}"));
    assert!(line.contains(status), "`castkey accounts` does not say `{status}`: {line}");
}

fn a_dead_grant_means_sign_in_again(mode: &str) {
    let (env, account) = signed_in_through_the_gate();
    let refresh = env.refresh_token(&account).expect("refresh token in the keychain");
    env.gate_fail("/token", mode);
    let_the_token_expire();

    let before = env.gate_count("/token");
    let out = env.castkey(&["token"]);
    assert_eq!(env.gate_count("/token"), before + 1, "{mode}: the refresh did not reach the provider");
    exit_and_reason(&out, 4, "reauth_required", mode);
    assert_eq!(env.account_status(&account), AccountStatus::ReauthRequired, "{mode}");
    accounts_line_says(&env, &account, "sign in again");

    // No further calls to the provider for a dead grant.
    let again = env.castkey(&["token"]);
    exit_and_reason(&again, 4, "reauth_required", &format!("{mode}, asked again"));
    assert_eq!(env.gate_count("/token"), before + 1, "{mode}: a dead grant was refreshed again");

    // The secrets stay until the user acts.
    assert_eq!(env.refresh_token(&account).as_deref(), Some(refresh.as_str()), "{mode}: refresh token");
}

#[test]
fn a_400_with_an_empty_body_means_sign_in_again() {
    a_dead_grant_means_sign_in_again("empty400");
}

#[test]
fn a_400_with_a_vendor_body_without_error_means_sign_in_again() {
    a_dead_grant_means_sign_in_again("vendor400");
}

#[test]
fn a_401_means_sign_in_again() {
    a_dead_grant_means_sign_in_again("unauthorized");
}

#[test]
fn a_429_with_retry_after_is_try_later_and_the_account_stays_signed_in() {
    let (env, account) = signed_in_through_the_gate();
    let refresh = env.refresh_token(&account).expect("refresh token in the keychain");
    env.gate_fail("/token", "ratelimit");
    let_the_token_expire();

    let before = env.gate_count("/token");
    let out = env.castkey(&["token"]);
    assert_eq!(env.gate_count("/token"), before + 1, "the refresh did not reach the provider");
    exit_and_reason(&out, 5, "provider_unavailable", "ratelimit");
    assert_eq!(env.account_status(&account), AccountStatus::SignedIn);
    accounts_line_says(&env, &account, "signed in");
    // Backing off (30 s, as Retry-After asks): the next request does not call.
    let again = env.castkey(&["token"]);
    exit_and_reason(&again, 5, "provider_unavailable", "ratelimit, asked again");
    assert_eq!(env.gate_count("/token"), before + 1, "the broker did not back off");
    assert_eq!(env.refresh_token(&account).as_deref(), Some(refresh.as_str()));
}

/// `castkey token --json <args>` succeeded and the token's `scope` lists
/// `broadcaster` as a scope of its own; answers the access token.
fn served_for_broadcaster(env: &TestEnv, args: &[&str], what: &str) -> String {
    let mut all = vec!["token", "--json"];
    all.extend_from_slice(args);
    let out = env.castkey(&all);
    assert!(out.status.success(), "{what}: castkey {}: {}", all.join(" "), text(&out.stderr));
    let token: serde_json::Value = serde_json::from_slice(&out.stdout).expect("token JSON");
    let scope: Vec<&str> =
        token["scope"].as_array().expect("scope list").iter().filter_map(|s| s.as_str()).collect();
    assert!(scope.contains(&"broadcaster"), "{what}: the token's scope as served: {scope:?}");
    assert!(!scope.iter().any(|s| s.contains(',')), "{what}: the token's scope as served: {scope:?}");
    token["access_token"].as_str().expect("access_token").to_string()
}

#[test]
fn a_comma_separated_scope_in_a_refresh_answer_still_grants_each_scope() {
    let (env, account) = signed_in_through_the_gate();
    env.gate_fail("/token", "comma_scope");
    let_the_token_expire();

    let before = env.gate_count("/token");
    let access = served_for_broadcaster(&env, &["--scope", "broadcaster"], "after a comma-scope refresh");
    assert_eq!(env.gate_count("/token"), before + 1, "the token was not refreshed");
    assert_eq!(env.introspect(&access)["active"], true);
    // And from then on (the cached token, the account as stored).
    served_for_broadcaster(&env, &[], "default scope");
    served_for_broadcaster(&env, &["--scope", "email"], "--scope email");
    let accounts = env.client().call::<castkey_ipc::Accounts>(&Default::default()).unwrap();
    let scopes = &accounts.iter().find(|a| a.id == account).unwrap().scopes;
    assert!(scopes.iter().any(|s| s == "broadcaster"), "stored scopes: {scopes:?}");
    assert!(!scopes.iter().any(|s| s.contains(',')), "stored scopes: {scopes:?}");
}

#[test]
fn a_comma_separated_scope_at_sign_in_still_grants_each_scope() {
    // The example: an account stored with the single scope
    // "openid,offline_access,…" answered every request scope_not_granted.
    let mut env = TestEnv::start(EnvOptions { gate: true, ..Default::default() });
    env.gate_fail("/token", "comma_scope");
    let account = env.login_headless("sandbox");
    env.start_serve();
    let access = served_for_broadcaster(&env, &[], "signed in with a comma-separated scope");
    assert_eq!(env.introspect(&access)["active"], true);
    let accounts = env.client().call::<castkey_ipc::Accounts>(&Default::default()).unwrap();
    let scopes = &accounts.iter().find(|a| a.id == account).unwrap().scopes;
    assert!(!scopes.iter().any(|s| s.contains(',')), "stored scopes: {scopes:?}");
}
