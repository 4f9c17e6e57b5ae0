//! `kind = "graph"`: the table of a Microsoft Graph source and its checks. It lives beside the
//! Graph code, so that a new setting of the Graph source touches this folder only;
//! [`GraphSourceConfig`] is what the check makes of it.

use super::{CredentialFile, GraphSourceConfig};
use crate::table::{Checker, Error, table};

table! {
    /// `kind = "graph"`.
    pub struct Graph {
        [
            /// The `[[source]]` key `name` (see [`SOURCE`](crate::source::config::SOURCE)).
            name: String,
        ]
        /// the tenant's domain (`contoso.onmicrosoft.com`) or its id
        #[default_text = "(required)"]
        tenant: String,
        /// the app registration's Application (client) ID
        #[default_text = "(required)"]
        client_id: String,
        /// file holding the client secret's value (one line); same checks as
        /// `bind_password_file` (`chmod 600`, owned by the user rcptsync runs as). Exactly one of
        /// `client_certificate` and `client_secret_file`
        client_secret_file: Option<String>,
        /// PEM file holding the certificate's unencrypted RSA private key and the certificate
        /// (the one uploaded to the app registration); preferred: no reusable secret crosses the
        /// network. Same file checks as `bind_password_file`
        client_certificate: Option<String>,
        /// the token authority (another cloud: `https://login.microsoftonline.us`, ...);
        /// `https://host[:port]` only
        authority: String = "https://login.microsoftonline.com",
        /// Graph's address (another cloud: `https://graph.microsoft.us`, ...);
        /// `https://host[:port]` only: the token is sent nowhere else
        graph_url: String = "https://graph.microsoft.com",
        /// PEM file of extra CA certificates, trusted besides the system store (a TLS-inspecting
        /// proxy's CA)
        ca_file: Option<String>,
        /// the longest one HTTP request may take
        timeout: String = "30s",
        /// the whole read: token, delta rounds, listings and throttling waits
        read_timeout: String = "30m",
        /// apply the delta rounds to the store beside the map, reading only the objects that
        /// changed; `false` reads the tenant in full on every run that finds a change
        incremental: bool = true,
    }
}

impl Checker<'_> {
    /// An `https://host[:port]` origin (no path, query or trailing slash): the token goes to
    /// no other scheme, ever.
    fn origin(&self, key: &str, text: &str) -> Result<String, Error> {
        let url = text.strip_suffix('/').unwrap_or(text);
        let host = url.strip_prefix("https://").unwrap_or_default();
        let ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
        if ok {
            Ok(url.to_owned())
        } else {
            Err(self.invalid(
                key,
                format!("{text:?} is not an https://host[:port] URL (https is required: the token must never cross in cleartext; no path)"),
            ))
        }
    }

    /// One `kind = "graph"` table checked: one credential, and the token sent only to https
    /// origins.
    pub(in crate::source) fn graph(&self, raw: Graph) -> Result<GraphSourceConfig, Error> {
        let credential = match (raw.client_secret_file, raw.client_certificate) {
            (Some(file), None) => CredentialFile::Secret(self.resolve(&file)),
            (None, Some(file)) => CredentialFile::Certificate(self.resolve(&file)),
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    "source.client_certificate",
                    "set together with client_secret_file; keep one (the certificate is preferred)",
                ));
            }
            (None, None) => {
                return Err(self.invalid(
                    "source.client_certificate",
                    format!("source {:?} has no credential; set client_certificate (a PEM file with the key and the certificate uploaded to the app registration) or client_secret_file", raw.name),
                ));
            }
        };
        let token_like = |key: &str, value: &str| {
            if !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
            {
                Ok(())
            } else {
                Err(self.invalid(
                    key,
                    format!("{value:?} is not a tenant domain or id / an application id"),
                ))
            }
        };
        token_like("source.tenant", &raw.tenant)?;
        token_like("source.client_id", &raw.client_id)?;
        Ok(GraphSourceConfig {
            name: raw.name,
            tenant: raw.tenant,
            client_id: raw.client_id,
            credential,
            authority: self.origin("source.authority", &raw.authority)?,
            graph_url: self.origin("source.graph_url", &raw.graph_url)?,
            ca_file: raw.ca_file.map(|f| self.resolve(&f)),
            timeout: self.duration("source.timeout", &raw.timeout)?,
            read_timeout: self.duration("source.read_timeout", &raw.read_timeout)?,
            incremental: raw.incremental,
        })
    }
}
