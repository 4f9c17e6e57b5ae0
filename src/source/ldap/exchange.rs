//! Exchange's accepted domains, read from AD's configuration naming context: the domains the
//! organisation receives mail for, so that `recipients.domains = "exchange"` needs no list to
//! keep in step by hand.
//!
//! `msExchAcceptedDomainFlags` holds the domain's type in its low two bits (0 Authoritative,
//! 1 ExternalRelay, 2 InternalRelay) and AddressBookEnabled in bit 3 (8), among other flags
//! (Default is 4). Exchange filters recipients only where AddressBookEnabled is on, which it
//! sets for Authoritative domains and not for relay ones: a domain without it is a shared
//! address space whose recipients are not all in this directory, and is *open* (the map gets
//! an `@domain` line). A domain without the attribute is Authoritative and, AddressBookEnabled
//! not being stored, checked.

use tracing::{info, warn};

use super::{Attributes, Connection, Error, failure, is_attribute};
use crate::rules::address::shown;

/// Type bits of `msExchAcceptedDomainFlags`.
const TYPE_BITS: u32 = 3;
/// The AddressBookEnabled bit of `msExchAcceptedDomainFlags`.
const ADDRESS_BOOK_ENABLED: u32 = 8;

/// What an accepted domain is to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every recipient is in the directory: the map lists them, the rest is refused.
    Checked,
    /// A shared address space (InternalRelay, or AddressBookEnabled off): every address is
    /// accepted, Exchange relays the ones it does not know.
    Open,
    /// ExternalRelay (or an unknown type): not the organisation's, not exported.
    External,
}

impl Kind {
    /// The kind `msExchAcceptedDomainFlags` (None: absent) gives a domain.
    pub fn of(flags: Option<u32>) -> Self {
        match flags {
            None => Self::Checked,
            Some(f) if f & TYPE_BITS == 2 => Self::Open,
            Some(f) if f & TYPE_BITS == 0 && f & ADDRESS_BOOK_ENABLED == 0 => Self::Open,
            Some(f) if f & TYPE_BITS == 0 => Self::Checked,
            Some(_) => Self::External,
        }
    }
}

/// The accepted domains as Exchange configures them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptedDomains {
    /// Every domain the gateway relays for (lower case; `*.` wild-cards as written).
    pub accepted: Vec<String>,
    /// The exact names among them whose recipients are not all in the directory.
    pub open: Vec<String>,
}

impl Connection {
    fn search_error(&self, base: &str, reason: String) -> Error {
        failure(&self.url, base, reason)
    }

    /// Reads the accepted domains from Exchange's configuration: Authoritative and
    /// InternalRelay domains, which of them are open ([`Kind`]); ExternalRelay domains are not
    /// ours to list.
    pub fn accepted_domains(&mut self) -> Result<AcceptedDomains, Error> {
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
        let mut open = Vec::new();
        let mut rejected = Vec::new();
        let stats = self.search(
            &config_nc,
            "(objectClass=msExchAcceptedDomain)",
            &["msExchAcceptedDomainName", "msExchAcceptedDomainFlags"],
            1000,
            |dn, attrs| match accepted_domain(&dn, attrs) {
                Some((name, Kind::External)) => rejected.push(name),
                Some((name, Kind::Checked)) => domains.push(name),
                Some((name, Kind::Open)) if name.starts_with("*.") => {
                    warn!(
                        "accepted domain {name} is a shared address space (InternalRelay or \
                         AddressBookEnabled off), but Postfix's @domain wild-card matches one \
                         domain, not its subdomains: its addresses stay checked against the \
                         directory; list the subdomains that are shared in \
                         [recipients].internal_relay to open them"
                    );
                    domains.push(name);
                }
                Some((name, Kind::Open)) => {
                    open.push(name.clone());
                    domains.push(name);
                }
                None => {}
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
        open.sort();
        open.dedup();
        info!(
            "accepted domains from Exchange: {}{}{}",
            domains.join(", "),
            if open.is_empty() {
                String::new()
            } else {
                format!(" (open, every address accepted: {})", open.join(", "))
            },
            if rejected.is_empty() {
                String::new()
            } else {
                format!(" (external relay, not exported: {})", rejected.join(", "))
            }
        );
        Ok(AcceptedDomains {
            accepted: domains,
            open,
        })
    }
}

/// One msExchAcceptedDomain object `dn`: its name (lower case) and [`Kind`]; None, warned
/// about, when it has no usable name or flags.
fn accepted_domain(dn: &str, attrs: Attributes) -> Option<(String, Kind)> {
    let mut name = None;
    let mut flags = None;
    for (attr, values) in attrs {
        let value = values
            .into_iter()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if is_attribute(&attr, "msExchAcceptedDomainName") {
            name = Some(value);
        } else if is_attribute(&attr, "msExchAcceptedDomainFlags") {
            flags = Some(value);
        }
    }
    let Some(name) = name else {
        warn!(
            "accepted domain {} has no msExchAcceptedDomainName; ignored",
            shown(dn)
        );
        return None;
    };
    let plain = name.strip_prefix("*.").unwrap_or(&name);
    if crate::rules::address::normalize_domain(plain).is_err() {
        warn!(
            "accepted domain {}: {name:?} is not a domain name; ignored",
            shown(dn)
        );
        return None;
    }
    // Absent flags: an Authoritative domain whose AddressBookEnabled is not stored, decided
    // by its type alone (Kind::of). AD's integers are signed 32-bit: a value with the top bit
    // set is negative, the same bits. Unreadable ones are not guessed at.
    let Ok(flags) = flags.as_deref().map(str::parse::<i32>).transpose() else {
        warn!(
            "accepted domain {}: msExchAcceptedDomainFlags {:?} is not a number; ignored",
            shown(dn),
            flags.unwrap_or_default()
        );
        return None;
    };
    Some((
        name.to_ascii_lowercase(),
        Kind::of(flags.map(i32::cast_unsigned)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_and_address_book_bits_decide_the_kind() {
        // What Exchange writes: Authoritative with AddressBookEnabled (8), also as the
        // default domain (12); InternalRelay (2); ExternalRelay (1).
        assert_eq!(Kind::of(Some(8)), Kind::Checked);
        assert_eq!(Kind::of(Some(12)), Kind::Checked);
        assert_eq!(Kind::of(Some(2)), Kind::Open);
        assert_eq!(Kind::of(Some(1)), Kind::External);
        // Authoritative with AddressBookEnabled switched off: Exchange filters no recipient.
        assert_eq!(Kind::of(Some(0)), Kind::Open);
        assert_eq!(Kind::of(Some(4)), Kind::Open);
        // A relay domain someone switched the address book on for stays what its type says.
        assert_eq!(Kind::of(Some(2 | 8)), Kind::Open);
        assert_eq!(Kind::of(Some(1 | 8)), Kind::External);
        // Other flags (MatchSubDomains 0x10000, PendingRemoval 0x40) do not change the kind.
        assert_eq!(Kind::of(Some(0x10000 | 2)), Kind::Open);
        assert_eq!(Kind::of(Some(0x40 | 8)), Kind::Checked);
        // No attribute: Authoritative, decided by the type alone.
        assert_eq!(Kind::of(None), Kind::Checked);
        assert_eq!(Kind::of(Some(3)), Kind::External);
    }
}
