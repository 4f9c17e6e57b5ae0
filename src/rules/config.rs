//! `[recipients]` and `[safety]`: the rules' and the guards' settings. The tables live beside
//! the rules, so that a new rule's setting touches this folder only; [`super::Recipients`] and
//! [`super::guard::Limits`] are what the checks make of them.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;

use super::DomainSetting;
use super::address;
use super::domains::{AcceptedDomains, ExcludedDomains};
use super::guard::Limits;
use crate::table::{Checker, Error, table};

table! {
    /// `[recipients]`.
    pub struct Recipients {
        /// accepted domains, exact and case-insensitive; `*.example.com` accepts subdomains of
        /// example.com. `"exchange"` reads them from the first LDAP or Graph source: from an LDAP
        /// source, Exchange's accepted domains in the Configuration partition (Authoritative and
        /// InternalRelay ones, the InternalRelay ones open as in `internal_relay`; ExternalRelay
        /// domains are not exported); from a Graph source, the tenant's verified domains that
        /// support Email; `-v` lists them
        #[default_text = "(required)"]
        domains: Domains,
        /// regular expressions, anchored to the whole domain (`legacy\.example\.com` does not
        /// match `legacy.example.com.evil.net`), case-insensitive
        exclude_domains: Vec<String> = [],
        /// drop entries with `msExchRequireAuthToSendTo: TRUE` (Exchange refuses external
        /// senders for them anyway)
        skip_auth_required: bool = true,
        /// also take `mail` (for directories without Exchange)
        use_mail_attribute: bool = false,
        /// addresses always added (validated; not subject to the domain rules)
        extra: Vec<String> = [],
        /// accepted domains whose recipients are not all in the directory (Exchange's
        /// InternalRelay, a shared address space during a migration or a merger): the map gets
        /// one `@domain` line for each, Postfix's wild-card, so that the gateway accepts every
        /// address there and Exchange relays the ones it does not know. Exact names, each also an
        /// accepted domain. With `domains = "exchange"` an LDAP source opens InternalRelay domains
        /// (and Authoritative ones whose AddressBookEnabled is off) by itself; list them here for
        /// other sources and for Graph. The gateway must list them too
        /// (`[install].internal_relay_domains`)
        internal_relay: Vec<String> = [],
    }
}

/// `domains = [...]` or `domains = "exchange"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Domains {
    /// Accepted domains listed in the config.
    List(Vec<String>),
    /// A keyword; only "exchange" is valid.
    Keyword(String),
}

table! {
    /// `[safety]`.
    pub struct Safety {
        /// refuse a map with fewer recipients (an empty map is always refused)
        min_recipients: usize = 1,
        /// refuse a change that removes more addresses than this
        max_removed: usize = 500,
        /// refuse a change that removes more than this share of the current map
        max_removed_percent: f64 = 10,
        /// addresses that must be in every map (not ones in `extra`: those are always there)
        canaries: Vec<String> = [],
        /// the longest `extract` goes without a full search (see below)
        full_every: String = "1h",
        /// the approver's ed25519 private key (OpenSSH format, `ssh-keygen -t ed25519`):
        /// `approve` signs with it so that the gateways' `[install].approval_keys` honour the
        /// approval. Keep it unreadable by the account that runs sync/watch: whoever can read
        /// it can approve
        approval_key: Option<String>,
        /// how long an approval is valid
        approval_valid: String = "7d",
    }
}

impl Safety {
    /// `[safety]` when the file has none: every key's default.
    pub fn defaults() -> Result<Self, toml::de::Error> {
        toml::from_str("")
    }
}

impl Checker<'_> {
    /// An address from the config, through the same validator as directory values.
    fn address(&self, key: &str, value: &str) -> Result<String, Error> {
        address::normalize(value).map_err(|e| self.invalid(key, format!("{value:?}: {e}")))
    }

    /// `[recipients]` checked. `directory` says whether a source can read the accepted domains
    /// (an LDAP or Graph one), which `domains = "exchange"` needs; the sources are checked by
    /// their own stage, which the rules do not import.
    pub(crate) fn recipients(
        &self,
        raw: Recipients,
        directory: bool,
    ) -> Result<super::Recipients, Error> {
        let domains = match raw.domains {
            Domains::Keyword(word) if word == "exchange" => {
                if !directory {
                    return Err(self.invalid(
                        "recipients.domains",
                        "\"exchange\" reads the accepted domains from Active Directory or the tenant and needs a kind = \"ldap\" or \"graph\" source; list the domains instead",
                    ));
                }
                DomainSetting::Exchange
            }
            Domains::Keyword(word) => {
                return Err(self.invalid(
                    "recipients.domains",
                    format!("{word:?} is neither a list of domains nor \"exchange\""),
                ));
            }
            Domains::List(names) => {
                if names.is_empty() {
                    return Err(self.invalid(
                        "recipients.domains",
                        "no accepted domains: nothing could ever be exported; list the domains the gateway relays",
                    ));
                }
                if let Some(word) = names.iter().find(|n| n.eq_ignore_ascii_case("exchange")) {
                    return Err(self.invalid(
                        "recipients.domains",
                        format!("[{word:?}] would be a domain named {word:?}; to read the accepted domains from Exchange write domains = \"exchange\" (no brackets)"),
                    ));
                }
                for name in &names {
                    let plain = name.strip_prefix("*.").unwrap_or(name);
                    address::normalize_domain(plain).map_err(|_| {
                            self.invalid(
                                "recipients.domains",
                                format!("{name:?} is not a domain name (write `example.com`, or `*.example.com` for its subdomains)"),
                            )
                        })?;
                }
                DomainSetting::Listed(AcceptedDomains::new(&names))
            }
        };
        let excluded = ExcludedDomains::new(&raw.exclude_domains).map_err(|(pattern, e)| {
            self.invalid(
                "recipients.exclude_domains",
                format!("{pattern:?} is not a valid regular expression: {e}"),
            )
        })?;
        let extra = raw
            .extra
            .iter()
            .map(|a| self.address("recipients.extra", a))
            .collect::<Result<_, _>>()?;
        let internal_relay = open_domains(self, "recipients.internal_relay", &raw.internal_relay)?;
        if let Some(name) = internal_relay.iter().find(|d| excluded.matches(d)) {
            return Err(self.invalid(
                "recipients.internal_relay",
                format!(
                    "{name:?} is also excluded by recipients.exclude_domains, which exports \
                     nothing of it; remove it from one of the two"
                ),
            ));
        }
        if let DomainSetting::Listed(accepted) = &domains
            && let Some(name) = internal_relay.iter().find(|d| !accepted.contains(d))
        {
            return Err(self.invalid(
                "recipients.internal_relay",
                format!(
                    "{name:?} is not an accepted domain: add it to recipients.domains, or remove it \
                     here (only the gateway's own domains can be opened)"
                ),
            ));
        }
        Ok(super::Recipients {
            domains,
            excluded,
            skip_auth_required: raw.skip_auth_required,
            use_mail_attribute: raw.use_mail_attribute,
            extra,
            internal_relay,
        })
    }

    /// `[safety]` checked (its defaults when the file has none): the guards, and `full_every`,
    /// the longest `extract` goes without a full search.
    pub(crate) fn safety(
        &self,
        raw: Option<Safety>,
    ) -> Result<(Limits, Duration, crate::hold::Approver), Error> {
        let raw = match raw {
            Some(safety) => safety,
            None => Safety::defaults().map_err(|cause| Error::Parse {
                path: self.path.to_owned(),
                cause,
            })?,
        };
        let full_every = humantime::parse_duration(&raw.full_every).map_err(|_| {
            self.invalid(
                "safety.full_every",
                format!(
                    "{:?} is not a duration such as \"1h\" or \"30m\"",
                    raw.full_every
                ),
            )
        })?;
        if !(0.0..=100.0).contains(&raw.max_removed_percent) {
            return Err(self.invalid(
                "safety.max_removed_percent",
                format!(
                    "{} is not a percentage between 0 and 100",
                    raw.max_removed_percent
                ),
            ));
        }
        let canaries = raw
            .canaries
            .iter()
            .map(|a| self.address("safety.canaries", a))
            .collect::<Result<_, _>>()?;
        let limits = Limits {
            min_recipients: raw.min_recipients,
            max_removed: raw.max_removed,
            max_removed_percent: raw.max_removed_percent,
            canaries,
        };
        let approver = crate::hold::Approver {
            key: raw.approval_key.as_deref().map(|key| self.resolve(key)),
            valid: self.duration("safety.approval_valid", &raw.approval_valid)?,
        };
        Ok((limits, full_every, approver))
    }
}

/// The exact domain names of `key`, lower case, for the rules' `internal_relay` and the
/// gateway's `[install].internal_relay_domains` alike. A wild-card is refused with the reason:
/// Postfix's `@domain` matches that one domain, never its subdomains.
pub(crate) fn open_domains(
    check: &Checker<'_>,
    key: &str,
    names: &[String],
) -> Result<BTreeSet<String>, Error> {
    names
        .iter()
        .map(|name| {
            if name.starts_with("*.") {
                return Err(check.invalid(
                    key,
                    format!(
                        "{name:?}: a Postfix @domain line matches one domain, not its \
                         subdomains; list each subdomain to open by its name"
                    ),
                ));
            }
            match address::normalize_domain(name) {
                Ok(normal) => Ok(normal),
                Err(_) => Err(check.invalid(
                    key,
                    format!("{name:?} is not a domain name (write `example.com`)"),
                )),
            }
        })
        .collect()
}
