//! Which domains the gateway exports: accepted domains in, excluded domains out.
//!
//! Accepted domains are exact names compared case-insensitively, plus Exchange-style
//! wildcards (`*.example.com` accepts every subdomain, not `example.com` itself). Excluded
//! domains are regular expressions anchored to the whole domain, so `example\.com` never
//! matches `example.com.evil.net` or `notexample.com`.

use regex::{Regex, RegexBuilder};

/// The accepted domains; an address outside them is not the gateway's to relay (a contact's
/// external address, for example) and is dropped without complaint.
#[derive(Debug, Clone, Default)]
pub struct AcceptedDomains {
    exact: std::collections::BTreeSet<String>,
    /// Suffixes including the leading dot, from `*.x` entries.
    wildcard: Vec<String>,
}

impl AcceptedDomains {
    /// Builds the set from names as written in the config (or read from Exchange).
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = Self::default();
        for name in names {
            let name = name.as_ref().to_ascii_lowercase();
            match name.strip_prefix('*') {
                Some(suffix) => set.wildcard.push(suffix.to_owned()),
                None => {
                    set.exact.insert(name);
                }
            }
        }
        set
    }

    /// The exact (non-wildcard) domain names, for probing one address in each.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.exact.iter().map(String::as_str)
    }

    /// Every accepted domain as the config writes it (`*.example.com` for a wildcard), for
    /// the relay domains the gateways install ([`crate::map::domains`]).
    pub fn patterns(&self) -> impl Iterator<Item = String> + '_ {
        let wildcards = self.wildcard.iter().map(|suffix| format!("*{suffix}"));
        self.exact.iter().cloned().chain(wildcards)
    }

    /// `domain` must already be lower case (as [`super::address::normalize`] returns it).
    pub fn contains(&self, domain: &str) -> bool {
        self.exact.contains(domain)
            || self
                .wildcard
                .iter()
                .any(|suffix| domain.len() > suffix.len() && domain.ends_with(suffix.as_str()))
    }
}

/// `pattern` in its normal form when it is one a relay domains list may hold
/// ([`crate::map::domains`]): a domain name
/// as an address's domain part may be (no address literal), or `*.` and one; None otherwise.
pub fn relay_pattern(pattern: &str) -> Option<String> {
    let (wild, name) = match pattern.strip_prefix("*.") {
        Some(name) => ("*.", name),
        None => ("", pattern),
    };
    match super::address::normalize_domain(name) {
        Ok(normal) if !normal.starts_with('[') && normal == name.to_ascii_lowercase() => {
            Some(format!("{wild}{normal}"))
        }
        _ => None,
    }
}

/// The excluded-domain patterns, compiled once as one anchored, case-insensitive regex.
#[derive(Debug, Clone)]
pub struct ExcludedDomains {
    regex: Option<Regex>,
}

impl ExcludedDomains {
    /// Compiles the patterns; the error names the pattern so the config can be fixed.
    pub fn new(patterns: &[String]) -> Result<Self, (String, regex::Error)> {
        for pattern in patterns {
            // Compile each alone first so that an error points at the guilty pattern.
            Regex::new(pattern).map_err(|e| (pattern.clone(), e))?;
        }
        let regex = if patterns.is_empty() {
            None
        } else {
            let joined = patterns
                .iter()
                .map(|p| format!("(?:{p})"))
                .collect::<Vec<_>>()
                .join("|");
            let anchored = format!(r"\A(?:{joined})\z");
            Some(
                RegexBuilder::new(&anchored)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| (joined, e))?,
            )
        };
        Ok(Self { regex })
    }

    /// True when the whole of `domain` matches one of the patterns.
    pub fn matches(&self, domain: &str) -> bool {
        self.regex.as_ref().is_some_and(|r| r.is_match(domain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_exact_and_wildcard() {
        let accepted = AcceptedDomains::new(["Example.com", "*.Corp.Example.net"]);
        assert!(accepted.contains("example.com"));
        assert!(!accepted.contains("sub.example.com"));
        assert!(!accepted.contains("example.com.evil.net"));
        assert!(accepted.contains("eu.corp.example.net"));
        assert!(accepted.contains("a.b.corp.example.net"));
        assert!(!accepted.contains("corp.example.net"));
        assert!(!accepted.contains("xcorp.example.net"));
    }

    #[test]
    fn excluded_is_anchored_and_case_insensitive() {
        let excluded =
            ExcludedDomains::new(&[r"legacy\.example\.com".into(), r"old\..*".into()]).unwrap();
        assert!(excluded.matches("legacy.example.com"));
        assert!(excluded.matches("LEGACY.example.COM"));
        assert!(!excluded.matches("legacy.example.com.evil.net"));
        assert!(!excluded.matches("notlegacy.example.com"));
        assert!(excluded.matches("old.example.net"));
        // Alternation inside one pattern stays anchored as a whole.
        let alt = ExcludedDomains::new(&["a\\.com|b\\.com".into()]).unwrap();
        assert!(alt.matches("b.com"));
        assert!(!alt.matches("b.com.evil"));
        assert!(!ExcludedDomains::new(&[]).unwrap().matches("example.com"));
    }

    #[test]
    fn bad_pattern_is_named() {
        let (pattern, _) = ExcludedDomains::new(&["ok\\.com".into(), "bad(".into()]).unwrap_err();
        assert_eq!(pattern, "bad(");
    }
}
