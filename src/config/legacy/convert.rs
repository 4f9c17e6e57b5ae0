//! The legacy keys mapped to an rcptsync TOML config, one section of the TOML per step, in
//! the order the file is written: the keys found ([`collect`]), then the source's connection,
//! filter and bind, the recipients (excluded domains), the output, the guards, the gateway and
//! what was not converted.
//!
//! Each step appends to one [`Draft`]; an error stops the conversion at the first key that
//! cannot be converted, naming its `file:line`.

use std::collections::BTreeMap;
use std::path::Path;

use super::values::{basic, normalize_filter, port, regex_string, split_list};
use super::{Conversion, Entry, Error, Stanza, at, shown_value};
use crate::config::raw;
use crate::rules::domains::ExcludedDomains;
use crate::source::ldap::DEFAULT_FILTER;

/// The keys of `[ AD ]` that the legacy script read.
const AD_KEYS: [&str; 11] = [
    "DCs",
    "defPort",
    "timeout",
    "baseDN",
    "searchFilter",
    "bindAnon",
    "user",
    "passwd",
    "exclDomains",
    "delExcludes",
    "outFile",
];

/// The keys of `[ SCP ]` that the legacy script read.
const SCP_KEYS: [&str; 3] = ["scpUser", "mailGW", "identityFile"];

/// The legacy keys found, by their canonical name.
struct Found<'a>(BTreeMap<&'static str, &'a Entry>);

impl<'a> Found<'a> {
    fn entry(&self, key: &str) -> Option<&'a Entry> {
        self.0.get(key).copied()
    }

    /// The value, if the key is present and not empty (the Perl script tested them that way).
    fn value(&self, key: &str) -> Option<&'a str> {
        self.entry(key)
            .map(|e| e.value.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Perl truth: present, not empty and not "0".
    fn flag(&self, key: &str) -> bool {
        self.value(key).is_some_and(|v| v != "0")
    }

    fn required(&self, file: &Path, key: &str, stanza: &str, why: &str) -> Result<&'a str, Error> {
        self.value(key).ok_or_else(|| Error {
            location: file.display().to_string(),
            message: format!("no {key} in [ {stanza} ]; {why}"),
        })
    }
}

/// Converts parsed stanzas from `file` into an rcptsync config; `password_file` (absolute) is
/// where the command will write the bind password, and is named in the TOML.
pub fn convert(stanzas: &[Stanza], file: &Path, password_file: &Path) -> Result<Conversion, Error> {
    let mut warnings = Vec::new();
    let (found, not_converted) = collect(stanzas, file, &mut warnings);
    let mut draft = Draft {
        file,
        found,
        toml: header(file),
        warnings,
    };
    draft.connection()?;
    let invalid_filter_line = draft.filter();
    let password = draft.bind(password_file);
    draft.recipients()?;
    draft.output()?;
    draft.safety();
    draft.gateway()?;
    draft.not_converted(&not_converted);
    Ok(Conversion {
        toml: draft.toml,
        password,
        warnings: draft.warnings,
        invalid_filter_line,
    })
}

/// The known keys of the known stanzas (the last of a repeated key wins, as in the legacy
/// script), and `# not converted:` lines for everything else; each unknown or repeated key is
/// also a warning.
fn collect<'a>(
    stanzas: &'a [Stanza],
    file: &Path,
    warnings: &mut Vec<String>,
) -> (Found<'a>, Vec<String>) {
    let mut not_converted = Vec::new();
    let mut found = Found(BTreeMap::new());
    for stanza in stanzas {
        let known: &[&'static str] = if stanza.name.eq_ignore_ascii_case("AD") {
            &AD_KEYS
        } else if stanza.name.eq_ignore_ascii_case("SCP") {
            &SCP_KEYS
        } else {
            warnings.push(format!(
                "{}: unknown stanza [ {} ]: its keys are not converted",
                at(file, stanza.line),
                stanza.name
            ));
            not_converted.push(format!("# not converted: [ {} ]", stanza.name));
            &[]
        };
        for entry in &stanza.entries {
            match known.iter().find(|k| k.eq_ignore_ascii_case(&entry.key)) {
                Some(key) => {
                    if let Some(first) = found.0.insert(key, entry) {
                        warnings.push(format!(
                            "{}: {} is given again (first on line {}); the last one is used",
                            at(file, entry.line),
                            entry.key,
                            first.line
                        ));
                    }
                }
                None => {
                    warnings.push(format!(
                        "{}: unknown key {} in [ {} ]: not converted",
                        at(file, entry.line),
                        entry.key,
                        stanza.name
                    ));
                    not_converted.push(format!(
                        "# not converted: {} = {}",
                        entry.key,
                        shown_value(&entry.key, &entry.value)
                    ));
                }
            }
        }
    }
    (found, not_converted)
}

/// The comment at the top: where the config came from and what to review.
fn header(file: &Path) -> String {
    format!(
        "# rcptsync configuration converted from {:?} by `rcptsync import-ini`.\n\
         # Review before use:\n\
         #  - [[source]]: rcptsync always verifies the DCs' TLS certificates (see ca_file);\n\
         #  - [recipients]: the accepted domains are now read from Exchange;\n\
         #  - [safety]: the guards that keep a bad directory read from shrinking the map; add canaries;\n\
         #  - [[gateway]]: the gateway's host key (known_hosts) and its receiving account.\n\
         # Then try it: rcptsync extract --dry-run -c THIS_FILE\n",
        // Quoted and escaped: a file name may hold a newline, which would end the comment.
        file.display().to_string()
    )
}

/// The conversion under way: the keys found, the TOML so far and the warnings so far.
struct Draft<'a> {
    /// The ini, for `file:line` in messages.
    file: &'a Path,
    /// Its known keys.
    found: Found<'a>,
    /// The TOML written so far.
    toml: String,
    /// The warnings so far, in the order of the TOML.
    warnings: Vec<String>,
}

impl Draft<'_> {
    /// `[[source]]` up to the filter: the servers with the TLS they get, the timeout and the
    /// search base.
    fn connection(&mut self) -> Result<(), Error> {
        let (file, found) = (self.file, &self.found);
        let out = &mut self.toml;
        out.push_str("\n[[source]]\nname = \"ad\"\nkind = \"ldap\"\n");
        let servers = servers(found, file)?;
        let plain = servers.iter().any(|s| s.starts_with("ldap://"));
        let list = servers
            .iter()
            .map(|s| basic(s))
            .collect::<Vec<_>>()
            .join(", ");
        if plain {
            // StartTLS rather than a switch to ldaps://: it keeps the legacy ports (389, 3268),
            // which the DCs' firewalls already let through, and AD offers StartTLS on them as
            // soon as the DC has a certificate, which LDAPS needs too. With mixed ports, the
            // ldaps:// URLs use TLS directly and starttls applies to the ldap:// ones only.
            out.push_str(
                "# The legacy script bound in cleartext. rcptsync never sends the bind password without\n\
                 # TLS: it upgrades the ldap:// connections with StartTLS (ldaps:// URLs use TLS\n\
                 # directly) and verifies the certificate; hardened DCs refuse simple binds without TLS\n\
                 # anyway (\"Strong(er) authentication required\").\n",
            );
            out.push_str(&format!("servers = [{list}]\nstarttls = true\n"));
        } else {
            out.push_str(&format!("servers = [{list}]\n"));
        }
        out.push_str(
            "# Certificates are verified against the system trust store; if the DCs' certificates come\n\
             # from an internal CA, give its certificate(s):\n\
             # ca_file = \"/etc/rcptsync/ad-ca.pem\"\n",
        );
        if let Some(entry) = found.entry("timeout").filter(|e| !e.value.is_empty()) {
            let seconds = entry
                .value
                .parse::<u64>()
                .ok()
                .filter(|&s| s > 0)
                .ok_or_else(|| Error {
                    location: at(file, entry.line),
                    message: format!("timeout: {:?} is not a number of seconds", entry.value),
                })?;
            out.push_str(&format!("timeout = \"{seconds}s\"\n"));
        }
        let base_dn = found.required(file, "baseDN", "AD", "rcptsync needs the search base")?;
        out.push_str(&format!("base_dn = {}\n", basic(base_dn)));
        Ok(())
    }

    /// The search filter, without the spaces the legacy filters had, or nothing when it is
    /// the default. Returns the `filter = ...` line when it is not a valid filter: it is written
    /// all the same (with a warning), so that rcptsync refuses the config until it is fixed.
    fn filter(&mut self) -> Option<String> {
        let out = &mut self.toml;
        let mut invalid_filter_line = None;
        match self
            .found
            .entry("searchFilter")
            .filter(|e| !e.value.is_empty())
        {
            None => out.push_str(
                "# No searchFilter: rcptsync's default is the Exchange recipient filter.\n",
            ),
            Some(entry) => {
                let filter = normalize_filter(&entry.value);
                if filter.eq_ignore_ascii_case(DEFAULT_FILTER) {
                    out.push_str("# searchFilter was the Exchange recipient filter, which is rcptsync's default.\n");
                } else {
                    let line = format!("filter = {}\n", basic(&filter));
                    if ldap3::parse_filter(&filter).is_ok() {
                        out.push_str("# searchFilter, without the spaces between its parts (RFC 4515 does not allow them).\n");
                    } else {
                        self.warnings.push(format!(
                            "{}: searchFilter is not a valid LDAP filter (RFC 4515): written as it is; rcptsync refuses the config until it is fixed",
                            at(self.file, entry.line)
                        ));
                        out.push_str("# FIXME: not a valid LDAP filter (RFC 4515); rcptsync refuses this config until it is fixed.\n");
                        invalid_filter_line = Some(line.clone());
                    }
                    out.push_str(&line);
                }
            }
        }
        invalid_filter_line
    }

    /// The bind: anonymous, or `bind_dn` with the password in `password_file`. Returns the
    /// password, which never goes into the TOML.
    fn bind(&mut self, password_file: &Path) -> Option<String> {
        let found = &self.found;
        let out = &mut self.toml;
        let mut password = None;
        if found.flag("bindAnon") {
            out.push_str(
                "# bindAnon = 1: anonymous bind (no bind_dn); the legacy script ignored user and passwd.\n",
            );
        } else if let Some(user) = found.value("user") {
            out.push_str(&format!("bind_dn = {}\n", basic(user)));
            match found.value("passwd") {
                Some(secret) => {
                    out.push_str(&format!(
                        "# The password (passwd) is in this file, mode 0600: chown it to the user rcptsync runs as.\n\
                         bind_password_file = {}\n",
                        basic(&password_file.display().to_string())
                    ));
                    password = Some(secret.to_owned());
                }
                None => out.push_str(
                    "# No passwd in the legacy config: set bind_password_file, or the\n\
                     # RCPTSYNC_BIND_PASSWORD environment variable.\n",
                ),
            }
        } else {
            if let Some(entry) = found.entry("passwd").filter(|e| !e.value.is_empty()) {
                self.warnings.push(format!(
                    "{}: passwd is set but user is not: converted as an anonymous bind, the password is not written",
                    at(self.file, entry.line)
                ));
            }
            out.push_str("# No user: anonymous bind (no bind_dn).\n");
        }
        password
    }

    /// `[recipients]`: Exchange's accepted domains, the excluded domains (which must compile
    /// as rcptsync's regexes) and what became of delExcludes.
    fn recipients(&mut self) -> Result<(), Error> {
        let found = &self.found;
        let out = &mut self.toml;
        out.push_str(
            "\n[recipients]\n\
             # The legacy script exported every address outside exclDomains; the closest rcptsync\n\
             # equivalent is Exchange's accepted domains (Authoritative and InternalRelay), read from AD.\n\
             domains = \"exchange\"\n",
        );
        let excluded: Vec<String> = found
            .value("exclDomains")
            .map(|v| split_list(v).map(str::to_owned).collect())
            .unwrap_or_default();
        if let (Some(entry), Err((pattern, e))) =
            (found.entry("exclDomains"), ExcludedDomains::new(&excluded))
        {
            return Err(Error {
                location: at(self.file, entry.line),
                message: format!(
                    "exclDomains: {pattern:?} is not a regular expression rcptsync understands: {e}"
                ),
            });
        }
        let patterns = excluded
            .iter()
            .map(|p| regex_string(p))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!("exclude_domains = [{patterns}]\n"));
        if found.flag("delExcludes") {
            out.push_str(
                "# delExcludes = 1: instead of deleting excluded addresses from AD during every\n\
                 # extraction, review them with `rcptsync prune` (a dry run) and delete them with\n\
                 # `rcptsync prune --apply`.\n",
            );
        }
        out.push_str(
            "# The legacy script skipped recipients that require authenticated senders too.\n\
             skip_auth_required = true\n",
        );
        Ok(())
    }

    /// `[output]`: the map's path.
    fn output(&mut self) -> Result<(), Error> {
        let out_file =
            self.found
                .required(self.file, "outFile", "AD", "rcptsync needs the map's path")?;
        self.toml
            .push_str(&format!("\n[output]\npath = {}\n", basic(out_file)));
        Ok(())
    }

    /// `[safety]`: the default guards, written out so that they can be seen and tuned (the
    /// defaults of [`raw::Safety`], so they stay the ones a config without them gets).
    fn safety(&mut self) {
        self.toml.push_str(
            "\n# Guards: a map with too few recipients, or one that removes too many, is refused and the\n\
             # installed map is kept. These are the defaults. Add canaries, addresses that must be in\n\
             # every map, e.g. canaries = [\"postmaster@example.com\"].\n\
             [safety]\n",
        );
        for key in raw::Safety::KEYS {
            if let ("min_recipients" | "max_removed" | "max_removed_percent", Some(default)) =
                (key.name, key.default)
            {
                self.toml.push_str(&format!("{} = {default}\n", key.name));
            }
        }
    }

    /// `[[gateway]]` from `[ SCP ]`: the host scp copied to becomes the host rcptsync pushes
    /// to, with host key checking.
    fn gateway(&mut self) -> Result<(), Error> {
        let found = &self.found;
        let out = &mut self.toml;
        match found.value("mailGW") {
            None => {
                out.push_str("\n# No mailGW in the legacy config: no [[gateway]] to push to.\n")
            }
            Some(host) => {
                let user = found.required(
                    self.file,
                    "scpUser",
                    "SCP",
                    "the gateway needs the account that receives the map",
                )?;
                let name = if host.parse::<std::net::IpAddr>().is_ok() {
                    host
                } else {
                    host.split('.').next().unwrap_or(host)
                };
                out.push_str(&format!(
                    "\n# The legacy script copied the map with scp. rcptsync pushes it over ssh to\n\
                     # `rcptsync receive`, the forced command of the account on the gateway\n\
                     # (contrib/authorized_keys); there `rcptsync apply` replaces the cron script.\n\
                     [[gateway]]\n\
                     name = {}\n\
                     host = {}\n\
                     user = {}\n",
                    basic(name),
                    basic(host),
                    basic(user)
                ));
                if let Some(key) = found.value("identityFile") {
                    out.push_str(&format!("identity_file = {}\n", basic(key)));
                }
                out.push_str(&format!(
                    "# Host keys are always checked. Fill this file with\n\
                     #   ssh-keyscan {host} >> /etc/rcptsync/known_hosts\n\
                     # and compare `ssh-keygen -lf /etc/rcptsync/known_hosts` with the fingerprint that\n\
                     # `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` shows on the gateway.\n\
                     known_hosts = \"/etc/rcptsync/known_hosts\"\n"
                ));
            }
        }
        Ok(())
    }

    /// The `# not converted:` lines collected from unknown keys and stanzas, at the end.
    fn not_converted(&mut self, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        self.toml.push_str(&format!(
            "\n# Not converted from {:?} (rcptsync does not know them):\n",
            self.file.display().to_string()
        ));
        for line in lines {
            self.toml.push_str(line);
            self.toml.push('\n');
        }
    }
}

/// The `DCs` as rcptsync URLs: `host[:port]` (port default `defPort`, else 389) becomes
/// `ldaps://` for the LDAPS ports 636 and 3269, `ldap://` otherwise; a URL is kept.
fn servers(found: &Found<'_>, file: &Path) -> Result<Vec<String>, Error> {
    let default_port = match found.entry("defPort").filter(|e| !e.value.is_empty()) {
        None => 389,
        Some(entry) => port(&entry.value).ok_or_else(|| Error {
            location: at(file, entry.line),
            message: format!("defPort: {:?} is not a port number", entry.value),
        })?,
    };
    let dcs = found.required(file, "DCs", "AD", "rcptsync needs the domain controllers")?;
    let line = found.entry("DCs").map_or(0, |e| e.line);
    split_list(dcs)
        .map(|dc| {
            if dc.starts_with("ldap://") || dc.starts_with("ldaps://") {
                return Ok(dc.trim_end_matches('/').to_owned());
            }
            let (host, port) = match dc.rsplit_once(':') {
                None => (dc, Some(default_port)),
                Some((host, text)) => (host, port(text)),
            };
            let Some(port) = port.filter(|_| !host.is_empty()) else {
                return Err(Error {
                    location: at(file, line),
                    message: format!("DCs: {dc:?} is not host or host:port"),
                });
            };
            Ok(match port {
                636 => format!("ldaps://{host}"),
                3269 => format!("ldaps://{host}:{port}"),
                389 => format!("ldap://{host}"),
                _ => format!("ldap://{host}:{port}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::legacy::parse;
    use crate::config::{self, Config, SourceKind};

    const FILE: &str = "relay_recipients.ini";

    fn ini(text: &str) -> Vec<Stanza> {
        parse(text, Path::new(FILE)).unwrap()
    }

    fn convert_text(text: &str) -> Conversion {
        convert(
            &ini(text),
            Path::new(FILE),
            Path::new("/etc/rcptsync/bind.pw"),
        )
        .unwrap()
    }

    /// Converts and loads the result, as the command does.
    fn load(text: &str) -> (Conversion, Config) {
        let conversion = convert_text(text);
        let config = conversion
            .check(Path::new("/etc/rcptsync/rcptsync.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{}", conversion.toml));
        (conversion, config)
    }

    fn ldap(config: &Config) -> &crate::source::ldap::LdapSourceConfig {
        match &config.sources[0].kind {
            SourceKind::Ldap(l) => l,
            other => panic!("{other:?}"),
        }
    }

    fn minimal(extra_ad: &str) -> String {
        format!(
            "[ AD ]\nDCs = dc1.example.com\nbaseDN = dc=example,dc=com\noutFile = /tmp/rr\n{extra_ad}\n"
        )
    }

    /// The seed's filter, continued over lines as in the legacy file.
    const SEED_FILTER: &str = "searchFilter\t= \\\n\
(& (mailnickname=*) (| (&(objectCategory=person) \\\n\
(objectClass=user)(!(homeMDB=*))(!(msExchHomeServerName=*))) \\\n\
(&(objectCategory=person)(objectClass=user)(|(homeMDB=*) \\\n\
(msExchHomeServerName=*)))(&(objectCategory=person) \\\n\
(objectClass=contact)) (objectCategory=group) \\\n\
(objectCategory=publicFolder) \\\n\
(objectClass=msExchDynamicDistributionList) ))\n";

    #[test]
    fn the_guards_are_written_out_with_their_defaults() {
        let (conversion, _) = load(&minimal(""));
        let safety = conversion.toml.split("[safety]\n").nth(1).unwrap();
        let written: Vec<&str> = safety.lines().take_while(|l| !l.is_empty()).collect();
        assert_eq!(
            written,
            [
                "min_recipients = 1",
                "max_removed = 500",
                "max_removed_percent = 10"
            ]
        );
    }

    #[test]
    fn dcs_with_and_without_ports() {
        let (conversion, config) = load(&minimal("").replace(
            "DCs = dc1.example.com",
            "DCs = dc1.example.com, \\\n dc2.example.com:3268 \\\ndc3.example.com:1389",
        ));
        let l = ldap(&config);
        assert_eq!(
            l.servers,
            [
                "ldap://dc1.example.com",
                "ldap://dc2.example.com:3268",
                "ldap://dc3.example.com:1389"
            ]
        );
        assert!(l.starttls);
        assert!(
            conversion
                .toml
                .contains("Strong(er) authentication required")
        );
        // defPort applies to DCs without a port.
        let (_, config) = load(&minimal("defPort = 3268"));
        assert_eq!(ldap(&config).servers, ["ldap://dc1.example.com:3268"]);
        let e = convert(
            &ini(&minimal("").replace("dc1.example.com", "dc1.example.com:ldap")),
            Path::new(FILE),
            Path::new("/p"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.starts_with("relay_recipients.ini:2: DCs: \"dc1.example.com:ldap\""),
            "{e}"
        );
    }

    #[test]
    fn ldaps_ports_become_ldaps_urls_without_starttls() {
        let (_, config) = load(&minimal("").replace(
            "DCs = dc1.example.com",
            "DCs = dc1.example.com:636 dc2.example.com:3269",
        ));
        let l = ldap(&config);
        assert_eq!(
            l.servers,
            ["ldaps://dc1.example.com", "ldaps://dc2.example.com:3269"]
        );
        assert!(!l.starttls);
        let (_, config) = load(&minimal("defPort = 636"));
        assert_eq!(ldap(&config).servers, ["ldaps://dc1.example.com"]);
    }

    #[test]
    fn mixed_ports_with_a_bind_never_bind_in_cleartext() {
        // Some DCs on LDAPS, some on plain LDAP, and a bind: the plain ones get StartTLS, and
        // the result loads under the rule that refuses a cleartext bind.
        let (conversion, config) = load(&minimal("user = svc@example.com\npasswd = s3cret").replace(
            "DCs = dc1.example.com",
            "DCs = dc1.example.com:636 dc2.example.com dc3.example.com:3268 dc4.example.com:3269",
        ));
        let l = ldap(&config);
        assert_eq!(
            l.servers,
            [
                "ldaps://dc1.example.com",
                "ldap://dc2.example.com",
                "ldap://dc3.example.com:3268",
                "ldaps://dc4.example.com:3269"
            ]
        );
        assert!(l.bind.is_some());
        assert!(l.starttls, "{}", conversion.toml);
        assert!(!l.insecure_cleartext_bind);
        assert!(conversion.toml.contains("StartTLS"), "{}", conversion.toml);
        assert!(conversion.warnings.is_empty(), "{:?}", conversion.warnings);
        // Without StartTLS the same TOML does not load: the converter's output depends on it.
        let cleartext = conversion.toml.replace("starttls = true\n", "");
        let e = Config::parse(&cleartext, Path::new("/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ldap://dc2.example.com (source \"ad\") would receive the bind password"),
            "{e}"
        );
    }

    #[test]
    fn filter_whitespace_is_removed_around_parentheses_only() {
        assert_eq!(
            normalize_filter(" (& (cn=John Smith) (| (a=1)\t(b=2) ) ) "),
            "(&(cn=John Smith)(|(a=1)(b=2)))"
        );
        let seed = &ini(&format!("[AD]\n{SEED_FILTER}"))[0].entries[0].value;
        assert!(normalize_filter(seed).eq_ignore_ascii_case(DEFAULT_FILTER));
        let (conversion, config) = load(&minimal(SEED_FILTER));
        assert!(!conversion.toml.contains("filter ="), "{}", conversion.toml);
        assert_eq!(ldap(&config).filter, DEFAULT_FILTER);
        // Another filter is kept, normalized.
        let (conversion, config) = load(&minimal("searchFilter = (& (sAMAccountName=*) (mail=*))"));
        assert_eq!(ldap(&config).filter, "(&(sAMAccountName=*)(mail=*))");
        assert!(conversion.warnings.is_empty());
        // An invalid one is written as it is, with a warning naming the line.
        let conversion = convert_text(&minimal("searchFilter = (&(mail=*)"));
        assert!(conversion.toml.contains("filter = \"(&(mail=*)\"\n"));
        assert_eq!(
            conversion.warnings,
            [
                "relay_recipients.ini:5: searchFilter is not a valid LDAP filter (RFC 4515): written as it is; rcptsync refuses the config until it is fixed"
            ]
        );
        conversion.check(Path::new("/x.toml")).unwrap();
        assert!(Config::parse(&conversion.toml, Path::new("/x.toml")).is_err());
    }

    #[test]
    fn bind_user_password_and_anonymous() {
        let (conversion, config) = load(&minimal("user = svc@example.com\npasswd = s3cret"));
        assert_eq!(conversion.password.as_deref(), Some("s3cret"));
        assert!(!conversion.toml.contains("s3cret"));
        let bind = ldap(&config).bind.as_ref().unwrap();
        assert_eq!(bind.dn, "svc@example.com");
        assert_eq!(
            bind.password,
            crate::secret::PasswordSource::File("/etc/rcptsync/bind.pw".into())
        );
        // bindAnon = 1 ignores user and passwd, as the legacy script did.
        let (conversion, config) = load(&minimal(
            "bindAnon = 1\nuser = svc@example.com\npasswd = s3cret",
        ));
        assert!(conversion.password.is_none());
        assert!(ldap(&config).bind.is_none());
        assert!(conversion.toml.contains("anonymous bind"));
        assert!(!conversion.toml.contains("svc@example.com"));
        // A user without a password: the password comes from elsewhere.
        let (conversion, config) = load(&minimal("bindAnon = 0\nuser = svc@example.com\npasswd ="));
        assert!(conversion.password.is_none());
        assert_eq!(
            ldap(&config).bind.as_ref().unwrap().password,
            crate::secret::PasswordSource::Env
        );
        assert!(conversion.toml.contains("RCPTSYNC_BIND_PASSWORD"));
    }

    #[test]
    fn unknown_keys_and_stanzas_are_reported_and_commented() {
        let conversion = convert_text(&format!(
            "{}Extra = 1\nadminPassword = hunter2\n[ Mail ]\nfrom = root\n",
            minimal("")
        ));
        assert_eq!(
            conversion.warnings,
            [
                "relay_recipients.ini:6: unknown key Extra in [ AD ]: not converted",
                "relay_recipients.ini:7: unknown key adminPassword in [ AD ]: not converted",
                "relay_recipients.ini:8: unknown stanza [ Mail ]: its keys are not converted",
                "relay_recipients.ini:9: unknown key from in [ Mail ]: not converted",
            ]
        );
        let toml = &conversion.toml;
        assert!(toml.contains("\n# not converted: Extra = 1\n"), "{toml}");
        assert!(
            toml.contains("\n# not converted: adminPassword = (not shown)\n"),
            "{toml}"
        );
        assert!(!toml.contains("hunter2"));
        assert!(toml.contains("\n# not converted: [ Mail ]\n# not converted: from = root\n"));
        conversion.check(Path::new("/x.toml")).unwrap();
    }

    #[test]
    fn keys_match_in_any_case_and_known_keys_only_in_their_stanza() {
        let (conversion, config) = load(
            "[ad]\ndcs = dc1.example.com\nBASEDN = dc=x\noutfile = /tmp/rr\nmailGW = mx1\n[Scp]\nMAILGW = mx1.example.com\nscpuser = postrelay\n",
        );
        assert_eq!(ldap(&config).base_dn, "dc=x");
        assert_eq!(config.gateways[0].name, "mx1");
        assert_eq!(config.gateways[0].user, "postrelay");
        assert!(config.gateways[0].identity_file.is_none());
        assert_eq!(
            conversion.warnings,
            ["relay_recipients.ini:5: unknown key mailGW in [ ad ]: not converted"]
        );
    }

    #[test]
    fn excluded_domains_timeout_and_del_excludes() {
        let (conversion, config) = load(&minimal(
            "timeout = 7\nexclDomains = legacy\\.example\\.com, \\\nold\\.example\\.net,it's\\.x\ndelExcludes = 1",
        ));
        assert!(conversion.toml.contains(
            "exclude_domains = ['legacy\\.example\\.com', 'old\\.example\\.net', \"it's\\\\.x\"]"
        ), "{}", conversion.toml);
        assert!(conversion.toml.contains("rcptsync prune --apply"));
        assert_eq!(ldap(&config).timeout, std::time::Duration::from_secs(7));
        let recipients = config.recipients.as_ref().unwrap();
        assert!(recipients.excluded.matches("old.example.net"));
        assert!(matches!(
            recipients.domains,
            config::DomainSetting::Exchange
        ));
        assert!(recipients.skip_auth_required);
        let e = convert(
            &ini(&minimal("exclDomains = (bad")),
            Path::new(FILE),
            Path::new("/p"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.starts_with("relay_recipients.ini:5: exclDomains: \"(bad\""),
            "{e}"
        );
        let e = convert(
            &ini(&minimal("timeout = soon")),
            Path::new(FILE),
            Path::new("/p"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.starts_with("relay_recipients.ini:5: timeout:"), "{e}");
    }

    #[test]
    fn missing_required_keys_name_the_file() {
        let e = convert(&ini("[AD]\nDCs = a\n"), Path::new(FILE), Path::new("/p"))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "relay_recipients.ini: no baseDN in [ AD ]; rcptsync needs the search base"
        );
    }
}
