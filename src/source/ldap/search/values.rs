//! An entry's values as the search takes them: bounded (`max_values`, `max_value_bytes`,
//! checked before an entry is used), and completed where AD returns a multi-valued attribute
//! in ranges (`proxyAddresses;range=0-1499`), with follow-up reads that must follow each
//! other and end.

use std::time::Duration;

use ldap3::asn1::StructureTag;
use ldap3::{Ldap, Scope};

use crate::rules::address::{quote, shown};

use super::super::{Bounds, Error, failure, self_error};
use super::entry::{Attributes, MALFORMED, attributes};

/// Ranged attributes still to be read: (name without options, next index).
pub(super) type Pending = Vec<(String, u64)>;

/// Whether `name` as the server sent it (any case, any options) is the attribute `wanted`.
pub fn is_attribute(name: &str, wanted: &str) -> bool {
    name.split(';')
        .next()
        .is_some_and(|base| base.eq_ignore_ascii_case(wanted))
}

/// An entry whose values exceed a bound: named with its DN and the attribute, so that the
/// admin can look at the entry, and with the key to raise if the directory is right.
#[derive(Debug, thiserror::Error)]
pub(in crate::source::ldap) enum ValueBound {
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
pub(super) fn check_values(
    bounds: &Bounds,
    dn: &str,
    attrs: &Attributes,
) -> Result<(), ValueBound> {
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

/// One entry by DN (scope base), taken apart by `decode`; None when it is not there, an
/// error when it is malformed.
pub(super) async fn read_base<T>(
    ldap: &mut Ldap,
    url: &str,
    timeout: Duration,
    dn: &str,
    attrs: &[&str],
    decode: fn(StructureTag) -> Option<T>,
) -> Result<Option<T>, Error> {
    let (entries, _) = ldap
        .with_timeout(timeout)
        .search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec())
        .await
        .map_err(|e| self_error(url, dn, &e))?
        .success()
        .map_err(|e| self_error(url, dn, &e))?;
    entries
        .into_iter()
        .next()
        .map(|raw| decode(raw.0).ok_or_else(|| failure(url, dn, MALFORMED.to_owned())))
        .transpose()
}

/// Reads the rest of a ranged attribute, `name;range=START-*`, until the server says `*`.
/// Each answer must be the range asked for and bring values, and all of them together at
/// most `max_values` (counting the `have` values the entry came with): a server whose ranges
/// never end runs into that bound instead of being followed for ever.
#[allow(clippy::too_many_arguments)]
pub(super) async fn fetch_ranges(
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
        let (_, attrs) = read_base(ldap, url, timeout, dn, &[request.as_str()], attributes)
            .await?
            .unwrap_or_default();
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

/// The ranged attributes of an entry whose last range does not end in `*`: (name without
/// options, the next index to ask for).
pub(super) fn ranged(attrs: &Attributes) -> Pending {
    attrs
        .iter()
        .filter_map(|(description, _)| {
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
