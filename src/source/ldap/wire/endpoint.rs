//! Where to connect, from a source's URL: host, port, and whether and how the connection is
//! secured (`ldap://`, `ldap://` with StartTLS, `ldaps://`), read once so that the wire and
//! the Kerberos bind agree on the host name that TLS and the service principal use.

/// Where to connect and how to secure it, from an `ldap://` or `ldaps://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::source::ldap) struct Endpoint {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) security: Security,
}

/// Why a server's URL gives no endpoint, said with what the admin wrote.
#[derive(Debug, thiserror::Error)]
pub(in crate::source::ldap) enum EndpointError {
    /// The URL does not parse.
    #[error("{url:?} is not a URL: {cause}")]
    NotUrl {
        /// The URL.
        url: String,
        /// Why not.
        cause: url::ParseError,
    },
    /// Another scheme than `ldap` or `ldaps`.
    #[error("{scheme}:// is not ldap:// or ldaps://")]
    Scheme {
        /// The URL's scheme.
        scheme: String,
    },
    /// No host to connect to (`ldap:///`).
    #[error("{url:?} names no host")]
    NoHost {
        /// The URL.
        url: String,
    },
}

/// How the connection is secured: the URL's scheme, and `starttls` for `ldap://`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Security {
    /// `ldap://` without StartTLS.
    Plain,
    /// `ldap://`, then StartTLS.
    StartTls,
    /// `ldaps://`.
    Tls,
}

impl Endpoint {
    /// The endpoint of `url`; `starttls` applies to `ldap://` URLs only.
    pub(in crate::source::ldap) fn parse(url: &str, starttls: bool) -> Result<Self, EndpointError> {
        let parsed = url::Url::parse(url).map_err(|cause| EndpointError::NotUrl {
            url: url.to_owned(),
            cause,
        })?;
        let (default_port, security) = match parsed.scheme() {
            "ldap" if starttls => (389, Security::StartTls),
            "ldap" => (389, Security::Plain),
            "ldaps" => (636, Security::Tls),
            other => {
                return Err(EndpointError::Scheme {
                    scheme: other.to_owned(),
                });
            }
        };
        let host = match parsed.host() {
            Some(url::Host::Domain(name)) => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => {
                return Err(EndpointError::NoHost {
                    url: url.to_owned(),
                });
            }
        };
        Ok(Self {
            host,
            port: parsed.port().unwrap_or(default_port),
            security,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_come_from_urls() {
        assert_eq!(
            Endpoint::parse("ldaps://dc1.example.com", false).unwrap(),
            Endpoint {
                host: "dc1.example.com".into(),
                port: 636,
                security: Security::Tls
            }
        );
        let e = Endpoint::parse("ldap://[::1]:3389", true).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 3389));
        assert_eq!(e.security, Security::StartTls);
        assert_eq!(
            Endpoint::parse("ldap://127.0.0.1", false).unwrap().security,
            Security::Plain
        );
        assert!(matches!(
            Endpoint::parse("http://x", false),
            Err(EndpointError::Scheme { scheme }) if scheme == "http"
        ));
    }
}
