//! `rcptsync doctor`'s checks: a gateway's Postfix settings against the relay-gateway
//! checklist of the original recipe, so that the recipient map actually protects the gateway.
//!
//! A relay gateway must relay its domains (`relay_domains`) and nothing else, check every
//! recipient against the map (`relay_recipient_maps`, `smtpd_reject_unlisted_recipient`),
//! deliver nothing locally (empty `mydestination` and `local_recipient_maps`, no `local`
//! service in master.cf, `myorigin` an internal domain), still take mail for postmaster@
//! and abuse@ of every domain it relays (RFC 5321, RFC 2142), and treat `user+tag@` as the
//! backend does (`plus`).
//!
//! The settings are read once ([`Settings::read`]: `postconf -n`, `postconf -x NAME...`,
//! `postconf -M`); the checks on them are pure functions, so each can be tested without
//! Postfix. The few things only Postfix or the file system can answer (does relay_domains
//! cover a domain, is an address in virtual_alias_maps, do the map files exist) are passed in
//! as closures or read by [`examine`], which runs every check in the checklist's order.
//!
//! Each [`Finding`] says what is wrong, why it matters, and the exact command that fixes it.
//!
//! The checks are grouped as the checklist is: relaying the domains (`relay`), checking
//! recipients against the map (`recipients`), delivering nothing locally (`local`) and the
//! role addresses (`roles`), all reading one [`Settings`] (`settings`). Their paths are
//! re-exported here.

mod local;
mod plus;
mod recipients;
mod relay;
mod roles;
mod settings;

#[cfg(test)]
mod fixtures;

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use crate::postfix::MapSpec;
use crate::postfix::{self, Postfix};
pub use local::{local_recipient_maps, local_service, mydestination, myorigin};
pub use plus::{delimited_keys, plus_addressing};
pub use recipients::{
    MapProblem, berkeley_db, check_indexed, map_file, read_keys, reject_unlisted,
    relay_recipient_maps, table_name,
};
pub use relay::{coverage, relay_domains};
pub use roles::role_addresses;
pub use settings::{PARAMETERS, Service, Settings, file_map};

/// How bad a finding is; errors make doctor exit 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The gateway accepts mail it should reject, or loses mail it should deliver.
    Error,
    /// Not as the checklist says, but mail is not lost or wrongly accepted because of it.
    Warning,
    /// A matter of taste worth knowing about.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Note => "note",
        })
    }
}

/// One problem, with the change that fixes it: what an admin needs at 3 a.m.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong and what it does to mail.
    pub problem: String,
    /// The commands (or edits) that fix it, one per line.
    pub fix: Vec<String>,
}

impl Finding {
    fn new(severity: Severity, problem: String, fix: Vec<String>) -> Self {
        Self {
            severity,
            problem,
            fix,
        }
    }
}

impl fmt::Display for Finding {
    /// `error: PROBLEM` and `  fix: COMMAND` lines, like Postfix's own diagnostics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.problem)?;
        for (index, line) in self.fix.iter().enumerate() {
            let lead = if index == 0 { "  fix: " } else { "       " };
            write!(f, "\n{lead}{line}")?;
        }
        Ok(())
    }
}

/// What an rcptsync config (`[install]`) says the gateway's Postfix must work with; all None
/// without one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rcptsync<'a> {
    /// `[install].map`: the map relay_recipient_maps must use, and whose keys are checked.
    pub map: Option<&'a MapSpec>,
    /// `[install].backend_plus_addressing`.
    pub plus: Option<bool>,
    /// `[install].relay_domains_map`: the table relay_domains must name.
    pub relay_table: Option<&'a MapSpec>,
}

/// Runs every check on the instance whose main.cf is in `config_dir`, in the checklist's
/// order, errors first. Without `rcptsync.map` the keys checked are those of every text map
/// of relay_recipient_maps that exists.
pub fn examine(
    postfix: &Postfix,
    config_dir: &Path,
    rcptsync: &Rcptsync<'_>,
) -> Result<Vec<Finding>, postfix::Error> {
    let (install, plus) = (rcptsync.map, rcptsync.plus);
    let settings = Settings::read(postfix, config_dir)?;
    let relay = crate::postfix::settings::RelayDomains::read(postfix)?;
    let relayed = |domain: &str| relay.covers(postfix, domain);

    // The maps of relay_recipient_maps: usable files, and their keys.
    let mut map_findings = Vec::new();
    let mut keys: Option<BTreeSet<String>> = None;
    for map in settings
        .list("relay_recipient_maps")
        .into_iter()
        .filter_map(file_map)
    {
        let text = read_keys(&map.path);
        if let Some(problem) = check_indexed(&map).err().or(text.as_ref().err().cloned()) {
            map_findings.push(map_file(&settings, &map, &problem, text.is_ok(), install));
        }
        if let Ok(text) = text {
            keys.get_or_insert_default().extend(text);
        }
    }
    if let Some(install) = install {
        keys = read_keys(&install.path).ok();
    }
    let map_domains: BTreeSet<String> = keys
        .iter()
        .flatten()
        .filter_map(|key| key.rsplit_once('@').map(|(_, domain)| domain.to_owned()))
        .collect();

    let mut findings = Vec::new();
    findings.extend(relay_domains(&settings, &map_domains));
    if let Some(table) = rcptsync.relay_table {
        findings.extend(relay::relay_table(&settings, table));
    }
    findings.extend(relay_recipient_maps(&settings, install));
    findings.extend(map_findings);
    if let Some(keys) = &keys {
        findings.extend(coverage(&settings, keys, relayed)?);
        findings.extend(relay::open_domains(&settings, keys, relayed)?);
        findings.extend(delimited_keys(&settings, keys));
    }
    findings.extend(mydestination(&settings, relayed)?);
    findings.extend(local_recipient_maps(&settings));
    findings.extend(myorigin(&settings));
    if let Some(keys) = keys.as_ref().filter(|_| {
        // With no relay_recipient_maps every address is accepted; that is reported above.
        !settings.list("relay_recipient_maps").is_empty()
    }) {
        let virtual_maps: Vec<&str> = settings
            .list("virtual_alias_maps")
            .into_iter()
            .map(|map| map.strip_prefix("proxy:").unwrap_or(map))
            .collect();
        let aliased = |address: &str| -> Result<bool, postfix::Error> {
            let domain = address.rsplit_once('@').map_or("", |(_, domain)| domain);
            for map in &virtual_maps {
                for key in [address.to_owned(), format!("@{domain}")] {
                    if postfix.query(map, &key)?.is_some() {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        };
        let domains: Vec<String> = relay.names().map(str::to_owned).collect();
        findings.extend(role_addresses(&settings, &domains, keys, aliased)?);
    }
    findings.extend(local_service(&settings));
    findings.extend(reject_unlisted(&settings));
    findings.extend(table_name(&settings));
    findings.extend(plus_addressing(&settings, plus));
    // Without postconf -m's list the finding is a warning; the other checks still run.
    let types = postfix
        .postconf(&["-m"])
        .unwrap_or_else(|_| "hash\nbtree\n".to_owned());
    findings.extend(berkeley_db(&settings, &types));
    findings.sort_by_key(|finding| finding.severity);
    Ok(findings)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::verify::doctor::fixtures::*;
    use std::convert::Infallible;

    #[test]
    fn a_good_gateway_has_no_findings_in_the_pure_checks() {
        let s = good();
        let k = keys(&["postmaster@example.com", "abuse@example.com"]);
        assert_eq!(relay_domains(&s, &k), None);
        assert_eq!(
            relay_recipient_maps(&s, Some(&lmdb("/etc/postfix/relay_recipients"))),
            None
        );
        assert_eq!(coverage(&s, &k, relays_example).unwrap(), None);
        assert_eq!(mydestination(&s, relays_example).unwrap(), None);
        assert_eq!(local_recipient_maps(&s), None);
        assert_eq!(myorigin(&s), None);
        assert!(local_service(&s).is_empty());
        assert_eq!(reject_unlisted(&s), None);
        assert_eq!(table_name(&s), None);
        let domains = vec!["example.com".to_owned()];
        let none = |_: &str| Ok::<_, Infallible>(false);
        assert!(role_addresses(&s, &domains, &k, none).unwrap().is_empty());
    }

    #[test]
    fn findings_read_like_postfix_diagnostics() {
        let finding = Finding::new(Severity::Note, "p".into(), vec!["one".into(), "two".into()]);
        assert_eq!(finding.to_string(), "note: p\n  fix: one\n       two");
        assert!(Severity::Error < Severity::Warning && Severity::Warning < Severity::Note);
    }
}
