//! `rcptsync doctor`'s checks: a gateway's Postfix settings against the relay-gateway
//! checklist of the original recipe, so that the recipient map actually protects the gateway.
//!
//! A relay gateway must relay its domains (`relay_domains`) and nothing else, check every
//! recipient against the map (`relay_recipient_maps`, `smtpd_reject_unlisted_recipient`),
//! deliver nothing locally (empty `mydestination` and `local_recipient_maps`, no `local`
//! service in master.cf, `myorigin` an internal domain), and still take mail for postmaster@
//! and abuse@ of every domain it relays (RFC 5321, RFC 2142).
//!
//! The settings are read once ([`Settings::read`]: `postconf -n`, `postconf -x NAME...`,
//! `postconf -M`); the checks on them are pure functions, so each can be tested without
//! Postfix. The few things only Postfix or the file system can answer (does relay_domains
//! cover a domain, is an address in virtual_alias_maps, do the map files exist) are passed in
//! as closures or read by [`examine`], which runs every check in the checklist's order.
//!
//! Each [`Finding`] says what is wrong, why it matters, and the exact command that fixes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::map::text;
use crate::postfix::settings::RelayDomains;
use crate::postfix::{self, MapSpec, MapType, Postfix};

/// How bad a finding is; errors make doctor exit 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The gateway accepts mail it should reject, or loses mail it should deliver.
    Error,
    /// Not as the checklist says, but mail is not lost or wrongly accepted because of it.
    Warning,
    /// A matter of taste worth knowing about.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Note => "note",
        })
    }
}

/// One problem, with the change that fixes it: what an admin needs at 3 a.m.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong and what it does to mail.
    pub problem: String,
    /// The commands (or edits) that fix it, one per line.
    pub fix: Vec<String>,
}

impl Finding {
    fn new(severity: Severity, problem: String, fix: Vec<String>) -> Self {
        Self {
            severity,
            problem,
            fix,
        }
    }
}

impl fmt::Display for Finding {
    /// `error: PROBLEM` and `  fix: COMMAND` lines, like Postfix's own diagnostics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.problem)?;
        for (index, line) in self.fix.iter().enumerate() {
            let lead = if index == 0 { "  fix: " } else { "       " };
            write!(f, "\n{lead}{line}")?;
        }
        Ok(())
    }
}

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
    fn value(&self, name: &str) -> &str {
        self.effective.get(name).map_or("", String::as_str)
    }

    /// A parameter's effective value split into items, as Postfix splits lists.
    fn list(&self, name: &str) -> Vec<&str> {
        split(self.value(name))
    }

    /// The literal domain names of a domain list (no `.parent` patterns, files or tables).
    fn names(&self, name: &str) -> Vec<String> {
        self.list(name)
            .into_iter()
            .filter(|item| !item.starts_with(['.', '/']) && !item.contains(':'))
            .map(str::to_ascii_lowercase)
            .collect()
    }

    /// `postconf -c DIR -e 'SETTING'`.
    fn set(&self, setting: &str) -> String {
        format!("postconf -c {} -e '{setting}'", self.config_dir.display())
    }

    fn dir(&self) -> String {
        self.config_dir.display().to_string()
    }
}

/// Splits a Postfix list value on commas and whitespace.
fn split(value: &str) -> Vec<&str> {
    value
        .split([',', ' ', '\t', '\r', '\n'])
        .filter(|item| !item.is_empty())
        .collect()
}

/// `TYPE:PATH` of a file-based map rcptsync knows (`proxy:` stripped); None for other
/// tables (ldap:, pcre:, ...), whose files are not maps of addresses.
pub fn file_map(entry: &str) -> Option<MapSpec> {
    let entry = entry.strip_prefix("proxy:").unwrap_or(entry);
    let (kind, path) = entry.split_once(':')?;
    let kind = MapType::from_name(kind)?;
    Some(MapSpec {
        kind,
        path: PathBuf::from(path),
    })
}

/// The default map when there is no `[install].map` to suggest.
fn default_map(settings: &Settings) -> String {
    format!("lmdb:{}/relay_recipients", settings.dir())
}

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
    let bytes = match fs_err::read(path) {
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
    let Some(suffix) = map.kind.suffix() else {
        return Ok(());
    };
    let mut name = map.path.clone().into_os_string();
    name.push(suffix);
    let path = PathBuf::from(name);
    match fs_err::File::open(&path) {
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
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for key in keys {
        let domain = key.rsplit_once('@').map_or("", |(_, domain)| domain);
        *counts.entry(domain).or_default() += 1;
    }
    let mut missing = Vec::new();
    for (domain, count) in counts {
        if !domain.is_empty() && !relayed(domain)? {
            missing.push((domain, count));
        }
    }
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
    let added: Vec<&str> = missing.iter().map(|(domain, _)| *domain).collect();
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

/// Runs every check on the instance whose main.cf is in `config_dir`, in the checklist's
/// order, errors first. `install` is `[install].map` when an rcptsync config was found: the
/// map relay_recipient_maps must use, and whose keys are checked; without it the keys are
/// those of every text map of relay_recipient_maps that exists.
pub fn examine(
    postfix: &Postfix,
    config_dir: &Path,
    install: Option<&MapSpec>,
) -> Result<Vec<Finding>, postfix::Error> {
    let settings = Settings::read(postfix, config_dir)?;
    let relay = RelayDomains::read(postfix)?;
    let relayed = |domain: &str| relay.covers(postfix, domain);

    // The maps of relay_recipient_maps: usable files, and their keys.
    let mut map_findings = Vec::new();
    let mut keys: Option<BTreeSet<String>> = None;
    for map in settings
        .list("relay_recipient_maps")
        .into_iter()
        .filter_map(file_map)
    {
        let text = read_keys(&map.path);
        if let Some(problem) = check_indexed(&map).err().or(text.as_ref().err().cloned()) {
            map_findings.push(map_file(&settings, &map, &problem, text.is_ok(), install));
        }
        if let Ok(text) = text {
            keys.get_or_insert_default().extend(text);
        }
    }
    if let Some(install) = install {
        keys = read_keys(&install.path).ok();
    }
    let map_domains: BTreeSet<String> = keys
        .iter()
        .flatten()
        .filter_map(|key| key.rsplit_once('@').map(|(_, domain)| domain.to_owned()))
        .collect();

    let mut findings = Vec::new();
    findings.extend(relay_domains(&settings, &map_domains));
    findings.extend(relay_recipient_maps(&settings, install));
    findings.extend(map_findings);
    if let Some(keys) = &keys {
        findings.extend(coverage(&settings, keys, relayed)?);
    }
    findings.extend(mydestination(&settings, relayed)?);
    findings.extend(local_recipient_maps(&settings));
    findings.extend(myorigin(&settings));
    if let Some(keys) = keys.as_ref().filter(|_| {
        // With no relay_recipient_maps every address is accepted; that is reported above.
        !settings.list("relay_recipient_maps").is_empty()
    }) {
        let virtual_maps: Vec<&str> = settings
            .list("virtual_alias_maps")
            .into_iter()
            .map(|map| map.strip_prefix("proxy:").unwrap_or(map))
            .collect();
        let aliased = |address: &str| -> Result<bool, postfix::Error> {
            let domain = address.rsplit_once('@').map_or("", |(_, domain)| domain);
            for map in &virtual_maps {
                for key in [address.to_owned(), format!("@{domain}")] {
                    if postfix.query(map, &key)?.is_some() {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        };
        let domains: Vec<String> = relay.names().map(str::to_owned).collect();
        findings.extend(role_addresses(&settings, &domains, keys, aliased)?);
    }
    findings.extend(local_service(&settings));
    findings.extend(reject_unlisted(&settings));
    findings.extend(table_name(&settings));
    findings.sort_by_key(|finding| finding.severity);
    Ok(findings)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// Postfix's defaults for [`PARAMETERS`] on a host named mx.example.net.
    const DEFAULTS: &str = "relay_domains =\n\
        relay_recipient_maps =\n\
        mydestination = mx.example.net, localhost.example.net, localhost\n\
        local_recipient_maps = proxy:unix:passwd.byname hash:/etc/aliases\n\
        myorigin = mx.example.net\n\
        myhostname = mx.example.net\n\
        virtual_alias_maps =\n\
        smtpd_reject_unlisted_recipient = yes\n\
        show_user_unknown_table_name = yes\n";

    /// A gateway set up as the checklist says.
    const GOOD: &str = "relay_domains = example.com\n\
        relay_recipient_maps = lmdb:/etc/postfix/relay_recipients\n\
        mydestination =\n\
        local_recipient_maps =\n\
        myorigin = example.com\n\
        show_user_unknown_table_name = no\n";

    const MASTER: &str = "smtp       inet  n       -       y       -       -       smtpd\n\
        pickup     unix  n       -       y       60      1       pickup\n";

    /// Settings as postconf would report them for `main_cf` (the `-x` values are the
    /// defaults overridden by main.cf; nothing in these tests needs expanding).
    fn settings_with(main_cf: &str, master_cf: &str) -> Settings {
        let mut effective = Settings::parse(Path::new("/etc/postfix"), "", DEFAULTS, "").effective;
        let explicit = Settings::parse(Path::new("/etc/postfix"), main_cf, "", "").explicit;
        effective.extend(explicit.clone());
        Settings {
            config_dir: PathBuf::from("/etc/postfix"),
            explicit,
            effective,
            services: Settings::parse(Path::new("/etc/postfix"), "", "", master_cf).services,
        }
    }

    /// The good gateway with one parameter replaced (or added).
    fn good_but(setting: &str) -> Settings {
        let name = setting.split('=').next().unwrap().trim();
        let mut main_cf: String = GOOD
            .lines()
            .filter(|line| line.split('=').next().unwrap().trim() != name)
            .map(|line| format!("{line}\n"))
            .collect();
        main_cf.push_str(setting);
        settings_with(&main_cf, MASTER)
    }

    fn good() -> Settings {
        settings_with(GOOD, MASTER)
    }

    fn relays_example(domain: &str) -> Result<bool, Infallible> {
        Ok(domain == "example.com")
    }

    fn keys(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|k| (*k).to_owned()).collect()
    }

    fn lmdb(path: &str) -> MapSpec {
        MapSpec {
            kind: MapType::Lmdb,
            path: PathBuf::from(path),
        }
    }

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
    fn a_good_gateway_has_no_findings_in_the_pure_checks() {
        let s = good();
        let k = keys(&["postmaster@example.com", "abuse@example.com"]);
        assert_eq!(relay_domains(&s, &k), None);
        assert_eq!(
            relay_recipient_maps(&s, Some(&lmdb("/etc/postfix/relay_recipients"))),
            None
        );
        assert_eq!(coverage(&s, &k, relays_example).unwrap(), None);
        assert_eq!(mydestination(&s, relays_example).unwrap(), None);
        assert_eq!(local_recipient_maps(&s), None);
        assert_eq!(myorigin(&s), None);
        assert!(local_service(&s).is_empty());
        assert_eq!(reject_unlisted(&s), None);
        assert_eq!(table_name(&s), None);
        let domains = vec!["example.com".to_owned()];
        let none = |_: &str| Ok::<_, Infallible>(false);
        assert!(role_addresses(&s, &domains, &k, none).unwrap().is_empty());
    }

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
    fn file_maps_are_recognized() {
        assert_eq!(file_map("lmdb:/a"), Some(lmdb("/a")));
        assert_eq!(file_map("proxy:lmdb:/a"), Some(lmdb("/a")));
        assert_eq!(file_map("ldap:/etc/postfix/ldap.cf"), None);
        assert_eq!(file_map("nonsense"), None);
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

    #[test]
    fn findings_read_like_postfix_diagnostics() {
        let finding = Finding::new(Severity::Note, "p".into(), vec!["one".into(), "two".into()]);
        assert_eq!(finding.to_string(), "note: p\n  fix: one\n       two");
        assert!(Severity::Error < Severity::Warning && Severity::Warning < Severity::Note);
    }
}
