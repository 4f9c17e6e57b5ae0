//! `[[gateway]]`: where `push` sends the map. The table lives beside the transport, so that a
//! new setting of the push touches this folder only; [`super::Gateway`] is what the check
//! makes of it.

use crate::table::{Checker, Error, table};

table! {
    /// One `[[gateway]]`.
    pub struct Gateway {
        /// label in reports and in the push record
        #[default_text = "(required)"]
        name: String,
        /// the gateway's host name or address
        #[default_text = "(required)"]
        host: String,
        /// its SSH port
        port: u16 = 22,
        /// the receiving account (e.g. `postrelay`)
        #[default_text = "(required)"]
        user: String,
        /// the private key
        #[default_text = "ssh's default"]
        identity_file: Option<String>,
        /// the file holding the gateway's host key
        #[default_text = "ssh's default"]
        known_hosts: Option<String>,
        /// the longest one push to this gateway may take, from connecting to the receiver's
        /// answer; then ssh is stopped and the gateway is reported as timed out (the others go
        /// on)
        timeout: String = "10m",
        /// how long after the gateway's last acknowledgement `sync` and `watch` (which read
        /// the directory first) send it a small confirmation that its map is still current,
        /// when no new map went; the gateway's `[install].stale_after` counts from the last
        confirm_every: String = "1h",
    }
}

impl Checker<'_> {
    /// One `[[gateway]]` checked: names and hosts end up on ssh's command line, so nothing
    /// there may read as an option.
    pub(crate) fn gateway(&self, raw: Gateway) -> Result<super::Gateway, Error> {
        // Host and user end up on ssh's command line: nothing that ssh could read as an
        // option or a second argument.
        let token = |key: &str, value: &str, extra: &str| {
            let ok = !value.is_empty()
                && !value.starts_with('-')
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(c));
            if ok {
                Ok(())
            } else {
                Err(self.invalid(
                    format!("gateway.{key}"),
                    format!("{value:?} is not a valid {key} (letters, digits, dots, hyphens; not starting with -)"),
                ))
            }
        };
        token("name", &raw.name, "")?;
        token("host", &raw.host, ":[]%")?;
        token("user", &raw.user, "")?;
        let port = raw.port;
        if port == 0 {
            return Err(self.invalid("gateway.port", "0 is not a port"));
        }
        let timeout = self.duration("gateway.timeout", &raw.timeout)?;
        let confirm_every = self.duration("gateway.confirm_every", &raw.confirm_every)?;
        Ok(super::Gateway {
            timeout,
            confirm_every,
            name: raw.name,
            host: raw.host,
            port,
            user: raw.user,
            identity_file: raw.identity_file.map(|f| self.resolve(&f)),
            known_hosts: raw.known_hosts.map(|f| self.resolve(&f)),
        })
    }
}
