//! "Still take mail for postmaster@ and abuse@": the role addresses every relayed domain must
//! receive (RFC 5321, RFC 2142), and the alias that fixes a missing one.

use std::collections::BTreeSet;

use super::{Finding, Settings, Severity, file_map};
use crate::postfix::{MapSpec, MapType};

/// postmaster@ (RFC 5321, an error) and abuse@ (RFC 2142, a warning) must be recipients of
/// every relay domain in `domains`: in the map's `keys`, or found by `aliased` (a
/// virtual_alias_maps lookup).
pub fn role_addresses<E>(
    settings: &Settings,
    domains: &[String],
    keys: &BTreeSet<String>,
    mut aliased: impl FnMut(&str) -> Result<bool, E>,
) -> Result<Vec<Finding>, E> {
    let roles = [
        (
            "postmaster",
            Severity::Error,
            "RFC 5321 requires postmaster for every domain that receives mail",
        ),
        (
            "abuse",
            Severity::Warning,
            "RFC 2142 expects abuse@ for reports about your network",
        ),
    ];
    let mut findings = Vec::new();
    for domain in domains {
        for (role, severity, why) in roles {
            let address = format!("{role}@{domain}");
            let listed = keys.contains(&address) || keys.contains(&format!("@{domain}"));
            if listed || aliased(&address)? {
                continue;
            }
            findings.push(Finding::new(
                severity,
                format!("{address} is not a recipient: the gateway rejects mail to it ({why})"),
                alias_fix(settings, &address),
            ));
        }
    }
    Ok(findings)
}

/// How to make `address` a recipient: in the directory, or as a virtual alias (in the first
/// file-based virtual_alias_maps table, or a new hash:DIR/virtual).
fn alias_fix(settings: &Settings, address: &str) -> Vec<String> {
    let existing = settings
        .list("virtual_alias_maps")
        .into_iter()
        .find_map(file_map);
    let table = existing.clone().unwrap_or_else(|| MapSpec {
        kind: MapType::Hash,
        path: settings.config_dir.join("virtual"),
    });
    let dir = settings.dir();
    let mut fix = vec![
        format!(
            "add {address} to the directory (or to [recipients] extra), or alias it to a mailbox that is read:"
        ),
        format!(
            "echo '{address} admin@internal.example.com' >> {}",
            table.path.display()
        ),
    ];
    fix.push(if table.kind.suffix().is_some() {
        format!("postmap -c {dir} {table}")
    } else {
        format!("postfix -c {dir} reload")
    });
    if existing.is_none() {
        fix.push(settings.set(&format!("virtual_alias_maps = {table}")));
    }
    fix
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::verify::doctor::fixtures::*;
    use std::convert::Infallible;

    #[test]
    fn postmaster_and_abuse_must_be_recipients() {
        let s = good();
        let domains = vec!["example.com".to_owned(), "example.org".to_owned()];
        let k = keys(&[
            "postmaster@example.com",
            "abuse@example.com",
            "someone@example.org",
        ]);
        let aliased: BTreeSet<String> = keys(&["abuse@example.org"]);
        let lookups = std::cell::RefCell::new(Vec::new());
        let findings = role_addresses(&s, &domains, &k, |address| {
            lookups.borrow_mut().push(address.to_owned());
            Ok::<_, Infallible>(aliased.contains(address))
        })
        .unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].to_string(),
            "error: postmaster@example.org is not a recipient: the gateway rejects mail to it (RFC 5321 requires postmaster for every domain that receives mail)\n  \
             fix: add postmaster@example.org to the directory (or to [recipients] extra), or alias it to a mailbox that is read:\n       \
             echo 'postmaster@example.org admin@internal.example.com' >> /etc/postfix/virtual\n       \
             postmap -c /etc/postfix hash:/etc/postfix/virtual\n       \
             postconf -c /etc/postfix -e 'virtual_alias_maps = hash:/etc/postfix/virtual'"
        );
        // Addresses in the map are not looked up in virtual_alias_maps.
        assert_eq!(
            *lookups.borrow(),
            vec!["postmaster@example.org", "abuse@example.org"]
        );

        // abuse@ is a warning; an existing virtual table is reused; a catch-all key counts.
        let s = good_but("virtual_alias_maps = lmdb:/etc/postfix/aliases");
        let none = |_: &str| Ok::<_, Infallible>(false);
        let findings = role_addresses(
            &s,
            &domains,
            &keys(&["postmaster@example.com", "@example.org"]),
            none,
        )
        .unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(
            findings[0]
                .problem
                .starts_with("abuse@example.com is not a recipient: ")
        );
        assert_eq!(
            findings[0].fix[1..],
            [
                "echo 'abuse@example.com admin@internal.example.com' >> /etc/postfix/aliases",
                "postmap -c /etc/postfix lmdb:/etc/postfix/aliases"
            ]
        );
    }
}
