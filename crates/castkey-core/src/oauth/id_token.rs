//! ID tokens (OIDC Core §3.1.3.7): signature against the provider's JWKS,
//! issuer, audience, expiry and nonce, through the `openidconnect` crate;
//! and the userinfo endpoint (§5.3) to fill in a name or email.

use super::discovery::Discovered;
use super::OidcProvider;
use crate::error::CoreError;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier};
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

    fn verify_with(&self, d: &Discovered, raw: &str, nonce: Option<&str>) -> Result<Identity, Unverified> {
        if !d.verifies_id_tokens {
            return Err(Unverified::claims(
                "the provider publishes no keys to verify an ID token with".into(),
            ));
        }
        let token = CoreIdToken::from_str(raw)
            .map_err(|e| Unverified::claims(format!("the ID token is malformed: {e}")))?;
        let issuer =
            IssuerUrl::new(d.issuer.clone()).map_err(|e| Unverified::claims(format!("issuer: {e}")))?;
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.client_id.clone()),
            issuer,
            d.jwks.clone(),
        );
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
        Ok(Identity {
            subject: claims.subject().to_string(),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
            preferred_username: claims.preferred_username().map(|u| u.to_string()),
            email: claims.email().map(|e| e.to_string()),
        })
    }
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
            refused(&token(Spec { expires_in: -120, ..spec() }), Some("n-1"), "expired");
            refused(&token(spec()), Some("n-2"), "nonce");
            refused(&token(Spec { nonce: None, ..spec() }), Some("n-1"), "nonce");
            refused("not.a.jwt", Some("n-1"), "malformed");
        }

        #[test]
        fn a_refreshed_token_may_omit_the_nonce() {
            provider().verify_with(&discovered(), &token(Spec { nonce: None, ..spec() }), None).unwrap();
            provider().verify_with(&discovered(), &token(spec()), None).unwrap();
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
