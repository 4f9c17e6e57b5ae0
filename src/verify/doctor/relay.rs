//! "Relay its domains": relay_domains must name the domains the gateway relays, and cover
//! every domain of the recipient map, or their mail is refused with "Relay access denied".

use std::collections::BTreeSet;

use super::settings::file_map;
use super::{Finding, Settings, Severity};
use crate::postfix::MapSpec;
use crate::postfix::settings::{count_domains, unrelayed};

/// relay_domains must name the domains the gateway relays, or it rejects all their mail.
/// `map_domains` (the recipient map's domains) make the suggested value.
pub fn relay_domains(settings: &Settings, map_domains: &BTreeSet<String>) -> Option<Finding> {
    if !settings.list("relay_domains").is_empty() {
        return None;
    }
    let domains = if map_domains.is_empty() {
        "example.com".to_owned()
    } else {
        map_domains.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    Some(Finding::new(
        Severity::Error,
        "relay_domains is empty: the gateway relays mail for none of your domains and rejects it with \"Relay access denied\"".to_owned(),
        vec![settings.set(&format!("relay_domains = {domains}"))],
    ))
}

/// With `[install].relay_domains_map`, relay_domains must name the table, or the domains
/// rcptsync installs there are not relayed; and while parent_domain_matches_subdomains lists
/// relay_domains (Postfix's default), the table's names relay their subdomains too.
pub fn relay_table(settings: &Settings, table: &MapSpec) -> Vec<Finding> {
    let mut findings = Vec::new();
    let listed = settings.list("relay_domains");
    if !listed
        .iter()
        .any(|entry| file_map(entry).as_ref() == Some(table))
    {
        let value = match listed.is_empty() {
            true => table.to_string(),
            false => format!("{}, {table}", listed.join(", ")),
        };
        findings.push(Finding::new(
            Severity::Error,
            format!(
                "relay_domains does not name {table}, the relay domains table rcptsync installs ([install].relay_domains_map): a domain newly accepted in Exchange is not relayed"
            ),
            vec![settings.set(&format!("relay_domains = {value}"))],
        ));
    }
    let parent = settings.list("parent_domain_matches_subdomains");
    if parent.contains(&"relay_domains") {
        let rest: Vec<&str> = parent
            .iter()
            .copied()
            .filter(|p| *p != "relay_domains")
            .collect();
        findings.push(Finding::new(
            Severity::Note,
            format!(
                "parent_domain_matches_subdomains lists relay_domains, so each domain in {table} relays its subdomains too, and a wildcard accepted domain (*.example.com) is installed only where its parent is allowed as well (apply writes its parent's name); to relay exactly the accepted domains, take relay_domains out"
            ),
            vec![settings.set(&format!(
                "parent_domain_matches_subdomains = {}",
                rest.join(", ")
            ))],
        ));
    }
    findings
}

/// Addresses of the map in domains relay_domains does not cover: the gateway refuses their
/// mail with "Relay access denied", so the map and relay_domains disagree.
pub fn coverage<E>(
    settings: &Settings,
    keys: &BTreeSet<String>,
    mut relayed: impl FnMut(&str) -> Result<bool, E>,
) -> Result<Option<Finding>, E> {
    if settings.list("relay_domains").is_empty() {
        return Ok(None); // relay_domains() reports it, with these domains as the fix
    }
    // Open domains (`@domain`) are reported by open_domains, as errors.
    let missing = unrelayed(
        &count_domains(
            keys.iter()
                .map(String::as_str)
                .filter(|k| !k.starts_with('@')),
        ),
        &mut relayed,
    )?;
    if missing.is_empty() {
        return Ok(None);
    }
    let current = settings
        .explicit
        .get("relay_domains")
        .map_or_else(|| settings.value("relay_domains"), String::as_str);
    let listed: Vec<String> = missing
        .iter()
        .map(|(domain, count)| format!("{domain} ({count})"))
        .collect();
    let added: Vec<&str> = missing.iter().map(|(domain, _)| domain.as_str()).collect();
    Ok(Some(Finding::new(
        Severity::Warning,
        format!(
            "the recipient map has addresses in domains relay_domains does not cover: {}: the gateway refuses their mail with \"Relay access denied\"",
            listed.join(", ")
        ),
        vec![
            settings.set(&format!("relay_domains = {current}, {}", added.join(", "))),
            "(or, if the gateway should not take their mail, drop these domains in [recipients] domains)".to_owned(),
        ],
    )))
}

/// The map's open domains (`@domain` lines, shared address spaces): each is noted (recipient
/// checking is off there by design), and one that relay_domains does not cover is an error,
/// since the gateway then refuses all of its mail.
pub fn open_domains<E>(
    settings: &Settings,
    keys: &BTreeSet<String>,
    mut relayed: impl FnMut(&str) -> Result<bool, E>,
) -> Result<Vec<Finding>, E> {
    let mut findings = Vec::new();
    for domain in keys.iter().filter_map(|k| k.strip_prefix('@')) {
        if relayed(domain)? {
            findings.push(Finding::new(
                Severity::Note,
                format!(
                    "{domain} is open (@{domain} in the recipient map): every address in it is \
                     accepted and relayed inward, as for a shared address space (Exchange's \
                     InternalRelay)"
                ),
                Vec::new(),
            ));
        } else {
            let current = settings
                .explicit
                .get("relay_domains")
                .map_or_else(|| settings.value("relay_domains"), String::as_str);
            findings.push(Finding::new(
                Severity::Error,
                format!(
                    "{domain} is open in the recipient map (@{domain}) but relay_domains does not \
                     cover it: the gateway refuses all of its mail with \"Relay access denied\""
                ),
                vec![settings.set(&format!("relay_domains = {current}, {domain}"))],
            ));
        }
    }
    Ok(findings)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::verify::doctor::fixtures::*;

    #[test]
    fn empty_relay_domains_is_an_error_with_the_map_domains_as_fix() {
        let finding = relay_domains(
            &good_but("relay_domains ="),
            &keys(&["example.com", "example.org"]),
        )
        .unwrap();
        assert_eq!(finding.severity, Severity::Error);
        assert_eq!(
            finding.to_string(),
            "error: relay_domains is empty: the gateway relays mail for none of your domains and rejects it with \"Relay access denied\"\n  \
             fix: postconf -c /etc/postfix -e 'relay_domains = example.com, example.org'"
        );
    }

    #[test]
    fn relay_domains_must_name_the_table_and_wildcards_need_no_parent_matching() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay_domains");
        let table = MapSpec::parse(&format!("cdb:{}", path.display())).unwrap();
        let findings = relay_table(&good(), &table);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Error);
        assert_eq!(
            findings[0].to_string(),
            format!(
                "error: relay_domains does not name {table}, the relay domains table rcptsync installs ([install].relay_domains_map): a domain newly accepted in Exchange is not relayed\n  \
                 fix: postconf -c /etc/postfix -e 'relay_domains = example.com, {table}'"
            )
        );
        let naming = good_but(&format!("relay_domains = {table}"));
        assert!(relay_table(&naming, &table).is_empty());
        // Postfix's default parent matching for relay_domains: a note.
        let parent = good_but(&format!(
            "relay_domains = {table}\nparent_domain_matches_subdomains = mynetworks, relay_domains"
        ));
        let findings = relay_table(&parent, &table);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Note);
        assert!(
            findings[0].to_string().ends_with(
                "fix: postconf -c /etc/postfix -e 'parent_domain_matches_subdomains = mynetworks'"
            ),
            "{}",
            findings[0]
        );
        assert!(relay_table(&naming, &table).is_empty());
    }

    #[test]
    fn map_domains_outside_relay_domains_are_a_warning() {
        let s = good();
        let k = keys(&["a@example.com", "b@example.org", "c@example.org"]);
        let finding = coverage(&s, &k, relays_example).unwrap().unwrap();
        assert_eq!(finding.severity, Severity::Warning);
        assert_eq!(
            finding.to_string(),
            "warning: the recipient map has addresses in domains relay_domains does not cover: example.org (2): the gateway refuses their mail with \"Relay access denied\"\n  \
             fix: postconf -c /etc/postfix -e 'relay_domains = example.com, example.org'\n       \
             (or, if the gateway should not take their mail, drop these domains in [recipients] domains)"
        );
        // Not repeated when relay_domains is empty: that error names the domains.
        assert_eq!(
            coverage(&good_but("relay_domains ="), &k, relays_example).unwrap(),
            None
        );
    }

    #[test]
    fn open_domains_are_noted_and_must_be_relayed() {
        let s = good();
        let k = keys(&["@example.com", "@shared.example.org", "a@example.com"]);
        let findings = open_domains(&s, &k, relays_example).unwrap();
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[0].severity, Severity::Note);
        assert!(
            findings[0]
                .to_string()
                .starts_with("note: example.com is open (@example.com in the recipient map)"),
            "{}",
            findings[0]
        );
        assert_eq!(findings[1].severity, Severity::Error);
        assert!(
            findings[1].to_string().starts_with(
                "error: shared.example.org is open in the recipient map (@shared.example.org) but \
                 relay_domains does not cover it"
            ),
            "{}",
            findings[1]
        );
        assert!(
            findings[1]
                .to_string()
                .contains("'relay_domains = example.com, shared.example.org'"),
            "{}",
            findings[1]
        );
        // The coverage warning leaves them to this check.
        assert_eq!(coverage(&s, &k, relays_example).unwrap(), None);
    }
}
