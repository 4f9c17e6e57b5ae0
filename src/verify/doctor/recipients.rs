//! "Check every recipient against the map": relay_recipient_maps must be set, use the map
//! rcptsync installs, and point at files Postfix can use; smtpd must reject unlisted
//! recipients at RCPT time, and how it words that rejection is a matter of taste.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{Finding, Settings, Severity, file_map};
use crate::map::text;
use crate::postfix::{MapSpec, MapType};

/// The default map when there is no `[install].map` to suggest.
fn default_map(settings: &Settings) -> String {
    format!("lmdb:{}/relay_recipients", settings.dir())
}

/// relay_recipient_maps must be set, and must include the map rcptsync installs
/// (`install`, from `[install].map`), or the map protects nothing.
pub fn relay_recipient_maps(settings: &Settings, install: Option<&MapSpec>) -> Option<Finding> {
    let maps = settings.list("relay_recipient_maps");
    let wanted = install.map_or_else(|| default_map(settings), ToString::to_string);
    let fix = vec![settings.set(&format!("relay_recipient_maps = {wanted}"))];
    if maps.is_empty() {
        return Some(Finding::new(
            Severity::Error,
            "relay_recipient_maps is empty: the gateway accepts mail for every address in its relay domains and forwards it inward".to_owned(),
            fix,
        ));
    }
    let install = install?;
    let used = maps
        .iter()
        .any(|entry| file_map(entry).as_ref() == Some(install));
    (!used).then(|| {
        Finding::new(
            Severity::Error,
            format!(
                "relay_recipient_maps ({}) does not use {install}, the map rcptsync installs ([install].map): the recipients rcptsync installs are not checked",
                maps.join(", ")
            ),
            fix,
        )
    })
}

/// Why a map file of relay_recipient_maps is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapProblem {
    /// The file does not exist.
    Missing(PathBuf),
    /// The text file lists no recipients.
    Empty(PathBuf),
    /// The file exists but cannot be read (or parsed as a map).
    Unreadable(PathBuf, String),
}

/// The keys of a text map, or why it cannot give any.
pub fn read_keys(path: &Path) -> Result<BTreeSet<String>, MapProblem> {
    let bytes = match crate::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MapProblem::Missing(path.to_owned()));
        }
        Err(e) => {
            return Err(MapProblem::Unreadable(
                path.to_owned(),
                e.kind().to_string(),
            ));
        }
    };
    let keys = text::keys(&bytes, path)
        .map_err(|e| MapProblem::Unreadable(path.to_owned(), e.to_string()))?;
    if keys.is_empty() {
        return Err(MapProblem::Empty(path.to_owned()));
    }
    Ok(keys)
}

/// Whether the indexed file of `map` (the text file plus the type's suffix) can be opened;
/// texthash has none.
pub fn check_indexed(map: &MapSpec) -> Result<(), MapProblem> {
    let Some(path) = map.indexed() else {
        return Ok(());
    };
    match crate::fs::File::open(&path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(MapProblem::Missing(path)),
        Err(e) => Err(MapProblem::Unreadable(path, e.kind().to_string())),
    }
}

/// The finding for a map of relay_recipient_maps that is not usable. `text_ok` says whether
/// the text file is fine (then rebuilding the indexed file is enough); `install` is the map
/// rcptsync installs, if configured.
pub fn map_file(
    settings: &Settings,
    map: &MapSpec,
    problem: &MapProblem,
    text_ok: bool,
    install: Option<&MapSpec>,
) -> Finding {
    let problem_text = match problem {
        MapProblem::Missing(path) if *path != map.path || map.kind == MapType::Texthash => {
            format!(
                "{} does not exist: smtpd answers every relay recipient with \"451 4.3.0 Temporary lookup failure\"",
                path.display()
            )
        }
        MapProblem::Missing(path) => format!(
            "{} does not exist: the indexed map cannot be rebuilt or checked",
            path.display()
        ),
        MapProblem::Empty(path) => format!(
            "{} lists no recipients: smtpd rejects every recipient in the relay domains",
            path.display()
        ),
        MapProblem::Unreadable(path, reason) => {
            format!("{} cannot be read: {reason}", path.display())
        }
    };
    let fix = match problem {
        MapProblem::Unreadable(path, _) => {
            vec![format!(
                "chown root {0} && chmod 644 {0}  (Postfix opens maps as root)",
                path.display()
            )]
        }
        _ if text_ok => vec![format!("postmap -c {} {map}", settings.dir())],
        _ if install == Some(map) => {
            vec!["rcptsync apply  (it writes the map and builds it)".to_owned()]
        }
        _ => vec![format!(
            "rcptsync apply  (with [install] map = \"{map}\"), or write the recipients as `address OK` lines into {} and run postmap -c {} {map}",
            map.path.display(),
            settings.dir()
        )],
    };
    Finding::new(
        Severity::Error,
        format!("relay_recipient_maps: {map}: {problem_text}"),
        fix,
    )
}

/// smtpd_reject_unlisted_recipient = no turns off the RCPT-time check against the map.
pub fn reject_unlisted(settings: &Settings) -> Option<Finding> {
    (settings.value("smtpd_reject_unlisted_recipient") == "no").then(|| {
        Finding::new(
            Severity::Error,
            "smtpd_reject_unlisted_recipient = no: smtpd accepts mail for addresses that are not in relay_recipient_maps and forwards it inward".to_owned(),
            vec![settings.set("smtpd_reject_unlisted_recipient = yes")],
        )
    })
}

/// Berkeley DB maps (`hash:`, `btree:`) in relay_recipient_maps: distributions are dropping
/// Berkeley DB, after which such tables fail to open (Postfix's NON_BERKELEYDB_README).
/// `supported` is `postconf -m`: a type missing from it is an error, since this Postfix
/// already cannot open the map; otherwise a warning to move before an upgrade breaks it.
pub fn berkeley_db(settings: &Settings, supported: &str) -> Vec<Finding> {
    let maps = settings.list("relay_recipient_maps");
    maps.clone()
        .into_iter()
        .filter_map(|entry| file_map(entry).map(|map| (entry, map)))
        .filter(|(_, map)| matches!(map.kind, MapType::Hash | MapType::Btree))
        .map(|(entry, map)| {
            let kind = map.kind.name();
            let lmdb = format!("lmdb:{}", map.path.display());
            let fix = vec![
                format!("in rcptsync's config: [install] map = \"{lmdb}\" (or cdb:), then rcptsync apply"),
                settings.set(&format!(
                    "relay_recipient_maps = {}",
                    maps.iter()
                        .map(|m| if *m == entry { lmdb.as_str() } else { m })
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ];
            if supported.lines().any(|t| t.trim() == kind) {
                Finding::new(
                    Severity::Warning,
                    format!("relay_recipient_maps uses {entry}: Berkeley DB ({kind}:) is being dropped by distributions, after which the table fails to open (NON_BERKELEYDB_README); move to lmdb: or cdb:"),
                    fix,
                )
            } else {
                Finding::new(
                    Severity::Error,
                    format!("relay_recipient_maps uses {entry}, but this Postfix has no {kind}: support (postconf -m): the table cannot be opened"),
                    fix,
                )
            }
        })
        .collect()
}

/// show_user_unknown_table_name = yes names the table in 550 replies; harmless, but some
/// admins prefer not to show it.
pub fn table_name(settings: &Settings) -> Option<Finding> {
    (settings.value("show_user_unknown_table_name") == "yes").then(|| {
        Finding::new(
            Severity::Note,
            "show_user_unknown_table_name = yes: 550 replies say \"User unknown in relay recipient table\"; some admins prefer not to name the table".to_owned(),
            vec![settings.set("show_user_unknown_table_name = no")],
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::verify::doctor::fixtures::*;

    #[test]
    fn berkeley_db_maps_are_a_warning_or_an_error_when_unsupported() {
        let s = good_but("relay_recipient_maps = hash:/etc/postfix/relay_recipients");
        let with_db = berkeley_db(&s, "cdb\nhash\nlmdb\n");
        assert_eq!(with_db.len(), 1);
        assert_eq!(with_db[0].severity, Severity::Warning);
        assert!(
            with_db[0].to_string().contains("NON_BERKELEYDB_README"),
            "{}",
            with_db[0]
        );
        assert!(
            with_db[0]
                .to_string()
                .contains("relay_recipient_maps = lmdb:/etc/postfix/relay_recipients"),
            "{}",
            with_db[0]
        );
        let without = berkeley_db(&s, "cdb\nlmdb\n");
        assert_eq!(without[0].severity, Severity::Error);
        assert!(berkeley_db(&good_but(""), "cdb\nhash\n").is_empty());
        // Only the matching list element is replaced, not every string that contains it.
        let s = good_but("relay_recipient_maps = hash:/etc/postfix/rr, hash:/etc/postfix/rr_extra");
        let findings = berkeley_db(&s, "hash\nlmdb\n");
        assert!(
            findings[0].to_string().contains(
                "relay_recipient_maps = lmdb:/etc/postfix/rr, hash:/etc/postfix/rr_extra"
            ),
            "{}",
            findings[0]
        );
    }

    #[test]
    fn empty_relay_recipient_maps_is_an_error() {
        let s = good_but("relay_recipient_maps =");
        let finding = relay_recipient_maps(&s, None).unwrap();
        assert_eq!(
            finding.to_string(),
            "error: relay_recipient_maps is empty: the gateway accepts mail for every address in its relay domains and forwards it inward\n  \
             fix: postconf -c /etc/postfix -e 'relay_recipient_maps = lmdb:/etc/postfix/relay_recipients'"
        );
        let install = MapSpec {
            kind: MapType::Cdb,
            path: PathBuf::from("/var/lib/maps/rcpt"),
        };
        assert_eq!(
            relay_recipient_maps(&s, Some(&install)).unwrap().fix,
            vec!["postconf -c /etc/postfix -e 'relay_recipient_maps = cdb:/var/lib/maps/rcpt'"]
        );
    }

    #[test]
    fn the_installed_map_must_be_in_relay_recipient_maps() {
        let s = good_but("relay_recipient_maps = hash:/etc/postfix/old, proxy:lmdb:/x");
        let finding =
            relay_recipient_maps(&s, Some(&lmdb("/etc/postfix/relay_recipients"))).unwrap();
        assert_eq!(finding.severity, Severity::Error);
        assert_eq!(
            finding.problem,
            "relay_recipient_maps (hash:/etc/postfix/old, proxy:lmdb:/x) does not use lmdb:/etc/postfix/relay_recipients, the map rcptsync installs ([install].map): the recipients rcptsync installs are not checked"
        );
        // Through proxymap it is the same map; without a config there is nothing to compare.
        assert_eq!(relay_recipient_maps(&s, Some(&lmdb("/x"))), None);
        assert_eq!(relay_recipient_maps(&s, None), None);
    }

    #[test]
    fn map_files_missing_empty_or_unbuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay_recipients");
        let map = lmdb(path.to_str().unwrap());
        let s = good();
        assert_eq!(read_keys(&path), Err(MapProblem::Missing(path.clone())));
        let finding = map_file(&s, &map, &read_keys(&path).unwrap_err(), false, None);
        assert_eq!(finding.severity, Severity::Error);
        assert!(
            finding
                .problem
                .ends_with("does not exist: the indexed map cannot be rebuilt or checked"),
            "{finding}"
        );

        fs_err::write(&path, "# nothing yet\n").unwrap();
        assert_eq!(read_keys(&path), Err(MapProblem::Empty(path.clone())));
        let finding = map_file(&s, &map, &read_keys(&path).unwrap_err(), false, Some(&map));
        assert_eq!(
            finding.to_string(),
            format!(
                "error: relay_recipient_maps: {map}: {} lists no recipients: smtpd rejects every recipient in the relay domains\n  \
                 fix: rcptsync apply  (it writes the map and builds it)",
                path.display()
            )
        );

        fs_err::write(&path, "a@example.com OK\n").unwrap();
        assert_eq!(read_keys(&path), Ok(keys(&["a@example.com"])));
        let indexed = PathBuf::from(format!("{}.lmdb", path.display()));
        assert_eq!(
            check_indexed(&map),
            Err(MapProblem::Missing(indexed.clone()))
        );
        let finding = map_file(&s, &map, &MapProblem::Missing(indexed.clone()), true, None);
        assert_eq!(
            finding.to_string(),
            format!(
                "error: relay_recipient_maps: {map}: {} does not exist: smtpd answers every relay recipient with \"451 4.3.0 Temporary lookup failure\"\n  \
                 fix: postmap -c /etc/postfix {map}",
                indexed.display()
            )
        );
        fs_err::write(&indexed, "x").unwrap();
        assert_eq!(check_indexed(&map), Ok(()));
        let texthash = MapSpec {
            kind: MapType::Texthash,
            path,
        };
        assert_eq!(check_indexed(&texthash), Ok(()));

        fs_err::write(dir.path().join("bad"), " indented OK\n").unwrap();
        assert!(matches!(
            read_keys(&dir.path().join("bad")),
            Err(MapProblem::Unreadable(..))
        ));
    }

    #[test]
    fn reject_unlisted_recipient_off_is_an_error() {
        let finding = reject_unlisted(&good_but("smtpd_reject_unlisted_recipient = no")).unwrap();
        assert_eq!(
            finding.to_string(),
            "error: smtpd_reject_unlisted_recipient = no: smtpd accepts mail for addresses that are not in relay_recipient_maps and forwards it inward\n  \
             fix: postconf -c /etc/postfix -e 'smtpd_reject_unlisted_recipient = yes'"
        );
        assert_eq!(
            reject_unlisted(&good_but("smtpd_reject_unlisted_recipient = yes")),
            None
        );
    }

    #[test]
    fn the_table_name_in_replies_is_a_note() {
        // The default is yes.
        let s = settings_with("relay_domains = example.com\n", MASTER);
        let finding = table_name(&s).unwrap();
        assert_eq!(finding.severity, Severity::Note);
        assert_eq!(
            finding.fix,
            vec!["postconf -c /etc/postfix -e 'show_user_unknown_table_name = no'"]
        );
    }
}
