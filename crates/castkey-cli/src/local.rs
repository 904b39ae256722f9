//! What `castkey` does in this process rather than through a running broker:
//! `login` with no broker running (loopback redirect or a code) and `serve`,
//! the headless broker.

use crate::store::StoreArgs;
use anyhow::Context;
use castkey_core::IpcServer;
use castkey_core::{BrowserLauncher, Core, CoreOptions, LoopbackLogin, RedirectMode, SystemBrowser};
use castkey_ipc::{Client, ClientError, Login, LoginParams};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

pub(crate) fn login(
    provider: &str,
    how: LoopbackLogin,
    store: &StoreArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let here = how.port.is_some() || how.path.is_some() || how.no_browser;
    match Client::connect_default() {
        Ok(_) if here => anyhow::bail!(
            "a Castkey broker is running and keeps its own accounts: sign in from its window (the \
             provider's loopback port is a setting of the provider), or stop it and run this again"
        ),
        Ok(mut client) => {
            if store.secret_store.is_some() {
                eprintln!("castkey: the running broker keeps the secrets in its own store (`castkey status` names it)");
            }
            eprintln!(
                "castkey: asking the running Castkey to sign in to `{provider}`; finish in your browser \
                 (Castkey's window shows the sign-in; Ctrl-C stops waiting here)…"
            );
            client.set_timeout(Some(Duration::from_secs(castkey_core::DEFAULT_TTL_SECS + 30)))?;
            let account = client.call::<Login>(&LoginParams { provider: provider.into() })?;
            writeln!(out, "Signed in as {} ({})", account.display_name, account.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::NotRunning { .. }) => login_here(provider, how, store, out),
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
fn login_here(
    provider: &str,
    how: LoopbackLogin,
    store: &StoreArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let secrets = crate::store::open(store)?;
    let rt = runtime()?;
    rt.block_on(async {
        let browser = WatchedBrowser::default();
        let failed = browser.0.clone();
        let mut options = CoreOptions::system_with_store(RedirectMode::Loopback, secrets)?;
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
pub(crate) fn login_with_code(
    provider: &str,
    store: &StoreArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    match Client::connect_default() {
        Ok(client) => return login_with_code_in_broker(client, provider, store, out),
        Err(ClientError::NotRunning { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let secrets = crate::store::open(store)?;
    let rt = runtime()?;
    rt.block_on(async {
        let core = Core::start(CoreOptions::system_with_store(RedirectMode::Loopback, secrets)?).await?;
        let account = core
            .login_with_code(provider, |started| {
                show_code(
                    &started.verification_uri,
                    started.verification_uri_complete.as_deref(),
                    &started.user_code,
                )
            })
            .await?;
        writeln!(out, "Signed in as {} ({})", account.display_name, account.id)?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Prints what the user needs to finish a sign-in with a code.
fn show_code(verification_uri: &str, complete: Option<&str>, user_code: &str) {
    let url = complete.unwrap_or(verification_uri);
    eprintln!(
        "castkey: on any device, open\n  {verification_uri}\nand enter the code\n  {user_code}\n\nor scan:\n{}\n\
         castkey: waiting for you to finish…",
        castkey_core::terminal_qr(url).unwrap_or_default()
    );
    eprintln!("castkey: complete URL: {url}");
}

/// Sign-in with a code run by the broker (the app or `castkey serve`,
/// which keeps the account): subscribe first, then start it, then wait for
/// `signed_in` for the provider or `sign_in_failed`, at most until the code
/// expires.
fn login_with_code_in_broker(
    mut client: Client,
    provider: &str,
    store: &StoreArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    use castkey_ipc::notification::{SignInFailed, SignedIn};
    if store.secret_store.is_some() {
        eprintln!(
            "castkey: the running broker keeps the secrets in its own store (`castkey status` names it)"
        );
    }
    client.subscribe()?;
    let code = client.call::<castkey_ipc::LoginWithCode>(&LoginParams { provider: provider.into() })?;
    show_code(&code.verification_uri, code.verification_uri_complete.as_deref(), &code.user_code);
    loop {
        let left = code.expires_at.saturating_sub(crate::when::now());
        if left == 0 {
            anyhow::bail!("the code expired before the sign-in was finished; run this again");
        }
        let Some(note) = client.next_notification(Some(Duration::from_secs(left)))? else { continue };
        if let Some(signed_in) = note.parse::<SignedIn>()? {
            if signed_in.account.provider == code.provider {
                writeln!(out, "Signed in as {} ({})", signed_in.account.display_name, signed_in.account.id)?;
                return Ok(ExitCode::SUCCESS);
            }
        } else if let Some(failed) = note.parse::<SignInFailed>()? {
            // Another program's sign-in (an older broker names none: taken as ours).
            if !failed.provider.is_empty() && failed.provider != code.provider {
                continue;
            }
            return Err(castkey_ipc::ClientError::Rpc(castkey_ipc::RpcError::new(
                failed.reason,
                failed.message,
            ))
            .into());
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

pub(crate) fn serve(store: &StoreArgs) -> anyhow::Result<()> {
    let secrets = crate::store::open(store)?;
    let rt = runtime()?;
    rt.block_on(async {
        let core = Core::start(CoreOptions::system_with_store(RedirectMode::Loopback, secrets)?).await?;
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
