//! The window's commands: UI → command → core. Types from castkey_ipc::ui;
//! nothing here returns a secret.
//!
//! Each command takes the shell's state and at most one args struct from
//! `castkey_ipc::ui`, always named `args`: the window sends
//! `invoke(name, { args })` (see `ui/src/api.ts`). The commands are listed once,
//! in [`invoke_handler`]'s macro below, and that list must be
//! `castkey_ipc::ui::command::COMMANDS`.

use crate::Shell;
use castkey_core::CoreError;
use castkey_ipc::ui::command::COMMANDS;
use castkey_ipc::ui::{
    AddApiKeyAccountArgs, AddProvider, AddServiceAccountArgs, AnswerConsentArgs, AppStatus, CancelSignInArgs,
    CancelSignInWithCodeArgs, CliInstalled, CommandError, ConsentRequest, DesktopSettings, DeviceSignIn,
    Diagnostics, ProviderTemplate, Readiness, RedirectUriArgs, RemoveProviderArgs, RevokeAppArgs, SignInArgs,
    SignInStarted, SignInWithCodeArgs, SignOutArgs, SignedOut, SwitchAccountArgs,
};
use castkey_ipc::{
    AccountHealth, AccountInfo, ActivityEntry, ActivityParams, AllowAppParams, ClientApproval, ProviderInfo,
};
use tauri::State;

/// Builds [`invoke_handler`] and [`HANDLED`] from one list of command
/// functions.
///
/// `tauri::generate_handler!` needs the functions themselves, so its list
/// cannot be generated from the `COMMANDS` const; instead the list is written
/// once, here, kept as strings too, and a compile-time assertion fails the
/// build unless those strings are `COMMANDS` (same names, same order). No
/// source parsing, and no test to forget to run.
macro_rules! window_commands {
    ($($name:ident),+ $(,)?) => {
        /// The names of the commands [`invoke_handler`] handles.
        pub const HANDLED: &[&str] = &[$(stringify!($name)),+];

        const _: () = assert!(
            same_names(HANDLED, COMMANDS),
            "the commands in window_commands! differ from castkey_ipc::ui::command::COMMANDS \
             (they must be the same names in the same order)"
        );

        /// The window's invoke handler: every command in `COMMANDS`.
        pub fn invoke_handler() -> impl Fn(tauri::ipc::Invoke<tauri::Wry>) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($name),+]
        }
    };
}

window_commands![
    list_providers,
    list_accounts,
    sign_in,
    sign_in_with_code,
    cancel_sign_in_with_code,
    add_service_account,
    add_api_key_account,
    sign_out,
    app_status,
    list_provider_templates,
    add_provider,
    redirect_uri_to_register,
    remove_provider,
    switch_account,
    account_health,
    pending_consents,
    answer_consent,
    list_apps,
    update_app,
    revoke_app,
    activity,
    cancel_sign_in,
    settings,
    update_settings,
    go_live_readiness,
    export_diagnostics,
    install_cli,
];

/// `a == b`, usable in a `const` (slice and `str` equality are not `const`).
const fn same_names(a: &[&str], b: &[&str]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        let (x, y) = (a[i].as_bytes(), b[i].as_bytes());
        if x.len() != y.len() {
            return false;
        }
        let mut j = 0;
        while j < x.len() {
            if x[j] != y[j] {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

fn err(e: CoreError) -> CommandError {
    CommandError { reason: e.reason(), message: e.to_string() }
}

#[tauri::command]
pub fn list_providers(shell: State<'_, Shell>) -> Vec<ProviderInfo> {
    shell.core.providers()
}

#[tauri::command]
pub fn list_accounts(shell: State<'_, Shell>) -> Vec<AccountInfo> {
    shell.core.accounts()
}

/// Opens the system browser; the outcome arrives as an event.
#[tauri::command]
pub async fn sign_in(shell: State<'_, Shell>, args: SignInArgs) -> Result<SignInStarted, CommandError> {
    let SignInArgs { provider } = args;
    let started = shell.core.begin_app_sign_in(&provider).await.map_err(err)?;
    Ok(SignInStarted {
        provider,
        url: started.authorization_url.to_string(),
        redirect_uri: started.redirect_uri.clone(),
        expires_at: started.expires_at,
    })
}

/// Sign-in with a code (RFC 8628): answers what to show; the outcome
/// arrives as an event.
#[tauri::command]
pub async fn sign_in_with_code(
    shell: State<'_, Shell>,
    args: SignInWithCodeArgs,
) -> Result<DeviceSignIn, CommandError> {
    shell.core.begin_device_sign_in(&args.provider).await.map_err(err)
}

/// The user closed the code: stop waiting for it.
#[tauri::command]
pub fn cancel_sign_in_with_code(shell: State<'_, Shell>, args: CancelSignInWithCodeArgs) {
    shell.core.cancel_device_sign_in(&args.provider);
}

/// Adds a service account. The secret is handed to the core (which keeps it
/// in the keychain) and dropped here; nothing returns it to the window.
#[tauri::command]
pub async fn add_service_account(
    shell: State<'_, Shell>,
    args: AddServiceAccountArgs,
) -> Result<AccountInfo, CommandError> {
    let AddServiceAccountArgs { provider, client_id, client_secret } = args;
    let secret = secrecy::SecretString::from(client_secret);
    shell.core.add_service_account(&provider, &client_id, &secret).await.map_err(err)
}

/// Adds an API-key account (api.video). Like the client secret above, the
/// key only goes in.
#[tauri::command]
pub async fn add_api_key_account(
    shell: State<'_, Shell>,
    args: AddApiKeyAccountArgs,
) -> Result<AccountInfo, CommandError> {
    let AddApiKeyAccountArgs { provider, environment, api_key } = args;
    let key = secrecy::SecretString::from(api_key);
    shell.core.add_api_key_account(&provider, &environment, &key).await.map_err(err)
}

#[tauri::command]
pub async fn sign_out(shell: State<'_, Shell>, args: SignOutArgs) -> Result<SignedOut, CommandError> {
    shell.core.sign_out(&args.account_id).await.map_err(err)
}

#[tauri::command]
pub fn list_provider_templates(shell: State<'_, Shell>) -> Vec<ProviderTemplate> {
    shell.core.provider_templates()
}

/// Adds a provider from a template. A client secret in `args` goes to the
/// keychain through the core and is dropped here.
#[tauri::command]
pub async fn add_provider(shell: State<'_, Shell>, args: AddProvider) -> Result<ProviderInfo, CommandError> {
    shell.core.add_provider(&args).await.map_err(err)
}

/// The redirect URI the provider a form describes will send, while the
/// form is being filled in (no secret among its values).
#[tauri::command]
pub fn redirect_uri_to_register(args: RedirectUriArgs) -> Option<String> {
    castkey_core::redirect_uri_to_register(&castkey_ipc::ui::AddProvider {
        template: args.template,
        values: args.values,
    })
}

#[tauri::command]
pub async fn remove_provider(shell: State<'_, Shell>, args: RemoveProviderArgs) -> Result<(), CommandError> {
    shell.core.remove_provider(&args.provider).await.map_err(err)
}

#[tauri::command]
pub fn app_status(shell: State<'_, Shell>) -> AppStatus {
    AppStatus {
        version: env!("CARGO_PKG_VERSION").to_string(),
        socket_path: shell.socket_path.display().to_string(),
        broker_error: shell.broker_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        cli_path: crate::desktop::cli_beside_app().map(|p| p.display().to_string()),
        cli_on_path: crate::desktop::cli_on_path(),
        config_dir: shell.config_dir.display().to_string(),
        redirect_scheme: castkey_core::APP_SCHEME.to_string(),
    }
}

/// Makes an account its provider's active one ("Make active").
#[tauri::command]
pub fn switch_account(shell: State<'_, Shell>, args: SwitchAccountArgs) -> Result<AccountInfo, CommandError> {
    shell.core.switch(&args.account_id).map_err(err)
}

/// Every account's token health (times, offline problems; no token).
#[tauri::command]
pub fn account_health(shell: State<'_, Shell>) -> Vec<AccountHealth> {
    shell.core.status()
}

/// The consent prompts waiting for the user (a window opened late shows them).
#[tauri::command]
pub fn pending_consents(shell: State<'_, Shell>) -> Vec<ConsentRequest> {
    shell.core.pending_consents()
}

/// The user's answer to a consent prompt; the waiting request goes on.
#[tauri::command]
pub fn answer_consent(shell: State<'_, Shell>, args: AnswerConsentArgs) -> Result<(), CommandError> {
    shell.core.answer_consent(&args).map_err(err)
}

/// Connected apps: the programs allowed always, with their policy.
#[tauri::command]
pub fn list_apps(shell: State<'_, Shell>) -> Vec<ClientApproval> {
    shell.core.apps()
}

/// Changes a connected app's scope policy or account binding. Only an app
/// already allowed: new programs are allowed from their consent prompt. The
/// name it was approved under is kept unless `args` gives another.
#[tauri::command]
pub fn update_app(shell: State<'_, Shell>, args: AllowAppParams) -> Result<ClientApproval, CommandError> {
    let existing = shell
        .core
        .apps()
        .into_iter()
        .find(|a| a.identity.executable == args.executable && a.identity.script == args.script)
        .ok_or_else(|| {
            err(CoreError::InvalidRequest(
                "that program is not among the connected apps (it may have been revoked)".into(),
            ))
        })?;
    let args = AllowAppParams { name: args.name.or(Some(existing.name)), ..args };
    shell.core.allow_app(&args).map_err(err)
}

/// Forgets a connected app's approval; answers whether it had one.
#[tauri::command]
pub fn revoke_app(shell: State<'_, Shell>, args: RevokeAppArgs) -> Result<bool, CommandError> {
    shell.core.revoke_app(&args.identity).map_err(err)
}

/// The activity log, newest last (no token values in it).
#[tauri::command]
pub fn activity(shell: State<'_, Shell>, args: ActivityParams) -> Vec<ActivityEntry> {
    shell.core.activity(&args)
}

/// The user pressed Cancel on "Waiting for your browser…": a redirect for
/// that sign-in is refused from now on.
#[tauri::command]
pub async fn cancel_sign_in(shell: State<'_, Shell>, args: CancelSignInArgs) -> Result<bool, CommandError> {
    Ok(shell.core.cancel_app_sign_in(&args.provider).await)
}

/// The desktop settings.
#[tauri::command]
pub fn settings(shell: State<'_, Shell>) -> DesktopSettings {
    shell.settings.get()
}

/// Stores the settings and applies them (start at login registers or
/// removes the autostart entry); answers what was stored.
#[tauri::command]
pub fn update_settings(
    app: tauri::AppHandle,
    shell: State<'_, Shell>,
    args: DesktopSettings,
) -> Result<DesktopSettings, CommandError> {
    crate::desktop::apply_settings(&app, &shell, args)
}

/// "Ready to go live" for the horizon in the settings.
#[tauri::command]
pub fn go_live_readiness(shell: State<'_, Shell>) -> Readiness {
    shell.core.go_live_readiness(shell.settings.get().go_live_hours)
}

/// Writes the diagnostics report (no secrets) to the config directory and
/// answers it.
#[tauri::command]
pub fn export_diagnostics(shell: State<'_, Shell>) -> Result<Diagnostics, CommandError> {
    let text = shell.core.diagnostics(env!("CARGO_PKG_VERSION"), &crate::logbuf::recent());
    let path = shell.config_dir.join("diagnostics.txt");
    castkey_core::write_private_file(&path, text.as_bytes()).map_err(|e| CommandError {
        reason: castkey_ipc::Reason::Internal,
        message: format!("could not save {}: {e}", path.display()),
    })?;
    Ok(Diagnostics { path: path.display().to_string(), text })
}

/// Puts the `castkey` command installed with the app in `~/.local/bin`.
#[tauri::command]
pub fn install_cli() -> Result<CliInstalled, CommandError> {
    crate::desktop::install_cli()
        .map_err(|message| CommandError { reason: castkey_ipc::Reason::Internal, message })
}
