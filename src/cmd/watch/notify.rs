//! Telling systemd how the service is doing (sd_notify(3)): `READY=1` once the first read
//! completed (the map written, or kept by a guard), `STATUS=` with the last change,
//! `WATCHDOG=1` while the loop turns, `RELOADING=1` and `STOPPING=1`. A datagram to
//! `$NOTIFY_SOCKET`; without it (not started by systemd as `Type=notify`) nothing is sent. A
//! message that cannot be sent is logged at debug: the service does its job whether or not
//! systemd hears of it.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use tracing::debug;

/// The service manager's socket, when there is one.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, SocketAddr)>,
    /// Half of `WatchdogSec=`: how often `WATCHDOG=1` is due, when the unit asks for it.
    pub watchdog: Option<Duration>,
}

impl Notifier {
    /// The notifier for this process's environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`).
    pub fn from_env() -> Self {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let path = path.to_string_lossy().into_owned();
            let address = match path.strip_prefix('@') {
                // An abstract socket (Linux): systemd names them with a leading '@'.
                Some(name) => {
                    use std::os::linux::net::SocketAddrExt as _;
                    SocketAddr::from_abstract_name(name.as_bytes())
                }
                None => SocketAddr::from_pathname(&path),
            };
            let socket = UnixDatagram::unbound();
            match (socket, address) {
                (Ok(socket), Ok(address)) => Some((socket, address)),
                (Err(e), _) | (_, Err(e)) => {
                    debug!("NOTIFY_SOCKET {path:?}: {e}; systemd will not hear from watch");
                    None
                }
            }
        });
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|usec| usec.parse::<u64>().ok())
            .filter(|&usec| usec > 0)
            .map(|usec| Duration::from_micros(usec) / 2);
        Self { socket, watchdog }
    }

    /// Sends `state` (`READY=1`, `STATUS=...`), newline-separated assignments.
    pub fn send(&self, state: &str) {
        if let Some((socket, address)) = &self.socket
            && let Err(e) = socket.send_to_addr(state.as_bytes(), address)
        {
            debug!("cannot tell systemd {state:?}: {e}");
        }
    }
}
