//! Exchange's accepted domains, read from AD's configuration naming context: the domains the
//! organisation receives mail for, so that `recipients.domains = "exchange"` needs no list to
//! keep in step by hand.

use tracing::{info, warn};

use super::{Connection, Error, failure, is_attribute};

impl Connection {
    fn search_error(&self, base: &str, reason: String) -> Error {
        failure(&self.url, base, reason)
    }

    /// Reads the accepted domains from Exchange's configuration: Authoritative (flags 0) and
    /// InternalRelay (2) domains; ExternalRelay (1) domains are not ours to list.
    pub fn accepted_domains(&mut self) -> Result<Vec<String>, Error> {
        let config_nc = self
            .read_base("", &["configurationNamingContext"])?
            .attrs
            .get("configurationNamingContext")
            .and_then(|v| v.first().cloned())
            .ok_or_else(|| {
                self.search_error(
                    "",
                    "the server's rootDSE has no configurationNamingContext (is it Active Directory?); \
                     list the domains in recipients.domains instead of \"exchange\""
                        .into(),
                )
            })?;
        let mut domains = Vec::new();
        let mut rejected = Vec::new();
        let stats = self.search(
            &config_nc,
            "(objectClass=msExchAcceptedDomain)",
            &["msExchAcceptedDomainName", "msExchAcceptedDomainFlags"],
            1000,
            |dn, attrs| {
                let mut name = None;
                let mut flags = None;
                for (attr, values) in attrs {
                    let value = values.into_iter().next().unwrap_or_default().trim().to_owned();
                    if is_attribute(&attr, "msExchAcceptedDomainName") {
                        name = Some(value);
                    } else if is_attribute(&attr, "msExchAcceptedDomainFlags") {
                        flags = Some(value);
                    }
                }
                let Some(name) = name else {
                    warn!("accepted domain {dn} has no msExchAcceptedDomainName; ignored");
                    return;
                };
                let plain = name.strip_prefix("*.").unwrap_or(&name);
                if crate::rules::address::normalize(&format!("x@{plain}")).is_err() {
                    warn!("accepted domain {dn}: {name:?} is not a domain name; ignored");
                    return;
                }
                // Absent flags mean 0 (Authoritative), as in Exchange; unreadable ones are not
                // guessed at.
                match flags.as_deref().map_or(Ok(0), str::parse::<u32>) {
                    Ok(f) if f & 3 == 0 || f & 3 == 2 => domains.push(name.to_ascii_lowercase()),
                    Ok(_) => rejected.push(name),
                    Err(_) => warn!(
                        "accepted domain {dn}: msExchAcceptedDomainFlags {:?} is not a number; ignored",
                        flags.unwrap_or_default()
                    ),
                }
            },
        )?;
        if domains.is_empty() {
            return Err(self.search_error(
                &config_nc,
                format!(
                    "no Authoritative or InternalRelay accepted domain found ({} objects, {} external relay)",
                    stats.entries,
                    rejected.len()
                ),
            ));
        }
        domains.sort();
        domains.dedup();
        info!(
            "accepted domains from Exchange: {}{}",
            domains.join(", "),
            if rejected.is_empty() {
                String::new()
            } else {
                format!(" (external relay, not exported: {})", rejected.join(", "))
            }
        );
        Ok(domains)
    }
}
