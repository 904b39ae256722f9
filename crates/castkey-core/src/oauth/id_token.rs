//! ID tokens (OIDC Core §3.1.3.7): signature against the provider's JWKS,
//! issuer, audience, expiry and nonce, through the `openidconnect` crate;
//! and the userinfo endpoint (§5.3) to fill in a name or email.

use super::discovery::Discovered;
use super::OidcProvider;
use crate::error::CoreError;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet};
use openidconnect::{ClientId, IssuerUrl, Nonce};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::str::FromStr;

/// Who signed in, from a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    pub email: Option<String>,
}

impl Identity {
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.preferred_username.clone())
            .or_else(|| self.email.clone())
            .unwrap_or_else(|| self.subject.clone())
    }
}

impl OidcProvider {
    /// Verifies signature (JWKS), issuer, audience, expiry and nonce. On a
    /// refresh (`nonce` = `None`) a token may omit the nonce, as many
    /// providers' refreshed ID tokens do.
    pub async fn verify_id_token(
        &self,
        d: &Discovered,
        raw: &str,
        nonce: Option<&str>,
    ) -> Result<Identity, CoreError> {
        match self.verify_with(d, raw, nonce) {
            Ok(id) => Ok(id),
            // The provider may have rotated its keys since discovery: one
            // fresh look, and if that fails the first error stands.
            Err(Unverified { error, signature: true }) => match self.discover(true).await {
                Ok(fresh) => self.verify_with(&fresh, raw, nonce).map_err(|e| e.error),
                Err(_) => Err(error),
            },
            Err(Unverified { error, .. }) => Err(error),
        }
    }

    /// Verifies `raw` against the keys `d` holds. Beyond the crate's
    /// checks, as OIDC Core allows for tokens real providers send:
    ///
    /// * clock skew: [`CLOCK_LEEWAY_SECS`] on `exp`, `iat` and `nbf`;
    /// * no `kid` while the JWKS holds several keys (§10.1 asks for one
    ///   then, not every provider sends it): each key is tried alone, and
    ///   only a key of the token's `alg` and key type can verify it;
    /// * several audiences: accepted when `azp` names Castkey's client
    ///   (§3.1.3.7 items 3–5), refused without it; an `azp` naming another
    ///   client is refused whatever the audience.
    fn verify_with(&self, d: &Discovered, raw: &str, nonce: Option<&str>) -> Result<Identity, Unverified> {
        if !d.verifies_id_tokens {
            return Err(Unverified::claims(
                "the provider publishes no keys to verify an ID token with".into(),
            ));
        }
        let token = CoreIdToken::from_str(raw)
            .map_err(|e| Unverified::claims(format!("the ID token is malformed: {e}")))?;
        let header = unverified_part(raw, 0).unwrap_or_default();
        let keys = d.jwks.keys();
        if header.get("kid").is_none() && keys.len() > 1 {
            let mut refused = None;
            for key in keys {
                let alone = CoreJsonWebKeySet::new(vec![key.clone()]);
                match self.claims_with(&token, raw, d, alone, nonce) {
                    Ok(identity) => return Ok(identity),
                    // Not this key: the next one.
                    Err(e) if e.signature => refused = Some(e),
                    Err(e) => return Err(e),
                }
            }
            return Err(refused.unwrap_or_else(|| Unverified::claims("no key verifies the ID token".into())));
        }
        self.claims_with(&token, raw, d, d.jwks.clone(), nonce)
    }

    /// The checks of one verification with `keys`.
    fn claims_with(
        &self,
        token: &CoreIdToken,
        raw: &str,
        d: &Discovered,
        keys: CoreJsonWebKeySet,
        nonce: Option<&str>,
    ) -> Result<Identity, Unverified> {
        let issuer =
            IssuerUrl::new(d.issuer.clone()).map_err(|e| Unverified::claims(format!("issuer: {e}")))?;
        let payload = unverified_part(raw, 1).unwrap_or_default();
        // Read unverified only to decide whether other audiences may be
        // trusted; the verified `azp` is checked again below.
        let azp_is_us = payload.get("azp").and_then(|v| v.as_str()) == Some(self.client_id.as_str());
        let now = chrono::Utc::now();
        let leeway = chrono::Duration::seconds(CLOCK_LEEWAY_SECS);
        let verifier =
            CoreIdTokenVerifier::new_public_client(ClientId::new(self.client_id.clone()), issuer, keys)
                .set_other_audience_verifier_fn(move |_| azp_is_us)
                // `exp` may have passed by the leeway on this machine's clock.
                .set_time_fn(move || now - leeway)
                .set_issue_time_verifier_fn(move |iat| {
                    if iat > now + leeway {
                        Err(format!("the ID token was issued in the future ({iat}, now {now})"))
                    } else {
                        Ok(())
                    }
                });
        let expected = nonce.map(|n| Nonce::new(n.to_string()));
        let claims = token
            .claims(&verifier, |got: Option<&Nonce>| match (&expected, got) {
                (Some(want), Some(got)) if want.secret() == got.secret() => Ok(()),
                (Some(_), _) => Err("the nonce does not match the sign-in".to_string()),
                (None, None) => Ok(()),
                (None, Some(_)) => Ok(()),
            })
            .map_err(|e| Unverified {
                signature: matches!(e, openidconnect::ClaimsVerificationError::SignatureVerification(_)),
                error: CoreError::ProviderRejected(format!("the ID token failed verification: {e}")),
            })?;
        // Signed, so the payload read above is the provider's.
        let refuse = |why: String| Unverified::claims(format!("the ID token failed verification: {why}"));
        match claims.authorized_party() {
            Some(azp) if azp.as_str() != self.client_id => {
                return Err(refuse(format!("it was issued to another client (azp `{}`)", azp.as_str())))
            }
            None if claims.audiences().len() > 1 => {
                return Err(refuse("several audiences and no azp naming this client".into()))
            }
            _ => {}
        }
        if let Some(nbf) = payload.get("nbf").and_then(serde_json::Value::as_i64) {
            if nbf > (now + leeway).timestamp() {
                return Err(refuse(format!("it is not valid before {nbf} (now {})", now.timestamp())));
            }
        }
        Ok(Identity {
            subject: claims.subject().to_string(),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
            preferred_username: claims.preferred_username().map(|u| u.to_string()),
            email: claims.email().map(|e| e.to_string()),
        })
    }
}

/// Clock skew allowed between the provider and this machine on an ID
/// token's `exp`, `iat` and `nbf`, in seconds. OIDC Core §3.1.3.7 (items
/// 9–10) leaves the acceptable range to the client; RFC 7519 §4.1.4–4.1.5
/// allow "some small leeway, usually no more than a few minutes".
pub const CLOCK_LEEWAY_SECS: i64 = 120;

/// Part `i` of a compact JWS (0: header, 1: payload) as JSON, unverified.
fn unverified_part(raw: &str, i: usize) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let part = raw.split('.').nth(i)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Why an ID token was refused; `signature` errors may be cured by fresh keys.
#[derive(Debug)]
struct Unverified {
    error: CoreError,
    signature: bool,
}

impl Unverified {
    fn claims(message: String) -> Self {
        Unverified { error: CoreError::ProviderRejected(message), signature: false }
    }
}

#[derive(Deserialize)]
struct WireUserInfo {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

impl OidcProvider {
    /// Fills in name and email from the userinfo endpoint when the ID token
    /// left them out (providers put scope claims there by default). Best
    /// effort: the identity from the ID token stands if this fails.
    pub async fn complete_identity(
        &self,
        d: &Discovered,
        identity: &mut Identity,
        access_token: &SecretString,
    ) {
        if identity.email.is_some() && (identity.name.is_some() || identity.preferred_username.is_some()) {
            return;
        }
        let Some(endpoint) = &d.userinfo_endpoint else { return };
        let answer = async {
            let r = self
                .http_for(endpoint)
                .get(endpoint.clone())
                .bearer_auth(access_token.expose_secret())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .ok()?;
            let answer = super::token_endpoint::read_answer(r, "the userinfo endpoint").await.ok()?;
            if !answer.status.is_success() {
                return None;
            }
            serde_json::from_slice::<WireUserInfo>(&answer.body).ok()
        }
        .await;
        match answer {
            // OIDC Core §5.3.2: userinfo is only about the ID token's subject.
            Some(info) if info.sub == identity.subject => {
                identity.name = identity.name.take().or(info.name);
                identity.preferred_username = identity.preferred_username.take().or(info.preferred_username);
                identity.email = identity.email.take().or(info.email);
            }
            Some(_) => tracing::warn!("userinfo answered about another subject; ignored"),
            None => tracing::debug!("userinfo unavailable; keeping the ID token's claims"),
        }
    }
}

#[cfg(test)]
mod tests {
    mod id_tokens {
        use super::super::*;
        use crate::oauth::http_client;
        use crate::oauth::Endpoints;
        use openidconnect::core::CoreJsonWebKeySet;
        use openidconnect::core::{CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
        use openidconnect::{
            Audience, EmptyAdditionalClaims, EndUserEmail, JsonWebKeyId, PrivateSigningKey, StandardClaims,
            SubjectIdentifier,
        };
        use url::Url;

        const ISSUER: &str = "http://127.0.0.1:9";

        fn key(pem: &str) -> CoreRsaPrivateSigningKey {
            CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("k1".into()))).unwrap()
        }

        fn provider_key() -> CoreRsaPrivateSigningKey {
            key(include_str!("../../testdata/provider-key.pem"))
        }

        fn discovered() -> Discovered {
            Discovered {
                jwks: CoreJsonWebKeySet::new(vec![provider_key().as_verification_key()]),
                ..Discovered::for_tests(ISSUER)
            }
        }

        struct Spec<'a> {
            signer: CoreRsaPrivateSigningKey,
            issuer: &'a str,
            audience: &'a str,
            expires_in: i64,
            nonce: Option<&'a str>,
        }

        fn spec() -> Spec<'static> {
            Spec {
                signer: provider_key(),
                issuer: ISSUER,
                audience: "castkey",
                expires_in: 300,
                nonce: Some("n-1"),
            }
        }

        fn token(s: Spec<'_>) -> String {
            let now = chrono::Utc::now();
            let claims = CoreIdTokenClaims::new(
                IssuerUrl::new(s.issuer.into()).unwrap(),
                vec![Audience::new(s.audience.into())],
                now + chrono::Duration::seconds(s.expires_in),
                now - chrono::Duration::seconds(10),
                StandardClaims::new(SubjectIdentifier::new("streamer".into()))
                    .set_email(Some(EndUserEmail::new("streamer@example.test".into()))),
                EmptyAdditionalClaims {},
            )
            .set_nonce(s.nonce.map(|n| Nonce::new(n.into())));
            CoreIdToken::new(claims, &s.signer, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, None, None)
                .unwrap()
                .to_string()
        }

        fn provider() -> OidcProvider {
            OidcProvider::new(
                "sandbox",
                Endpoints::Discover { issuer: Url::parse(ISSUER).unwrap() },
                "castkey",
                http_client(),
            )
        }

        fn refused(raw: &str, nonce: Option<&str>, what: &str) {
            let err = provider().verify_with(&discovered(), raw, nonce).unwrap_err();
            assert!(err.error.to_string().contains(what), "expected `{what}` in: {}", err.error);
        }

        #[test]
        fn a_genuine_token_yields_the_identity() {
            let id = provider().verify_with(&discovered(), &token(spec()), Some("n-1")).unwrap();
            assert_eq!(id.subject, "streamer");
            assert_eq!(id.email.as_deref(), Some("streamer@example.test"));
        }

        #[test]
        fn signature_issuer_audience_expiry_and_nonce_are_checked() {
            let other = key(include_str!("../../testdata/other-key.pem"));
            let forged = token(Spec { signer: other, ..spec() });
            let err = provider().verify_with(&discovered(), &forged, Some("n-1")).unwrap_err();
            assert!(err.signature, "{}", err.error);
            refused(&token(Spec { issuer: "http://127.0.0.1:10", ..spec() }), Some("n-1"), "issuer");
            refused(&token(Spec { audience: "someone-else", ..spec() }), Some("n-1"), "audience");
            refused(&token(Spec { expires_in: -300, ..spec() }), Some("n-1"), "expired");
            refused(&token(spec()), Some("n-2"), "nonce");
            refused(&token(Spec { nonce: None, ..spec() }), Some("n-1"), "nonce");
            refused("not.a.jwt", Some("n-1"), "malformed");
        }

        #[test]
        fn a_refreshed_token_may_omit_the_nonce() {
            provider().verify_with(&discovered(), &token(Spec { nonce: None, ..spec() }), None).unwrap();
            provider().verify_with(&discovered(), &token(spec()), None).unwrap();
        }

        fn other_key(kid: &str) -> CoreRsaPrivateSigningKey {
            CoreRsaPrivateSigningKey::from_pem(
                include_str!("../../testdata/other-key.pem"),
                Some(JsonWebKeyId::new(kid.into())),
            )
            .unwrap()
        }

        fn b64(bytes: &[u8]) -> String {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        }

        /// A compact RS256 JWS of `header` and `claims` signed by `signer`,
        /// written by hand: real providers' tokens differ from what the
        /// crate's builder makes.
        fn jws(
            header: serde_json::Value,
            claims: serde_json::Value,
            signer: &CoreRsaPrivateSigningKey,
        ) -> String {
            let input =
                format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
            let sig = signer.sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, input.as_bytes()).unwrap();
            format!("{input}.{}", b64(&sig))
        }

        fn now() -> i64 {
            chrono::Utc::now().timestamp()
        }

        /// The usual claims, `patch` merged in (`null` removes one).
        fn claims(patch: serde_json::Value) -> serde_json::Value {
            let mut c = serde_json::json!({
                "iss": ISSUER, "sub": "streamer", "aud": "castkey",
                "iat": now() - 10, "exp": now() + 300,
            });
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = v.clone();
                }
            }
            c
        }

        fn kid1() -> serde_json::Value {
            serde_json::json!({"alg": "RS256", "kid": "k1"})
        }

        fn check(raw: &str, d: &Discovered) -> Result<Identity, String> {
            provider().verify_with(d, raw, None).map_err(|e| e.error.to_string())
        }

        #[test]
        fn clock_skew_within_the_leeway_is_accepted_and_beyond_it_refused() {
            let d = discovered();
            let k = provider_key();
            let skew = CLOCK_LEEWAY_SECS;
            // The provider's clock behind ours: the token expired a minute ago here.
            check(&jws(kid1(), claims(serde_json::json!({"exp": now() - 60, "iat": now() - 400})), &k), &d)
                .unwrap();
            // Ahead of ours: issued, and valid only from, a minute from now.
            check(&jws(kid1(), claims(serde_json::json!({"iat": now() + 60, "nbf": now() + 60})), &k), &d)
                .unwrap();
            for (patch, says) in [
                (serde_json::json!({"exp": now() - skew - 60}), "expired"),
                (serde_json::json!({"iat": now() + skew + 300}), "issued in the future"),
                (serde_json::json!({"nbf": now() + skew + 300}), "not valid before"),
            ] {
                let err = check(&jws(kid1(), claims(patch.clone()), &k), &d).unwrap_err();
                assert!(err.contains(says), "{patch}: expected `{says}` in {err}");
            }
        }

        #[test]
        fn without_a_kid_each_key_of_the_jwks_is_tried() {
            let k = provider_key();
            let no_kid = serde_json::json!({"alg": "RS256"});
            let raw = jws(no_kid.clone(), claims(serde_json::json!({})), &k);
            for keys in [
                vec![other_key("k0").as_verification_key(), k.as_verification_key()],
                vec![k.as_verification_key(), other_key("k0").as_verification_key()],
            ] {
                let d = Discovered { jwks: CoreJsonWebKeySet::new(keys), ..Discovered::for_tests(ISSUER) };
                assert_eq!(check(&raw, &d).unwrap().subject, "streamer");
                // A token no key signed is still refused, as a signature error.
                let mut parts: Vec<String> = raw.split('.').map(String::from).collect();
                parts[1] = b64(claims(serde_json::json!({"sub": "mallory"})).to_string().as_bytes());
                let forged = parts.join(".");
                let err = provider().verify_with(&d, &forged, None).unwrap_err();
                assert!(err.signature, "{}", err.error);
                // A wrong claim with the right key is that claim's error, not the key's.
                let wrong = jws(no_kid.clone(), claims(serde_json::json!({"aud": "someone-else"})), &k);
                let err = provider().verify_with(&d, &wrong, None).unwrap_err();
                assert!(!err.signature && err.error.to_string().contains("audience"), "{}", err.error);
            }
        }

        #[test]
        fn several_audiences_need_azp_naming_castkey() {
            let d = discovered();
            let k = provider_key();
            let two = serde_json::json!(["castkey", "https://api.example"]);
            check(&jws(kid1(), claims(serde_json::json!({"aud": two, "azp": "castkey"})), &k), &d).unwrap();
            check(&jws(kid1(), claims(serde_json::json!({"aud": ["castkey"], "azp": "castkey"})), &k), &d)
                .unwrap();
            for (patch, says) in [
                (serde_json::json!({"aud": two}), "audience"),
                (serde_json::json!({"aud": two, "azp": "https://api.example"}), "audience"),
                (serde_json::json!({"azp": "another-app"}), "another client"),
                (serde_json::json!({"aud": ["https://api.example"], "azp": "castkey"}), "audience"),
            ] {
                let err = check(&jws(kid1(), claims(patch.clone()), &k), &d).unwrap_err();
                assert!(err.contains(says), "{patch}: expected `{says}` in {err}");
            }
        }

        #[tokio::test]
        async fn a_bad_signature_stays_refused_when_the_provider_is_unreachable() {
            let other = key(include_str!("../../testdata/other-key.pem"));
            let err = provider()
                .verify_id_token(&discovered(), &token(Spec { signer: other, ..spec() }), Some("n-1"))
                .await
                .unwrap_err();
            assert!(matches!(err, CoreError::ProviderRejected(_)), "{err}");
        }
    }
}
