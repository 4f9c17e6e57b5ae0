//! The recipient rules: which directory values become keys of the relay recipient map.
//!
//! Pure logic, no I/O. From each [`Entry`] only `smtp:` proxy addresses are taken (`SMTP:` is
//! the primary; X500, X400, SIP, EUM and the rest are not mail addresses), `mail` only when
//! asked for, `targetAddress` never. Entries that require authenticated senders are skipped
//! when asked, disabled accounts never are (shared, room and equipment mailboxes are disabled
//! accounts). Every address is validated strictly ([`address`]), then kept only when its domain
//! is accepted and not excluded ([`domains`]). The result is a sorted, de-duplicated set of
//! lower-case keys; what was left out and why is counted in [`Stats`], and every value that
//! failed validation is kept as a [`Rejection`] for the report. The `[recipients]` and
//! `[safety]` tables that set all this are defined and checked in [`config`].

pub mod address;
pub mod config;
pub mod domains;
mod entry;
pub mod guard;

use std::fmt;

use crate::map::keys::KeySet;
use address::AddressError;
use domains::{AcceptedDomains, ExcludedDomains};
pub use entry::Entry;

/// Where the accepted domains come from.
#[derive(Debug, Clone)]
pub enum DomainSetting {
    /// Listed in the config.
    Listed(AcceptedDomains),
    /// Read from the first LDAP or Graph source: Exchange's accepted-domain objects in AD, or
    /// the tenant's verified Email domains.
    Exchange,
}

/// The `[recipients]` table, checked ([`config`]): the policy before the accepted domains are
/// known, which with `domains = "exchange"` only the source can tell.
#[derive(Debug, Clone)]
pub struct Recipients {
    /// Accepted domains.
    pub domains: DomainSetting,
    /// Excluded domains.
    pub excluded: ExcludedDomains,
    /// Skip entries that require authenticated senders.
    pub skip_auth_required: bool,
    /// Also take `mail`.
    pub use_mail_attribute: bool,
    /// Extra addresses, already normalized.
    pub extra: Vec<String>,
    /// `internal_relay`: domains opened with an `@domain` line (lower case, exact names).
    pub internal_relay: std::collections::BTreeSet<String>,
}

/// The `[recipients]` policy, compiled.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Domains the gateway relays for.
    pub accepted: AcceptedDomains,
    /// Domains whose addresses are never exported.
    pub excluded: ExcludedDomains,
    /// Skip entries with `msExchRequireAuthToSendTo: TRUE`.
    pub skip_auth_required: bool,
    /// Also take `mail` (directories without Exchange have no proxyAddresses).
    pub use_mail_attribute: bool,
}

/// Counts of what the rules left out, for the `-v` summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Directory entries and list lines seen.
    pub entries: usize,
    /// Entries skipped because they require authenticated senders.
    pub auth_required: usize,
    /// proxyAddresses of other types (X500, SIP, ...).
    pub other_types: usize,
    /// Valid addresses outside the accepted domains (e.g. contacts' external addresses).
    pub foreign: usize,
    /// Valid addresses in excluded domains.
    pub excluded: usize,
}

/// A value that failed validation; it is reported and never written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Where the value came from: a DN, `file:line` or a config key.
    pub origin: String,
    /// The attribute, or `line` for lists.
    pub attribute: &'static str,
    /// The value as found.
    pub value: String,
    /// Why it is not a safe map key.
    pub reason: AddressError,
}

impl Rejection {
    /// What identifies this rejection from one run to the next (where, which attribute, what
    /// value), short and without the value itself.
    pub fn id(&self) -> String {
        let text = format!("{}\0{}\0{}", self.origin, self.attribute, self.value);
        let mut id = crate::map::digest::sha256_hex(text.as_bytes());
        id.truncate(24);
        id
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: rejected {} value {}: {}",
            address::shown(&self.origin),
            self.attribute,
            address::quote(&self.value),
            self.reason
        )
    }
}

/// Accumulates recipients from any number of sources under one set of rules.
#[derive(Debug)]
pub struct Collector<'r> {
    rules: &'r Rules,
    recipients: KeySet,
    stats: Stats,
    rejections: Vec<Rejection>,
    /// Where [`Collector::object`] gathers one object's keys instead of `recipients`.
    taking: Option<Vec<String>>,
}

/// What one directory object gives the map, for the incremental store ([`crate::store`]),
/// which adds and takes away each object's keys when the object changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Object {
    /// Its map keys (normalized, maybe repeated).
    pub keys: Vec<String>,
    /// Its rejected values, by [`Rejection::id`].
    pub rejected: Vec<String>,
}

impl<'r> Collector<'r> {
    /// Starts an empty collection.
    pub fn new(rules: &'r Rules) -> Self {
        Self {
            rules,
            recipients: KeySet::new(),
            stats: Stats::default(),
            rejections: Vec::new(),
            taking: None,
        }
    }

    /// Applies the rules to one directory entry as [`Collector::entry`] does (counting what
    /// was left out, keeping what was rejected), but returns its keys instead of collecting
    /// them.
    pub fn object(&mut self, entry: &Entry) -> Object {
        let rejected_before = self.rejections.len();
        self.taking = Some(Vec::new());
        self.entry(entry);
        Object {
            keys: self.taking.take().unwrap_or_default(),
            rejected: self.rejections[rejected_before..]
                .iter()
                .map(Rejection::id)
                .collect(),
        }
    }

    /// Applies the rules to one directory entry as [`Collector::entry`] does, with its keys
    /// going to `keys` (a full read counts the objects' keys for the store apart from the
    /// other sources').
    pub fn entry_into(&mut self, entry: &Entry, keys: &mut KeySet) {
        std::mem::swap(&mut self.recipients, keys);
        self.entry(entry);
        std::mem::swap(&mut self.recipients, keys);
    }

    /// Applies the rules to one directory entry.
    pub fn entry(&mut self, entry: &Entry) {
        self.stats.entries += 1;
        if self.rules.skip_auth_required && entry.require_auth {
            self.stats.auth_required += 1;
            return;
        }
        for value in &entry.proxy_addresses {
            match value.split_once(':') {
                Some((kind, address)) if kind.eq_ignore_ascii_case("smtp") => {
                    self.candidate(&entry.dn, "proxyAddresses", value, address);
                }
                Some(_) => self.stats.other_types += 1,
                None => self.rejections.push(Rejection {
                    origin: entry.dn.clone(),
                    attribute: "proxyAddresses",
                    value: value.clone(),
                    reason: AddressError::BadLocal {
                        detail: "no address type prefix (expected smtp:address)",
                    },
                }),
            }
        }
        if self.rules.use_mail_attribute {
            for value in &entry.mail {
                self.candidate(&entry.dn, "mail", value, value);
            }
        }
    }

    /// Collects keys [`Collector::object`] returned.
    pub fn keep(&mut self, keys: &[String]) {
        for key in keys {
            self.recipients.push(key);
        }
    }

    /// Applies the rules to one line of a plain list as [`Collector::listed`] does, but
    /// returns its key (if the line gives one) instead of collecting it.
    pub fn line(&mut self, origin: &str, value: &str) -> Vec<String> {
        self.taking = Some(Vec::new());
        self.listed(origin, value);
        self.taking.take().unwrap_or_default()
    }

    /// Applies the rules to one line of a plain list; `origin` is `file:line`.
    pub fn listed(&mut self, origin: &str, value: &str) {
        self.stats.entries += 1;
        self.candidate(origin, "line", value, value);
    }

    fn candidate(&mut self, origin: &str, attribute: &'static str, value: &str, address: &str) {
        let key = match address::normalize(address) {
            Ok(key) => key,
            Err(reason) => {
                self.rejections.push(Rejection {
                    origin: origin.to_owned(),
                    attribute,
                    value: value.to_owned(),
                    reason,
                });
                return;
            }
        };
        // The domain follows the last @: a quoted local part may contain one.
        let domain = key.rsplit_once('@').map_or("", |(_, d)| d);
        if self.rules.excluded.matches(domain) {
            self.stats.excluded += 1;
        } else if !self.rules.accepted.contains(domain) {
            self.stats.foreign += 1;
        } else {
            match &mut self.taking {
                Some(keys) => keys.push(key),
                None => self.recipients.push(&key),
            }
        }
    }

    /// What was left out so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The recipients (sorted, unique), what was left out, and the rejected values.
    pub fn finish(mut self) -> (KeySet, Stats, Vec<Rejection>) {
        self.recipients.finish();
        (self.recipients, self.stats, self.rejections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            accepted: AcceptedDomains::new(["example.com", "*.sub.example.com"]),
            excluded: ExcludedDomains::new(&[r"legacy\.example\.com".into()]).unwrap(),
            skip_auth_required: true,
            use_mail_attribute: false,
        }
    }

    fn entry(proxy: &[&str]) -> Entry {
        Entry {
            dn: "CN=T,DC=example,DC=com".into(),
            proxy_addresses: proxy.iter().map(|s| s.to_string()).collect(),
            ..Entry::default()
        }
    }

    fn run(rules: &Rules, entries: &[Entry]) -> (Vec<String>, Stats, Vec<Rejection>) {
        let mut c = Collector::new(rules);
        for e in entries {
            c.entry(e);
        }
        let (set, stats, rejections) = c.finish();
        (set.iter().map(String::from).collect(), stats, rejections)
    }

    #[test]
    fn only_smtp_proxy_addresses_case_insensitive_prefix() {
        let (set, stats, _) = run(
            &rules(),
            &[entry(&[
                "SMTP:John.Doe@Example.com",
                "smtp:jd@example.com",
                "Smtp:j.d@example.com",
                "X500:/o=ExchangeLabs/ou=Exchange/cn=Recipients/cn=jd",
                "SIP:jd@example.com",
                "EUM:1234;phone-context=x",
                "X400:c=US;a= ;p=Example;o=Exchange;s=Doe;",
            ])],
        );
        assert_eq!(
            set,
            ["j.d@example.com", "jd@example.com", "john.doe@example.com"]
        );
        assert_eq!(stats.other_types, 4);
    }

    #[test]
    fn accepted_and_excluded_domains() {
        let (set, stats, _) = run(
            &rules(),
            &[entry(&[
                "smtp:a@example.com",
                "smtp:b@legacy.example.com",
                "smtp:c@LEGACY.EXAMPLE.COM",
                "smtp:d@other.org",
                "smtp:e@example.com.evil.net",
                "smtp:f@eu.sub.example.com",
            ])],
        );
        assert_eq!(set, ["a@example.com", "f@eu.sub.example.com"]);
        assert_eq!((stats.excluded, stats.foreign), (2, 2));
    }

    #[test]
    fn auth_required_entries_are_skipped_only_when_asked() {
        let mut e = entry(&["SMTP:internal-list@example.com"]);
        e.require_auth = true;
        let (set, stats, _) = run(&rules(), std::slice::from_ref(&e));
        assert!(set.is_empty());
        assert_eq!(stats.auth_required, 1);
        let keep = Rules {
            skip_auth_required: false,
            ..rules()
        };
        assert_eq!(run(&keep, &[e]).0, ["internal-list@example.com"]);
    }

    #[test]
    fn mail_attribute_only_when_asked() {
        let mut e = entry(&[]);
        e.mail = vec!["Mail.Only@example.com".into()];
        assert!(run(&rules(), std::slice::from_ref(&e)).0.is_empty());
        let with_mail = Rules {
            use_mail_attribute: true,
            ..rules()
        };
        assert_eq!(run(&with_mail, &[e]).0, ["mail.only@example.com"]);
    }

    #[test]
    fn invalid_values_are_rejected_with_dn_and_never_kept() {
        let (set, _, rejections) = run(
            &rules(),
            &[entry(&[
                "smtp:@example.com",
                "smtp:a\n@example.com",
                "SMTP:ok@example.com",
                "nocolon@example.com",
            ])],
        );
        assert_eq!(set, ["ok@example.com"]);
        assert_eq!(rejections.len(), 3);
        assert_eq!(
            rejections[0].to_string(),
            "CN=T,DC=example,DC=com: rejected proxyAddresses value \"smtp:@example.com\": bare @domain (no local part); \
             as a map key it would accept mail for every address in the domain"
        );
        assert!(rejections[2].to_string().contains("no address type prefix"));
    }

    #[test]
    fn duplicates_merge_and_output_is_sorted() {
        let (set, _, _) = run(
            &rules(),
            &[
                entry(&["SMTP:b@example.com", "smtp:A@example.com"]),
                entry(&["smtp:B@EXAMPLE.com"]),
            ],
        );
        assert_eq!(set, ["a@example.com", "b@example.com"]);
    }

    #[test]
    fn lists() {
        let rules = rules();
        let mut c = Collector::new(&rules);
        c.listed("extra.txt:3", "App@Example.com");
        c.listed("extra.txt:4", "x@other.org");
        c.listed("extra.txt:5", "bad value@example.com");
        let (set, stats, rejections) = c.finish();
        assert_eq!(set.iter().collect::<Vec<_>>(), ["app@example.com"]);
        assert_eq!(stats.foreign, 1);
        assert_eq!(rejections[0].origin, "extra.txt:5");
    }
}
