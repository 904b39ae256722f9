//! `--secret-store` and the passphrase of the encrypted file store, for the
//! commands that run the core here (`serve`, and `login` with no broker).

use castkey_core::{open_store, EncryptedFileStore, Passphrase, SecretStoreKind, StoreChoice};
use secrecy::{ExposeSecret, SecretString};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Where this process keeps secrets.
#[derive(clap::Args, Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct StoreArgs {
    /// Where secrets are kept: `keychain` (the OS keychain), `file` (one
    /// encrypted file, secrets.enc in the config directory, opened with a
    /// passphrase) or `kernel` (the Linux kernel keyring: memory only, lost
    /// at reboot). Default: $CASTKEY_SECRET_STORE, else keychain. Castkey
    /// never switches store by itself.
    #[arg(long, value_name = "STORE", value_parser = ["keychain", "file", "kernel"])]
    pub(crate) secret_store: Option<String>,
    /// For `--secret-store file`: read the passphrase from this inherited
    /// file descriptor (e.g. `--passphrase-fd 3 3<passphrase.txt`), up to
    /// its first line break. Never pass the passphrase itself as an
    /// argument or an environment variable.
    #[arg(long, value_name = "N")]
    pub(crate) passphrase_fd: Option<u32>,
    /// For `--secret-store file`: read the passphrase from this file, which
    /// only you may read (mode 0600). Without this or --passphrase-fd:
    /// $CREDENTIALS_DIRECTORY/castkey-passphrase (a systemd credential),
    /// else asked for on the terminal.
    #[arg(long, value_name = "PATH", conflicts_with = "passphrase_fd")]
    pub(crate) passphrase_file: Option<PathBuf>,
}

/// Opens the store `args` choose (see [`StoreArgs`]). The passphrase of a
/// new file is asked for twice on a terminal.
pub(crate) fn open(args: &StoreArgs) -> anyhow::Result<std::sync::Arc<dyn castkey_core::SecretStore>> {
    let choice = StoreChoice::from_flag_or_env(args.secret_store.as_deref()).map_err(anyhow::Error::msg)?;
    let given = args.passphrase_fd.is_some() || args.passphrase_file.is_some();
    if given && choice.kind != SecretStoreKind::EncryptedFile {
        anyhow::bail!(
            "--passphrase-fd and --passphrase-file are for the encrypted file store, but the store chosen \
             ({}) is `{}`",
            choice.chosen_by,
            choice.kind
        );
    }
    let config_dir = castkey_core::config_dir();
    let passphrase = match choice.kind {
        SecretStoreKind::EncryptedFile => passphrase(args, &EncryptedFileStore::path_in(&config_dir))?,
        _ => None,
    };
    let store = open_store(&choice, &config_dir, passphrase.as_ref())?;
    let info = store.describe();
    let limits = info.limits.map(|l| format!("; {l}")).unwrap_or_default();
    eprintln!(
        "castkey: secrets: {} (chosen with {}{limits})",
        info.description,
        info.chosen_by.unwrap_or_default()
    );
    Ok(store)
}

fn passphrase(args: &StoreArgs, path: &std::path::Path) -> anyhow::Result<Option<Passphrase>> {
    if let Some(fd) = args.passphrase_fd {
        return Ok(Some(Passphrase::Fd(fd)));
    }
    if let Some(file) = &args.passphrase_file {
        return Ok(Some(Passphrase::File(file.clone())));
    }
    if let Some(credential) = Passphrase::systemd_credential() {
        return Ok(Some(credential));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let ask = |prompt: &str| -> anyhow::Result<SecretString> {
        Ok(SecretString::from(rpassword::prompt_password(prompt)?))
    };
    if path.exists() {
        return Ok(Some(Passphrase::Given(ask(&format!("Passphrase for {}: ", path.display()))?)));
    }
    eprintln!(
        "castkey: creating the encrypted secrets file {}.\ncastkey: its passphrase guards every secret \
         Castkey keeps there, and cannot be recovered: without it, every account signs in again.",
        path.display()
    );
    let first = ask("New passphrase: ")?;
    let again = ask("The same passphrase again: ")?;
    if first.expose_secret() != again.expose_secret() {
        anyhow::bail!("the two passphrases differ; nothing was created");
    }
    Ok(Some(Passphrase::Given(first)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_source_for_another_store_is_refused() {
        let args =
            StoreArgs { secret_store: Some("kernel".into()), passphrase_fd: Some(3), passphrase_file: None };
        let err = open(&args).expect_err("refused").to_string();
        assert!(err.contains("--passphrase-fd") && err.contains("`kernel`"), "{err}");
    }
}
