//! The paged subtree search and the reads it needs, on a bound [`Connection`].
//!
//! The search is paged (RFC 2696, what AD's MaxPageSize of 1000 requires). Every page's result
//! code is checked and the search is complete only when the server ends it with success and an
//! empty cookie; anything else (size or time limit, busy, unavailable, a dropped connection)
//! is an error and nothing is written. Multi-valued attributes that AD returns in ranges
//! (`proxyAddresses;range=0-1499`) are completed with follow-up reads before the entry is
//! used. Referrals (continuation references to other naming contexts) are not chased.

use std::time::Duration;

use ldap3::controls::{Control, ControlType, PagedResults};
use ldap3::{Ldap, Scope, SearchEntry};
use tracing::debug;

use sha2::Digest as _;

use crate::rules::address::{quote, shown};

use super::{Bounds, Connection, Error, Reason, describe_result, failure, self_error};

/// An entry's attributes as the server sent them: name (possibly with options such as
/// `;range=0-1499`) to values. Consumers match names with [`is_attribute`].
pub type Attributes = std::collections::HashMap<String, Vec<String>>;

/// Ranged attributes still to be read: (name without options, next index).
type Pending = Vec<(String, u64)>;

/// Whether `name` as the server sent it (any case, any options) is the attribute `wanted`.
pub fn is_attribute(name: &str, wanted: &str) -> bool {
    name.split(';')
        .next()
        .is_some_and(|base| base.eq_ignore_ascii_case(wanted))
}

/// What one complete search found besides the entries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SearchStats {
    /// Entries passed on.
    pub entries: usize,
    /// Pages fetched.
    pub pages: usize,
    /// Continuation references seen and not followed.
    pub referrals: usize,
    /// Entries whose ranged attributes needed follow-up reads.
    pub ranged: usize,
}

impl Connection {
    /// Runs a complete paged subtree search and calls `each` for every entry (DN and
    /// attributes, handed over without copying). Ranged attributes are completed first.
    pub fn search(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[&str],
        page_size: i32,
        each: impl FnMut(String, Attributes),
    ) -> Result<SearchStats, Error> {
        let result = self.pages(base, filter, attrs, page_size, each);
        result.map_err(|e| self.explain(e))
    }

    /// An error as the admin should read it: when the wire cut the connection (a bound
    /// reached, a failed TLS session), or ldap3's driver panicked on what the server sent,
    /// that is the cause, not ldap3's closed connection.
    pub(super) fn explain(&mut self, error: Error) -> Error {
        let Error::Search {
            server,
            base,
            reason,
        } = error
        else {
            return error;
        };
        let reason = match self.tripwire.reason() {
            Some(cut) => cut.into(),
            None => self.driver.panic(&self.rt).map_or(reason, Reason::from),
        };
        Error::Search {
            server,
            base,
            reason,
        }
    }

    fn pages(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[&str],
        page_size: i32,
        mut each: impl FnMut(String, Attributes),
    ) -> Result<SearchStats, Error> {
        let Connection {
            rt,
            ldap,
            url,
            timeout,
            deadline,
            read_timeout,
            bounds,
            ..
        } = self;
        let (url, timeout, deadline, bounds) = (url.as_str(), *timeout, *deadline, *bounds);
        let late = late(url, base, *read_timeout);
        let mut stats = SearchStats::default();
        let mut cookie = Vec::new();
        // Cookies seen (a digest's first 16 bytes each): one that comes back would page for ever.
        let mut seen = std::collections::HashSet::new();
        let mut empty_pages = 0;
        loop {
            let control = PagedResults {
                size: page_size,
                cookie: std::mem::take(&mut cookie),
            };
            let entries_before = stats.entries + stats.referrals;
            let page = async {
                let mut partial: Vec<(String, Attributes, Pending)> = Vec::new();
                let mut stream = ldap
                    .with_controls(control)
                    .with_timeout(timeout)
                    .streaming_search(base, Scope::Subtree, filter, attrs)
                    .await
                    .map_err(|e| self_error(url, base, &e))?;
                while let Some(raw) = stream.next().await.map_err(|e| self_error(url, base, &e))? {
                    if raw.is_intermediate() {
                        continue;
                    }
                    if raw.is_ref() {
                        stats.referrals += 1;
                    } else {
                        stats.entries += 1;
                    }
                    // Referrals count: a server could page them for ever.
                    if (stats.entries + stats.referrals) as u64 > bounds.entries {
                        return Err(failure(
                            url,
                            base,
                            format!(
                                "the search returned more than {} entries or referrals (max_entries); if the \
                                 directory really is that large, raise max_entries in this [[source]]",
                                bounds.entries
                            ),
                        ));
                    }
                    if raw.is_ref() {
                        continue;
                    }
                    let entry = SearchEntry::construct(raw);
                    let attrs = with_binary(entry.attrs, entry.bin_attrs);
                    check_values(&bounds, &entry.dn, &attrs).map_err(|e| failure(url, base, e))?;
                    let pending = ranged(&attrs);
                    if pending.is_empty() {
                        each(entry.dn, attrs);
                    } else {
                        partial.push((entry.dn, attrs, pending));
                    }
                }
                let result = stream.finish().await;
                stats.pages += 1;
                if result.rc == 10 {
                    return Err(failure(
                        url,
                        base,
                        super::diagnose::referral(base, &result.refs, &result.text),
                    ));
                }
                if result.rc != 0 {
                    return Err(failure(
                        url,
                        base,
                        format!(
                            "the server ended page {} with {}",
                            stats.pages,
                            describe_result(result.rc, &result.text)
                        ),
                    ));
                }
                for (dn, mut attrs, pending) in partial {
                    stats.ranged += 1;
                    for (name, start) in pending {
                        let have = attrs
                            .iter()
                            .filter(|(n, _)| is_attribute(n, &name))
                            .map(|(_, v)| v.len() as u64)
                            .sum();
                        let rest =
                            fetch_ranges(ldap, url, timeout, &bounds, &dn, &name, start, have)
                                .await?;
                        attrs.entry(name).or_default().extend(rest);
                    }
                    each(dn, attrs);
                }
                Ok(result)
            };
            let result = rt.block_on(async {
                ldap3::tokio::time::timeout_at(deadline, page)
                    .await
                    .unwrap_or_else(|_| Err(late()))
            })?;
            let paging = result.ctrls.iter().find_map(|c| match c {
                Control(Some(ControlType::PagedResults), raw) => Some(raw.val.as_deref()),
                _ => None,
            });
            let incomplete = |why: String| failure(url, base, why);
            match paging {
                // No paging control in the first answer: the server returned the whole result
                // in one go (success was checked above).
                None if stats.pages == 1 => break,
                // On a later page the server forgot where it was: the pages so far are not
                // the whole directory.
                None => {
                    return Err(incomplete(format!(
                        "page {} came back without the paged-results control, so the search did \
                         not end; the result is incomplete",
                        stats.pages
                    )));
                }
                Some(value) => match super::super::ber::paged_cookie(value.unwrap_or_default()) {
                    None => {
                        return Err(incomplete(format!(
                            "the paged-results control of page {} is malformed",
                            stats.pages
                        )));
                    }
                    Some([]) => break,
                    Some(next) => {
                        let digest = sha2::Sha256::digest(next);
                        if !seen.insert(<[u8; 16]>::try_from(&digest[..16]).unwrap_or_default()) {
                            return Err(incomplete(format!(
                                "page {} returned a paging cookie the server had returned \
                                 before; following it would never end",
                                stats.pages
                            )));
                        }
                        // A real server fills its pages; one that keeps paging without sending
                        // anything is not getting anywhere.
                        if stats.entries + stats.referrals == entries_before {
                            empty_pages += 1;
                            if empty_pages > MAX_EMPTY_PAGES {
                                return Err(incomplete(format!(
                                    "the server sent {MAX_EMPTY_PAGES} pages without entries, \
                                     each asking for one more; the search is not progressing"
                                )));
                            }
                        }
                        cookie = next.to_vec();
                    }
                },
            }
        }
        debug!(
            server = %url,
            pages = stats.pages,
            referrals = stats.referrals,
            "search complete"
        );
        Ok(stats)
    }

    /// One entry by DN (scope base); an entry that is not there is an empty entry.
    pub(super) fn read_base(&mut self, dn: &str, attrs: &[&str]) -> Result<SearchEntry, Error> {
        let Connection {
            rt,
            ldap,
            url,
            timeout,
            deadline,
            read_timeout,
            ..
        } = self;
        let result = {
            let late = late(url, dn, *read_timeout);
            let read = read_base(ldap, url, *timeout, dn, attrs);
            rt.block_on(async {
                ldap3::tokio::time::timeout_at(*deadline, read)
                    .await
                    .unwrap_or_else(|_| Err(late()))
            })
        };
        result.map_err(|e| self.explain(e))
    }
}

/// Pages in a row that may bring no entry before the search counts as stuck.
const MAX_EMPTY_PAGES: usize = 100;

/// The error for a read that outlived `read_timeout`.
fn late(url: &str, base: &str, read_timeout: Duration) -> impl Fn() -> Error {
    move || {
        failure(
            url,
            base,
            format!(
                "the read took longer than read_timeout = {}; if the directory is that slow, \
                 raise read_timeout in this [[source]]",
                humantime::format_duration(read_timeout)
            ),
        )
    }
}

/// An entry whose values exceed a bound: named with its DN and the attribute, so that the
/// admin can look at the entry, and with the key to raise if the directory is right.
#[derive(Debug, thiserror::Error)]
pub(super) enum ValueBound {
    /// More values of one attribute than `max_values`.
    #[error(
        "{} has more than {max} values of {} (max_values)",
        quote(dn),
        shown(name)
    )]
    Values {
        /// The entry.
        dn: String,
        /// The attribute, as the server named it.
        name: String,
        /// `max_values`.
        max: u64,
    },
    /// A value longer than `max_value_bytes`.
    #[error(
        "{} has a value of {} of {len} bytes, more than max_value_bytes = {max}: {quoted}",
        quote(dn),
        shown(name)
    )]
    ValueBytes {
        /// The entry.
        dn: String,
        /// The attribute, as the server named it.
        name: String,
        /// The value's length.
        len: usize,
        /// `max_value_bytes`.
        max: u64,
        /// The value, quoted and cut short (it is longer than a bound).
        quoted: String,
    },
}

/// Checks an entry's values against the bounds (values per attribute, bytes per value).
fn check_values(bounds: &Bounds, dn: &str, attrs: &Attributes) -> Result<(), ValueBound> {
    for (name, values) in attrs {
        if values.len() as u64 > bounds.values {
            return Err(ValueBound::Values {
                dn: dn.to_owned(),
                name: name.clone(),
                max: bounds.values,
            });
        }
        if let Some(value) = values.iter().find(|v| v.len() as u64 > bounds.value_bytes) {
            return Err(ValueBound::ValueBytes {
                dn: dn.to_owned(),
                name: name.clone(),
                len: value.len(),
                max: bounds.value_bytes,
                quoted: quote(value),
            });
        }
    }
    Ok(())
}

/// One entry by DN (scope base); an entry that is not there is an empty entry.
async fn read_base(
    ldap: &mut Ldap,
    url: &str,
    timeout: Duration,
    dn: &str,
    attrs: &[&str],
) -> Result<SearchEntry, Error> {
    let (entries, _) = ldap
        .with_timeout(timeout)
        .search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec())
        .await
        .map_err(|e| self_error(url, dn, &e))?
        .success()
        .map_err(|e| self_error(url, dn, &e))?;
    Ok(entries
        .into_iter()
        .next()
        .map(SearchEntry::construct)
        .unwrap_or(SearchEntry {
            dn: dn.to_owned(),
            attrs: Default::default(),
            bin_attrs: Default::default(),
        }))
}

/// Reads the rest of a ranged attribute, `name;range=START-*`, until the server says `*`.
/// Each answer must be the range asked for and bring values, and all of them together at
/// most `max_values` (counting the `have` values the entry came with): a server whose ranges
/// never end runs into that bound instead of being followed for ever.
#[allow(clippy::too_many_arguments)]
async fn fetch_ranges(
    ldap: &mut Ldap,
    url: &str,
    timeout: Duration,
    bounds: &Bounds,
    dn: &str,
    name: &str,
    mut start: u64,
    have: u64,
) -> Result<Vec<String>, Error> {
    let fail = |why: String| failure(url, dn, why);
    let mut values = Vec::new();
    loop {
        let request = format!("{name};range={start}-*");
        let entry = read_base(ldap, url, timeout, dn, &[request.as_str()]).await?;
        let attrs = with_binary(entry.attrs, entry.bin_attrs);
        check_values(bounds, dn, &attrs).map_err(|bound| failure(url, dn, bound))?;
        let mut next = None;
        let mut found = 0;
        for (description, more) in attrs {
            if !is_attribute(&description, name) {
                continue;
            }
            found += more.len();
            let range = range_of(&description).and_then(|r| r.split_once('-'));
            match range {
                None => next = None,
                Some((low, high)) => {
                    if low.parse::<u64>().ok() != Some(start) {
                        return Err(fail(format!(
                            "asked for {request}, the server answered {description}; \
                             the ranges do not follow each other"
                        )));
                    }
                    next = match high {
                        "*" => None,
                        high => Some(
                            high.parse::<u64>()
                                .ok()
                                .filter(|&h| h >= start)
                                .ok_or_else(|| fail(format!("invalid range in {description}")))?
                                .saturating_add(1),
                        ),
                    };
                }
            }
            values.extend(more);
        }
        if found == 0 {
            return Err(fail(format!(
                "reading {request} returned no values; the entry changed during the search, try again"
            )));
        }
        if have + values.len() as u64 > bounds.values {
            return Err(failure(
                url,
                dn,
                ValueBound::Values {
                    dn: dn.to_owned(),
                    name: name.to_owned(),
                    max: bounds.values,
                },
            ));
        }
        match next {
            Some(n) => start = n,
            None => return Ok(values),
        }
    }
}

/// The `range=LOW-HIGH` option of an attribute description, if any (any case).
fn range_of(description: &str) -> Option<&str> {
    description.split(';').skip(1).find_map(|o| {
        o.get(..6)
            .filter(|p| p.eq_ignore_ascii_case("range="))
            .map(|_| &o[6..])
    })
}

/// Values that are not UTF-8 (which recipient attributes never are) joined to the others,
/// visibly broken, so that the address validator reports them.
fn with_binary(
    mut attrs: Attributes,
    binary: std::collections::HashMap<String, Vec<Vec<u8>>>,
) -> Attributes {
    for (name, values) in binary {
        attrs.entry(name).or_default().extend(
            values
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned()),
        );
    }
    attrs
}

/// The ranged attributes of an entry whose last range does not end in `*`: (name without
/// options, the next index to ask for).
fn ranged(attrs: &Attributes) -> Pending {
    attrs
        .keys()
        .filter_map(|description| {
            let (_, high) = range_of(description)?.split_once('-')?;
            if high == "*" {
                return None;
            }
            let next = high
                .parse::<u64>()
                .map_or(u64::MAX, |h| h.saturating_add(1));
            let name = description.split(';').next().unwrap_or_default().to_owned();
            Some((name, next))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranged_attributes_are_recognized() {
        let attrs: Attributes = [
            (
                "proxyAddresses;Range=0-1".to_string(),
                vec!["smtp:a@x".to_string(), "smtp:b@x".to_string()],
            ),
            ("mail".to_string(), vec!["m@x".to_string()]),
        ]
        .into();
        assert_eq!(ranged(&attrs), [("proxyAddresses".to_string(), 2)]);
        assert!(is_attribute("PROXYADDRESSES;range=0-1", "proxyAddresses"));
        assert!(!is_attribute("proxyAddressesX", "proxyAddresses"));
        let done: Attributes = [(
            "proxyAddresses;range=2-*".to_string(),
            vec!["smtp:c@x".to_string()],
        )]
        .into();
        assert!(ranged(&done).is_empty());
    }
}
