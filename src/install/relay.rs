//! The relay domains table (`[install].relay_domains_map`): the accepted domains a payload
//! carries after the map ([`crate::map::domains`]), checked and installed as a Postfix table
//! of `domain OK` lines that the admin's `relay_domains` names, so that a domain newly
//! accepted in Exchange is relayed without anyone editing `main.cf`.
//!
//! Security: the domains come from the spool account. Each must be a domain name, and each
//! must match one of the gateway's own `[install].relay_domains_allowed` patterns; a payload
//! with any other is refused whole, so that whoever can write the spool cannot make the
//! gateway relay for someone else's domain. A wildcard (`*.example.com`) is allowed only by
//! a pattern that covers every name it does. The table is rendered here from the checked
//! names, never copied from the payload.

use std::collections::BTreeSet;

use crate::rules::address::normalize_domain;

/// The largest live table read back to measure a change against (the most a payload may
/// carry, rendered with ` OK`, with room to spare).
const MAX_LIVE: u64 = 4 * crate::map::payload::MAX_DOMAINS;

/// A set of domain patterns: exact names and `*.suffix` wildcards (every subdomain of
/// `suffix`, not `suffix` itself), lower case, as Exchange and the config write them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Domains {
    patterns: BTreeSet<String>,
}

/// Why a pattern or a payload's domains cannot be taken; the text names the domain and the
/// fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(String);

/// `pattern` checked: an exact domain name or `*.` and one; the normal (lower case) form.
fn checked(pattern: &str) -> Result<String, Refusal> {
    let (wild, name) = match pattern.strip_prefix("*.") {
        Some(name) => ("*.", name),
        None => ("", pattern),
    };
    match normalize_domain(name) {
        Ok(normal) if !normal.starts_with('[') && normal == name.to_ascii_lowercase() => {
            Ok(format!("{wild}{normal}"))
        }
        _ => Err(Refusal(format!(
            "{:?} is not a domain name (write `example.com`, or `*.example.com` for its \
             subdomains)",
            pattern.chars().take(80).collect::<String>()
        ))),
    }
}

/// Whether `pattern` covers `name` (a domain, or a wildcard: then every name it covers).
fn covers(pattern: &str, name: &str) -> bool {
    match (pattern.strip_prefix('*'), name.strip_prefix('*')) {
        // `*.a` covers `x.a`, `*.x.a` and itself, not `a`.
        (Some(suffix), _) => name.len() > suffix.len() && name.ends_with(suffix),
        (None, Some(_)) => false,
        (None, None) => pattern == name,
    }
}

impl Domains {
    /// The patterns of a config list (`[install].relay_domains_allowed`), each checked.
    pub fn from_config(patterns: &[String]) -> Result<Self, Refusal> {
        let patterns = patterns
            .iter()
            .map(|p| checked(p))
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// The domains a payload carried, one a line: every line checked, and every domain
    /// within `allowed`; the first that is not refuses them all.
    pub fn from_payload(bytes: &[u8], allowed: &Self) -> Result<Self, Refusal> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Refusal("the relay domains are not text (UTF-8)".into()))?;
        let mut patterns = BTreeSet::new();
        for (number, line) in text.lines().enumerate() {
            let pattern = checked(line)
                .map_err(|e| Refusal(format!("relay domain line {}: {e}", number + 1)))?;
            if !allowed.covers(&pattern) {
                return Err(Refusal(format!(
                    "relay domain {pattern:?} is not within [install].relay_domains_allowed; \
                     if this gateway is to relay it, add it there, else remove it from the \
                     accepted domains"
                )));
            }
            patterns.insert(pattern);
        }
        Ok(Self { patterns })
    }

    /// The keys of the live table's text file (`domain OK` lines rcptsync wrote), none when
    /// there is no table yet.
    pub fn live_keys(path: &std::path::Path) -> std::io::Result<BTreeSet<String>> {
        let text = crate::map::nofollow::read_small(path, MAX_LIVE)?.unwrap_or_default();
        Ok(text
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .map(str::to_owned)
            .collect())
    }

    /// The patterns of a table's keys (`.x` is `*.x`). A key rcptsync would not have written
    /// is skipped: the live table is only measured against, never trusted.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a String>) -> Self {
        let patterns = keys
            .into_iter()
            .filter_map(|key| match key.strip_prefix('.') {
                Some(suffix) => checked(&format!("*.{suffix}")).ok(),
                None => checked(key).ok(),
            })
            .collect();
        Self { patterns }
    }

    /// What Postfix relays with a table of these patterns ([`Domains::render`]): with
    /// `parent` (relay_domains in parent_domain_matches_subdomains, Postfix's default) a line
    /// `example.com` matches every subdomain too, and the line a wildcard gets is its parent.
    pub fn as_relayed(&self, parent: bool) -> Self {
        if !parent {
            return self.clone();
        }
        let patterns = self
            .patterns
            .iter()
            .flat_map(|p| {
                let name = p.strip_prefix("*.").unwrap_or(p);
                [name.to_owned(), format!("*.{name}")]
            })
            .collect();
        Self { patterns }
    }

    /// Whether one of the patterns covers `name` (a domain, or a wildcard).
    pub fn covers(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| covers(p, name))
    }

    /// The patterns, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(String::as_str)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The table's text: `example.com OK` for a name. A wildcard is `.example.com OK`, how a
    /// table matches only subdomains, unless `parent` says relay_domains is in
    /// parent_domain_matches_subdomains (Postfix's default): Postfix then looks up no
    /// `.example.com`, and the wildcard is `example.com OK`, which relays the parent too
    /// (its mail is still checked against the recipient map, which lists no address there
    /// unless it is accepted). Sorted by line.
    pub fn render(&self, parent: bool) -> String {
        let lines: BTreeSet<String> = self
            .patterns
            .iter()
            .map(|p| match p.strip_prefix("*.") {
                Some(name) if parent => format!("{name} OK\n"),
                Some(name) => format!(".{name} OK\n"),
                None => format!("{p} OK\n"),
            })
            .collect();
        lines.into_iter().collect()
    }

    /// How many of the map's addresses (`per_domain`: keys per domain) lose their relay
    /// when `self` (the live table) is replaced by `new`: those in a domain `self` covers and
    /// `new` does not.
    pub fn lost(
        &self,
        new: &Self,
        per_domain: &std::collections::BTreeMap<String, usize>,
    ) -> usize {
        per_domain
            .iter()
            .filter(|(domain, _)| self.covers(domain) && !new.covers(domain))
            .map(|(_, count)| count)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Domains {
        Domains::from_config(&[
            "example.com".into(),
            "*.example.com".into(),
            "Example.ORG".into(),
        ])
        .unwrap()
    }

    #[test]
    fn a_payload_may_carry_only_what_the_gateway_allows() {
        let ok = Domains::from_payload(
            b"example.com\nexample.org\nsub.example.com\n*.a.example.com\n",
            &allowed(),
        )
        .unwrap();
        assert_eq!(
            ok.render(false),
            ".a.example.com OK\nexample.com OK\nexample.org OK\nsub.example.com OK\n"
        );
        for refused in [
            "evil.net",
            "*.example.com.evil.net",
            "example.com.evil.net",
            "*.example.org",
            "sub.example.org",
            "notexample.com",
        ] {
            let e =
                Domains::from_payload(format!("example.com\n{refused}\n").as_bytes(), &allowed())
                    .unwrap_err();
            assert!(
                e.0.contains("not within [install].relay_domains_allowed"),
                "{refused}: {e}"
            );
            assert!(e.0.contains(refused), "{e}");
        }
        // Not domain names at all: refused with the line.
        for bad in [
            "exa mple.com",
            "example.com OK",
            "[10.0.0.1]",
            "*",
            "*.",
            "a@b.com",
            "#x",
            "ex\u{1b}[2Jample.com",
        ] {
            let e = Domains::from_payload(format!("example.com\n{bad}\n").as_bytes(), &allowed())
                .unwrap_err();
            assert!(e.0.starts_with("relay domain line 2: "), "{bad:?}: {e}");
            assert!(!e.0.contains('\u{1b}'), "{e}");
        }
        assert!(Domains::from_payload(b"\xff\n", &allowed()).is_err());
        assert!(Domains::from_payload(b"", &allowed()).unwrap().is_empty());
    }

    #[test]
    fn wildcards_cover_subdomains_only() {
        let d = Domains::from_config(&["*.example.com".into()]).unwrap();
        assert!(
            d.covers("a.example.com") && d.covers("b.a.example.com") && d.covers("*.a.example.com")
        );
        assert!(d.covers("*.example.com"));
        assert!(!d.covers("example.com") && !d.covers("xexample.com") && !d.covers("*.com"));
    }

    #[test]
    fn the_live_table_is_read_back_and_losses_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay_domains");
        assert!(Domains::live_keys(&path).unwrap().is_empty());
        let old = Domains::from_payload(b"example.com\nexample.org\n*.example.com\n", &allowed())
            .unwrap();
        crate::map::atomic::write(&path, old.render(false).as_bytes(), 0o644).unwrap();
        assert_eq!(Domains::from_keys(&Domains::live_keys(&path).unwrap()), old);
        let new = Domains::from_payload(b"example.com\n", &allowed()).unwrap();
        let per_domain = [
            ("example.com", 5),
            ("example.org", 3),
            ("a.example.com", 2),
            ("other.net", 7),
        ]
        .into_iter()
        .map(|(d, n)| (d.to_owned(), n))
        .collect();
        assert_eq!(old.lost(&new, &per_domain), 5);
        assert_eq!(new.lost(&old, &per_domain), 0);
    }

    #[test]
    fn with_postfixs_parent_matching_a_wildcard_is_its_parent_and_names_cover_subdomains() {
        let d = Domains::from_payload(
            b"example.com\n*.example.net\n",
            &Domains::from_config(&["example.com".into(), "*.example.net".into()]).unwrap(),
        )
        .unwrap();
        assert_eq!(d.render(true), "example.com OK\nexample.net OK\n");
        assert_eq!(d.render(false), ".example.net OK\nexample.com OK\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay_domains");
        crate::map::atomic::write(&path, d.render(true).as_bytes(), 0o644).unwrap();
        let live = Domains::from_keys(&Domains::live_keys(&path).unwrap()).as_relayed(true);
        assert_eq!(live, d.as_relayed(true));
        assert!(
            live.covers("sub.example.com")
                && live.covers("example.net")
                && live.covers("a.example.net")
        );
        let per_domain = [("sub.example.com".to_owned(), 4)].into_iter().collect();
        let without = Domains::from_payload(
            b"*.example.net\n",
            &Domains::from_config(&["example.com".into(), "*.example.net".into()]).unwrap(),
        )
        .unwrap();
        assert_eq!(live.lost(&without.as_relayed(true), &per_domain), 4);
    }
}
