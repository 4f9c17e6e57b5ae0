//! Getting a bound connection: servers (listed, or found in DNS on every connect by
//! [`super::discover`]) are tried in order; one that refuses the connection,
//! times out or rejects the bind is logged with its reason and the next one is tried. Once a
//! server has answered the bind, everything else runs there to the end: a failure after that
//! point fails the run, because the entries already seen cannot be trusted to form a complete
//! set.
//!
//! TLS (`ldaps://`, or StartTLS on `ldap://` URLs) is verified, always: against `ca_file` or
//! the system trust store, with the server name from the URL (matched against the subject CN
//! only for a certificate without subjectAltName, and only with `tls_cn_fallback`). There is
//! no switch to turn verification off. A refused bind is explained with AD's own reason
//! ([`super::diagnose`]). The bind password is read by the caller before connecting
//! ([`super::Credentials`]) and never logged. It never crosses without TLS: the config check
//! refuses a bind on plain `ldap://` without StartTLS, and so does [`connect()`] itself,
//! unless the source opts out with `insecure_cleartext_bind` (a lab), which is warned about.

use std::sync::Arc;
use std::time::Duration;

use ldap3::tokio::runtime::Runtime;
use ldap3::tokio::time::Instant;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, StdStream};
use tracing::{info, warn};

use super::driver::Driver;
use super::wire::{self, Cut, Endpoint, EndpointError, OpenError, Tripwire};
use super::{
    Bounds, Credentials, Error, LdapSourceConfig, describe_error, describe_result, diagnose,
    kerberos,
};

/// A bound connection to one server. ldap3's asynchronous API on a private single-threaded
/// runtime, entered once per operation or page (its blocking wrapper enters it once per entry,
/// which costs a few percent at a million entries), over rcptsync's own wire to the server
/// (`wire/`).
pub struct Connection {
    pub(super) rt: Runtime,
    pub(super) ldap: Ldap,
    pub(super) url: String,
    pub(super) timeout: Duration,
    /// When the source's whole read must be over (`read_timeout`, counted from connecting).
    pub(super) deadline: Instant,
    pub(super) read_timeout: Duration,
    pub(super) bounds: Bounds,
    /// Why the wire ended the connection, when it did.
    pub(super) tripwire: Tripwire,
    /// ldap3's connection driver, and why it ended, when it panicked.
    pub(super) driver: Driver,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .finish()
    }
}

impl Connection {
    /// The server this connection is bound to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The runtime, the bound ldap3 handle and the per-request timeout, for the one module
    /// that changes the directory (`crate::prune`): this source only reads, and so it offers
    /// no write of its own.
    pub(crate) fn session(&mut self) -> (&Runtime, &mut Ldap, Duration) {
        (&self.rt, &mut self.ldap, self.timeout)
    }
}

/// A server that could not be used, and why: one of the list [`Error::NoServer`] gives, so
/// that the admin sees what went wrong with each server tried.
#[derive(Debug)]
pub struct Unusable {
    url: String,
    why: ServerError,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.url, self.why)
    }
}

/// Why one server could not be used; the failover logs it and tries the next server.
#[derive(Debug, thiserror::Error)]
enum ServerError {
    /// The failover's time (`read_timeout`) ran out before this server's turn.
    #[error("not tried, read_timeout ({}) has passed", humantime::format_duration(*read_timeout))]
    NotTried {
        /// The source's `read_timeout`.
        read_timeout: Duration,
    },
    /// A simple bind would carry the password without TLS.
    #[error(
        "refusing to send the bind password in cleartext; use an ldaps:// URL or starttls = true"
    )]
    Cleartext,
    /// ldap3's runtime could not be started.
    #[error("cannot start the LDAP client: {0}")]
    Runtime(std::io::Error),
    /// The URL gives no endpoint.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The connection could not be opened, secured or bound with Kerberos.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// ldap3 failed.
    #[error("{}", describe_error(.0))]
    Ldap(ldap3::LdapError),
    /// The wire cut the connection during the bind.
    #[error("{0}")]
    Cut(Arc<Cut>),
    /// ldap3's driver panicked on what the server sent during the bind.
    #[error(transparent)]
    Panic(super::driver::Panic),
    /// The server refused the simple bind as `dn` with result `rc`.
    #[error("{}", bind_refusal(dn, *rc, text))]
    Bind {
        /// The bind DN (or UPN).
        dn: String,
        /// The LDAP result code.
        rc: u32,
        /// The server's diagnostic text.
        text: String,
    },
}

/// The sentence for a simple bind as `dn` refused with `rc` and the server's `text`: AD's
/// own reason explained for the two results admins meet ([`diagnose`]).
fn bind_refusal(dn: &str, rc: u32, text: &str) -> String {
    match rc {
        8 => diagnose::stronger_auth_required(text),
        49 => diagnose::invalid_credentials(dn, text),
        rc => format!("bind as {dn} failed: {}", describe_result(rc, text)),
    }
}

/// The list of [`Error::NoServer`], each server with its failure.
pub(super) fn unusable(servers: &[Unusable]) -> String {
    servers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Connects to the first server that accepts the connection and the bind, binding with
/// `credentials` (from [`LdapSourceConfig::credentials`]).
pub fn connect(config: &LdapSourceConfig, credentials: &Credentials) -> Result<Connection, Error> {
    let deadline = Instant::now() + config.read_timeout;
    let discovered;
    let servers = match &config.discover {
        Some(discover) => {
            discovered = discover.servers(config.starttls, config.timeout)?;
            &discovered
        }
        None => &config.servers,
    };
    // Loading the system's trust store takes tens of milliseconds, most of a run that finds
    // few changes: it is loaded only where TLS is spoken.
    let secured = config.starttls || servers.iter().any(|url| !url.starts_with("ldap://"));
    let tls = secured.then(|| tls_config(config)).transpose()?;
    // One login for all the servers tried: the KDC is asked once.
    let login = match &credentials.kerberos {
        Some(credential) => Some(credential.login().map_err(Error::Kerberos)?),
        None => None,
    };
    let mut failures = Vec::new();
    for url in servers {
        // Failover is part of the read: many dead servers must not hold the run for hours.
        if Instant::now() > deadline {
            failures.push(Unusable {
                url: url.clone(),
                why: ServerError::NotTried {
                    read_timeout: config.read_timeout,
                },
            });
            break;
        }
        match connect_one(config, url, &tls, credentials, login.as_ref()) {
            Ok((rt, ldap, tripwire, driver)) => {
                if failures.is_empty() {
                    info!("connected to {url}");
                } else {
                    warn!("using {url} after {} failed server(s)", failures.len());
                }
                return Ok(Connection {
                    rt,
                    ldap,
                    url: url.clone(),
                    timeout: config.timeout,
                    deadline,
                    read_timeout: config.read_timeout,
                    bounds: config.bounds,
                    tripwire,
                    driver,
                });
            }
            Err(why) => {
                warn!("directory server {url}: {why}");
                failures.push(Unusable {
                    url: url.clone(),
                    why,
                });
            }
        }
    }
    Err(Error::NoServer(failures))
}

/// The rustls configuration: the CA file's certificates, or the system trust store; the CN
/// fallback when the source asks for it.
fn tls_config(config: &LdapSourceConfig) -> Result<Arc<rustls::ClientConfig>, Error> {
    let names = if config.tls_cn_fallback {
        crate::tls::NameCheck::CnFallback
    } else {
        crate::tls::NameCheck::SubjectAltName
    };
    crate::tls::client_config_with(crate::tls::roots(config.ca_file.as_deref())?, names)
        .map_err(Error::from)
}

/// Connects and binds to one server.
fn connect_one(
    config: &LdapSourceConfig,
    url: &str,
    tls: &Option<Arc<rustls::ClientConfig>>,
    credentials: &Credentials,
    login: Option<&kerberos::Login>,
) -> Result<(Runtime, Ldap, Tripwire, Driver), ServerError> {
    // The config check refuses this already; checked again so that no caller can send the
    // password in cleartext by building a config some other way.
    if config.cleartext(url) && !config.insecure_cleartext_bind {
        return Err(ServerError::Cleartext);
    }

    let rt = ldap3::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)?;
    let endpoint = Endpoint::parse(url, config.starttls)?;
    let (stream, tripwire) = wire::open(
        &rt,
        endpoint,
        tls.clone(),
        config.timeout,
        config.bounds.wire,
        login,
    )?;
    // TLS is up already (on the wire); ldap3 speaks plain LDAP over the relay's socket.
    let settings = LdapConnSettings::new().set_std_stream(StdStream::Unix(stream));
    let (conn, mut ldap) = rt
        .block_on(LdapConnAsync::with_settings(settings, "ldapi:///"))
        .map_err(ServerError::Ldap)?;
    let mut driver = Driver::spawn(&rt, conn);
    if let (Some(bind), Some(password)) = (&config.bind, &credentials.password) {
        if config.cleartext(url) {
            // Only with insecure_cleartext_bind (refused above otherwise): said on every run,
            // so that a lab setting left in production does not go unnoticed.
            warn!(
                "source {}: insecure_cleartext_bind = true: sending the bind password to {url} in cleartext; \
                 use an ldaps:// URL or starttls = true",
                config.name
            );
        }
        let result = rt
            .block_on(
                ldap.with_timeout(config.timeout)
                    .simple_bind(&bind.dn, password.expose()),
            )
            .map_err(|e| match (tripwire.reason(), driver.panic(&rt)) {
                (Some(cut), _) => ServerError::Cut(cut),
                (None, Some(panic)) => ServerError::Panic(panic),
                (None, None) => ServerError::Ldap(e),
            })?;
        if result.rc != 0 {
            return Err(ServerError::Bind {
                dn: bind.dn.clone(),
                rc: result.rc,
                text: result.text,
            });
        }
    }
    Ok((rt, ldap, tripwire, driver))
}
