//! One `[[gateway]]` (push's side): names and hosts that end up on ssh's command line.

use super::super::{Error, raw};
use super::Checker;
use crate::transport::Gateway;

impl Checker<'_> {
    pub(super) fn gateway(&self, raw: raw::Gateway) -> Result<Gateway, Error> {
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
        Ok(Gateway {
            timeout,
            name: raw.name,
            host: raw.host,
            port,
            user: raw.user,
            identity_file: raw.identity_file.map(|f| self.resolve(&f)),
            known_hosts: raw.known_hosts.map(|f| self.resolve(&f)),
        })
    }
}
