//! What the checks read: the instance's settings as postconf reports them, read once, so that
//! every check is a pure function of a [`Settings`] value and can be tested without Postfix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::postfix::MapSpec;
use crate::postfix::{self, Postfix};

/// The parameters whose effective values (defaults included, `$name` expanded) the checks
/// read; one `postconf -x` call fetches them all.
pub const PARAMETERS: &[&str] = &[
    "relay_domains",
    "relay_recipient_maps",
    "mydestination",
    "local_recipient_maps",
    "myorigin",
    "myhostname",
    "virtual_alias_maps",
    "smtpd_reject_unlisted_recipient",
    "show_user_unknown_table_name",
    "recipient_delimiter",
    "parent_domain_matches_subdomains",
];

/// A service line of master.cf, as `postconf -M` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The service name (`local`, `smtp`, `127.0.0.1:25`).
    pub name: String,
    /// The transport type (`unix`, `inet`, ...).
    pub kind: String,
    /// The program that runs it (`local`, `smtpd`, ...).
    pub command: String,
}

/// What postconf says about one Postfix instance: everything the pure checks look at.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config directory, for the `-c DIR` of every suggested fix.
    pub config_dir: PathBuf,
    /// Parameters set in main.cf (`postconf -n`), unexpanded: tells "set" from "defaulted".
    pub explicit: BTreeMap<String, String>,
    /// Effective values of [`PARAMETERS`] (`postconf -x`): what Postfix actually uses.
    pub effective: BTreeMap<String, String>,
    /// The services of master.cf (`postconf -M`); commented-out ones are not listed.
    pub services: Vec<Service>,
}

impl Settings {
    /// Reads the instance's settings with postconf; fails (naming the command) when postconf
    /// cannot read main.cf or master.cf.
    pub fn read(postfix: &Postfix, config_dir: &Path) -> Result<Self, postfix::Error> {
        let explicit = postfix.postconf(&["-n"])?;
        let effective = postfix.postconf(&[&["-x"], PARAMETERS].concat())?;
        let services = postfix.postconf(&["-M"])?;
        Ok(Self::parse(config_dir, &explicit, &effective, &services))
    }

    /// Builds the settings from postconf's output: `name = value` lines for `explicit`
    /// (`-n`) and `effective` (`-x NAME...`), master.cf lines for `services` (`-M`).
    pub fn parse(config_dir: &Path, explicit: &str, effective: &str, services: &str) -> Self {
        let params = |text: &str| {
            text.lines()
                .filter_map(|line| line.split_once('='))
                .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
                .collect()
        };
        let services = services
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                match fields.as_slice() {
                    [name, kind, _, _, _, _, _, command, ..] => Some(Service {
                        name: (*name).to_owned(),
                        kind: (*kind).to_owned(),
                        command: (*command).to_owned(),
                    }),
                    _ => None,
                }
            })
            .collect();
        Self {
            config_dir: config_dir.to_owned(),
            explicit: params(explicit),
            effective: params(effective),
            services,
        }
    }

    /// A parameter's effective value ("" when postconf did not report it).
    pub(super) fn value(&self, name: &str) -> &str {
        self.effective.get(name).map_or("", String::as_str)
    }

    /// A parameter's effective value split into items, as Postfix splits lists.
    pub(super) fn list(&self, name: &str) -> Vec<&str> {
        split(self.value(name))
    }

    /// The literal domain names of a domain list (no `.parent` patterns, files or tables).
    pub(super) fn names(&self, name: &str) -> Vec<String> {
        self.list(name)
            .into_iter()
            .filter(|item| !item.starts_with(['.', '/']) && !item.contains(':'))
            .map(str::to_ascii_lowercase)
            .collect()
    }

    /// `postconf -c DIR -e 'SETTING'`.
    pub(super) fn set(&self, setting: &str) -> String {
        format!("postconf -c {} -e '{setting}'", self.config_dir.display())
    }

    pub(super) fn dir(&self) -> String {
        self.config_dir.display().to_string()
    }
}

/// Splits a Postfix list value on commas and whitespace.
fn split(value: &str) -> Vec<&str> {
    crate::postfix::settings::split_list(value).collect()
}

/// `TYPE:PATH` of a file-based map rcptsync knows (`proxy:` stripped); None for other
/// tables (ldap:, pcre:, ...), whose files are not maps of addresses.
pub fn file_map(entry: &str) -> Option<MapSpec> {
    MapSpec::parse(entry.strip_prefix("proxy:").unwrap_or(entry))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::verify::doctor::fixtures::*;

    #[test]
    fn parses_postconf_output() {
        let s = Settings::parse(
            Path::new("/etc/postfix"),
            "mydestination =\nrelay_domains = example.com, example.org\n",
            "",
            "local      unix  -       n       n       -       -       local\n\
             submission inet  n       -       y       -       -       smtpd -o syslog_name=postfix/submission\n",
        );
        assert_eq!(s.explicit["mydestination"], "");
        assert_eq!(s.explicit["relay_domains"], "example.com, example.org");
        assert_eq!(
            s.services,
            vec![
                Service {
                    name: "local".into(),
                    kind: "unix".into(),
                    command: "local".into()
                },
                Service {
                    name: "submission".into(),
                    kind: "inet".into(),
                    command: "smtpd".into()
                },
            ]
        );
    }

    #[test]
    fn file_maps_are_recognized() {
        assert_eq!(file_map("lmdb:/a"), Some(lmdb("/a")));
        assert_eq!(file_map("proxy:lmdb:/a"), Some(lmdb("/a")));
        assert_eq!(file_map("ldap:/etc/postfix/ldap.cf"), None);
        assert_eq!(file_map("nonsense"), None);
    }
}
