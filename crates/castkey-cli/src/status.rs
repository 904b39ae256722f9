//! `castkey status`: whether a broker runs, and how each account's tokens
//! stand.

use crate::rpc;
use crate::when;
use castkey_ipc::{
    AccountHealth, Accounts, Client, ClientError, HealthState, ProviderInfo, Providers, SecretStoreInfo,
    Status,
};
use std::io::Write;
use std::process::ExitCode;

pub(crate) fn status(json: bool, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let path = castkey_ipc::socket::default_socket_path();
    let mut client = match Client::connect(&path) {
        Ok(c) => c,
        Err(ClientError::NotRunning { .. }) if !json => {
            writeln!(out, "Castkey broker: not running (expected on {})", path.display())?;
            return Ok(ExitCode::from(3));
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        let health = rpc::call::<Status>(&mut client, &Default::default())?;
        writeln!(out, "{}", serde_json::to_string_pretty(&health)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "Castkey broker: running on {}", path.display())?;
    // Older brokers do not say where they keep secrets.
    if let Some(store) = client.hello("castkey", env!("CARGO_PKG_VERSION")).ok().and_then(|h| h.secret_store)
    {
        writeln!(out, "{}", secrets_line(&store))?;
    }
    let health = match client.call::<Status>(&Default::default()) {
        Ok(health) => health,
        Err(e) if rpc::is_method_not_found(&e) => return older_broker(&mut client, out),
        Err(e) => return Err(e.into()),
    };
    // Only for the provider's name and what kind of grant it keeps.
    let providers = client.call::<Providers>(&Default::default()).unwrap_or_default();
    write!(out, "{}", render(&health, &providers, when::now()))?;
    Ok(ExitCode::SUCCESS)
}

/// `Secrets: encrypted file /path/secrets.enc (chosen with --secret-store file; …)`.
pub(crate) fn secrets_line(store: &SecretStoreInfo) -> String {
    let mut notes = Vec::new();
    if let Some(by) = &store.chosen_by {
        notes.push(format!("chosen with {by}"));
    }
    notes.extend(store.limits.clone());
    if notes.is_empty() {
        format!("Secrets: {}", store.description)
    } else {
        format!("Secrets: {} ({})", store.description, notes.join("; "))
    }
}

/// A broker without `status`: the accounts, as before.
fn older_broker(client: &mut Client, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let accounts = rpc::call::<Accounts>(client, &Default::default())?;
    writeln!(out, "Accounts: {} (this broker does not report token health)", accounts.len())?;
    for a in accounts.iter().filter(|a| a.active) {
        writeln!(out, "Active for {}: {} ({})", a.provider, a.display_name, a.id)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The accounts' part of `castkey status`, two lines an account.
pub(crate) fn render(health: &[AccountHealth], providers: &[ProviderInfo], now: u64) -> String {
    if health.is_empty() {
        return "No accounts. Sign in with `castkey login <provider>`.\n".into();
    }
    let mut s = format!("Accounts ({}; * is its provider's active one):\n", health.len());
    for h in health {
        let a = &h.account;
        let provider = providers.iter().find(|p| p.id == a.provider);
        let provider_name = provider.map_or(a.provider.as_str(), |p| p.display_name.as_str());
        let active = if a.active { '*' } else { ' ' };
        s += &format!("{active} {provider_name}: {} ({})\n", a.display_name, a.id);
        let mut facts = vec![match h.state {
            HealthState::SignedIn => "signed in".to_string(),
            HealthState::Refreshing => "signed in, getting a new token".to_string(),
            HealthState::Offline => {
                let mut offline = "offline".to_string();
                if let Some(problem) = &h.problem {
                    offline += &format!(" ({problem})");
                }
                if let Some(at) = h.retry_at {
                    offline += &if at > now {
                        format!(", next try {}", when::relative(at, now))
                    } else {
                        ", trying again".to_string()
                    };
                }
                offline
            }
            HealthState::SignInAgain => format!("sign in again: castkey login {}", a.provider),
        }];
        facts.push(match h.access_expires_at {
            Some(at) => format!("access token {}", when::expiry(at, now)),
            None => "no access token yet".into(),
        });
        if let Some(at) = h.last_refresh_at {
            facts.push(format!("last refresh {}", when::relative(at, now)));
        }
        if let Some(at) = h.grant_stored_at {
            let what = match provider.map(|p| p.sign_in.as_str()) {
                Some("browser") => "refresh token",
                Some("service_account") => "credentials",
                Some("api_key") => "API key",
                _ => "grant",
            };
            facts.push(format!("{what} stored {}", when::relative(at, now)));
        }
        if let Some(at) = h.grant_expires_at {
            facts.push(format!("sign-in ends {}", when::relative(at, now)));
        }
        s += &format!("    {}\n", facts.join("; "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use castkey_ipc::{AccountInfo, AccountStatus};

    fn health(id: &str, active: bool, state: HealthState) -> AccountHealth {
        AccountHealth {
            account: AccountInfo {
                id: id.into(),
                provider: id.split(':').next().unwrap_or(id).into(),
                display_name: "Bot".into(),
                email: None,
                active,
                scopes: vec!["broadcaster".into()],
                status: AccountStatus::SignedIn,
            },
            state,
            access_expires_at: None,
            last_refresh_at: None,
            grant_stored_at: None,
            grant_expires_at: None,
            problem: None,
            retry_at: None,
        }
    }

    fn provider(id: &str, name: &str, sign_in: &str) -> ProviderInfo {
        ProviderInfo {
            id: id.into(),
            display_name: name.into(),
            sign_in: sign_in.into(),
            scopes: vec![],
            environments: vec![],
            device_flow: false,
            template: None,
            redirect_uri: None,
        }
    }

    #[test]
    fn each_account_shows_its_state_and_times() {
        let now = 1_000_000;
        let mut ok = health("sandbox:bot", true, HealthState::SignedIn);
        ok.access_expires_at = Some(now + 42 * 60 + 10);
        ok.last_refresh_at = Some(now - 3 * 60);
        ok.grant_stored_at = Some(now - 2 * 86_400 - 5);
        let mut down = health("ibm:svc", false, HealthState::Offline);
        down.problem = Some("connection refused".into());
        down.retry_at = Some(now + 120);
        down.access_expires_at = Some(now - 60);
        let again = health("apivideo:k", false, HealthState::SignInAgain);
        let providers = [
            provider("sandbox", "Local sandbox", "browser"),
            provider("ibm", "IBM Video Streaming", "service_account"),
        ];
        let text = render(&[ok, down, again], &providers, now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "* Local sandbox: Bot (sandbox:bot)");
        assert_eq!(
            lines[2],
            "    signed in; access token expires in 42 min; last refresh 3 min ago; refresh token stored 2 \
             days ago"
        );
        assert_eq!(lines[3], "  IBM Video Streaming: Bot (ibm:svc)");
        assert_eq!(
            lines[4],
            "    offline (connection refused), next try in 2 min; access token expired 1 min ago"
        );
        assert_eq!(lines[5], "  apivideo: Bot (apivideo:k)");
        assert_eq!(lines[6], "    sign in again: castkey login apivideo; no access token yet");
    }

    #[test]
    fn the_secrets_line_names_the_store_and_how_it_was_chosen() {
        let file = SecretStoreInfo {
            kind: "file".into(),
            description: "encrypted file /h/.config/castkey/secrets.enc".into(),
            path: Some("/h/.config/castkey/secrets.enc".into()),
            limits: None,
            chosen_by: Some("--secret-store file".into()),
        };
        assert_eq!(
            secrets_line(&file),
            "Secrets: encrypted file /h/.config/castkey/secrets.enc (chosen with --secret-store file)"
        );
        let kernel = SecretStoreInfo {
            kind: "kernel".into(),
            description: "kernel keyring".into(),
            path: None,
            limits: Some("memory only: lost at reboot".into()),
            chosen_by: Some("CASTKEY_SECRET_STORE=kernel".into()),
        };
        assert_eq!(
            secrets_line(&kernel),
            "Secrets: kernel keyring (chosen with CASTKEY_SECRET_STORE=kernel; memory only: lost at reboot)"
        );
        let bare = SecretStoreInfo { limits: None, chosen_by: None, ..kernel };
        assert_eq!(secrets_line(&bare), "Secrets: kernel keyring");
    }

    #[test]
    fn no_accounts_says_how_to_add_one() {
        assert!(render(&[], &[], 0).contains("castkey login"));
    }
}
