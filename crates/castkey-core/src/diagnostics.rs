//! "Export diagnostics": a plain-text report a user can attach to a bug.
//!
//! It holds versions and the platform, the providers (ids, kinds, issuers;
//! never a client secret), the accounts (ids, status, health; never a
//! token), Connected apps and recent log lines. Secrets are never logged in
//! the first place; the log lines still go through [`redact`], which blanks
//! whatever looks like a credential, in case a provider's error text or a
//! URL carried one.

use crate::core::Core;

/// Members whose value is a credential, in `name=value`, `name: value` and
/// `"name":"value"` forms (lower case; matched as a substring of the name).
const SECRET_NAMES: &[&str] = &[
    "token",
    "secret",
    "password",
    "passphrase",
    "code",
    "key",
    "assertion",
    "verifier",
    "authorization",
    "cookie",
];

/// A run of token characters at least this long, with letters and digits
/// mixed, is taken for an opaque credential.
const OPAQUE_MIN: usize = 32;

const REDACTED: &str = "[redacted]";

impl Core {
    /// The report: `recent_log` are the process's last log lines (the
    /// shell keeps them), redacted here.
    pub fn diagnostics(&self, app_version: &str, recent_log: &[String]) -> String {
        let mut out = String::new();
        let now = self.clock.now();
        out += "Castkey diagnostics\n";
        out += &format!("app version: {app_version}\ncore version: {}\n", env!("CARGO_PKG_VERSION"));
        out += &format!("created at (unix seconds): {now}\n");
        out += &format!("platform: {} {}\n", std::env::consts::OS, std::env::consts::ARCH);
        if let Some(os) = os_release() {
            out += &format!("os: {os}\n");
        }
        for var in ["XDG_CURRENT_DESKTOP", "XDG_SESSION_TYPE", "WAYLAND_DISPLAY", "DISPLAY"] {
            if let Ok(v) = std::env::var(var) {
                out += &format!("{var}: {}\n", redact(&v));
            }
        }
        out += &format!("redirect mode: {:?}\n", self.redirect_mode());

        out += "\nproviders:\n";
        for p in self.providers() {
            out += &format!(
                "  {} ({}) sign-in: {}; scopes: {}; template: {}\n",
                p.id,
                p.display_name,
                p.sign_in,
                p.scopes.join(" "),
                p.template.as_deref().unwrap_or("built in"),
            );
        }
        out += "\naccounts:\n";
        for h in self.status() {
            out += &format!(
                "  {} provider={} active={} status={:?} health={:?} access_expires_at={:?} \
                 last_refresh_at={:?} grant_stored_at={:?} grant_expires_at={:?} problem={:?}\n",
                h.account.id,
                h.account.provider,
                h.account.active,
                h.account.status,
                h.state,
                h.access_expires_at,
                h.last_refresh_at,
                h.grant_stored_at,
                h.grant_expires_at,
                h.problem.as_deref().map(redact),
            );
        }
        out += "\nconnected apps:\n";
        for app in self.apps() {
            out += &format!(
                "  {} ({}) scopes={:?} account={:?}\n",
                app.name, app.identity, app.scopes, app.account
            );
        }
        out += &format!("\nrecent log ({} lines, redacted):\n", recent_log.len());
        for line in recent_log {
            out += "  ";
            out += &redact(line);
            out += "\n";
        }
        out
    }
}

fn os_release() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_string())
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.~+/%".contains(c)
}

/// `line` with anything that looks like a credential replaced by
/// `[redacted]`: values of members named like one (`access_token=…`,
/// `"client_secret": "…"`, `code=…`), `Bearer …`/`Basic …` credentials,
/// JWTs, and long opaque runs of token characters. File paths are kept.
pub fn redact(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    // Whether the next value (after `=`, `:` or a scheme word) is a secret.
    let mut secret_value_next = false;
    while i < chars.len() {
        let c = chars[i];
        if is_token_char(c) {
            let start = i;
            while i < chars.len() && is_token_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            if secret_value_next {
                out += REDACTED;
                secret_value_next = false;
                continue;
            }
            if lower == "bearer" || lower == "basic" {
                out += &word;
                secret_value_next = true;
                continue;
            }
            if looks_like_credential(&word) {
                out += REDACTED;
                continue;
            }
            out += &word;
            // `name=`, `name:` or `"name":` names a secret value.
            let mut j = i;
            if j < chars.len() && chars[j] == '"' {
                j += 1;
            }
            if j < chars.len() && (chars[j] == '=' || chars[j] == ':') && names_a_secret(&lower) {
                secret_value_next = true;
            }
            continue;
        }
        // Separators between a secret name and its value keep the flag.
        if secret_value_next && !matches!(c, '=' | ':' | '"' | '\'' | ' ') {
            secret_value_next = false;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// `access_token`, `client-secret`, `code`: a part of the name is one of
/// [`SECRET_NAMES`] (`castkey_core` is not).
fn names_a_secret(lower: &str) -> bool {
    lower.split(['_', '-', '.']).any(|part| SECRET_NAMES.contains(&part))
        || SECRET_NAMES.iter().any(|n| lower.len() > n.len() && lower.ends_with(n) && n.len() > 4)
}

fn looks_like_credential(word: &str) -> bool {
    if word.starts_with('/') {
        return false; // a file path
    }
    let segments: Vec<&str> = word.split('.').collect();
    let jwt = segments.len() == 3 && segments.iter().all(|s| s.len() >= 8);
    let opaque = word.len() >= OPAQUE_MIN
        && word.chars().any(|c| c.is_ascii_digit())
        && word.chars().any(|c| c.is_ascii_alphabetic())
        && !word.contains("//");
    jwt || opaque
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn named_secrets_are_blanked_in_every_form() {
        for (line, gone) in [
            ("refresh failed: refresh_token=rt-123 rejected", "rt-123"),
            (r#"body {"access_token":"at.value","expires_in":3600}"#, "at.value"),
            (r#"{"client_secret": "s3cr3t"}"#, "s3cr3t"),
            ("redirect /callback?code=abc&state=xyz", "abc"),
            ("api key: k-1", "k-1"),
            ("passphrase=hunter2", "hunter2"),
        ] {
            let out = redact(line);
            assert!(!out.contains(gone), "{line} -> {out}");
            assert!(out.contains("[redacted]"), "{out}");
        }
    }

    #[test]
    fn bearer_jwts_and_opaque_tokens_are_blanked() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXZhbHVl";
        let out = redact(&format!("Authorization: Bearer {jwt}"));
        assert!(!out.contains("eyJ"), "{out}");
        let out = redact(&format!("id token {jwt} refused"));
        assert!(!out.contains("eyJ"), "{out}");
        let out = redact("got 8f14e45fceea167a5a36dedd4bea2543aa11bb22 from the provider");
        assert!(!out.contains("8f14e45f"), "{out}");
    }

    #[test]
    fn ordinary_words_paths_and_urls_are_kept() {
        for line in [
            "INFO castkey_core: broker listening on /run/user/1000/castkey/castkey.sock",
            "sign-in started provider=sandbox redirect=dev.castkey.app:/callback",
            "discovery at https://id.example.com/.well-known/openid-configuration failed: 500",
            "account sandbox:streamer signed in; expires_in 3600",
        ] {
            assert_eq!(redact(line), line);
        }
    }
}
