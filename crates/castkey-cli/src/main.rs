//! `castkey`: the command-line face of Castkey.
//!
//! `token`, `accounts` and `status` talk to the running broker (the desktop
//! app or `castkey serve`) over the local socket, like any broadcasting app.
//! `login` asks the running broker to sign in, or, with none running, signs
//! in itself through a loopback redirect. `serve` is the headless broker.

use anyhow::Context;
use castkey_core::IpcServer;
use castkey_core::{BrowserLauncher, Core, CoreOptions, LoopbackLogin, RedirectMode, SystemBrowser};
use castkey_ipc::{
    AccountStatus, Accounts, Client, ClientError, Login, LoginParams, Providers, Reason, Token, TokenParams,
};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "castkey", version, about = "Sign-in and broadcast tokens for your streaming apps")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a valid access token (for `Authorization: Bearer $(castkey token)`).
    Token {
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
    },
    /// List accounts (no secrets).
    Accounts {
        #[arg(long)]
        json: bool,
    },
    /// List the providers accounts can be added for.
    Providers {
        #[arg(long)]
        json: bool,
    },
    /// Is a broker running, and where?
    Status,
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
    },
    /// Run the broker without a window (headless machines, services).
    Serve,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level =
        if matches!(cli.command, Command::Serve | Command::Login { .. }) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CASTKEY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("castkey: {e:#}");
            ExitCode::from(exit_code_for(&e))
        }
    }
}

/// Exit codes scripts can branch on: 3 no broker, 4 sign in (again), 5
/// provider unavailable, 1 anything else.
fn exit_code_for(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::NotRunning { .. }) => 3,
        Some(ClientError::Rpc(rpc)) => match rpc.reason() {
            Some(Reason::NotSignedIn | Reason::ReauthRequired | Reason::UnknownAccount) => 4,
            Some(Reason::ProviderUnavailable) => 5,
            _ => 1,
        },
        _ => 1,
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Token { scope, provider, account, min_valid, refresh, json } => {
            let scope = (!scope.is_empty()).then_some(castkey_ipc::ScopeParam::List(scope));
            let force_refresh = refresh.then_some(true);
            let params = TokenParams { scope, provider, account, min_valid_secs: min_valid, force_refresh };
            let grant = Client::connect_default()?.call::<Token>(&params)?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&grant)?)?;
            } else {
                writeln!(out, "{}", grant.access_token)?;
            }
        }
        Command::Accounts { json } => {
            let accounts = Client::connect_default()?.call::<Accounts>(&Default::default())?;
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
        }
        Command::Providers { json } => {
            let providers = Client::connect_default()?.call::<Providers>(&Default::default())?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&providers)?)?;
            } else {
                for p in providers {
                    let how = match p.sign_in.as_str() {
                        "browser" if p.device_flow => "browser or code (castkey login)",
                        "browser" => "browser (castkey login)",
                        "service_account" => "service account (add it in the window)",
                        "api_key" => "API key (add it in the window)",
                        other => other,
                    };
                    writeln!(out, "{:<16} {:<40} {how}", p.id, p.display_name)?;
                }
            }
        }
        Command::Status => {
            let path = castkey_ipc::socket::default_socket_path();
            match Client::connect(&path) {
                Ok(mut c) => {
                    let accounts = c.call::<Accounts>(&Default::default())?;
                    writeln!(out, "Castkey broker: running on {}", path.display())?;
                    writeln!(out, "Accounts: {}", accounts.len())?;
                    for a in accounts.iter().filter(|a| a.active) {
                        writeln!(out, "Active for {}: {} ({})", a.provider, a.display_name, a.id)?;
                    }
                }
                Err(ClientError::NotRunning { .. }) => {
                    writeln!(out, "Castkey broker: not running (expected on {})", path.display())?;
                    return Ok(ExitCode::from(3));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Command::Login { provider, code: true, .. } => return login_with_code(&provider, &mut out),
        Command::Login { provider, code: false, port, path, no_browser } => {
            return login(&provider, LoopbackLogin { port, path, no_browser }, &mut out)
        }
        Command::Serve => serve()?,
    }
    Ok(ExitCode::SUCCESS)
}

fn login(provider: &str, how: LoopbackLogin, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let here = how.port.is_some() || how.path.is_some() || how.no_browser;
    match Client::connect_default() {
        Ok(_) if here => anyhow::bail!(
            "a Castkey broker is running and keeps its own accounts: sign in from its window (the \
             provider's loopback port is a setting of the provider), or stop it and run this again"
        ),
        Ok(mut client) => {
            eprintln!(
                "castkey: asking the running Castkey to sign in to `{provider}`; finish in your browser \
                 (Castkey's window shows the sign-in; Ctrl-C stops waiting here)…"
            );
            client.set_timeout(Some(Duration::from_secs(castkey_core::DEFAULT_TTL_SECS + 30)))?;
            let account = client.call::<Login>(&LoginParams { provider: provider.into() })?;
            writeln!(out, "Signed in as {} ({})", account.display_name, account.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::NotRunning { .. }) => login_here(provider, how, out),
        Err(e) => Err(e.into()),
    }
}

/// The system browser, remembering whether it failed to launch (the
/// sign-in then ends; the user is told how to go on without it).
#[derive(Debug, Default)]
struct WatchedBrowser(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl BrowserLauncher for WatchedBrowser {
    fn open(&self, url: &url::Url) -> Result<(), String> {
        let opened = SystemBrowser.open(url);
        self.0.store(opened.is_err(), std::sync::atomic::Ordering::SeqCst);
        opened
    }
}

/// Sign-in through a loopback redirect, in this process.
fn login_here(provider: &str, how: LoopbackLogin, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let browser = WatchedBrowser::default();
        let failed = browser.0.clone();
        let mut options = CoreOptions::system(RedirectMode::Loopback)?;
        options.browser = std::sync::Arc::new(browser);
        let core = Core::start(options).await?;
        let signing_in = core.login_loopback(provider, &how, |started| {
            let open = if how.no_browser {
                "open this URL in a browser"
            } else {
                "opening your browser. If it does not open, visit"
            };
            let uri = &started.redirect_uri;
            eprintln!(
                "castkey: no Castkey app is running; signing in here.\n\
                 castkey: {open}:\n  {}\n\
                 castkey: waiting for the redirect to {uri} (until the sign-in expires in {} minutes; \
                 Ctrl-C cancels)…\n\
                 castkey: the provider must have exactly this redirect URI registered for the client:\n  {uri}\n\
                 castkey: a browser that shows an error page (such as `invalid redirect_uri`, or a bare \
                 403) instead of coming back here means the provider refused it.",
                started.authorization_url,
                castkey_core::DEFAULT_TTL_SECS / 60,
            );
            if how.port.is_none() {
                let path = url::Url::parse(uri).map(|u| u.path().to_string()).unwrap_or_default();
                eprintln!(
                    "castkey: the port changes at every sign-in; a provider that matches it too needs a \
                     fixed one: `castkey login --port <N> {provider}` (or the provider's loopback port \
                     setting), with http://127.0.0.1:<N>{path} registered."
                );
            }
        });
        tokio::select! {
            signed_in = signing_in => match signed_in {
                Ok(account) => {
                    writeln!(out, "Signed in as {} ({})", account.display_name, account.id)?;
                    anyhow::Ok(ExitCode::SUCCESS)
                }
                Err(e) if failed.load(std::sync::atomic::Ordering::SeqCst) => Err(anyhow::Error::new(e)
                    .context(format!(
                        "no browser could be opened here; run `castkey login --no-browser {provider}` and \
                         open the URL it prints (on another machine: with --port, forwarded there)"
                    ))),
                Err(e) => Err(e.into()),
            },
            _ = tokio::signal::ctrl_c() => {
                eprintln!("castkey: sign-in cancelled");
                Ok(ExitCode::from(130))
            }
        }
    })
}

/// Sign-in with a code, in this process: the account is written where the
/// broker will find it when it starts. A running broker keeps its own list,
/// so it is asked to stop first (or use its window).
fn login_with_code(provider: &str, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    if Client::connect_default().is_ok() {
        anyhow::bail!(
            "a Castkey broker is running: sign in with a code from its window, or stop it and run this again"
        );
    }
    let rt = runtime()?;
    rt.block_on(async {
        let core = Core::start(CoreOptions::system(RedirectMode::Loopback)?).await?;
        let account = core
            .login_with_code(provider, |started| {
                let url = started.verification_uri_complete.as_deref().unwrap_or(&started.verification_uri);
                eprintln!(
                    "castkey: on any device, open\n  {}\nand enter the code\n  {}\n\nor scan:\n{}\n                     castkey: waiting for you to finish…",
                    started.verification_uri,
                    started.user_code,
                    castkey_core::terminal_qr(url).unwrap_or_default()
                );
                eprintln!("castkey: complete URL: {url}");
            })
            .await?;
        writeln!(out, "Signed in as {} ({})", account.display_name, account.id)?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

fn serve() -> anyhow::Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let core = Core::start(CoreOptions::system(RedirectMode::Loopback)?).await?;
        let path = castkey_ipc::socket::default_socket_path();
        let server = IpcServer::bind(&path)?;
        eprintln!("castkey: broker listening on {}", path.display());
        let discovering = core.clone();
        tokio::spawn(async move { discovering.discover_all().await });
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = server.serve(core.clone()) => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        // No new connections from here; refreshes in flight finish and
        // store their rotated refresh tokens before the process ends.
        core.shutdown(Duration::from_secs(5)).await;
        eprintln!("castkey: broker stopped");
        anyhow::Ok(())
    })
}
