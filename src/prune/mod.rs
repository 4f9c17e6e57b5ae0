//! `rcptsync prune`'s work on the directory: finding the proxyAddresses values in excluded
//! domains, the LDIF that puts them back, and their removal one value at a time. It lives
//! apart from the sources because it writes: a source only reads.
//!
//! Only `smtp:` values are candidates; a primary address (`SMTP:` in capitals) is never
//! removed, only reported, because the entry needs another primary first. Each value is
//! removed with its own LDAP modify `delete` of that one value (`modify::delete_value`),
//! never by replacing the attribute, so concurrent changes to the other values are safe. The
//! first failure stops the removals: what was done is then exactly a prefix of the list, which
//! the undo LDIF can describe.
//!
//! The `prune` command decides what to print, where the undo file goes and
//! the exit status; nothing here writes files.
//!
//! Security: needs a bind account with write access to proxyAddresses; reading does not.

mod modify;

use crate::rules::domains::ExcludedDomains;
use crate::source::ldap::{self, Connection, LdapSourceConfig, is_attribute};
use crate::source::ldif;

/// Why prune could not find or remove the values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The search (or the connection) failed.
    #[error(transparent)]
    Source(#[from] ldap::Error),
    /// The server refused to delete a value.
    #[error("{server}: modify {dn:?} failed: {reason}")]
    Modify {
        /// The server.
        server: String,
        /// The entry.
        dn: String,
        /// The server's answer.
        reason: String,
    },
}

/// The attribute prune works on.
const ATTRIBUTE: &str = "proxyAddresses";

/// One proxyAddresses value of one entry: a value to remove, or a primary that is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The entry.
    pub dn: String,
    /// The value exactly as stored (`smtp:a@legacy.example.com`), which is what the LDAP
    /// modify must name.
    pub value: String,
}

/// What the search found in excluded domains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Secondary (`smtp:`) values, in search order: the ones prune removes.
    pub removable: Vec<Removal>,
    /// Primary (`SMTP:`) values, which are only reported.
    pub primaries: Vec<Removal>,
}

/// What to do with one proxyAddresses value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Not an SMTP address in an excluded domain: none of prune's business.
    Keep,
    /// A secondary SMTP address in an excluded domain.
    Remove,
    /// The primary SMTP address, in an excluded domain.
    Primary,
}

/// Classifies a value as stored (`TYPE:address`). The type matches case-insensitively, so
/// only exactly `SMTP` is the primary; the domain is compared in lower case, as the excluded
/// patterns expect.
fn classify(value: &str, excluded: &ExcludedDomains) -> Class {
    let Some((kind, address)) = value.split_once(':') else {
        return Class::Keep;
    };
    let domain = address
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .to_ascii_lowercase();
    if !kind.eq_ignore_ascii_case("smtp") || !excluded.matches(&domain) {
        Class::Keep
    } else if kind == "SMTP" {
        Class::Primary
    } else {
        Class::Remove
    }
}

/// Searches `source` (its base, filter and page size) for proxyAddresses values in the
/// `excluded` domains. The search is complete or an error, as every search here: a partial
/// list would make a partial undo file.
pub fn find(
    connection: &mut Connection,
    source: &LdapSourceConfig,
    excluded: &ExcludedDomains,
) -> Result<Found, Error> {
    let mut found = Found::default();
    connection.search(
        &source.base_dn,
        &source.filter,
        &[ATTRIBUTE],
        source.page_size,
        |dn, attrs| {
            for value in attrs
                .into_iter()
                .filter(|(attr, _)| is_attribute(attr, ATTRIBUTE))
                .flat_map(|(_, values)| values)
            {
                let list = match classify(&value, excluded) {
                    Class::Keep => continue,
                    Class::Remove => &mut found.removable,
                    Class::Primary => &mut found.primaries,
                };
                list.push(Removal {
                    dn: dn.clone(),
                    value,
                });
            }
        },
    )?;
    Ok(found)
}

/// The LDIF (for `ldapmodify -f`) that adds `removals` back; DNs and values that LDIF cannot
/// hold as plain text are base64-encoded.
pub fn undo_ldif(removals: &[Removal]) -> String {
    let mut text = String::from(
        "# rcptsync prune: apply with ldapmodify -f THIS_FILE to restore the removed values\n\n",
    );
    for r in removals {
        text.push_str(&ldif::line("dn", &r.dn));
        text.push_str("changetype: modify\nadd: proxyAddresses\n");
        text.push_str(&ldif::line(ATTRIBUTE, &r.value));
        text.push_str("-\n\n");
    }
    text
}

/// How far [`remove`] got.
#[derive(Debug)]
pub struct Outcome {
    /// How many values were removed: always the first `removed` of the list.
    pub removed: usize,
    /// The refusal that stopped the removals; None when all were removed.
    pub failure: Option<Error>,
}

/// Deletes each value in order, stopping at the first failure.
pub fn remove(connection: &mut Connection, removals: &[Removal]) -> Outcome {
    for (done, removal) in removals.iter().enumerate() {
        if let Err(e) = modify::delete_value(connection, &removal.dn, ATTRIBUTE, &removal.value) {
            return Outcome {
                removed: done,
                failure: Some(e),
            };
        }
    }
    Outcome {
        removed: removals.len(),
        failure: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &[&str]) -> ExcludedDomains {
        let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        ExcludedDomains::new(&patterns).unwrap()
    }

    #[test]
    fn only_smtp_values_in_excluded_domains_are_removed_and_primaries_kept() {
        let x = excluded(&[r"legacy\.example\.com"]);
        assert_eq!(classify("smtp:a@legacy.example.com", &x), Class::Remove);
        // Any case but exactly SMTP is a secondary address.
        assert_eq!(classify("Smtp:a@legacy.example.com", &x), Class::Remove);
        assert_eq!(classify("SMTP:a@legacy.example.com", &x), Class::Primary);
        // Other address types, even in an excluded domain, are not prune's business.
        assert_eq!(classify("X400:a@legacy.example.com", &x), Class::Keep);
        assert_eq!(classify("sip:a@legacy.example.com", &x), Class::Keep);
        // No type, no domain, other domains.
        assert_eq!(classify("a@legacy.example.com", &x), Class::Keep);
        assert_eq!(classify("smtp:nobody", &x), Class::Keep);
        assert_eq!(classify("smtp:a@example.com", &x), Class::Keep);
        // Nothing is excluded without patterns.
        assert_eq!(
            classify("smtp:a@legacy.example.com", &excluded(&[])),
            Class::Keep
        );
    }

    #[test]
    fn excluded_domains_match_whole_domains_in_any_case() {
        let x = excluded(&[r"legacy\.example\.com", r".*\.old\.example\.net"]);
        assert_eq!(classify("smtp:A@LEGACY.Example.COM", &x), Class::Remove);
        assert_eq!(classify("smtp:a@x.old.example.net", &x), Class::Remove);
        assert_eq!(classify("smtp:a@old.example.net", &x), Class::Keep);
        assert_eq!(classify("smtp:a@legacy.example.com.evil", &x), Class::Keep);
        assert_eq!(classify("smtp:a@notlegacy.example.com", &x), Class::Keep);
        // The domain is what follows the last @.
        assert_eq!(
            classify("smtp:\"a@b\"@legacy.example.com", &x),
            Class::Remove
        );
    }

    #[test]
    fn the_undo_ldif_adds_each_value_back() {
        assert_eq!(
            undo_ldif(&[]),
            "# rcptsync prune: apply with ldapmodify -f THIS_FILE to restore the removed values\n\n"
        );
        let text = undo_ldif(&[
            Removal {
                dn: "cn=A,dc=example,dc=com".into(),
                value: "smtp:a@legacy.example.com".into(),
            },
            Removal {
                dn: "cn=Zoë,dc=example,dc=com".into(),
                value: " smtp:b@legacy.example.com".into(),
            },
        ]);
        assert_eq!(
            text,
            "# rcptsync prune: apply with ldapmodify -f THIS_FILE to restore the removed values\n\n\
             dn: cn=A,dc=example,dc=com\n\
             changetype: modify\n\
             add: proxyAddresses\n\
             proxyAddresses: smtp:a@legacy.example.com\n\
             -\n\n\
             dn:: Y249Wm/DqyxkYz1leGFtcGxlLGRjPWNvbQ==\n\
             changetype: modify\n\
             add: proxyAddresses\n\
             proxyAddresses:: IHNtdHA6YkBsZWdhY3kuZXhhbXBsZS5jb20=\n\
             -\n\n"
        );
    }
}
