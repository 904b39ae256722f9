//! `castkey accounts`, `switch` and `logout`.

use crate::rpc::{self, UnknownAccount};
use castkey_ipc::ui::{Revocation, SignedOut};
use castkey_ipc::{AccountInfo, AccountParams, AccountStatus, Accounts, Client, SignOut, Switch};
use std::io::Write;

pub(crate) fn list(json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let accounts = rpc::call::<Accounts>(&mut rpc::connect()?, &Default::default())?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&accounts)?)?;
    } else if accounts.is_empty() {
        writeln!(out, "No accounts. Sign in with `castkey login <provider>`.")?;
    } else {
        for a in accounts {
            let status = match a.status {
                AccountStatus::SignedIn => "signed in",
                AccountStatus::ReauthRequired => "sign in again",
            };
            let active = if a.active { "*" } else { " " };
            writeln!(
                out,
                "{active} {:<32} {:<24} {status:<14} {}",
                a.id,
                a.display_name,
                a.scopes.join(" ")
            )?;
        }
    }
    Ok(())
}

/// `castkey switch`: makes the account its provider's active one.
pub(crate) fn switch(query: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let mut client = rpc::connect()?;
    let id = resolve_with(&mut client, query)?.id;
    let now_active = rpc::call::<Switch>(&mut client, &AccountParams { account: id })?;
    writeln!(out, "Active for {}: {} ({})", now_active.provider, now_active.display_name, now_active.id)?;
    Ok(())
}

/// `castkey logout`: revokes the account's grant at the provider and forgets
/// it here.
pub(crate) fn logout(query: &str, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let mut client = rpc::connect()?;
    let account = resolve_with(&mut client, query)?;
    let signed_out = rpc::call::<SignOut>(&mut client, &AccountParams { account: account.id.clone() })?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&signed_out)?)?;
    } else {
        writeln!(out, "Signed out of {}.", account.display_name)?;
        writeln!(out, "{}", revocation_line(&signed_out))?;
    }
    Ok(())
}

/// What the provider did with the grant, in a sentence.
pub(crate) fn revocation_line(signed_out: &SignedOut) -> String {
    match signed_out.revocation {
        Revocation::Confirmed => "The provider confirmed the revocation: the grant is gone there too.".into(),
        Revocation::NotOffered => {
            "The provider offers no revocation for this account: nothing was revoked there.".into()
        }
        Revocation::NotConfirmed => {
            let why = signed_out.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default();
            format!(
                "The provider did not confirm the revocation{why}: the grant may stay valid there until it \
                 expires."
            )
        }
    }
}

/// The account `query` names, among the broker's accounts.
fn resolve_with(client: &mut Client, query: &str) -> anyhow::Result<AccountInfo> {
    let accounts = rpc::call::<Accounts>(client, &Default::default())?;
    Ok(resolve(query, &accounts)?.clone())
}

/// The account `query` names: an account id exactly, else the one account
/// whose display name, email or subject (the id's part after the colon)
/// it is, ignoring case. Ambiguous or unknown names are errors that list
/// the candidates.
pub(crate) fn resolve<'a>(query: &str, accounts: &'a [AccountInfo]) -> anyhow::Result<&'a AccountInfo> {
    if let Some(a) = accounts.iter().find(|a| a.id == query) {
        return Ok(a);
    }
    let q = query.trim();
    let matches: Vec<&AccountInfo> = accounts
        .iter()
        .filter(|a| {
            a.display_name.eq_ignore_ascii_case(q)
                || a.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(q))
                || a.id.split_once(':').is_some_and(|(_, subject)| subject.eq_ignore_ascii_case(q))
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] if accounts.is_empty() => {
            Err(UnknownAccount(format!("no account `{query}`: no account is signed in")).into())
        }
        [] => Err(UnknownAccount(format!(
            "no account `{query}`; the accounts are:\n{}",
            candidates(accounts.iter())
        ))
        .into()),
        many => anyhow::bail!(
            "`{query}` could be any of {} accounts; name one by its id:\n{}",
            many.len(),
            candidates(many.iter().copied())
        ),
    }
}

fn candidates<'a>(accounts: impl Iterator<Item = &'a AccountInfo>) -> String {
    accounts
        .map(|a| match &a.email {
            Some(email) if !email.eq_ignore_ascii_case(&a.display_name) => {
                format!("  {}  ({}, {email})", a.id, a.display_name)
            }
            _ => format!("  {}  ({})", a.id, a.display_name),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::exit_code_for;

    fn account(id: &str, name: &str, email: Option<&str>) -> AccountInfo {
        AccountInfo {
            id: id.into(),
            provider: id.split(':').next().unwrap_or(id).into(),
            display_name: name.into(),
            email: email.map(String::from),
            active: false,
            scopes: vec![],
            status: AccountStatus::SignedIn,
        }
    }

    fn accounts() -> Vec<AccountInfo> {
        vec![
            account("sandbox:bot", "Bot", Some("bot@example.com")),
            account("sandbox:anna", "Anna", Some("anna@example.com")),
            account("ibm:4711", "Anna", Some("anna@ibm.example")),
            account("vidiflow:svc", "Service", None),
        ]
    }

    #[test]
    fn an_id_is_taken_as_it_is() {
        let list = accounts();
        assert_eq!(resolve("ibm:4711", &list).unwrap().id, "ibm:4711");
    }

    #[test]
    fn a_name_email_or_subject_that_names_one_account_resolves() {
        let list = accounts();
        assert_eq!(resolve("bot", &list).unwrap().id, "sandbox:bot");
        assert_eq!(resolve("BOT@example.com", &list).unwrap().id, "sandbox:bot");
        assert_eq!(resolve("anna@ibm.example", &list).unwrap().id, "ibm:4711");
        assert_eq!(resolve("4711", &list).unwrap().id, "ibm:4711");
        assert_eq!(resolve("svc", &list).unwrap().id, "vidiflow:svc");
        assert_eq!(resolve(" Service ", &list).unwrap().id, "vidiflow:svc");
    }

    #[test]
    fn an_ambiguous_name_lists_the_candidates() {
        let list = accounts();
        let e = resolve("anna", &list).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("any of 2 accounts"), "{msg}");
        assert!(msg.contains("sandbox:anna") && msg.contains("ibm:4711"), "{msg}");
        assert!(!msg.contains("sandbox:bot"), "{msg}");
        assert_eq!(exit_code_for(&e), 1);
    }

    #[test]
    fn an_unknown_name_is_an_unknown_account() {
        let list = accounts();
        let e = resolve("nobody", &list).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("sandbox:bot") && msg.contains("vidiflow:svc"), "{msg}");
        assert_eq!(exit_code_for(&e), 4);
        let e = resolve("bot", &[]).unwrap_err();
        assert!(format!("{e:#}").contains("no account is signed in"));
        assert_eq!(exit_code_for(&e), 4);
        // The provider part alone names no account.
        assert_eq!(exit_code_for(&resolve("sandbox", &list).unwrap_err()), 4);
    }

    #[test]
    fn revocation_lines_say_what_the_provider_did() {
        let out = |revocation, message: Option<&str>| {
            revocation_line(&SignedOut {
                account_id: "a".into(),
                revocation,
                message: message.map(String::from),
            })
        };
        assert!(out(Revocation::Confirmed, None).contains("confirmed"));
        assert!(out(Revocation::NotOffered, None).contains("no revocation"));
        let not = out(Revocation::NotConfirmed, Some("HTTP 503"));
        assert!(not.contains("did not confirm") && not.contains("HTTP 503"), "{not}");
    }
}
