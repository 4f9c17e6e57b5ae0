//! Getting a bound connection: servers are tried in order; one that refuses the connection,
//! times out or rejects the bind is logged with its reason and the next one is tried. Once a
//! server has answered the bind, everything else runs there to the end: a failure after that
//! point fails the run, because the entries already seen cannot be trusted to form a complete
//! set.
//!
//! TLS (`ldaps://`, or StartTLS on `ldap://` URLs) is verified, always: against `ca_file` or
//! the system trust store, with the server name from the URL. There is no switch to turn
//! verification off. The bind password is read by the caller before connecting
//! ([`super::Credentials`]) and never logged. It never crosses without TLS: the config check
//! refuses a bind on plain `ldap://` without StartTLS, and so does [`connect()`] itself,
//! unless the source opts out with `insecure_cleartext_bind` (a lab), which is warned about.

use std::sync::Arc;
use std::time::Duration;

use ldap3::tokio::runtime::Runtime;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use tracing::{info, warn};

use super::{Credentials, Error, LdapSourceConfig, describe, describe_result, secret};

/// A bound connection to one server. ldap3's asynchronous API on a private single-threaded
/// runtime, entered once per operation or page (its blocking wrapper enters it once per entry,
/// which costs a few percent at a million entries).
pub struct Connection {
    pub(super) rt: Runtime,
    pub(super) ldap: Ldap,
    pub(super) url: String,
    pub(super) timeout: Duration,
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
}

/// Connects to the first server that accepts the connection and the bind, binding with
/// `credentials` (from [`LdapSourceConfig::credentials`]).
pub fn connect(config: &LdapSourceConfig, credentials: &Credentials) -> Result<Connection, Error> {
    let tls = tls_config(config)?;
    let mut failures = Vec::new();
    for url in &config.servers {
        match connect_one(config, url, &tls, credentials.0.as_ref()) {
            Ok((rt, ldap)) => {
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
                });
            }
            Err(reason) => {
                warn!("directory server {url}: {reason}");
                failures.push(format!("{url}: {reason}"));
            }
        }
    }
    Err(Error::NoServer(failures))
}

/// The rustls configuration: the CA file's certificates, or the system trust store.
fn tls_config(config: &LdapSourceConfig) -> Result<Arc<rustls::ClientConfig>, Error> {
    crate::tls::client_config(crate::tls::roots(config.ca_file.as_deref())?).map_err(Error::from)
}

/// Connects and binds to one server; the error is a sentence for the admin.
fn connect_one(
    config: &LdapSourceConfig,
    url: &str,
    tls: &Arc<rustls::ClientConfig>,
    password: Option<&secret::Secret>,
) -> Result<(Runtime, Ldap), String> {
    // The config check refuses this already; checked again so that no caller can send the
    // password in cleartext by building a config some other way.
    if config.cleartext(url) && !config.insecure_cleartext_bind {
        return Err(
            "refusing to send the bind password in cleartext; use an ldaps:// URL or starttls = true"
                .to_owned(),
        );
    }
    let settings = LdapConnSettings::new()
        .set_conn_timeout(config.timeout)
        .set_starttls(config.starttls && url.starts_with("ldap://"))
        .set_config(tls.clone());
    let rt = ldap3::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the LDAP client: {e}"))?;
    let mut ldap = rt.block_on(async {
        let (conn, ldap) = LdapConnAsync::with_settings(settings, url)
            .await
            .map_err(|e| describe(&e))?;
        ldap3::drive!(conn);
        Ok::<_, String>(ldap)
    })?;
    if let (Some(bind), Some(password)) = (&config.bind, password) {
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
            .map_err(|e| describe(&e))?;
        match result.rc {
            0 => {}
            8 => {
                return Err(format!(
                    "the server refuses a simple bind without TLS (\"Strong(er) authentication required\"); \
                     use an ldaps:// URL or starttls = true ({})",
                    result.text.trim()
                ));
            }
            49 => {
                return Err(format!(
                    "bind as {} failed: invalid credentials ({})",
                    bind.dn,
                    result.text.trim()
                ));
            }
            rc => {
                return Err(format!(
                    "bind as {} failed: {}",
                    bind.dn,
                    describe_result(rc, &result.text)
                ));
            }
        }
    }
    Ok((rt, ldap))
}
