//! HTTPS to Graph and to the token authority: one ureq agent that verifies certificates, never
//! follows redirects (a redirect could carry the token elsewhere), checks every link before the
//! token goes with it, limits every body, and honours throttling within bounds.

use std::time::{Duration, Instant};

use tracing::warn;

use super::{Error, GraphSourceConfig, MAX_BODY, MAX_LINK, escape_controls, shown};

/// How often one request is retried after 429, 503 or 504.
const MAX_RETRIES: u32 = 6;
/// The longest single wait for a Retry-After; a longer one is cut to this.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// A response that was read completely.
#[derive(Debug)]
pub(super) struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body, at most [`MAX_BODY`] bytes: parsed by the caller into only what it uses
    /// (a generic JSON tree of a body of tiny values costs 16 times the body).
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as `T`, None when it is not (an error answer need not be JSON at all).
    pub(super) fn json<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// The HTTP side of a source.
#[derive(Debug)]
pub(super) struct Http {
    agent: ureq::Agent,
    tenant: String,
    origin: String,
    /// `origin` as the URL parser sees it, to compare links with.
    origin_url: url::Url,
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
        let origin_url = url::Url::parse(&config.graph_url).map_err(|e| Error::Request {
            tenant: config.tenant.clone(),
            endpoint: shown(&config.graph_url).into_owned(),
            reason: format!("graph_url is not a URL ({e})"),
        })?;
        Ok(Self {
            agent,
            tenant: config.tenant.clone(),
            origin: config.graph_url.clone(),
            origin_url,
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

    /// An error about `url`, named without its query, and quoted when it is not plain (a link
    /// is the server's text). Whatever still reaches the reason raw (a transport error, a
    /// parser's message) has its control characters escaped.
    pub(super) fn error(&self, url: &str, reason: impl Into<String>) -> Error {
        let reason = reason.into();
        Error::Request {
            tenant: self.tenant.clone(),
            endpoint: shown(endpoint(url)).into_owned(),
            reason: escape_controls(&reason).into_owned(),
        }
    }

    /// Starts the whole-read deadline afresh: each source's `read_timeout` is its own read's,
    /// not eaten by the sources read before it.
    pub(super) fn restart_deadline(&mut self) {
        self.deadline = Instant::now() + self.read_timeout;
    }

    /// Refuses a link that would send the token anywhere but Graph's origin. The text must be
    /// `graph_url` (scheme and host in any case: the same origin) followed by a path, and the
    /// URL parser must read the same scheme, host and port from it, no user name, and the path
    /// as written. Control characters and white space are refused first: URL parsers drop
    /// tabs and newlines silently, so the text checked and the URL requested would differ. A
    /// path the parser rewrites (`/..`, a backslash) is refused for the same reason: Graph
    /// sends neither.
    pub(super) fn check_origin(&self, link: &str) -> Result<(), Error> {
        let refuse = |why: String| {
            Err(self.error(
                link,
                format!(
                    "the server sent a link {why}; it is not followed, so the token is never sent \
                     elsewhere"
                ),
            ))
        };
        let outside = || format!("outside graph_url ({})", self.origin);
        if link.len() > MAX_LINK {
            return refuse(format!(
                "of {} bytes (Graph's are far shorter; at most {MAX_LINK} are accepted)",
                link.len()
            ));
        }
        if link.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return refuse(
                "with a control character or white space in it (a URL parser would drop it \
                 silently)"
                    .to_owned(),
            );
        }
        let n = self.origin.len();
        let rest = match (link.get(..n), link.get(n..)) {
            (Some(head), Some(rest))
                if head.eq_ignore_ascii_case(&self.origin) && rest.starts_with('/') =>
            {
                rest
            }
            _ => return refuse(outside()),
        };
        let Ok(parsed) = url::Url::parse(link) else {
            return refuse(format!("that is not a URL, {}", outside()));
        };
        let origin = &self.origin_url;
        if parsed.scheme() != origin.scheme()
            || parsed.host_str() != origin.host_str()
            || parsed.port_or_known_default() != origin.port_or_known_default()
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            return refuse(outside());
        }
        let path = rest.split(['?', '#']).next().unwrap_or_default();
        if parsed.path() != path || parsed.fragment().is_some() {
            return refuse(
                "whose path a URL parser rewrites (a dot segment, a backslash, a fragment); what \
                 is requested must be what was checked"
                    .to_owned(),
            );
        }
        Ok(())
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
                    endpoint = %shown(endpoint(url)),
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
            return Ok(Reply {
                status,
                body: bytes,
            });
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
            incremental: true,
        })
        .unwrap()
    }

    #[test]
    fn links_must_stay_on_the_graph_origin() {
        let http = http();
        for url in [
            "https://graph.microsoft.com/v1.0/users?$skiptoken=x",
            "https://graph.microsoft.com/v1.0/groups?$filter=mailEnabled%20eq%20true&$skiptoken=RFNwdAIAAQAAAD8",
            "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=a'b",
            // Scheme and host are case-insensitive: the same origin, and the parser agrees.
            "HTTPS://Graph.Microsoft.COM/v1.0/users",
        ] {
            assert!(http.check_origin(url).is_ok(), "{url}");
        }
        for (url, why) in [
            (
                "https://graph.microsoft.com.evil.example/v1.0/users",
                "outside graph_url",
            ),
            (
                "https://graph.microsoft.com@evil.example/v1.0/users",
                "outside graph_url",
            ),
            (
                "https://graph.microsoft.com:pw@evil.example/",
                "outside graph_url",
            ),
            ("http://graph.microsoft.com/v1.0/users", "outside graph_url"),
            (
                "https://graph.microsoft.com:8443/v1.0/users",
                "outside graph_url",
            ),
            (
                "https://graph.microsoft.com:443/v1.0/users",
                "outside graph_url",
            ),
            (
                "https://evil.example/https://graph.microsoft.com/v1.0/users",
                "outside graph_url",
            ),
            ("https://graph.microsoft.com", "outside graph_url"),
            (
                "https://graph.microsoft.com%2eevil.example/",
                "outside graph_url",
            ),
            (
                "https://graph.microsoft.com\\@evil.example/",
                "outside graph_url",
            ),
            ("https://graph.microsoft.com/..", "a URL parser rewrites"),
            (
                "https://graph.microsoft.com/v1.0/../../users",
                "a URL parser rewrites",
            ),
            (
                "https://graph.microsoft.com/%2e%2e/users",
                "a URL parser rewrites",
            ),
            (
                "https://graph.microsoft.com/\\evil.example/",
                "a URL parser rewrites",
            ),
            (
                "https://graph.microsoft.com/v1.0/users#x",
                "a URL parser rewrites",
            ),
            (
                "https://graph.microsoft.com/v1.0/ü",
                "a URL parser rewrites",
            ),
            (
                "https://graph.microsoft.com\t/v1.0/users",
                "a control character or white space",
            ),
            (
                "https://graph.micro\tsoft.com/v1.0/users",
                "a control character or white space",
            ),
            (
                "https://graph.microsoft.com/v1.0/users\n",
                "a control character or white space",
            ),
            (
                "https://graph.microsoft.com/v1.0/us ers",
                "a control character or white space",
            ),
            (
                "https://graph.microsoft.com/v1.0/users\u{85}",
                "a control character or white space",
            ),
        ] {
            let e = http.check_origin(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url:?}: {e}");
            assert!(e.contains("it is not followed"), "{url:?}: {e}");
        }
        let long = format!(
            "https://graph.microsoft.com/v1.0/users?$skiptoken={}",
            "x".repeat(MAX_LINK)
        );
        let e = http.check_origin(&long).unwrap_err().to_string();
        assert!(
            e.contains(&format!("a link of {} bytes", long.len())),
            "{e}"
        );
    }

    #[test]
    fn a_link_is_named_escaped_and_without_its_query() {
        let http = http();
        let e = http
            .check_origin("https://graph.microsoft.com/v1.0\nrcptsync: error: forged\u{1b}[31m?$skiptoken=secret")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "tenant contoso.onmicrosoft.com: \"https://graph.microsoft.com/v1.0\\nrcptsync: error: forged\\u{1b}[31m\": "
            ),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
        // A reason that still carries a control character has it escaped.
        let e = http
            .error(
                "https://graph.microsoft.com/v1.0/users",
                "a\nb\u{1b}c\u{202e}d",
            )
            .to_string();
        assert!(e.contains(r"a\nb\u{1b}c\u{202e}d"), "{e}");
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
