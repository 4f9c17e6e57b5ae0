//! HTTPS to Graph and to the token authority: one ureq agent that verifies certificates, never
//! follows redirects (a redirect could carry the token elsewhere), limits every body, honours
//! throttling within bounds, and turns Graph's error JSON into a sentence with the fix.

use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::warn;

use super::{Error, GraphSourceConfig, MAX_BODY};

/// How often one request is retried after 429, 503 or 504.
const MAX_RETRIES: u32 = 6;
/// The longest single wait for a Retry-After; a longer one is cut to this.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// A response that was read completely.
#[derive(Debug)]
pub(super) struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body (Null when there was none or it was not JSON).
    pub body: Value,
}

/// The HTTP side of a source.
#[derive(Debug)]
pub(super) struct Http {
    agent: ureq::Agent,
    tenant: String,
    origin: String,
    deadline: Instant,
    read_timeout: Duration,
}

impl Http {
    pub(super) fn new(config: &GraphSourceConfig) -> Result<Self, Error> {
        let roots: Vec<ureq::tls::Certificate<'static>> =
            crate::tls::system_and(config.ca_file.as_deref())?
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
                .collect();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::from(roots))
            // The one crypto provider of the program (the LDAP side uses ring too).
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .https_only(true)
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .user_agent(concat!("rcptsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Self {
            agent,
            tenant: config.tenant.clone(),
            origin: config.graph_url.clone(),
            deadline: Instant::now() + config.read_timeout,
            read_timeout: config.read_timeout,
        })
    }

    pub(super) fn origin(&self) -> &str {
        &self.origin
    }

    pub(super) fn tenant(&self) -> &str {
        &self.tenant
    }

    /// An error about `url` (named without its query).
    pub(super) fn error(&self, url: &str, reason: impl Into<String>) -> Error {
        Error::Request {
            tenant: self.tenant.clone(),
            endpoint: endpoint(url).to_owned(),
            reason: reason.into(),
        }
    }

    /// Starts the whole-read deadline afresh: each source's `read_timeout` is its own read's,
    /// not eaten by the sources read before it.
    pub(super) fn restart_deadline(&mut self) {
        self.deadline = Instant::now() + self.read_timeout;
    }

    /// Refuses a URL that would send the token anywhere but Graph's origin.
    pub(super) fn check_origin(&self, url: &str) -> Result<(), Error> {
        let rest = url.strip_prefix(self.origin.as_str()).unwrap_or_default();
        if rest.starts_with('/') {
            Ok(())
        } else {
            Err(self.error(
                url,
                format!(
                    "the server sent a link outside graph_url ({}); it is not followed, so the token \
                     is never sent elsewhere",
                    self.origin
                ),
            ))
        }
    }

    /// GET `url` (on Graph's origin) with the bearer `token`.
    pub(super) fn get(&self, url: &str, token: &str) -> Result<Reply, Error> {
        self.check_origin(url)?;
        let bearer = format!("Bearer {token}");
        self.send(url, || {
            self.agent
                .get(url)
                .header("Authorization", &bearer)
                .header("Accept", "application/json")
                .call()
        })
    }

    /// POST the form `fields` to `url` (the token endpoint).
    pub(super) fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> Result<Reply, Error> {
        self.send(url, || {
            self.agent
                .post(url)
                .header("Accept", "application/json")
                .send_form(fields.iter().copied())
        })
    }

    /// Sends a request until it is answered with something other than throttling, within the
    /// bounds; reads the body under [`MAX_BODY`].
    fn send(
        &self,
        url: &str,
        request: impl Fn() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Reply, Error> {
        let mut attempt = 0;
        loop {
            if Instant::now() > self.deadline {
                return Err(self.error(
                    url,
                    format!(
                        "the read took longer than read_timeout = {}; Graph is too slow or \
                         throttling too hard (raise read_timeout in this [[source]] if it is only slow)",
                        humantime::format_duration(self.read_timeout)
                    ),
                ));
            }
            let mut response = request().map_err(|e| self.error(url, describe(&e)))?;
            let status = response.status().as_u16();
            if matches!(status, 429 | 503 | 504) && attempt < MAX_RETRIES {
                attempt += 1;
                let wait = retry_after(response.headers(), attempt)
                    .min(MAX_WAIT)
                    .min(self.deadline.saturating_duration_since(Instant::now()));
                warn!(
                    tenant = %self.tenant,
                    endpoint = endpoint(url),
                    status,
                    attempt,
                    "Graph is throttling; retrying in {}",
                    humantime::format_duration(wait)
                );
                std::thread::sleep(wait);
                continue;
            }
            let body = response.body_mut();
            if body.content_length().is_some_and(|n| n > MAX_BODY) {
                return Err(self.error(url, too_large()));
            }
            let bytes = body
                .with_config()
                .limit(MAX_BODY)
                .read_to_vec()
                .map_err(|e| match e {
                    ureq::Error::BodyExceedsLimit(_) => self.error(url, too_large()),
                    e => self.error(url, format!("reading the answer failed: {}", describe(&e))),
                })?;
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if status == 200 && body.is_null() {
                return Err(self.error(url, "the answer is not JSON"));
            }
            return Ok(Reply { status, body });
        }
    }
}

fn too_large() -> String {
    format!(
        "the answer is larger than {} MiB and was refused",
        MAX_BODY / 1024 / 1024
    )
}

/// The URL without its query string: what messages name.
pub(super) fn endpoint(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// The wait a throttled answer asks for: Retry-After in seconds, else a growing default.
fn retry_after(headers: &ureq::http::HeaderMap, attempt: u32) -> Duration {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or_else(
            || Duration::from_secs(2u64.saturating_pow(attempt)),
            Duration::from_secs,
        )
}

/// A transport error as a sentence, spelling out the TLS cases admins meet.
fn describe(error: &ureq::Error) -> String {
    let text = crate::source::error_chain(error);
    if text.contains("UnknownIssuer") || text.contains("unknown issuer") {
        format!(
            "TLS certificate verification failed: the server's certificate is not signed by a trusted CA \
             (add the CA that issued it, e.g. a TLS-inspecting proxy's, with ca_file) [{text}]"
        )
    } else if matches!(error, ureq::Error::Timeout(_)) {
        format!("timed out ({text}); raise timeout if Graph is slow")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http() -> Http {
        Http::new(&GraphSourceConfig {
            name: "m365".into(),
            tenant: "contoso.onmicrosoft.com".into(),
            client_id: "id".into(),
            credential: super::super::CredentialFile::Secret("/x".into()),
            authority: "https://login.microsoftonline.com".into(),
            graph_url: "https://graph.microsoft.com".into(),
            ca_file: None,
            timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(60),
        })
        .unwrap()
    }

    #[test]
    fn links_must_stay_on_the_graph_origin() {
        let http = http();
        assert!(
            http.check_origin("https://graph.microsoft.com/v1.0/users?$skiptoken=x")
                .is_ok()
        );
        for url in [
            "https://graph.microsoft.com.evil.example/v1.0/users",
            "https://graph.microsoft.com@evil.example/v1.0/users",
            "http://graph.microsoft.com/v1.0/users",
            "https://graph.microsoft.com:8443/v1.0/users",
            "https://evil.example/https://graph.microsoft.com/v1.0/users",
        ] {
            let e = http.check_origin(url).unwrap_err().to_string();
            assert!(e.contains("outside graph_url"), "{url}: {e}");
        }
    }

    #[test]
    fn retry_after_is_honoured_else_the_wait_grows() {
        let mut headers = ureq::http::HeaderMap::new();
        assert_eq!(retry_after(&headers, 1), Duration::from_secs(2));
        assert_eq!(retry_after(&headers, 3), Duration::from_secs(8));
        headers.insert("retry-after", ureq::http::HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers, 3), Duration::from_secs(7));
        assert_eq!(
            endpoint("https://g/v1.0/users?$skiptoken=secret"),
            "https://g/v1.0/users"
        );
    }
}
