//! Castkey's core: everything but the desktop shell. Nothing here depends
//! on Tauri.
//!
//! Module map, from the bottom up (no module imports one above it):
//! - `clock`, `paths`, `atomic_file`, `qr`: small leaves.
//! - `event`: [`CoreEvent`]; `caller`: [`Caller`], who is asking over IPC.
//! - `secret`: the `SecretStore` trait and the stores the user chooses
//!   from: the OS keychain, an encrypted file, the Linux kernel keyring.
//! - `error`: [`CoreError`] and its stable IPC reasons.
//! - `provider`: provider descriptions and the URL rules (data);
//!   `template`: form checking; `services`: one file per known service;
//!   `catalog`: the providers offered.
//! - `oauth`: discovery, the token endpoint, ID tokens.
//! - `redirect`, `pending`, `loopback`: redirects, parsed and awaited.
//! - `account`: accounts and which one is active.
//! - `grant`: one file per way of holding a grant (browser, service
//!   account, API key, exchange step); the only match on the kind.
//! - `broker`: tokens for local apps, served from memory.
//! - `clients` (approved programs, `clients.json`), `consent` (prompts and
//!   each connection's [`ClientSession`]), `activity` (the log).
//! - `core`: [`Core`], the above wired together; `access`: the core's side
//!   of who may ask (consent, policy, binding, switching); `ipc_server`: the
//!   socket; `readiness` ("ready to go live"), `diagnostics` (the report
//!   to attach to a bug) and `settings` (the desktop app's settings file)
//!   read the core from above.
//!
//! Data flows one way: UI → command → core; deep link → core; IPC request →
//! broker → provider.

mod access;
mod account;
mod activity;
mod atomic_file;
mod broker;
pub(crate) mod caller;
mod catalog;
mod clients;
mod clock;
mod consent;
mod core;
pub mod diagnostics;
mod error;
mod event;
mod gate;
mod grant;
mod ipc_server;
mod loopback;
mod oauth;
mod paths;
mod pending;
mod provider;
mod qr;
mod readiness;
mod redirect;
mod secret;
mod services;
mod settings;
mod template;

#[cfg(feature = "test-support")]
pub mod test_support;

pub use crate::core::{BrowserLauncher, Core, CoreOptions, LoopbackLogin, RedirectMode, SystemBrowser};
pub use access::FORCE_INTERVAL_SECS;
pub use caller::{is_sandbox_identity, Caller, OwnTools, Principal, Strength, Terminal};
pub use consent::{ClientSession, ConsentMode, CONSENT_WAIT, DENIED_QUIET_SECS};
pub use error::CoreError;
pub use event::CoreEvent;
pub use grant::{DeviceStarted, SignInFor, Started};
pub use ipc_server::{dispatch, IpcLimits, IpcServer};
pub use paths::config_dir;
pub use pending::DEFAULT_TTL_SECS;
pub use qr::terminal as terminal_qr;
pub use readiness::{GoLiveWarnings, RECENT_USE_SECS, STREAMING_WINDOW_SECS};
pub use redirect::RedirectError;
pub use secret::{
    open_store, EncryptedFileStore, OpenStoreError, Passphrase, SecretStore, SecretStoreKind, StoreChoice,
    SECRETS_FILE, SECRET_STORE_ENV,
};
pub use services::redirect_uri_to_register;
pub use settings::SettingsFile;

/// Whether `c` must not reach a terminal or a window as it is: a control
/// character (escape sequences) or a bidirectional override or isolate
/// (text that reads differently from what it is).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` without control and bidirectional-override characters: how
/// provider- and caller-given names enter the core.
pub fn clean_text(text: &str) -> String {
    text.chars().filter(|c| !is_unsafe_char(*c)).collect()
}

/// `text` with each control or bidirectional-override character written as
/// `\uXXXX` (newlines and tabs kept when `keep_lines`): for paths, where
/// dropping characters could make two names one, and for printing.
pub fn escape_text(text: &str, keep_lines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' if keep_lines => out.push(c),
            c if is_unsafe_char(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `text` for a desktop notification's body, which GNOME and Plasma read
/// as markup (`<b>`, `<a href>`, `&amp;`): `&`, `<` and `>` escaped, and
/// control and bidi-override characters dropped. Names in it come from
/// providers and programs.
pub fn notification_body(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' => out.push('\n'),
            c if is_unsafe_char(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes `bytes` to `path` atomically, readable by the user only (0600).
pub fn write_private_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    atomic_file::write(path, bytes)
}

/// The private-use URI scheme Castkey registers (RFC 8252 §7.1: reverse domain).
pub const APP_SCHEME: &str = "dev.castkey.app";

/// The redirect URI shared by built-in providers' browser sign-ins that
/// come back through the deep link, and by providers added before each got
/// its own ([`app_redirect_uri`]): their registrations name it.
pub const APP_REDIRECT_URI: &str = "dev.castkey.app:/callback";

/// The deep-link redirect URI of a provider the user added:
/// `dev.castkey.app:/callback/<provider id>`. RFC 9700 §4.4.2 (mix-up
/// defence): a distinct redirect URI per authorization server, so that a
/// redirect arriving at one provider's URI can never complete a sign-in
/// started with another. Provider ids are `[A-Za-z0-9_-]`, safe in a path.
pub fn app_redirect_uri(provider_id: &str) -> String {
    format!("{APP_REDIRECT_URI}/{provider_id}")
}

#[cfg(test)]
mod text_tests {
    #[test]
    fn outside_text_is_made_harmless_for_each_place() {
        let evil = "Bot <a href=\"http://x\">OK</a> & \u{1b}[31m\u{202E}fdp.exe";
        assert_eq!(
            super::notification_body(evil),
            "Bot &lt;a href=\"http://x\"&gt;OK&lt;/a&gt; &amp; [31mfdp.exe"
        );
        assert_eq!(super::clean_text("a\u{7}b\u{2067}c\nd"), "abcd");
        assert_eq!(super::escape_text("a\u{1b}b\n", true), "a\\u001Bb\n");
        assert_eq!(super::escape_text("a\nb", false), "a\\u000Ab");
    }
}
