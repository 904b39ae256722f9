//! `castkey log`: who asked for what, and what they got (never a token).

use crate::{rpc, when};
use castkey_ipc::{Activity, ActivityEntry, ActivityParams};
use std::io::Write;

pub(crate) fn log(params: ActivityParams, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let filtered = params.account.is_some() || params.client.is_some();
    let entries = rpc::call::<Activity>(&mut rpc::connect()?, &params)?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&entries)?)?;
    } else if entries.is_empty() {
        writeln!(out, "{}", if filtered { "No matching activity." } else { "No activity yet." })?;
    } else {
        for e in &entries {
            writeln!(out, "{}", line(e, &when::local(e.at)))?;
        }
    }
    Ok(())
}

/// One entry on one line, after its local time `at`: client, pid, method,
/// account, scopes, outcome, and `×count` for repeats.
pub(crate) fn line(e: &ActivityEntry, at: &str) -> String {
    let client = match &e.client_name {
        Some(name) => name.clone(),
        None => e.client.to_string(),
    };
    let pid = e.pid.map(|p| format!("pid {p}")).unwrap_or_else(|| "pid ?".into());
    let account = e.account.as_deref().unwrap_or("-");
    let scopes = if e.scopes.is_empty() { "-".to_string() } else { e.scopes.join(" ") };
    let count = if e.count > 1 { format!("  ×{}", e.count) } else { String::new() };
    format!("{at}  {client}  {pid}  {}  {account}  {scopes}  {}{count}", e.method, e.outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use castkey_ipc::ClientIdentity;

    fn entry() -> ActivityEntry {
        ActivityEntry {
            at: 1_700_000_000,
            client: ClientIdentity {
                executable: "/usr/bin/python3.11".into(),
                script: Some("/home/me/bot.py".into()),
            },
            client_name: None,
            pid: Some(4242),
            method: "token".into(),
            account: Some("sandbox:bot".into()),
            scopes: vec!["broadcaster".into(), "chat".into()],
            outcome: "served".into(),
            count: 1,
        }
    }

    #[test]
    fn an_entry_is_one_line() {
        assert_eq!(
            line(&entry(), "T"),
            "T  /usr/bin/python3.11 running /home/me/bot.py  pid 4242  token  sandbox:bot  broadcaster chat  \
             served"
        );
        let named = ActivityEntry {
            client_name: Some("OBS Studio".into()),
            pid: None,
            account: None,
            scopes: vec![],
            outcome: "consent_denied".into(),
            count: 12,
            ..entry()
        };
        assert_eq!(line(&named, "T"), "T  OBS Studio  pid ?  token  -  -  consent_denied  ×12");
    }
}
