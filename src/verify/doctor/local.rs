//! "Deliver nothing locally": an empty mydestination and local_recipient_maps, no local
//! delivery agent in master.cf, and a myorigin that is an internal domain rather than the
//! gateway's own host name.

use super::{Finding, Settings, Severity};

/// mydestination must be empty: a domain in both lists is delivered locally on the gateway
/// (an error); any other local domain makes the gateway a final destination (a warning).
/// `relayed` says whether relay_domains covers a domain.
pub fn mydestination<E>(
    settings: &Settings,
    mut relayed: impl FnMut(&str) -> Result<bool, E>,
) -> Result<Option<Finding>, E> {
    let value = settings.list("mydestination");
    if value.is_empty() {
        return Ok(None);
    }
    let mut overlap = Vec::new();
    for name in settings.names("mydestination") {
        if relayed(&name)? {
            overlap.push(name);
        }
    }
    let fix = vec![settings.set("mydestination =")];
    Ok(Some(if overlap.is_empty() {
        Finding::new(
            Severity::Warning,
            format!(
                "mydestination is not empty ({}): the gateway is the final destination for these domains instead of relaying their mail inward",
                value.join(", ")
            ),
            fix,
        )
    } else {
        Finding::new(
            Severity::Error,
            format!(
                "mydestination lists {}, which relay_domains also covers: Postfix delivers that mail locally on the gateway instead of relaying it inward",
                overlap.join(", ")
            ),
            fix,
        )
    }))
}

/// local_recipient_maps must be empty: the gateway has no local mailboxes.
pub fn local_recipient_maps(settings: &Settings) -> Option<Finding> {
    if settings.list("local_recipient_maps").is_empty() {
        return None;
    }
    Some(Finding::new(
        Severity::Warning,
        "local_recipient_maps is not empty: Postfix looks up local accounts and aliases, but a gateway delivers nothing locally".to_owned(),
        vec![settings.set("local_recipient_maps =")],
    ))
}

/// myorigin must be an internal domain: mail the gateway itself sends (bounces, cron) would
/// otherwise come from its host name, where replies cannot be delivered.
pub fn myorigin(settings: &Settings) -> Option<Finding> {
    let hostname = settings.value("myhostname");
    let origin = settings.value("myorigin");
    let problem = if !settings.explicit.contains_key("myorigin") {
        format!("myorigin is not set, so it is this host's name ({hostname})")
    } else if origin.eq_ignore_ascii_case(hostname) {
        format!("myorigin is this host's name ({hostname})")
    } else {
        return None;
    };
    let domain = settings
        .names("relay_domains")
        .into_iter()
        .next()
        .unwrap_or_else(|| "example.com".to_owned());
    Some(Finding::new(
        Severity::Warning,
        format!(
            "{problem}: mail from the gateway's own processes (bounces, cron) appears to come from this host, where replies cannot be delivered"
        ),
        vec![settings.set(&format!("myorigin = {domain}"))],
    ))
}

/// master.cf must not run the local delivery agent: a gateway delivers nothing locally.
pub fn local_service(settings: &Settings) -> Vec<Finding> {
    settings
        .services
        .iter()
        .filter(|service| service.name == "local" || service.command == "local")
        .map(|service| {
            let name = format!("{}/{}", service.name, service.kind);
            Finding::new(
                Severity::Warning,
                format!(
                    "master.cf runs the local delivery agent ({name}): a gateway delivers nothing locally"
                ),
                vec![format!(
                    "postconf -c {} -M# {name}  (comments it out; then postfix -c {} reload)",
                    settings.dir(),
                    settings.dir()
                )],
            )
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::verify::doctor::fixtures::*;

    #[test]
    fn mydestination_overlapping_relay_domains_is_an_error() {
        let s = good_but("mydestination = example.com, localhost");
        let finding = mydestination(&s, relays_example).unwrap().unwrap();
        assert_eq!(
            finding.to_string(),
            "error: mydestination lists example.com, which relay_domains also covers: Postfix delivers that mail locally on the gateway instead of relaying it inward\n  \
             fix: postconf -c /etc/postfix -e 'mydestination ='"
        );
    }

    #[test]
    fn mydestination_not_overlapping_is_a_warning() {
        // Not set at all: the default is the host's own names.
        let s = settings_with(
            "relay_domains = example.com\nrelay_recipient_maps = lmdb:/m\n",
            MASTER,
        );
        let finding = mydestination(&s, relays_example).unwrap().unwrap();
        assert_eq!(
            finding.to_string(),
            "warning: mydestination is not empty (mx.example.net, localhost.example.net, localhost): the gateway is the final destination for these domains instead of relaying their mail inward\n  \
             fix: postconf -c /etc/postfix -e 'mydestination ='"
        );
    }

    #[test]
    fn local_recipient_maps_not_empty_is_a_warning() {
        let s = settings_with("relay_domains = example.com\n", MASTER);
        let finding = local_recipient_maps(&s).unwrap();
        assert_eq!(finding.severity, Severity::Warning);
        assert_eq!(
            finding.fix,
            vec!["postconf -c /etc/postfix -e 'local_recipient_maps ='"]
        );
    }

    #[test]
    fn myorigin_must_be_set_and_not_the_host_name() {
        let s = settings_with("relay_domains = example.com, example.org\n", MASTER);
        let finding = myorigin(&s).unwrap();
        assert_eq!(
            finding.to_string(),
            "warning: myorigin is not set, so it is this host's name (mx.example.net): mail from the gateway's own processes (bounces, cron) appears to come from this host, where replies cannot be delivered\n  \
             fix: postconf -c /etc/postfix -e 'myorigin = example.com'"
        );
        let finding = myorigin(&good_but("myorigin = mx.example.net")).unwrap();
        assert!(
            finding
                .problem
                .starts_with("myorigin is this host's name (mx.example.net): ")
        );
    }

    #[test]
    fn a_local_service_is_a_warning() {
        let s = settings_with(
            GOOD,
            &format!("{MASTER}local      unix  -       n       n       -       -       local\n"),
        );
        let findings = local_service(&s);
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].to_string(),
            "warning: master.cf runs the local delivery agent (local/unix): a gateway delivers nothing locally\n  \
             fix: postconf -c /etc/postfix -M# local/unix  (comments it out; then postfix -c /etc/postfix reload)"
        );
    }
}
