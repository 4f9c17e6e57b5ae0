//! "Relay its domains": relay_domains must name the domains the gateway relays, and cover
//! every domain of the recipient map, or their mail is refused with "Relay access denied".

use std::collections::BTreeSet;

use super::{Finding, Settings, Severity};
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
    let missing = unrelayed(
        &count_domains(keys.iter().map(String::as_str)),
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
}
