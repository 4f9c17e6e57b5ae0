//! `[recipients]`: the accepted domains (or "exchange"), the excluded ones, the open ones, the
//! extra addresses.

use super::super::{DomainSetting, Error, Recipients, Source, SourceKind, raw};
use super::Checker;
use crate::rules::address;
use crate::rules::domains::{AcceptedDomains, ExcludedDomains};

impl Checker<'_> {
    pub(super) fn recipients(
        &self,
        raw: raw::Recipients,
        sources: &[Source],
    ) -> Result<Recipients, Error> {
        let domains = match raw.domains {
            raw::Domains::Keyword(word) if word == "exchange" => {
                if !sources
                    .iter()
                    .any(|s| matches!(s.kind, SourceKind::Ldap(_) | SourceKind::Graph(_)))
                {
                    return Err(self.invalid(
                        "recipients.domains",
                        "\"exchange\" reads the accepted domains from Active Directory or the tenant and needs a kind = \"ldap\" or \"graph\" source; list the domains instead",
                    ));
                }
                DomainSetting::Exchange
            }
            raw::Domains::Keyword(word) => {
                return Err(self.invalid(
                    "recipients.domains",
                    format!("{word:?} is neither a list of domains nor \"exchange\""),
                ));
            }
            raw::Domains::List(names) => {
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
                    self.address("recipients.domains", &format!("x@{plain}"))
                        .map_err(|_| {
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
        let internal_relay = self.open_domains("recipients.internal_relay", &raw.internal_relay)?;
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
        Ok(Recipients {
            domains,
            excluded,
            skip_auth_required: raw.skip_auth_required,
            use_mail_attribute: raw.use_mail_attribute,
            extra,
            internal_relay,
        })
    }

    /// The exact domain names of `key`, lower case. A wild-card is refused with the reason:
    /// Postfix's `@domain` matches that one domain, never its subdomains.
    pub(super) fn open_domains(
        &self,
        key: &str,
        names: &[String],
    ) -> Result<std::collections::BTreeSet<String>, Error> {
        names
            .iter()
            .map(|name| {
                if name.starts_with("*.") {
                    return Err(self.invalid(
                        key,
                        format!(
                            "{name:?}: a Postfix @domain line matches one domain, not its \
                             subdomains; list each subdomain to open by its name"
                        ),
                    ));
                }
                match address::normalize(&format!("x@{name}")) {
                    Ok(normal) => Ok(normal["x@".len()..].to_owned()),
                    Err(_) => Err(self.invalid(
                        key,
                        format!("{name:?} is not a domain name (write `example.com`)"),
                    )),
                }
            })
            .collect()
    }
}
