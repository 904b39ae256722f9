//! `castkey`: the command-line face of Castkey.
//!
//! Everything but `login` and `serve` talks to the running broker (the
//! desktop app or `castkey serve`) over the local socket, like any
//! broadcasting app. `login` asks the running broker to sign in, or, with
//! none running, signs in itself through a loopback redirect. `serve` is the
//! headless broker.
//!
//! `castkey token` is on scripts' hot path: it parses its arguments, sends
//! one request and prints the answer; logging is set up only for `login`
//! and `serve` (or when `CASTKEY_LOG` asks for it).

mod accounts;
mod activity;
mod apps;
mod local;
mod providers;
mod rpc;
mod status;
mod store;
mod when;

use castkey_core::LoopbackLogin;
use castkey_ipc::{ActivityParams, Client, Token, TokenParams};
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "castkey",
    version,
    about = "Sign-in and broadcast tokens for your streaming apps",
    after_help = rpc::EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a valid access token (for `Authorization: Bearer $(castkey token)`).
    #[command(after_help = rpc::EXIT_CODES_HELP)]
    Token(TokenArgs),
    /// List accounts (no secrets); * marks each provider's active account.
    Accounts {
        #[arg(long)]
        json: bool,
    },
    /// Make an account its provider's active one (what `token` returns by default).
    #[command(after_help = rpc::EXIT_CODES_HELP)]
    Switch {
        /// Account id, or a display name, email or the id's part after the
        /// colon that names one account.
        account: String,
    },
    /// Sign out: revoke the account's grant at the provider and forget it here.
    #[command(after_help = rpc::EXIT_CODES_HELP)]
    Logout {
        /// Account id, or a display name, email or the id's part after the
        /// colon that names one account.
        account: String,
        /// Print the broker's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Is a broker running, and where; how each account's tokens stand.
    #[command(after_help = rpc::EXIT_CODES_HELP)]
    Status {
        /// Print the accounts' token health as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the providers accounts can be added for.
    Providers {
        #[arg(long)]
        json: bool,
    },
    /// Add or remove a service (the window's "Add a service").
    Provider {
        #[command(subcommand)]
        action: ProviderAction,
    },
    /// List the programs allowed always; allow or revoke one.
    Apps {
        #[command(subcommand)]
        action: Option<AppsAction>,
        #[arg(long)]
        json: bool,
    },
    /// The activity log: which program asked for what, and what it got.
    Log {
        /// At most this many entries, the newest (default 100).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: Option<u32>,
        /// Only this account's entries (an account id).
        #[arg(long)]
        account: Option<String>,
        /// Only entries whose program name, executable or script contains this.
        #[arg(long)]
        client: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Sign in to a provider in the browser.
    Login {
        /// Provider id, e.g. `sandbox`.
        provider: String,
        /// Sign in with a code entered on any device (RFC 8628) instead:
        /// for machines without a browser. Needs no running broker.
        #[arg(long, conflicts_with_all = ["port", "path", "no_browser"])]
        code: bool,
        /// Wait for the browser on this fixed loopback port (1024-65535),
        /// for providers that match the registered redirect URI exactly:
        /// register http://127.0.0.1:<PORT>/callback (or --path) there.
        /// Signs in in this process (stop a running broker first).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1024..))]
        port: Option<u16>,
        /// The loopback redirect's path (default: the provider's, else
        /// `/callback`).
        #[arg(long)]
        path: Option<String>,
        /// Open no browser: print the URL to open elsewhere (with --port
        /// forwarded there, e.g. `ssh -L <PORT>:127.0.0.1:<PORT>`).
        #[arg(long)]
        no_browser: bool,
        /// Where the new account's secrets go when signing in here (no
        /// broker running): as for `castkey serve`.
        #[command(flatten)]
        store: store::StoreArgs,
    },
    /// Run the broker without a window (headless machines, services).
    ///
    /// Without a keychain (no Secret Service on the session bus), choose
    /// where secrets go: `--secret-store file` (an encrypted file; the
    /// passphrase from the terminal, --passphrase-fd, --passphrase-file or
    /// a systemd credential) or `--secret-store kernel` (the kernel keyring:
    /// memory only, lost at reboot).
    #[command(
        after_help = "Examples:\n  castkey serve --secret-store file                      # asks for the passphrase\n  \
                            castkey serve --secret-store file --passphrase-fd 3 3<~/.config/castkey/passphrase\n  \
                            CASTKEY_SECRET_STORE=kernel castkey serve"
    )]
    Serve {
        #[command(flatten)]
        store: store::StoreArgs,
    },
}

#[derive(clap::Args, Debug, Default, PartialEq, Eq)]
struct TokenArgs {
    /// Scope the token must carry; repeat or space-separate. Default: broadcaster.
    #[arg(long)]
    scope: Vec<String>,
    /// Provider id; default: the active account's provider.
    #[arg(long)]
    provider: Option<String>,
    /// Account id; default: the provider's active account.
    #[arg(long)]
    account: Option<String>,
    /// Refresh first if the token expires sooner than this many seconds.
    #[arg(long)]
    min_valid: Option<u64>,
    /// Refresh first even if the cached token is still valid (the API
    /// refused the one you have).
    #[arg(long)]
    refresh: bool,
    /// Print the whole answer as JSON (token, expiry, headers).
    #[arg(long)]
    json: bool,
}

/// `castkey token` and its own options, read without clap: building the
/// whole command line's parser costs more than everything else the command
/// does before it asks the broker (0.15 ms of a release build, 0.5 ms of a
/// debug one). Anything else (`--help`, a repeated or unknown option, a
/// missing or odd value) is `None`, and clap reads it, errors included.
fn quick_token_args(args: &[OsString]) -> Option<TokenArgs> {
    let mut rest = args.get(1..)?.iter();
    if rest.next()?.to_str()? != "token" {
        return None;
    }
    let mut t = TokenArgs::default();
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg, None),
        };
        let mut value = || -> Option<String> {
            let v = match inline {
                Some(v) => v,
                None => rest.next()?.to_str()?,
            };
            (!v.is_empty() && !v.starts_with('-')).then(|| v.to_string())
        };
        match name {
            "--scope" => t.scope.push(value()?),
            "--provider" if t.provider.is_none() => t.provider = Some(value()?),
            "--account" if t.account.is_none() => t.account = Some(value()?),
            "--min-valid" if t.min_valid.is_none() => t.min_valid = Some(value()?.parse().ok()?),
            "--refresh" if inline.is_none() && !t.refresh => t.refresh = true,
            "--json" if inline.is_none() && !t.json => t.json = true,
            _ => return None,
        }
    }
    Some(t)
}

#[derive(Subcommand, Debug)]
enum ProviderAction {
    /// List the kinds of service that can be added, with their fields.
    Templates {
        #[arg(long)]
        json: bool,
    },
    /// Add a service from a template.
    ///
    /// Secret fields (a client secret) are never taken from the command
    /// line: castkey asks for them without echo when standard input is a
    /// terminal, and otherwise reads one line per secret field from standard
    /// input, in the template's field order (`castkey provider templates`
    /// lists it); an empty line leaves an optional one out.
    #[command(
        after_help = "Example:\n  printf '%s\\n' \"$SECRET\" | castkey provider add oidc --field name='My IdP' \\\n      \
                      --field issuer=https://id.example.com --field client_id=castkey"
    )]
    Add {
        /// Template id, e.g. `oidc` (see `castkey provider templates`).
        template: String,
        /// A field's value; repeat for each field. Not for secret fields.
        #[arg(long = "field", value_name = "NAME=VALUE")]
        fields: Vec<String>,
        /// Print the added provider as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a service you added (it must have no accounts left).
    Remove {
        /// Provider id (see `castkey providers`).
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum AppsAction {
    /// Allow a program always (a headless broker serves only those it lists).
    Allow {
        /// The program's executable: a path, or a name on PATH; made absolute
        /// with symlinks resolved (`python3` → /usr/bin/python3.11). For a
        /// script, the interpreter. A sandboxed app by its id:
        /// `flatpak:com.obsproject.Studio`, `snap:<its AppArmor label>`.
        executable: PathBuf,
        /// The script the interpreter runs (or `-m <module>`).
        #[arg(long)]
        script: Option<String>,
        /// The name shown for it (default: the name it gives, else the file name).
        #[arg(long)]
        name: Option<String>,
        /// A scope it may receive; repeat or space-separate. Default: any the account holds.
        #[arg(long)]
        scope: Vec<String>,
        /// The only account it gets (id, or a name that names one account).
        /// Default: it follows the active account.
        #[arg(long)]
        account: Option<String>,
    },
    /// Forget a program's approval; its open connections lose it at once.
    Revoke {
        /// The program's executable, as for `allow`.
        executable: PathBuf,
        /// The script, as for `allow`.
        #[arg(long)]
        script: Option<String>,
    },
}

impl Command {
    /// Commands that run Castkey's core in this process, and log.
    fn runs_here(&self) -> bool {
        matches!(self, Command::Serve { .. } | Command::Login { .. })
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match quick_token_args(&args) {
        Some(token) => Cli { command: Command::Token(token) },
        None => Cli::parse_from(args),
    };
    // Not for the commands that only ask the broker: building a filter costs
    // more than `castkey token` spends on everything else.
    let here = cli.command.runs_here();
    if here || std::env::var_os("CASTKEY_LOG").is_some() {
        init_logging(if here { "info" } else { "warn" });
    }
    match run(cli) {
        Ok(code) => code,
        // Output cut short (`castkey log | head`): not worth a message.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == ErrorKind::BrokenPipe) => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("castkey: {e:#}");
            ExitCode::from(rpc::exit_code_for(&e))
        }
    }
}

fn init_logging(default_level: &str) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CASTKEY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
}

/// Standard output with untrusted text made harmless: names and messages
/// come from providers and programs, so control characters (escape
/// sequences) and bidirectional overrides are written as `\uXXXX` (valid
/// inside JSON strings too); newlines and tabs pass.
struct Escaped<W: Write>(W);

impl<W: Write> Write for Escaped<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) if text.chars().any(|c| c != '\n' && c != '\t' && castkey_core::is_unsafe_char(c)) => {
                self.0.write_all(castkey_core::escape_text(text, true).as_bytes())?;
            }
            _ => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = Escaped(std::io::stdout().lock());
    match cli.command {
        Command::Token(TokenArgs { scope, provider, account, min_valid, refresh, json }) => {
            let scope = (!scope.is_empty()).then_some(castkey_ipc::ScopeParam::List(scope));
            let force_refresh = refresh.then_some(true);
            let params = TokenParams {
                scope,
                provider,
                account,
                min_valid_secs: min_valid,
                force_refresh,
                rejected: None,
            };
            let grant = Client::connect_default()?.call::<Token>(&params)?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&grant)?)?;
            } else {
                writeln!(out, "{}", grant.access_token)?;
            }
        }
        Command::Accounts { json } => accounts::list(json, &mut out)?,
        Command::Switch { account } => accounts::switch(&account, &mut out)?,
        Command::Logout { account, json } => accounts::logout(&account, json, &mut out)?,
        Command::Status { json } => return status::status(json, &mut out),
        Command::Providers { json } => providers::list(json, &mut out)?,
        Command::Provider { action } => match action {
            ProviderAction::Templates { json } => providers::templates(json, &mut out)?,
            ProviderAction::Add { template, fields, json } => {
                providers::add(&template, &fields, json, &mut out)?
            }
            ProviderAction::Remove { id } => providers::remove(&id, &mut out)?,
        },
        Command::Apps { action: None, json } => apps::list(json, &mut out)?,
        Command::Apps {
            action: Some(AppsAction::Allow { executable, script, name, scope, account }),
            ..
        } => apps::allow(apps::Allow { executable, script, name, scopes: scope, account }, &mut out)?,
        Command::Apps { action: Some(AppsAction::Revoke { executable, script }), .. } => {
            return apps::revoke(&executable, script.as_deref(), &mut out)
        }
        Command::Log { limit, account, client, json } => {
            activity::log(ActivityParams { limit, account, client }, json, &mut out)?
        }
        Command::Login { provider, code: true, store, .. } => {
            return local::login_with_code(&provider, &store, &mut out)
        }
        Command::Login { provider, code: false, port, path, no_browser, store } => {
            return local::login(&provider, LoopbackLogin { port, path, no_browser }, &store, &mut out)
        }
        Command::Serve { store } => local::serve(&store)?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("castkey").chain(args.iter().copied()))
    }

    #[test]
    fn untrusted_text_is_printed_escaped() {
        let mut out = Escaped(Vec::new());
        let name = String::from("Bot\u{1b}[2J\u{202E}gnp.exe");
        writeln!(out, "Active: {name} (p:x)").unwrap();
        assert_eq!(String::from_utf8(out.0).unwrap(), "Active: Bot\\u001B[2J\\u202Egnp.exe (p:x)\n");
        let mut out = Escaped(Vec::new());
        writeln!(out, "plain\ttext").unwrap();
        assert_eq!(out.0, b"plain\ttext\n");
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn commands_parse() {
        assert!(matches!(
            parse(&["switch", "Bot"]).unwrap().command,
            Command::Switch { account } if account == "Bot"
        ));
        assert!(matches!(
            parse(&["logout", "--json", "sandbox:bot"]).unwrap().command,
            Command::Logout { json: true, .. }
        ));
        assert!(matches!(parse(&["status", "--json"]).unwrap().command, Command::Status { json: true }));
        assert!(matches!(parse(&["apps"]).unwrap().command, Command::Apps { action: None, json: false }));
        let Command::Apps { action: Some(AppsAction::Allow { executable, script, scope, .. }), .. } =
            parse(&["apps", "allow", "python3", "--script", "bot.py", "--scope", "a", "--scope", "b c"])
                .unwrap()
                .command
        else {
            panic!("apps allow")
        };
        assert_eq!(executable, PathBuf::from("python3"));
        assert_eq!(script.as_deref(), Some("bot.py"));
        assert_eq!(scope, ["a", "b c"]);
        let Command::Provider { action: ProviderAction::Add { template, fields, .. } } =
            parse(&["provider", "add", "oidc", "--field", "name=My IdP", "--field", "issuer=https://x"])
                .unwrap()
                .command
        else {
            panic!("provider add")
        };
        assert_eq!(template, "oidc");
        assert_eq!(fields, ["name=My IdP", "issuer=https://x"]);
        assert!(matches!(
            parse(&["log", "--limit", "5", "--client", "obs"]).unwrap().command,
            Command::Log { limit: Some(5), .. }
        ));
        assert!(parse(&["log", "--limit", "0"]).is_err());
        assert!(parse(&["log", "--limit", "1001"]).is_err());
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        std::iter::once("castkey").chain(args.iter().copied()).map(OsString::from).collect()
    }

    #[test]
    fn the_quick_token_path_reads_what_clap_reads_or_leaves_it_to_clap() {
        let quick = [
            &["token"][..],
            &["token", "--json"],
            &["token", "--scope", "broadcaster", "--scope=chat:read moderate", "--refresh"],
            &["token", "--provider", "sandbox", "--account=sandbox:bot", "--min-valid", "300"],
            &["token", "--min-valid=0", "--json", "--refresh", "--provider=ibm"],
            &["token", "--scope", "a=b"],
        ];
        let to_clap = [
            &["tokens"][..],
            &[],
            &["token", "--help"],
            &["token", "-h"],
            &["token", "--json", "--json"],
            &["token", "--refresh=true"],
            &["token", "--provider", "a", "--provider", "b"],
            &["token", "--provider"],
            &["token", "--provider", "--json"],
            &["token", "--provider="],
            &["token", "--min-valid", "soon"],
            &["token", "--min-valid", "-1"],
            &["token", "--scope"],
            &["token", "--sco", "x"],
            &["token", "extra"],
            &["token", "--", "--json"],
            &["accounts", "--json"],
            &["--version"],
        ];
        for args in quick {
            let fast = quick_token_args(&os(args)).unwrap_or_else(|| panic!("{args:?} takes the quick path"));
            match parse(args).map(|c| c.command) {
                Ok(Command::Token(by_clap)) => assert_eq!(fast, by_clap, "{args:?}"),
                other => panic!("{args:?}: clap read {other:?}"),
            }
        }
        for args in to_clap {
            assert_eq!(quick_token_args(&os(args)), None, "{args:?} is left to clap");
        }
        let fast = quick_token_args(&os(&["token", "--scope=a b", "--min-valid=30"])).unwrap();
        assert_eq!(fast.scope, ["a b"]);
        assert_eq!(fast.min_valid, Some(30));
    }

    #[test]
    fn serve_and_login_take_a_secret_store() {
        let Command::Serve { store } =
            parse(&["serve", "--secret-store", "file", "--passphrase-fd", "3"]).unwrap().command
        else {
            panic!("serve")
        };
        assert_eq!(store.secret_store.as_deref(), Some("file"));
        assert_eq!(store.passphrase_fd, Some(3));
        let Command::Login { store, .. } =
            parse(&["login", "sandbox", "--secret-store", "kernel"]).unwrap().command
        else {
            panic!("login")
        };
        assert_eq!(store.secret_store.as_deref(), Some("kernel"));
        assert!(parse(&["serve", "--secret-store", "plaintext"]).is_err());
        assert!(parse(&["serve", "--passphrase-fd", "3", "--passphrase-file", "p"]).is_err());
        assert!(parse(&["serve", "--passphrase", "x"]).is_err(), "a passphrase on the command line");
    }

    #[test]
    fn only_login_and_serve_set_up_logging() {
        assert!(parse(&["serve"]).unwrap().command.runs_here());
        assert!(parse(&["login", "sandbox"]).unwrap().command.runs_here());
        for args in [&["token"][..], &["status"], &["accounts"], &["log"]] {
            assert!(!parse(args).unwrap().command.runs_here(), "{args:?}");
        }
    }

    #[test]
    fn the_help_documents_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:") && help.contains("  6  Castkey refused this program"), "{help}");
        let mut cmd = Cli::command();
        let token = cmd.find_subcommand_mut("token").unwrap().render_long_help().to_string();
        assert!(token.contains("  3  no Castkey broker"), "{token}");
    }
}
