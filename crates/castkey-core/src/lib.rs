//! Castkey's core: everything but the desktop shell.
//!
//! What each module owns:
//! - [`provider`]: provider descriptions and the catalog of them; URL rules.
//! - [`template`]: the kinds of service a user adds from the window, as forms.
//! - [`exchange`]: the identity-token exchange of LifeOmic-style services.
//! - [`oidc`]: discovery, the token endpoint and ID-token verification.
//! - [`redirect`]: turning a redirect URL into a typed [`redirect::Redirect`].
//! - [`pending`]: [`pending::PendingRedirects`], flows waiting for their redirect.
//! - [`signin`]: browser sign-in (custom scheme or loopback) from start to account.
//! - [`account`]: accounts and which one is active ([`account::AccountStore`]).
//! - [`secret`]: the [`secret::SecretStore`] trait and the OS keychain store.
//! - [`broker`]: [`broker::TokenBroker`], tokens for local apps, served from memory.
//! - [`ipc_server`]: the local socket that speaks `castkey-ipc`.
//! - [`castkey`]: [`castkey::Castkey`], the above wired together for the app and CLI.
//!
//! Data flows one way: UI → command → core; deep link → core; IPC request →
//! broker → provider. Nothing here depends on Tauri.

pub mod account;
pub mod apivideo;
pub mod atomic_file;
pub mod broker;
pub mod castkey;
pub mod clock;
pub mod error;
pub mod exchange;
pub mod ipc_server;
pub mod loopback;
pub mod oidc;
pub mod paths;
pub mod pending;
pub mod provider;
pub mod qr;
pub mod redirect;
pub mod secret;
pub mod signin;
pub mod template;

pub use castkey::{Castkey, CastkeyOptions, CoreEvent, RedirectMode};
pub use error::CoreError;

/// The private-use URI scheme Castkey registers (RFC 8252 §7.1: reverse domain).
pub const APP_SCHEME: &str = "dev.castkey.app";

/// The redirect URI for browser sign-ins that come back through the deep link.
pub const APP_REDIRECT_URI: &str = "dev.castkey.app:/callback";
