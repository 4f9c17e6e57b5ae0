//! Reading Postfix settings as Postfix does: list values split on commas and whitespace,
//! `relay_domains` expanded through its `/files` and tables, and which domains of a map the
//! gateway relays. apply reports a map with addresses the gateway would not relay; doctor
//! turns the same answer into findings.

use std::collections::{BTreeMap, BTreeSet};

use super::command::{Error, Postfix};

/// Splits a Postfix list value on commas and whitespace, as Postfix splits lists.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split([',', ' ', '\t', '\r', '\n'])
        .filter(|item| !item.is_empty())
}

/// The gateway's relay domains: names (`.example.com` for subdomains) and lookup tables.
#[derive(Debug, Clone, Default)]
pub struct RelayDomains {
    names: BTreeSet<String>,
    tables: Vec<String>,
    parent_matches: bool,
}

impl RelayDomains {
    /// What `relay_domains` says, expanded as far as postconf and the named files go.
    pub fn read(postfix: &Postfix) -> Result<Self, Error> {
        let value = postfix.param("relay_domains")?;
        let parent = postfix.param("parent_domain_matches_subdomains")?;
        let mut domains = Self {
            parent_matches: split_list(&parent).any(|p| p == "relay_domains"),
            ..Self::default()
        };
        for item in split_list(&value) {
            if item.starts_with('/') {
                // A file of domain names, as Postfix reads it: words, # comments.
                let text = crate::fs::read_to_string(item).map_err(|e| Error::Failed {
                    command: format!("read relay_domains file {item}"),
                    reason: e.to_string(),
                })?;
                for line in text.lines() {
                    let line = line.split('#').next().unwrap_or_default();
                    for word in split_list(line) {
                        domains.names.insert(word.to_ascii_lowercase());
                    }
                }
            } else if item.contains(':') {
                domains.tables.push(item.to_owned());
            } else {
                domains.names.insert(item.to_ascii_lowercase());
            }
        }
        Ok(domains)
    }

    /// The domain names relay_domains lists by name (directly or in a `/file`), for checks
    /// that need each relayed domain; `.parent` patterns and lookup tables cannot be listed.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .filter(|name| !name.starts_with('.'))
            .map(String::as_str)
    }

    /// Whether Postfix relays mail for `domain` (lower case).
    pub fn covers(&self, postfix: &Postfix, domain: &str) -> Result<bool, Error> {
        // The domain itself, then each parent as `.parent` (always) and `parent` (when
        // parent_domain_matches_subdomains includes relay_domains).
        let mut candidates = vec![domain.to_owned()];
        let mut rest = domain;
        while let Some((_, parent)) = rest.split_once('.') {
            candidates.push(format!(".{parent}"));
            if self.parent_matches {
                candidates.push(parent.to_owned());
            }
            rest = parent;
        }
        for candidate in &candidates {
            if self.names.contains(candidate) {
                return Ok(true);
            }
            for table in &self.tables {
                if postfix.query(table, candidate)?.is_some() {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// How many keys (map keys, `local@domain`) each domain has.
pub fn count_domains<'k>(keys: impl IntoIterator<Item = &'k str>) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for key in keys {
        let domain = key.rsplit_once('@').map_or("", |(_, d)| d);
        match counts.get_mut(domain) {
            Some(count) => *count += 1,
            None => {
                counts.insert(domain.to_owned(), 1);
            }
        }
    }
    counts
}

/// The domains of `counts` ([`count_domains`]) for which `relayed` says no, each with its
/// number of keys, in domain order: addresses the gateway would refuse with "Relay access
/// denied" although the map lists them.
pub fn unrelayed<E>(
    counts: &BTreeMap<String, usize>,
    mut relayed: impl FnMut(&str) -> Result<bool, E>,
) -> Result<Vec<(String, usize)>, E> {
    let mut missing = Vec::new();
    for (domain, count) in counts {
        // A key without a domain is not an address (only a hand-made map has one).
        if !domain.is_empty() && !relayed(domain)? {
            missing.push((domain.clone(), *count));
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_like_postfix() {
        let items: Vec<&str> = split_list(" a.example, b.example\tc.example\r\n,,").collect();
        assert_eq!(items, ["a.example", "b.example", "c.example"]);
    }

    #[test]
    fn unrelayed_domains_are_counted() {
        let keys = [
            "a@x.example",
            "b@x.example",
            "c@y.example",
            "d@z.example",
            "nodomain",
        ];
        let counts = count_domains(keys);
        let missing = unrelayed(&counts, |d| Ok::<_, ()>(d == "y.example")).unwrap();
        assert_eq!(
            missing,
            [("x.example".to_owned(), 2), ("z.example".to_owned(), 1)]
        );
    }
}
