//! "Tagged addresses": `recipient_delimiter` must match what the backend does with
//! `user+tag@`. Postfix looks up `user+tag@domain`, then `user@domain`, when the delimiter
//! has `+`: the gateway then accepts tagged mail for every listed user. Exchange Online takes
//! it (plus addressing, on by default since 2022), Exchange Server does not and bounces it.
//! Addresses that hold a delimiter character themselves are looked up as they are first, and
//! only noted.

use super::{Finding, Settings, Severity};

/// Compares `recipient_delimiter` with what the backend does (`[install].backend_plus_addressing`).
pub fn plus_addressing(settings: &Settings, backend: Option<bool>) -> Option<Finding> {
    let delimiter = settings.value("recipient_delimiter");
    let plus = delimiter.contains('+');
    match (backend, plus) {
        (Some(false), true) => {
            let without: String = delimiter.chars().filter(|c| *c != '+').collect();
            Some(Finding::new(
                Severity::Error,
                format!(
                    "recipient_delimiter = {delimiter} makes the gateway accept user+tag@ for \
                     every listed user, but the backend has no plus addressing \
                     ([install].backend_plus_addressing = false): it bounces that mail after \
                     the gateway accepted it (backscatter)"
                ),
                vec![settings.set(&format!("recipient_delimiter = {without}"))],
            ))
        }
        (Some(true), false) => Some(Finding::new(
            Severity::Warning,
            "the backend accepts user+tag@ ([install].backend_plus_addressing = true), but \
             recipient_delimiter has no +: the gateway refuses tagged mail as unknown \
             recipients"
                .to_owned(),
            vec![settings.set(&format!("recipient_delimiter = +{delimiter}"))],
        )),
        (None, true) => Some(Finding::new(
            Severity::Note,
            format!(
                "recipient_delimiter = {delimiter}: the gateway accepts user+tag@ for every \
                 listed user; say in [install].backend_plus_addressing whether the backend \
                 takes them (Exchange Online does by default, Exchange Server does not), and \
                 doctor and verify check it"
            ),
            vec![
                "backend_plus_addressing = true (or false) in [install] of rcptsync.toml"
                    .to_owned(),
            ],
        )),
        _ => None,
    }
}

/// Map addresses whose local part holds a character of `recipient_delimiter`: Postfix looks
/// each up as it is first, so it is accepted as listed (nothing to fix), but an admin reading
/// the delimiter's effect should know they are there.
pub fn delimited_keys(
    settings: &Settings,
    keys: &std::collections::BTreeSet<String>,
) -> Option<Finding> {
    let delimiter = settings.value("recipient_delimiter");
    if delimiter.is_empty() {
        return None;
    }
    let holds = |key: &&String| {
        key.rsplit_once('@')
            .is_some_and(|(local, _)| local.contains(|c| delimiter.contains(c)))
    };
    let first = keys.iter().find(holds)?;
    let count = keys.iter().filter(holds).count();
    Some(Finding::new(
        Severity::Note,
        format!(
            "{count} address(es) of the map have a character of recipient_delimiter = \
             {delimiter} in their local part (such as {first}): Postfix looks each up as it is \
             first, so they are accepted as listed"
        ),
        Vec::new(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::doctor::fixtures::good;

    fn with(delimiter: &str) -> Settings {
        let mut settings = good();
        settings
            .effective
            .insert("recipient_delimiter".into(), delimiter.into());
        settings
    }

    #[test]
    fn the_delimiter_must_match_the_backend() {
        let backscatter = plus_addressing(&with("+"), Some(false)).unwrap();
        assert_eq!(backscatter.severity, Severity::Error);
        assert!(backscatter.problem.contains("backscatter"), "{backscatter}");
        assert!(
            backscatter.fix[0].ends_with("-e 'recipient_delimiter = '"),
            "{backscatter}"
        );
        assert!(
            plus_addressing(&with("+-"), Some(false)).unwrap().fix[0]
                .ends_with("-e 'recipient_delimiter = -'")
        );
        let refused = plus_addressing(&with(""), Some(true)).unwrap();
        assert_eq!(refused.severity, Severity::Warning);
        assert!(
            refused.fix[0].ends_with("-e 'recipient_delimiter = +'"),
            "{refused}"
        );
        assert_eq!(plus_addressing(&with("+"), Some(true)), None);
        assert_eq!(plus_addressing(&with(""), Some(false)), None);
        assert_eq!(plus_addressing(&with(""), None), None);
        assert_eq!(
            plus_addressing(&with("+"), None).unwrap().severity,
            Severity::Note
        );
    }

    #[test]
    fn addresses_with_the_delimiter_in_them_are_noted() {
        let keys = |k: &[&str]| k.iter().map(|k| k.to_string()).collect();
        let listed = keys(&["a+b@example.com", "c@example.com", "d-e@example.com"]);
        let note = delimited_keys(&with("+-"), &listed).unwrap();
        assert_eq!(note.severity, Severity::Note);
        assert!(note.problem.starts_with("2 address(es)"), "{note}");
        assert!(note.problem.contains("such as a+b@example.com"), "{note}");
        assert_eq!(delimited_keys(&with(""), &listed), None);
        assert_eq!(delimited_keys(&with("+"), &keys(&["c@example.com"])), None);
    }
}
