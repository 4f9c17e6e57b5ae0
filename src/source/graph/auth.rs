//! The application's token: OAuth2 client credentials against
//! `{authority}/{tenant}/oauth2/v2.0/token` with scope `https://graph.microsoft.com/.default`,
//! proven with a client secret or (preferred: nothing reusable crosses the wire) with a client
//! assertion, a JWT signed RS256 by the certificate's key whose `x5t#S256` header is the
//! base64url SHA-256 of the certificate's DER, which is how Entra ID finds the uploaded
//! certificate. The token lives in memory for the run and is renewed shortly before it expires,
//! or after [`MAX_LIFETIME`] whatever the authority says.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SecureRandom as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use serde_json::json;
use sha2::Digest as _;

use super::http::Http;
use super::{CredentialFile, Error, GraphSourceConfig, said, shown};
use crate::secret::{self, Secret};

/// The scope of an application token for Graph.
const SCOPE: &str = "https://graph.microsoft.com/.default";
/// A token this close to its expiry is renewed before use.
const RENEW_BEFORE: Duration = Duration::from_secs(120);
/// The longest a token is kept, whatever `expires_in` says: Entra ID's tokens live 60 to 90
/// minutes, and an `expires_in` of 2^64-1 seconds must not overflow the clock (a panic).
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// The lifetime assumed when `expires_in` is missing or not a number of seconds.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// The application's proof of identity, read and checked before anything connects.
pub struct Credentials(Proof);

enum Proof {
    Secret(Secret),
    Certificate {
        key: Box<ring::signature::RsaKeyPair>,
        /// base64url(SHA-256(certificate DER)).
        thumbprint: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl GraphSourceConfig {
    /// Reads the client secret or the certificate and its key, with the password file's
    /// checks (regular file, owner, mode 0600).
    pub fn credentials(&self) -> Result<Credentials, Error> {
        match &self.credential {
            CredentialFile::Secret(path) => Ok(Credentials(Proof::Secret(secret::read_private(
                path,
                "client_secret_file",
            )?))),
            CredentialFile::Certificate(path) => {
                let pem = secret::read_private(path, "client_certificate")?;
                certificate(path, pem.expose().as_bytes())
            }
        }
    }
}

fn certificate(path: &std::path::Path, pem: &[u8]) -> Result<Credentials, Error> {
    let bad = |reason: String| Error::Certificate {
        path: path.to_owned(),
        reason,
    };
    let cert = CertificateDer::pem_slice_iter(pem)
        .next()
        .ok_or_else(|| bad("no CERTIFICATE block; put the certificate (the one uploaded to the app registration) in the file, after its key".into()))?
        .map_err(|e| bad(format!("unreadable CERTIFICATE block: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        bad(format!(
            "no usable PRIVATE KEY block ({e}); put the certificate's unencrypted RSA key in the file"
        ))
    })?;
    let key = match &key {
        PrivateKeyDer::Pkcs8(der) => ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(der) => ring::signature::RsaKeyPair::from_der(der.secret_pkcs1_der()),
        _ => return Err(bad("the key is not an RSA key; the client assertion is signed RS256, so the certificate needs an RSA key (2048 bits or more)".into())),
    }
    .map_err(|e| bad(format!("the key is not a usable RSA key ({e}); RS256 needs RSA, 2048 bits or more")))?;
    let thumbprint = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(cert.as_ref()));
    Ok(Credentials(Proof::Certificate {
        key: Box::new(key),
        thumbprint,
    }))
}

/// A token and when it stops being usable.
struct Token {
    value: Secret,
    renew_at: Instant,
}

/// Gets and keeps the token of one source.
pub(super) struct Auth {
    endpoint: String,
    client_id: String,
    proof: Proof,
    token: Option<Token>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub(super) fn new(config: &GraphSourceConfig, credentials: Credentials) -> Self {
        Self {
            endpoint: format!("{}/{}/oauth2/v2.0/token", config.authority, config.tenant),
            client_id: config.client_id.clone(),
            proof: credentials.0,
            token: None,
        }
    }

    /// Forgets the token, so that the next [`Auth::token`] asks for a new one (after Graph
    /// refused it as expired).
    pub(super) fn forget(&mut self) {
        self.token = None;
    }

    /// A valid token, asking the authority for one when there is none or it is about to
    /// expire.
    pub(super) fn token(&mut self, http: &Http) -> Result<&str, Error> {
        if self
            .token
            .as_ref()
            .is_none_or(|t| Instant::now() >= t.renew_at)
        {
            self.token = Some(self.request(http)?);
        }
        match &self.token {
            Some(token) => Ok(token.value.expose()),
            None => Err(http.error(&self.endpoint, "no token")),
        }
    }

    fn request(&self, http: &Http) -> Result<Token, Error> {
        let assertion;
        let mut form = vec![
            ("client_id", self.client_id.as_str()),
            ("scope", SCOPE),
            ("grant_type", "client_credentials"),
        ];
        match &self.proof {
            Proof::Secret(secret) => form.push(("client_secret", secret.expose())),
            Proof::Certificate { key, thumbprint } => {
                assertion = self.assertion(http, key, thumbprint)?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
                form.push(("client_assertion", &assertion));
            }
        }
        let reply = http.post_form(&self.endpoint, &form)?;
        let answer = reply.json::<TokenAnswer>();
        if reply.status != 200 {
            return Err(http.error(&self.endpoint, token_refusal(reply.status, answer.as_ref())));
        }
        let Some(answer) = answer else {
            return Err(http.error(
                &self.endpoint,
                "the answer is not JSON with an access_token",
            ));
        };
        let value = answer
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| http.error(&self.endpoint, "the answer has no access_token"))?;
        Ok(Token {
            value: Secret::new(value),
            renew_at: renewal(Instant::now(), answer.expires_in),
        })
    }

    /// The client assertion: a JWT for the token endpoint, valid for ten minutes.
    fn assertion(
        &self,
        http: &Http,
        key: &ring::signature::RsaKeyPair,
        thumbprint: &str,
    ) -> Result<String, Error> {
        let rng = ring::rand::SystemRandom::new();
        let mut jti = [0u8; 16];
        rng.fill(&mut jti).map_err(|_| {
            http.error(&self.endpoint, "no random numbers for the client assertion")
        })?;
        let now = crate::map::state::now();
        let header = json!({"alg": "RS256", "typ": "JWT", "x5t#S256": thumbprint});
        let claims = json!({
            "aud": self.endpoint,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &rng,
            signing_input.as_bytes(),
            &mut signature,
        )
        .map_err(|_| http.error(&self.endpoint, "signing the client assertion failed"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// When a token answered at `now` with `expires_in` seconds is renewed: [`RENEW_BEFORE`] ahead
/// of its expiry, after [`MAX_LIFETIME`] at the latest (no `expires_in` can overflow the clock),
/// and after [`DEFAULT_LIFETIME`] when the authority did not say.
fn renewal(now: Instant, expires_in: Option<u64>) -> Instant {
    let lifetime = expires_in
        .map_or(DEFAULT_LIFETIME, Duration::from_secs)
        .min(MAX_LIFETIME);
    now.checked_add(lifetime.saturating_sub(RENEW_BEFORE))
        .unwrap_or(now)
}

/// The token endpoint's answer: only what is used is kept (a parse into a generic JSON tree
/// would cost 16 times a body of tiny values).
#[derive(Debug, Default, Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    /// Seconds, as a number or a string; None when it is neither.
    #[serde(default, deserialize_with = "seconds")]
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `expires_in` as a number of seconds, a number or a string of digits (some authorities send
/// it as a string); anything else is None, and the default lifetime applies.
fn seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    struct Seconds;
    impl serde::de::Visitor<'_> for Seconds {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a number of seconds")
        }
        fn visit_u64<E>(self, v: u64) -> Result<Option<u64>, E> {
            Ok(Some(v))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_str<E>(self, v: &str) -> Result<Option<u64>, E> {
            Ok(v.parse().ok())
        }
    }
    deserializer.deserialize_any(Seconds)
}

/// The authority's refusal as a sentence with the fix: `error`, the AADSTS code and what to do.
/// The authority's words are quoted: they reach the cron mail and the admin's terminal.
fn token_refusal(status: u16, answer: Option<&TokenAnswer>) -> String {
    let error = answer.and_then(|a| a.error.as_deref());
    let description = answer
        .and_then(|a| a.error_description.as_deref())
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default();
    let error_shown = error.map_or(Cow::Borrowed("no error code"), shown);
    let error = error.unwrap_or_default();
    let fix = if description.starts_with("AADSTS7000215")
        || description.starts_with("AADSTS7000222")
    {
        "the client secret is wrong or expired: create a new one under App registrations > \
         Certificates & secrets and put its value (not its id) in client_secret_file"
    } else if description.starts_with("AADSTS700027") {
        "the certificate is not known to the app registration (or expired): upload the \
         certificate in client_certificate under App registrations > Certificates & secrets > Certificates"
    } else if description.starts_with("AADSTS700016") {
        "no application with this client_id in the tenant: check client_id and tenant"
    } else if description.starts_with("AADSTS90002") || description.starts_with("AADSTS900023") {
        "no such tenant: check tenant (the tenant's domain or id)"
    } else if error == "invalid_client" {
        "the application's credential was refused: check client_id, the secret or the certificate"
    } else if error == "unauthorized_client" {
        "the application may not use client credentials in this tenant: check the app registration"
    } else {
        "check tenant, client_id and the credential"
    };
    format!(
        "token request refused (HTTP {status}, {error_shown}: {}); {fix}",
        said(description)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_to_fix() {
        let body = |code: &str, error: &str| TokenAnswer {
            error: Some(error.to_owned()),
            error_description: Some(format!("{code}: text\r\nTrace ID: x")),
            ..TokenAnswer::default()
        };
        for (code, error, fix) in [
            (
                "AADSTS7000215",
                "invalid_client",
                "the client secret is wrong or expired",
            ),
            (
                "AADSTS7000222",
                "invalid_client",
                "the client secret is wrong or expired",
            ),
            (
                "AADSTS700027",
                "invalid_client",
                "the certificate is not known to the app registration",
            ),
            ("AADSTS700016", "unauthorized_client", "check client_id"),
            ("AADSTS90002", "invalid_request", "no such tenant"),
        ] {
            let text = token_refusal(401, Some(&body(code, error)));
            assert!(
                text.starts_with(&format!(
                    "token request refused (HTTP 401, {error}: \"{code}: text\"); "
                )),
                "{text}"
            );
            assert!(text.contains(fix), "{code}: {text}");
        }
    }

    #[test]
    fn the_authoritys_words_are_quoted_and_a_missing_answer_said_so() {
        let answer = TokenAnswer {
            error: Some("invalid_client\nrcptsync: error: forged".into()),
            error_description: Some("AADSTS7000215: a\u{1b}[31m\rb\r\nTrace ID: x".into()),
            ..TokenAnswer::default()
        };
        let text = token_refusal(401, Some(&answer));
        assert!(
            text.starts_with(
                r#"token request refused (HTTP 401, "invalid_client\nrcptsync: error: forged": "AADSTS7000215: a\u{1b}[31m\rb"); the client secret is wrong"#
            ),
            "{text}"
        );
        let text = token_refusal(502, None);
        assert!(
            text.starts_with(r#"token request refused (HTTP 502, no error code: ""); "#),
            "{text}"
        );
    }

    #[test]
    fn a_lifetime_past_the_clocks_end_is_capped_to_a_day() {
        let now = Instant::now();
        assert_eq!(
            renewal(now, Some(u64::MAX)),
            now + MAX_LIFETIME - RENEW_BEFORE
        );
        assert_eq!(renewal(now, Some(3599)), now + Duration::from_secs(3479));
        assert_eq!(renewal(now, Some(60)), now);
        assert_eq!(renewal(now, None), now + Duration::from_secs(180));
    }

    #[test]
    fn expires_in_is_read_as_seconds_from_a_number_or_a_string() {
        let lifetime = |body: &str| {
            serde_json::from_str::<TokenAnswer>(body)
                .unwrap()
                .expires_in
        };
        assert_eq!(lifetime(r#"{"expires_in": 3599}"#), Some(3599));
        assert_eq!(lifetime(r#"{"expires_in": "3599"}"#), Some(3599));
        assert_eq!(
            lifetime(r#"{"expires_in": 18446744073709551615}"#),
            Some(u64::MAX)
        );
        assert_eq!(
            lifetime(r#"{"expires_in": "18446744073709551615"}"#),
            Some(u64::MAX)
        );
        for odd in [
            "-1",
            "1.5",
            "\"99999999999999999999\"",
            "null",
            "true",
            "\"soon\"",
        ] {
            assert_eq!(
                lifetime(&format!(r#"{{"expires_in": {odd}}}"#)),
                None,
                "{odd}"
            );
        }
        assert_eq!(lifetime("{}"), None);
    }

    #[test]
    fn a_file_without_key_or_certificate_is_refused_with_the_fix() {
        let pem = b"-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n";
        let e = certificate(std::path::Path::new("/etc/rcptsync/graph.pem"), pem).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "client_certificate /etc/rcptsync/graph.pem: no usable PRIVATE KEY block"
            ),
            "{e}"
        );
        let e = certificate(std::path::Path::new("/x.pem"), b"").unwrap_err();
        assert!(e.to_string().contains("no CERTIFICATE block"), "{e}");
    }
}
