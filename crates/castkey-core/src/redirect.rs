//! A redirect URL, parsed at the boundary into a typed [`Redirect`].
//!
//! Everything that arrives here is untrusted: a deep link can be sent by any
//! program. Parsing checks shape only; whether a flow is waiting for the
//! `state` is [`crate::pending::PendingRedirects`]' job.

use secrecy::SecretString;

/// Longest redirect URL accepted.
pub const MAX_REDIRECT_LEN: usize = 8 * 1024;

#[derive(Debug)]
pub struct Redirect {
    pub state: String,
    /// RFC 9207 `iss`, when the provider sent one.
    pub iss: Option<String>,
    pub outcome: RedirectOutcome,
}

#[derive(Debug)]
pub enum RedirectOutcome {
    Code(SecretString),
    Error { error: String, description: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    #[error("the redirect is not a URL Castkey expects: {0}")]
    Malformed(String),
    #[error("no sign-in is waiting for this redirect (unknown or already used state)")]
    UnknownState,
    #[error("the sign-in took too long and expired; start it again")]
    Expired,
    #[error("the provider refused the sign-in: {error}{}", .description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied { error: String, description: Option<String> },
    #[error("the redirect names issuer {got:?} but the sign-in was started with {expected}")]
    IssuerMismatch { expected: String, got: Option<String> },
    #[error("the sign-in was cancelled")]
    Cancelled,
}

/// Parses `raw`, which must start with `expected_base` (the redirect URI the
/// flow was started with, without query).
pub fn parse(raw: &str, expected_base: &str) -> Result<Redirect, RedirectError> {
    let url = parse_url(raw)?;
    let base = url::Url::parse(expected_base).map_err(|e| RedirectError::Malformed(e.to_string()))?;
    let same_target = url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && (base.port().is_none() || url.port() == base.port())
        && url.path() == base.path();
    if !same_target {
        return Err(RedirectError::Malformed(format!(
            "expected a redirect to {expected_base}, got {}:{}",
            url.scheme(),
            url.path()
        )));
    }
    let mut state = None;
    let mut code = None;
    let mut iss = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in url.query_pairs() {
        let slot = match k.as_ref() {
            "state" => &mut state,
            "code" => &mut code,
            "iss" => &mut iss,
            "error" => &mut error,
            "error_description" => &mut description,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return Err(RedirectError::Malformed(format!("parameter `{k}` appears twice")));
        }
    }
    let state = state
        .filter(|s| !s.is_empty())
        .ok_or_else(|| RedirectError::Malformed("no `state` parameter".into()))?;
    let outcome = match (code, error) {
        (_, Some(error)) => RedirectOutcome::Error { error, description },
        (Some(code), None) if !code.is_empty() => RedirectOutcome::Code(SecretString::from(code)),
        _ => return Err(RedirectError::Malformed("neither `code` nor `error`".into())),
    };
    Ok(Redirect { state, iss, outcome })
}

/// `raw` as a URL, if it is one and not longer than [`MAX_REDIRECT_LEN`].
fn parse_url(raw: &str) -> Result<url::Url, RedirectError> {
    if raw.len() > MAX_REDIRECT_LEN {
        return Err(RedirectError::Malformed(format!("longer than {MAX_REDIRECT_LEN} bytes")));
    }
    url::Url::parse(raw).map_err(|e| RedirectError::Malformed(e.to_string()))
}

/// The redirect URI a deep link arrived at (`scheme:path`, no query):
/// [`crate::APP_REDIRECT_URI`] or one provider's [`crate::app_redirect_uri`].
/// Anything else is not a Castkey redirect ([`RedirectError::Malformed`]).
pub(crate) fn deep_link_redirect_uri(raw: &str) -> Result<String, RedirectError> {
    let url = parse_url(raw)?;
    let path = url.path();
    let own = path.strip_prefix("/callback/").is_some_and(crate::provider::is_provider_id);
    if url.scheme() != crate::APP_SCHEME || url.host_str().is_some() || !(path == "/callback" || own) {
        return Err(RedirectError::Malformed(format!(
            "expected a redirect to {} or {}/<provider>, got {}:{}",
            crate::APP_REDIRECT_URI,
            crate::APP_REDIRECT_URI,
            url.scheme(),
            path
        )));
    }
    Ok(format!("{}:{path}", crate::APP_SCHEME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::APP_REDIRECT_URI;
    use secrecy::ExposeSecret;

    #[test]
    fn parses_code_state_and_iss() {
        let r = parse(
            "dev.castkey.app:/callback?code=abc&state=s1&iss=http%3A%2F%2F127.0.0.1%3A1",
            APP_REDIRECT_URI,
        )
        .unwrap();
        assert_eq!(r.state, "s1");
        assert_eq!(r.iss.as_deref(), Some("http://127.0.0.1:1"));
        assert!(matches!(r.outcome, RedirectOutcome::Code(ref c) if c.expose_secret() == "abc"));
    }

    #[test]
    fn parses_provider_error() {
        let r = parse(
            "dev.castkey.app:/callback?error=access_denied&error_description=no&state=s",
            APP_REDIRECT_URI,
        )
        .unwrap();
        assert!(matches!(r.outcome, RedirectOutcome::Error { ref error, .. } if error == "access_denied"));
    }

    #[test]
    fn refuses_wrong_target_duplicates_and_missing_parts() {
        for bad in [
            "https://evil.example/callback?code=a&state=s",
            "dev.castkey.app:/other?code=a&state=s",
            "dev.castkey.app:/callback?code=a&state=s&state=t",
            "dev.castkey.app:/callback?code=a",
            "dev.castkey.app:/callback?state=s",
            "not a url",
        ] {
            assert!(matches!(parse(bad, APP_REDIRECT_URI), Err(RedirectError::Malformed(_))), "{bad}");
        }
        let long = format!("dev.castkey.app:/callback?state=s&code={}", "a".repeat(MAX_REDIRECT_LEN));
        assert!(parse(&long, APP_REDIRECT_URI).is_err());
    }

    #[test]
    fn loopback_redirect_must_match_port() {
        let base = "http://127.0.0.1:4000/callback";
        parse("http://127.0.0.1:4000/callback?code=a&state=s", base).unwrap();
        assert!(parse("http://127.0.0.1:4001/callback?code=a&state=s", base).is_err());
    }
}
