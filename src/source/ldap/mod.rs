//! `kind = "ldap"`: a live directory (Active Directory, Samba AD, OpenLDAP) over LDAP/LDAPS.
//!
//! A run connects to the first server that takes the bind ([`connect()`]: URLs, TLS, failover),
//! then reads every recipient entry with one complete paged search ([`read`], on
//! [`Connection::search`]). Anything short of a complete search is an [`Error`] and nothing is
//! written: a partial read must never reach the map. Besides the search, a connection can
//! read the directory's change mark ([`Connection::change_mark`]), Exchange's accepted domains
//! ([`Connection::accepted_domains`]) and, for `rcptsync prune` only, delete one value
//! ([`Connection::delete_value`]).
//!
//! TLS is verified, always: against `ca_file` or the system trust store, with the server name
//! from the URL. There is no switch to turn verification off.
//!
//! Security: needs only read access to the recipients' attributes (prune aside). The bind
//! password is read before connecting ([`LdapSourceConfig::credentials`]), never logged, and
//! never sent over a connection without TLS unless the source says `insecure_cleartext_bind`.

mod connect;
mod exchange;
mod mark;
mod modify;
pub mod prune;
mod search;
pub mod secret;
mod wire;

use std::time::Duration;

use ldap3::LdapError;
use tracing::info;

use super::Entry;
pub use connect::{Connection, connect};
pub use search::{Attributes, SearchStats, is_attribute};
use secret::{PasswordSource, Secret};
pub use wire::Limits;

/// The Exchange recipient filter of the original recipe: users with and without mailboxes,
/// contacts, groups, public folders and dynamic distribution lists, all with a mailNickname.
pub const DEFAULT_FILTER: &str = "(&(mailNickname=*)(|\
(&(objectCategory=person)(objectClass=user)(!(homeMDB=*))(!(msExchHomeServerName=*)))\
(&(objectCategory=person)(objectClass=user)(|(homeMDB=*)(msExchHomeServerName=*)))\
(&(objectCategory=person)(objectClass=contact))\
(objectCategory=group)(objectCategory=publicFolder)\
(objectClass=msExchDynamicDistributionList)))";

/// A checked `kind = "ldap"` source.
#[derive(Debug, Clone)]
pub struct LdapSourceConfig {
    /// The source's name, for the warnings that must say which source they are about.
    pub name: String,
    /// `ldap://` or `ldaps://` URLs, tried in order.
    pub servers: Vec<String>,
    /// StartTLS on the `ldap://` URLs (`ldaps://` URLs use TLS directly).
    pub starttls: bool,
    /// A simple bind may go over plain `ldap://` without StartTLS (a lab's opt-out; the config
    /// check refuses that combination otherwise, and every such bind is warned about).
    pub insecure_cleartext_bind: bool,
    /// PEM CA certificates to trust instead of the system store.
    pub ca_file: Option<std::path::PathBuf>,
    /// Connect timeout and per-operation timeout.
    pub timeout: Duration,
    /// The whole read, connecting included: a server that keeps sending (slowly, or for
    /// ever) never holds a run longer than this.
    pub read_timeout: Duration,
    /// What one read may bring; reaching a bound fails the read.
    pub bounds: Bounds,
    /// Search base.
    pub base_dn: String,
    /// Search filter (already parsed once, so known to be valid).
    pub filter: String,
    /// Entries per page.
    pub page_size: i32,
    /// Simple bind; None for anonymous.
    pub bind: Option<Bind>,
}

/// How much a directory may send in one read. Each bound reached is an error that names its
/// key, and nothing is written: a real directory stays far below the defaults, a broken or
/// hostile server reaches them long before memory runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Entries in the search (`max_entries`).
    pub entries: u64,
    /// Values of one attribute of one entry, ranges included (`max_values`).
    pub values: u64,
    /// Bytes of one value (`max_value_bytes`).
    pub value_bytes: u64,
    /// Bytes per message and per connection, checked on the wire before ldap3 buffers them.
    pub wire: Limits,
}

impl Default for Bounds {
    /// The documented defaults (README, configuration reference).
    fn default() -> Self {
        Self {
            entries: 10_000_000,
            values: 100_000,
            value_bytes: 64 * 1024,
            wire: Limits {
                message_bytes: 16 * 1024 * 1024,
                read_bytes: 4 * 1024 * 1024 * 1024,
            },
        }
    }
}

/// Simple-bind credentials.
#[derive(Debug, Clone)]
pub struct Bind {
    /// A DN or, on AD, a UPN (`svc@example.com`).
    pub dn: String,
    /// Where the password is read from, before connecting.
    pub password: PasswordSource,
}

/// The bind password of one source, read and checked before anything connects: a password
/// file that is refused is the admin's mistake to fix (the caller reports it as such), not a
/// directory failure, so it must not be found halfway through [`connect()`].
#[derive(Debug)]
pub struct Credentials(Option<Secret>);

impl LdapSourceConfig {
    /// Reads the bind password (nothing for an anonymous bind).
    pub fn credentials(&self) -> Result<Credentials, secret::Error> {
        let secret = self.bind.as_ref().map(|b| b.password.read()).transpose()?;
        Ok(Credentials(secret))
    }

    /// Whether a bind on `url` would carry the password without TLS.
    fn cleartext(&self, url: &str) -> bool {
        self.bind.is_some() && url.starts_with("ldap://") && !self.starttls
    }
}

/// Why a directory could not be read; in every case nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No server could be connected to and bound.
    #[error("no directory server could be used: {}", .0.join("; "))]
    NoServer(Vec<String>),
    /// The CA file or the TLS settings could not be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    /// A modification was refused.
    #[error("{server}: modify {dn:?} failed: {reason}")]
    Modify {
        /// The server.
        server: String,
        /// The entry.
        dn: String,
        /// The server's answer.
        reason: String,
    },
    /// The search did not complete.
    #[error(
        "{server}: search of {base:?} failed: {reason}; the result would be incomplete, so nothing was written"
    )]
    Search {
        /// The server that answered the bind.
        server: String,
        /// The search base.
        base: String,
        /// What went wrong.
        reason: String,
    },
}

/// Turns an ldap3 error into a sentence, spelling out the TLS cases admins meet.
fn describe(error: &LdapError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text = format!("{text}: {s}");
        }
        source = e.source();
    }
    if matches!(error, LdapError::Timeout { .. }) {
        format!("timed out ({text})")
    } else {
        tls_advice(text)
    }
}

/// Spells out the TLS verification failures admins meet (the text is rustls's).
fn tls_advice(text: String) -> String {
    if text.contains("UnknownIssuer") || text.contains("unknown issuer") {
        format!(
            "TLS certificate verification failed: the server's certificate is not signed by a trusted CA \
             (set ca_file to the CA that issued it) [{text}]"
        )
    } else if text.contains("NotValidForName") || text.contains("not valid for name") {
        format!(
            "TLS certificate verification failed: the certificate does not match the host name in the URL \
             (use the name the certificate was issued for) [{text}]"
        )
    } else {
        text
    }
}

/// `result code 4 (sizeLimitExceeded): the server's text`.
fn describe_result(rc: u32, text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        result_name(rc)
    } else {
        format!("{}: {text}", result_name(rc))
    }
}

/// Short names of the LDAP result codes admins are likely to see.
fn result_name(rc: u32) -> String {
    let name = match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => return format!("result code {rc}"),
    };
    format!("result code {rc} ({name})")
}

/// An incomplete search on `url`.
fn failure(url: &str, base: &str, reason: String) -> Error {
    Error::Search {
        server: url.to_owned(),
        base: base.to_owned(),
        reason,
    }
}

fn self_error(url: &str, base: &str, e: &LdapError) -> Error {
    Error::Search {
        server: url.to_owned(),
        base: base.to_owned(),
        reason: match e {
            LdapError::LdapResult { result } => describe_result(result.rc, &result.text),
            _ => describe(e),
        },
    }
}

/// Reads every recipient entry of one LDAP source over `connection` (from [`connect()`]),
/// calling `each` for each.
pub fn read(
    config: &LdapSourceConfig,
    mut connection: Connection,
    mut each: impl FnMut(&Entry),
) -> Result<SearchStats, Error> {
    let stats = connection.search(
        &config.base_dn,
        &config.filter,
        &Entry::ATTRIBUTES,
        config.page_size,
        |dn, attrs| {
            let mut entry = Entry {
                dn,
                ..Entry::default()
            };
            for (name, values) in attrs {
                entry.add_values(&name, values);
            }
            each(&entry);
        },
    )?;
    info!(
        server = %connection.url(),
        pages = stats.pages,
        referrals = stats.referrals,
        ranged = stats.ranged,
        "read {} entries",
        stats.entries
    );
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filter_parses() {
        assert!(ldap3::parse_filter(DEFAULT_FILTER).is_ok());
    }
}
