//! The relay domains table (`[install].relay_domains_map`): the accepted domains a payload
//! carries after the map ([`crate::map::domains`]), checked and installed as a Postfix table
//! of `domain OK` lines that the admin's `relay_domains` names, so that a domain newly
//! accepted in Exchange is relayed without anyone editing `main.cf`.
//!
//! Security: the domains come from the spool account. Each must be a domain name, and each
//! must match one of the gateway's own `[install].relay_domains_allowed` patterns; a payload
//! with any other is refused whole, so that whoever can write the spool cannot make the
//! gateway relay for someone else's domain. A wildcard (`*.example.com`) is allowed only by
//! a pattern that covers every name it does. Where Postfix matches a table's names with their
//! subdomains (relay_domains in parent_domain_matches_subdomains, its default), a name relays
//! its subdomains too, as `relay_domains = example.com` in main.cf would; a wildcard then needs
//! its parent allowed. The table is rendered here from the checked names, never copied from
//! the payload.

use std::collections::BTreeSet;

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
    crate::rules::domains::relay_pattern(pattern).ok_or_else(|| {
        Refusal(format!(
            "{:?} is not a domain name (write `example.com`, or `*.example.com` for its \
             subdomains)",
            pattern.chars().take(80).collect::<String>()
        ))
    })
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

    /// With relay_domains in parent_domain_matches_subdomains, a wildcard's line is its
    /// parent's name ([`Domains::render`]), which relays the parent too: each wildcard's
    /// parent must then be allowed as well, or the payload is refused.
    pub fn parent_allowed(&self, allowed: &Self) -> Result<(), Refusal> {
        for pattern in &self.patterns {
            if let Some(parent) = pattern.strip_prefix("*.")
                && !allowed.covers(parent)
            {
                return Err(Refusal(format!(
                    "relay domain {pattern:?} would relay {parent} itself too, which \
                     [install].relay_domains_allowed does not list: parent_domain_matches_subdomains \
                     lists relay_domains, so Postfix matches no `.{parent}` line; take \
                     relay_domains out of parent_domain_matches_subdomains (see rcptsync doctor), \
                     or allow {parent}"
                )));
            }
        }
        Ok(())
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

    /// Whether one of the patterns covers `name` (a domain, or a wildcard: then every name
    /// it covers): the name itself, or `*.` and one of its parents (`*.a` covers `x.a`,
    /// `*.x.a` and itself, not `a`). A lookup per label, however many patterns there are: it
    /// runs for every key of a map.
    pub fn covers(&self, name: &str) -> bool {
        if self.patterns.contains(name) {
            return true;
        }
        let mut rest = name.strip_prefix("*.").unwrap_or(name);
        while let Some((_, parent)) = rest.split_once('.') {
            if self.patterns.contains(&format!("*.{parent}")) {
                return true;
            }
            rest = parent;
        }
        false
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
        let losing = |d: &str| old.covers(d) && !new.covers(d);
        assert!(losing("example.org") && losing("a.example.com"));
        assert!(!losing("example.com") && !losing("other.net"));
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
        let without = Domains::from_payload(
            b"*.example.net\n",
            &Domains::from_config(&["example.com".into(), "*.example.net".into()]).unwrap(),
        )
        .unwrap();
        assert!(!without.as_relayed(true).covers("sub.example.com"));
        // The wildcard's line is its parent's, which the allowed patterns must cover too.
        let allowed =
            Domains::from_config(&["example.com".into(), "*.example.net".into()]).unwrap();
        let e = d.parent_allowed(&allowed).unwrap_err().to_string();
        assert!(
            e.contains("\"*.example.net\"") && e.contains("parent_domain_matches_subdomains"),
            "{e}"
        );
        let wider = Domains::from_config(&[
            "example.com".into(),
            "example.net".into(),
            "*.example.net".into(),
        ])
        .unwrap();
        assert!(d.parent_allowed(&wider).is_ok());
    }
}
