//! The connection to the directory server under ldap3, kept by rcptsync itself so that what
//! the server sends is bounded before ldap3 buffers it.
//!
//! ldap3 buffers each LDAP message whole before decoding it, so a server announcing a
//! message of gigabytes would have it held in memory until the timeout. Instead rcptsync opens
//! the TCP connection, does StartTLS and the TLS handshake itself (verified with the same
//! [`crate::tls`] configuration), and relays the plaintext to ldap3 over a private socket
//! pair, reading each message's BER header as it passes: a message longer than
//! `max_message_bytes`, or more than `max_read_bytes` in all, ends the connection at once, and
//! the reason is kept in a [`Tripwire`] so that the search error names the bound and its key
//! rather than a closed connection.
//!
//! The parts, by job: `endpoint` reads the URL; `tls` connects and secures the connection
//! (StartTLS, TLS, the channel binding); `relay` passes the bytes on and bounds them. This
//! module puts them together, with the Kerberos bind in between ([`open`]).

mod endpoint;
mod relay;
mod tls;

use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use ldap3::tokio;
use tokio::runtime::Runtime;

use super::kerberos::{BindError, Login};

pub(super) use endpoint::{Endpoint, EndpointError};
pub(super) use relay::Cut;
pub use relay::{Limits, Tripwire};
use tls::ConnectError;

/// Why a connection could not be opened, secured and (with Kerberos) bound: the server is
/// then given up, and the next one tried.
#[derive(Debug, thiserror::Error)]
pub(super) enum OpenError {
    /// All of it did not happen within `timeout`.
    #[error("timed out after {} connecting to {host}:{port}", humantime::format_duration(*timeout))]
    Timeout {
        /// The server's host.
        host: String,
        /// Its port.
        port: u16,
        /// The source's `timeout`.
        timeout: Duration,
    },
    /// TCP, StartTLS or TLS failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The Kerberos bind failed.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The socket pair to ldap3 could not be made.
    #[error("cannot set up the LDAP client: {0}")]
    Setup(std::io::Error),
}

/// Connects to `endpoint` (TCP, then StartTLS and TLS as the URL asks, all within `timeout`)
/// and returns ldap3's end of the relay. The relay is a task on `rt`, ldap3's own runtime:
/// both run on the caller's thread, so passing a message on costs no thread wakeup, and the
/// relay ends with the runtime.
///
/// With a Kerberos `login` the bind is made here, before ldap3 sees the connection
/// ([`Login::bind`]), within the same `timeout` (except while krb5 itself asks the KDC for the
/// service ticket, which its own timeouts bound); on plain `ldap://` the relay then seals and
/// unseals everything.
pub(super) fn open(
    rt: &Runtime,
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
    limits: Limits,
    login: Option<&Login>,
) -> Result<(UnixStream, Tripwire), OpenError> {
    let setup = async {
        let (mut server, binding) = tls::establish(&endpoint, tls).await?;
        let seal = match login {
            Some(login) => {
                login
                    .bind(&mut server, &endpoint.host, binding.as_deref())
                    .await?
            }
            None => None,
        };
        Ok::<_, OpenError>((server, seal))
    };
    let (server, seal) = rt
        .block_on(async { tokio::time::timeout(timeout, setup).await })
        .map_err(|_| OpenError::Timeout {
            host: endpoint.host.clone(),
            port: endpoint.port,
            timeout,
        })??;
    let setup = OpenError::Setup;
    let (ours, theirs) = UnixStream::pair().map_err(setup)?;
    ours.set_nonblocking(true).map_err(setup)?;
    theirs.set_nonblocking(true).map_err(setup)?;
    let ours = {
        let _runtime = rt.enter();
        tokio::net::UnixStream::from_std(ours).map_err(setup)?
    };
    let tripwire = relay::start(rt, server, ours, limits, seal);
    Ok((theirs, tripwire))
}
